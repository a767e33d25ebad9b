"""The language server under test: ``python -m xdsl lsp`` started as a subprocess, spoken to
over stdio through pytest-lsp's client (one server per test module)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

sys.path.insert(0, str(Path(__file__).parent))  # lsp_session, the tests' helpers

from lsp_session import SERVER, start  # noqa: E402


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient):
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()
