"""Helpers of the language server tests: the server's command, starting a session, opening and
changing documents, hovering."""

from __future__ import annotations

import sys
from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
SERVER = [sys.executable, "-m", "xdsl", "lsp"]


async def start(client: LanguageClient, options: dict | None = None) -> None:
    await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options=options))


async def open_doc(client: LanguageClient, path: Path | str, text: str | None = None
                   ) -> tuple[str, list[lsp.Diagnostic]]:
    """Open a document (its text read from ``path`` unless given) and wait for its
    diagnostics."""
    path = Path(path)
    uri = path.resolve().as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=uri, language_id="xdsl", version=1,
        text=path.read_text(encoding="utf-8") if text is None else text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri, list(client.diagnostics[uri])


async def change(client: LanguageClient, uri: str, text: str, version: int
                 ) -> list[lsp.Diagnostic]:
    """Replace a document's whole text and wait for its diagnostics."""
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri])


async def hover_text(client: LanguageClient, uri: str, line: int, character: int) -> str | None:
    result = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        position=lsp.Position(line=line, character=character)))
    if result is None:
        return None
    assert isinstance(result.contents, lsp.MarkupContent)
    return result.contents.value
