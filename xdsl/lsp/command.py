"""``xdsl lsp``: the language server over standard input and output."""

from __future__ import annotations

import click

HELP = "Run the language server (LSP over stdio) for editors."


@click.command("lsp", short_help=HELP)
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Also write the server's log to this file.")
def lsp_command(log_file: str | None) -> None:
    """Run the language server for spec files over standard input and output (the Language
    Server Protocol): diagnostics as you type, hovers with each layer's output shape,
    parameters and MACs, inlay hints, go to definition, references, outline, completion,
    formatting and rename. Editors start it themselves (see the README's editor section)."""
    import logging

    if log_file:
        logging.basicConfig(filename=log_file, level=logging.INFO)
    from .server import server

    server.start_io()
