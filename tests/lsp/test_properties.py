"""Typing into the server: every shipped spec's text typed a character at a time (a stretch of
it per example, and the whole of one spec), and random edits. After every change, the
diagnostics arrive and hover, completion, inlay hints, outline, definition and formatting
answer without an error response; the server never dies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsp_session import SERVER, SPECS, start
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

SHIPPED = sorted(SPECS.rglob("*.x"))
ALPHABET = " \n:;()=,x#\"abcdefgilnoprstuvw0123456789"


@dataclass
class Session:
    loop: asyncio.AbstractEventLoop
    client: LanguageClient
    count: int = 0


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(ClientServerConfig(server_command=SERVER).start())
    loop.run_until_complete(start(client))
    yield Session(loop, client)
    loop.run_until_complete(client.shutdown_session())
    loop.run_until_complete(client.stop())
    loop.close()


def position(text: str, offset: int) -> lsp.Position:
    before = text[:offset]
    return lsp.Position(line=before.count("\n"), character=offset - before.rfind("\n") - 1)


async def ask_everything(client: LanguageClient, uri: str, text: str, offset: int) -> None:
    """Every request at the cursor: each must answer (None is an answer), none with an error."""
    doc = lsp.TextDocumentIdentifier(uri=uri)
    at = position(text, offset)
    lines = text.count("\n") + 1
    await asyncio.gather(
        client.text_document_hover_async(lsp.HoverParams(text_document=doc, position=at)),
        client.text_document_completion_async(lsp.CompletionParams(text_document=doc,
                                                                   position=at)),
        client.text_document_definition_async(lsp.DefinitionParams(text_document=doc,
                                                                   position=at)),
        client.text_document_inlay_hint_async(lsp.InlayHintParams(
            text_document=doc, range=lsp.Range(start=lsp.Position(line=0, character=0),
                                               end=lsp.Position(line=lines, character=0)))),
        client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=doc)),
    )


async def edit(client: LanguageClient, uri: str, text: str, start: int, end: int, new: str,
               version: int) -> str:
    """Replace ``text[start:end]`` by ``new`` (an incremental change) and wait for the
    diagnostics; the new text."""
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangePartial(
            range=lsp.Range(start=position(text, start), end=position(text, end)), text=new)]))
    await asyncio.wait_for(client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS),
                           timeout=30)
    return text[:start] + new + text[end:]


async def open_text(s: Session, text: str) -> str:
    s.count += 1
    uri = f"file:///tmp/typing/spec{s.count}.x"
    s.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="xdsl", version=1, text=text)))
    await asyncio.wait_for(
        s.client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), timeout=30)
    return uri


async def type_stretch(s: Session, full: str, start: int, length: int) -> None:
    text = full[:start]
    uri = await open_text(s, text)
    for i, c in enumerate(full[start:start + length]):
        text = await edit(s.client, uri, text, len(text), len(text), c, i + 2)
        await ask_everything(s.client, uri, text, len(text))
    assert s.client.error is None


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=st.sampled_from(SHIPPED), data=st.data())
def test_typing_a_shipped_spec(session: Session, spec, data) -> None:
    full = spec.read_text()
    start = data.draw(st.integers(0, len(full) - 1), label="start")
    length = data.draw(st.integers(1, 40), label="length")
    session.loop.run_until_complete(type_stretch(session, full, start, length))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=st.sampled_from(SHIPPED), data=st.data())
def test_random_edits(session: Session, spec, data) -> None:
    async def run() -> None:
        text = spec.read_text()
        uri = await open_text(session, text)
        for version in range(2, 2 + data.draw(st.integers(1, 8), label="edits")):
            start = data.draw(st.integers(0, len(text)), label="start")
            end = data.draw(st.integers(start, min(len(text), start + 30)), label="end")
            new = data.draw(st.text(ALPHABET, max_size=6), label="new")
            text = await edit(session.client, uri, text, start, end, new, version)
            await ask_everything(session.client, uri, text, start + len(new))
            await session.client.text_document_formatting_async(lsp.DocumentFormattingParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri),
                options=lsp.FormattingOptions(tab_size=4, insert_spaces=True)))
        assert session.client.error is None

    session.loop.run_until_complete(run())


def test_typing_a_whole_spec(session: Session) -> None:
    """mini_xception.x from its first character to its last, asking at every step."""
    full = (SPECS / "mini_xception.x").read_text()

    async def run() -> None:
        await type_stretch(session, full, 0, len(full))
        diags = session.client.diagnostics[f"file:///tmp/typing/spec{session.count}.x"]
        assert list(diags) == []  # the whole text typed is the spec, which checks

    session.loop.run_until_complete(run())
