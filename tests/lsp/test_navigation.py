"""Go to definition, references, rename and the outline."""

from __future__ import annotations

import re

import pytest
from lsp_session import SPECS, change, open_doc
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from xdsl.api import check

pytestmark = pytest.mark.asyncio(loop_scope="module")

XCEPTION = SPECS / "xception.x"


def doc(uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri=uri)


def words(text: str, word: str) -> set[tuple[int, int]]:
    """Where ``word`` is written as a whole name outside comments."""
    return {(i, m.start()) for i, line in enumerate(text.splitlines())
            for m in re.finditer(rf"\b{word}\b", line.split("#")[0])}


def apply(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.splitlines(keepends=True)
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                    reverse=True):
        assert e.range.start.line == e.range.end.line
        line = lines[e.range.start.line]
        lines[e.range.start.line] = line[:e.range.start.character] + e.new_text + \
            line[e.range.end.character:]
    return "".join(lines)


async def test_definition_of_a_block_a_parameter_and_a_tensor(client: LanguageClient) -> None:
    text = XCEPTION.read_text()
    lines = text.splitlines()
    uri, _ = await open_doc(client, XCEPTION)
    call = lines.index("        down(width, 1024)")
    found = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(uri), position=lsp.Position(line=call, character=9)))
    block = next(i for i, s in enumerate(lines) if s.strip().startswith("block down("))
    assert [(f.range.start.line, f.range.start.character, f.range.end.character)
            for f in found] == [(block, 10, 14)]
    found = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(uri), position=lsp.Position(line=call, character=14)))
    assert [(f.range.start.line, f.range.start.character) for f in found] == \
        [(3, lines[3].index("width"))]
    googlenet = SPECS / "googlenet.x"
    glines = googlenet.read_text().splitlines()
    guri, _ = await open_doc(client, googlenet)
    use = next(i for i, s in enumerate(glines) if "from i5b" in s)
    found = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(guri), position=lsp.Position(line=use,
                                                       character=glines[use].index("i5b"))))
    define = next(i for i, s in enumerate(glines) if "as i5b" in s)
    assert [(f.range.start.line, f.range.start.character) for f in found] == \
        [(define, glines[define].index("i5b"))]


async def test_references_of_a_parameter_are_every_use(client: LanguageClient) -> None:
    text = XCEPTION.read_text()
    uri, _ = await open_doc(client, XCEPTION)
    refs = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=doc(uri), position=lsp.Position(line=3, character=40),
        context=lsp.ReferenceContext(include_declaration=True)))
    assert {(r.range.start.line, r.range.start.character) for r in refs} == \
        words(text, "width")
    assert len(refs) == 5


async def test_variant_base_definition(client: LanguageClient) -> None:
    variant = SPECS / "variants" / "xception_s4.x"
    text = variant.read_text()
    uri, diags = await open_doc(client, variant)
    assert diags == []
    line = next(i for i, s in enumerate(text.splitlines()) if s.startswith("variant"))
    found = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(uri), position=lsp.Position(
            line=line, character=text.splitlines()[line].index('"') + 2)))
    assert [f.uri for f in found] == [XCEPTION.resolve().as_uri()]


@pytest.mark.parametrize(("word", "new"), [("down", "entry_block"), ("width", "channels_mid"),
                                           ("c2", "out_channels")])
async def test_rename_gives_a_spec_that_checks(client: LanguageClient, word: str, new: str,
                                               tmp_path) -> None:
    text = XCEPTION.read_text()
    path = tmp_path / f"{word}.x"
    uri, _ = await open_doc(client, path, text)
    line, column = min(words(text, word))
    prepared = await client.text_document_prepare_rename_async(lsp.PrepareRenameParams(
        text_document=doc(uri), position=lsp.Position(line=line, character=column)))
    assert prepared is not None
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(uri), position=lsp.Position(line=line, character=column),
        new_name=new))
    assert edit is not None and edit.changes is not None
    renamed = apply(text, edit.changes[uri])
    assert words(renamed, word) == set() and words(renamed, new)
    assert check(renamed) == check(text)
    assert await change(client, uri, renamed, 2) == []


async def test_rename_refuses_a_keyword(client: LanguageClient, tmp_path) -> None:
    uri, _ = await open_doc(client, tmp_path / "kw.x", XCEPTION.read_text())
    with pytest.raises(Exception, match="not a name a spec can use"):
        await client.text_document_rename_async(lsp.RenameParams(
            text_document=doc(uri), position=lsp.Position(line=3, character=40),
            new_name="repeat"))


async def test_outline(client: LanguageClient) -> None:
    uri, _ = await open_doc(client, XCEPTION)
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(text_document=doc(uri)))
    assert [s.name for s in symbols] == ["xception"]
    children = {(c.name, c.kind) for c in symbols[0].children}
    assert {("down", lsp.SymbolKind.Function), ("entry", lsp.SymbolKind.Namespace),
            ("middle", lsp.SymbolKind.Namespace), ("exit", lsp.SymbolKind.Namespace),
            ("width", lsp.SymbolKind.Variable), ("image", lsp.SymbolKind.Variable)} <= children
