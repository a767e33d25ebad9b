"""Completion: ops and blocks with signatures, an op's options and their words, names in
scope, and a plugin's ops."""

from __future__ import annotations

import pytest
from lsp_session import SPECS, open_doc
from lsprotocol import types as lsp
from plugin_specs import CBAM_NET
from pytest_lsp import LanguageClient

from xdsl.ops import OPS, option_names

pytestmark = pytest.mark.asyncio(loop_scope="module")

XCEPTION = SPECS / "xception.x"


async def items_at(client: LanguageClient, uri: str, line: int, character: int
                   ) -> dict[str, lsp.CompletionItem]:
    result = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        position=lsp.Position(line=line, character=character)))
    assert isinstance(result, lsp.CompletionList)
    return {i.label: i for i in result.items}


async def typed(client: LanguageClient, tmp_path, line_text: str, name: str = "c.x"
                ) -> tuple[dict[str, lsp.CompletionItem], int]:
    """Completion at the end of ``line_text`` typed as a new line of the exit flow."""
    lines = XCEPTION.read_text().splitlines()
    at = lines.index("        linear classes")
    lines.insert(at, line_text)
    uri, _ = await open_doc(client, tmp_path / name, "\n".join(lines) + "\n")
    return await items_at(client, uri, at, len(line_text)), at


async def test_ops_and_blocks_at_a_statement(client: LanguageClient, tmp_path) -> None:
    items, _ = await typed(client, tmp_path, "        se")
    assert {n for n, s in OPS.items() if not s.plugin} <= set(items)
    assert items["sepconv"].detail == OPS["sepconv"].summary
    assert items["down"].detail == "block down(c1: int, c2: int, pre_relu: bool = true)"
    assert items["down"].kind == lsp.CompletionItemKind.Class
    assert "repeat" in items and "residual" in items


async def test_options_of_the_op_being_written(client: LanguageClient, tmp_path) -> None:
    items, _ = await typed(client, tmp_path, "        sepconv 64 3x3 stride=2 ", "o.x")
    assert set(option_names("sepconv")) - {"stride"} <= set(items)
    assert "stride" not in items
    assert items["order"].insert_text == "order="
    assert "spatial_first" in (items["order"].detail or "")
    assert "width" in items  # the parameters in scope too
    items, _ = await typed(client, tmp_path, "        sepconv 64 3x3 order=", "w.x")
    assert {"spatial_first", "pointwise_first"} <= set(items)
    items, _ = await typed(client, tmp_path, "        maxpool 3x3 pad=", "p.x")
    assert {"same", "valid"} <= set(items)


async def test_names_in_a_block_and_block_arguments(client: LanguageClient) -> None:
    lines = XCEPTION.read_text().splitlines()
    uri, _ = await open_doc(client, XCEPTION)
    inside = next(i for i, s in enumerate(lines) if s.strip() == "maxpool 3x3 stride=2")
    items = await items_at(client, uri, inside, len(lines[inside]) - len("2"))
    assert {"c1", "c2", "pre_relu", "width"} <= set(items)
    assert items["c1"].detail == "c1: int (of block down)"
    call = lines.index("        down(width, 1024)")
    items = await items_at(client, uri, call, len("        down(width, "))
    assert {"c1", "c2", "pre_relu"} <= set(items)


async def test_plugin_ops(cbam_plugin) -> None:
    """The ops of the plugins a spec's `use` lines name (here in-process: the server's
    completion module, with the example plugin installed for this test)."""
    from xdsl.lsp.analysis import analyze
    from xdsl.lsp.completion import complete

    lines = CBAM_NET.splitlines()
    at = next(i for i, s in enumerate(lines) if s.strip().startswith("global"))
    lines.insert(at, "    cb")
    a = analyze("\n".join(lines) + "\n", None)
    items = {i.label: i for i in complete(a, None, at, len("    cb"))}
    assert "cbam" in items and items["cbam"].detail == OPS["cbam"].summary
    plain = {i.label for i in complete(analyze(CBAM_NET.replace("use cbam\n", ""), None), None,
                                        at, 4)}
    assert "cbam" not in plain
