"""Hovers and inlay hints: every layer's figures equal `xdsl audit --format json`'s."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from lsp_session import SPECS, hover_text, open_doc
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from xdsl.api import graph
from xdsl.graph import layers

pytestmark = pytest.mark.asyncio(loop_scope="module")


def audit_rows(path: str) -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "xdsl", "audit", path, "--format", "json"],
                          capture_output=True, text=True, check=False)
    return {row["name"]: row for row in json.loads(done.stdout)["layers"]}


def row(r: dict) -> str:
    shape = " × ".join(map(str, r["output"]))
    return f"| `{r['name']}` | {shape} | {r['params']:,} | {r['non_trainable']:,} | " \
           f"{r['macs']:,} |"


@pytest.mark.parametrize("name", sorted(p.stem for p in SPECS.glob("*.x")))
async def test_hover_on_every_layer_shows_the_audit_figures(client: LanguageClient,
                                                            name: str) -> None:
    path = SPECS / f"{name}.x"
    uri, diags = await open_doc(client, path)
    assert diags == []
    rows = audit_rows(str(path))
    spans: dict[tuple[int, int], list[str]] = {}
    for node in layers(graph(str(path))):
        if node.op != "input":
            spans.setdefault((node.span.line - 1, node.span.column - 1), []).append(node.name)
    assert sum(map(len, spans.values())) == len(rows)
    for (line, column), names in spans.items():
        text = await hover_text(client, uri, line, column)
        assert text is not None, (name, line, column)
        for n in names:
            assert row(rows[n]) in text, (n, text[:400])


async def test_hover_on_a_call_a_repeat_a_parameter_and_a_tensor(client: LanguageClient
                                                                 ) -> None:
    path = SPECS / "xception.x"
    lines = path.read_text().splitlines()
    uri, _ = await open_doc(client, path)
    g = graph(str(path))
    nodes = layers(g)
    total = sum(n.macs for n in nodes)
    entry = lines.index("        down(128, 128, pre_relu=false); down(256, 256); "
                        "down(width, width)")
    call = await hover_text(client, uri, entry, lines[entry].index("down(256"))
    mine = [n for n in nodes if n.name.startswith("entry.down2.")]
    params, macs = sum(n.params for n in mine), sum(n.macs for n in mine)
    state = sum(n.state for n in mine)
    assert call is not None
    assert f"{len(mine)} layers · {params:,} parameters ({state:,} non-trainable) · " \
           f"{macs:,} MACs ({100 * macs / total:.2f}% of the network)" in call
    assert "output: **256 × 37 × 37**" in call
    assert "`block down(c1: int, c2: int, pre_relu: bool = true)`" in call
    middle = next(i for i, s in enumerate(lines) if s.strip().startswith("repeat middle"))
    rep = await hover_text(client, uri, middle, lines[middle].index("repeat"))
    mid = [n for n in nodes if n.name.startswith("middle.")]
    assert rep is not None and "8 iterations" in rep
    each = [n for n in mid if n.repeats[0][1] == 0]
    assert f"per iteration: {sum(n.params for n in each):,} parameters, " \
           f"{sum(n.macs for n in each):,} MACs" in rep
    assert f"{sum(n.macs for n in mid):,} MACs" in rep
    width = await hover_text(client, uri, 3, lines[3].index("width"))
    assert width is not None and "`width: int = 728`" in width and "value: `728`" in width
    image = await hover_text(client, uri, 9, lines[9].index("image"))
    assert image is not None and "shape: **3 × 299 × 299**" in image


async def test_inlay_hints_end_each_layer_line_with_its_shape(client: LanguageClient
                                                              ) -> None:
    path = SPECS / "xception.x"
    lines = path.read_text().splitlines()
    uri, _ = await open_doc(client, path)
    hints = await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(start=lsp.Position(line=0, character=0),
                        end=lsp.Position(line=len(lines), character=0))))
    shown = {h.position.line: str(h.label).strip() for h in hints}
    exit_flow = lines.index("        down(width, 1024)")
    assert shown[exit_flow] == "1024 × 10 × 10"
    assert shown[exit_flow + 1] == "2048 × 10 × 10"
    assert shown[lines.index("        linear classes")] == "1000"
    assert all(h.position.character == len(lines[h.position.line]) for h in hints)


async def test_a_broken_line_keeps_the_last_good_hovers(client: LanguageClient,
                                                        tmp_path) -> None:
    from lsp_session import change

    path = SPECS / "xception.x"
    text = path.read_text()
    lines = text.splitlines()
    uri, _ = await open_doc(client, tmp_path / "x.x", text)
    exit_flow = lines.index("        down(width, 1024)")
    before = await hover_text(client, uri, exit_flow + 2, 9)
    broken = text.replace("    flow middle:", "    flow middle:\n        conv 3x3 (")
    diags = await change(client, uri, broken, 2)
    inserted = lines.index("    flow middle:") + 1
    assert diags and diags[0].range.start.line == inserted
    after = await hover_text(client, uri, exit_flow + 3, 9)  # one line further down now
    assert after == before and after is not None and "global avgpool" in after
    assert await hover_text(client, uri, inserted, 9) is None  # the changed line: no stale answer
