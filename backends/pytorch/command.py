"""`xdsl compile` (placeholder until the PyTorch backend lands)."""

from __future__ import annotations

import click


@click.command()
@click.argument("spec")
def compile_command(spec: str) -> None:
    """Compile SPEC to a PyTorch module."""
    raise click.ClickException("the PyTorch backend is not built yet")
