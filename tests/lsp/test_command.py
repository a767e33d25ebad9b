"""``xdsl lsp``: registered lazily, torch-free."""

from __future__ import annotations

from click.testing import CliRunner
from isolation import imports_torch

from xdsl.cli import LAZY, main


def test_lsp_command_does_not_import_torch() -> None:
    assert not imports_torch("import xdsl.lsp.server, xdsl.lsp.command\n"
                             "from click.testing import CliRunner\n"
                             "from xdsl.cli import main\n"
                             "r = CliRunner().invoke(main, ['lsp', '--help'])\n"
                             "assert r.exit_code == 0, r.output\n")


def test_help_lists_lsp() -> None:
    from xdsl.lsp.command import lsp_command

    assert LAZY["lsp"][1] == lsp_command.short_help
    out = CliRunner().invoke(main, ["--help"]).output
    assert "lsp" in out and lsp_command.short_help in out
