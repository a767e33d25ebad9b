"""Latency of the language server through the protocol: ``xdsl lsp`` started as a subprocess,
spoken to over stdio by pytest-lsp's client. Measures, for specs/xception.x, the time from a
change (one character typed and taken back, alternately) to its diagnostics, and the time of a
hover on a layer; prints the medians (targets: 50 ms and 20 ms).

    python benchmarks/bench_lsp.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, client_capabilities

SPEC = Path(__file__).resolve().parent.parent / "specs" / "xception.x"


async def measure(rounds: int) -> tuple[float, float]:
    client = await ClientServerConfig(server_command=[sys.executable, "-m", "xdsl", "lsp"]
                                      ).start()
    await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code")))
    text = SPEC.read_text()
    lines = text.splitlines()
    uri = SPEC.resolve().as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=uri, language_id="xdsl", version=1, text=text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    line = lines.index("        down(width, 1024)")
    end = lsp.Position(line=line, character=len(lines[line]))
    changes, hovers = [], []
    for i in range(rounds):
        typed = i % 2 == 0  # a space typed at the end of a line, then taken back
        change = lsp.TextDocumentContentChangePartial(
            range=lsp.Range(start=end, end=end if typed else
                            lsp.Position(line=line, character=end.character + 1)),
            text=" " if typed else "")
        start = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=i + 2),
            content_changes=[change]))
        await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        changes.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = await client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=line + 1, character=9)))
        hovers.append(time.perf_counter() - start)
        assert result is not None
    await client.shutdown_session()
    await client.stop()
    return statistics.median(changes), statistics.median(hovers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="Changes and hovers measured.")
    args = parser.parse_args()
    change, hover = asyncio.run(measure(args.rounds))
    print(f"xception: diagnostics after a change {change * 1000:.1f} ms (median of "
          f"{args.rounds}; target 50 ms), hover {hover * 1000:.1f} ms (target 20 ms)")


if __name__ == "__main__":
    main()
