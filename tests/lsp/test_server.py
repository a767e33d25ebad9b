"""Diagnostics, formatting and the command itself, end to end over stdio."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lsp_session import ROOT, SPECS, change, open_doc
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from xdsl.api import parse
from xdsl.diagnostics import SpecError

pytestmark = pytest.mark.asyncio(loop_scope="module")

BROKEN = """\
network tiny(width: int = 16):
    input image: 3 x 32 x 32
    block unit(c: int):
        conv c 3x3 pad=1; bn; relu
    flow main:
        conv width 3x3 stride=2; relu
        unit(width)
        residual:
            conv width 3x3 stride=2 pad=1
        global avgpool; linear 10
"""


def cli_errors(path: str) -> str:
    done = subprocess.run([sys.executable, "-m", "xdsl", "check", path], capture_output=True,
                          text=True, check=False, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    return done.stderr


async def test_diagnostics_of_a_broken_spec_at_the_right_range(client: LanguageClient,
                                                               tmp_path) -> None:
    path = tmp_path / "tiny.x"
    path.write_text(BROKEN)
    uri, diags = await open_doc(client, path)
    with pytest.raises(SpecError) as e:
        parse(str(path)).graph()
    expected = e.value.diagnostics
    assert [d.message.splitlines()[0] for d in diags] == [d.message for d in expected]
    for got, want in zip(diags, expected):
        assert (got.range.start.line, got.range.start.character) == \
            (want.span.line - 1, want.span.column - 1)
        assert (got.range.end.line, got.range.end.character) == \
            (want.span.end_line - 1, want.span.end_column)
        assert got.severity == lsp.DiagnosticSeverity.Error
    rendered = cli_errors(str(path))
    for d in diags:  # every line of the diagnostic is a line of `xdsl check`'s report
        for line in d.message.splitlines():
            assert line in rendered
    residual = diags[0]
    assert residual.range.start.line == 7  # the residual add joins mismatched shapes
    assert "note: the shortcut gives 16 x 15 x 15" in residual.message


async def test_notes_with_places_are_related_information(client: LanguageClient,
                                                         tmp_path) -> None:
    text = BROKEN.replace("conv c 3x3 pad=1", "conv c 40x40")
    path = tmp_path / "calls.x"
    path.write_text(text)
    uri, diags = await open_doc(client, path)
    inside = next(d for d in diags if d.range.start.line == 3)
    assert inside.related_information is not None
    call = inside.related_information[0]
    assert call.location.uri == uri
    assert call.location.range.start.line == 6  # `unit(width)`, the call that led there
    assert call.message.startswith("in unit(width)")


async def test_syntax_error_then_fixed(client: LanguageClient, tmp_path) -> None:
    path = tmp_path / "typing.x"
    good = (SPECS / "mini_xception.x").read_text()
    uri, diags = await open_doc(client, path, good)
    assert diags == []
    broken = good.replace("    flow", "    flow (", 1)
    diags = await change(client, uri, broken, 2)
    with pytest.raises(SpecError) as e:
        parse(broken)
    want = e.value.diagnostics[0]
    assert diags[0].message.splitlines()[0] == want.message
    assert diags[0].range.start.line == want.span.line - 1
    assert await change(client, uri, good, 3) == []


@pytest.mark.parametrize("name", sorted(p.name for p in SPECS.glob("*.x")))
async def test_formatting_equals_xdsl_fmt(client: LanguageClient, name: str) -> None:
    text = (SPECS / name).read_text()
    messy = "\n".join(line.rstrip() + "   " if line.strip() else line
                      for line in text.splitlines()) + "\n\n\n"
    uri, _ = await open_doc(client, SPECS / name, messy)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        options=lsp.FormattingOptions(tab_size=4, insert_spaces=True)))
    done = subprocess.run([sys.executable, "-m", "xdsl", "fmt", "-"], input=messy,
                          capture_output=True, text=True, check=True)
    assert edits is not None and len(edits) == 1
    assert edits[0].range.start == lsp.Position(line=0, character=0)
    assert edits[0].new_text == done.stdout
    assert edits[0].new_text != messy


async def test_settings_reach_the_hover(client: LanguageClient) -> None:
    from lsp_session import hover_text

    uri, _ = await open_doc(client, SPECS / "xception.x")
    line = next(i for i, s in enumerate((SPECS / "xception.x").read_text().splitlines())
                if s.strip().startswith("linear classes"))
    before = await hover_text(client, uri, line, 9)
    assert before is not None and "| `exit.linear1` | 1000 | 2,049,000 |" in before
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"xdsl": {"parameters": {"classes": 10}}}))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    after = await hover_text(client, uri, line, 9)
    assert after is not None and "| `exit.linear1` | 10 | 20,490 |" in after
    param = await hover_text(client, uri, 3, 18)  # `classes` in the header
    assert param is not None and "value: `10` (from the editor's settings)" in param
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"xdsl": {"parameters": {"classes": "x"}}}))
    want = ["setting: `classes` is int, got 'x'"]
    for _ in range(len(client.diagnostics) + 1):  # every open document is analysed again
        if [d.message for d in client.diagnostics[uri]] == want:
            break
        await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert [d.message for d in client.diagnostics[uri]] == want
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"xdsl": {"parameters": {}}}))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

