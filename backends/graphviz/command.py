"""``xdsl draw``: the diagram of a spec as SVG, PNG, PDF or DOT (never imports torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from xdsl.backends.graphviz.render import FORMATS

from xdsl.cli import _limits, _parse_sets, handle_errors, spec_options


@click.command(short_help="Draw SPEC like the paper's figures (SVG, PNG, PDF or DOT).")
@spec_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write; the suffix picks the format (.svg .png .pdf .dot). "
                   "Without it the DOT source goes to standard output.")
@click.option("--bn", is_flag=True, help="Draw BatchNorm layers (folded into the "
              "convolution they follow by default, as the paper's figures do).")
@click.option("--expand", is_flag=True, help="Draw every iteration of every repeat.")
@click.option("--unroll-max", default=6, show_default=True, type=click.IntRange(0),
              help="Draw a repeat out when that takes at most this many boxes; longer ones "
                   "are drawn once with a 'repeated N times' note.")
@click.option("--fold", default=3, show_default=True, type=click.IntRange(0),
              help="Draw this many or more consecutive calls of one block that differ only "
                   "in their arguments once, as 'N \u00d7 block' (identical calls fold like "
                   "a repeat); 0: never.")
@click.option("--depth", type=click.IntRange(0), default=None,
              help="Collapse scopes nested deeper than this into single boxes "
                   "(0: one box per flow, 1: one per block).")
@click.option("--direction", type=click.Choice(["TB", "LR"], case_sensitive=False),
              default="TB", show_default=True, help="Top to bottom or left to right.")
@click.option("--layout", type=click.Choice(["columns", "chain"]), default="columns",
              show_default=True,
              help="columns: each flow side by side, like Figure 5 of the Xception paper; "
                   "chain: one path.")
@click.option("--shapes", is_flag=True, help="Show output shapes on the boxes.")
@click.option("--params", is_flag=True, help="Show parameter counts on the boxes.")
@click.option("--renderer", type=click.Choice(["auto", "dot", "graphviz-pure"]),
              default="auto", show_default=True,
              help="auto: the system Graphviz `dot` if on PATH, else graphviz-pure.")
@click.option("--dpi", type=click.IntRange(10, 1200), default=None,
              help="Resolution of PNG output (default 96).")
@handle_errors
def draw_command(spec: str, sets: tuple[str, ...], output: Path | None, renderer: str,
                 dpi: int | None, direction: str, **kw: Any) -> None:
    """Draw SPEC: flows as clusters, residual shortcuts into "+" nodes, repeats collapsed."""
    from xdsl.backends.graphviz import Options, RenderError, diagram

    limits = _limits(kw)
    fmt = output.suffix.lstrip(".").lower() if output else "dot"
    if fmt not in FORMATS:
        raise click.BadParameter(f"cannot tell the format from {output.name!r}; use a name "
                                 f"ending in {', '.join('.' + f for f in FORMATS)}",
                                 param_hint="-o")
    from xdsl.api import parse
    from xdsl.files import same_file

    parsed = parse(spec)
    if output is not None and any(same_file(output, f) for f in parsed.files):
        raise click.BadParameter(f"{output} is the spec being drawn; write to another file",
                                 param_hint="-o")
    try:
        drawing = diagram(parsed, _parse_sets(sets), Options(direction=direction.upper(), **kw),
                          renderer=renderer, limits=limits)
        if output is None:
            click.echo(drawing.dot, nl=False)
            return
        drawing.save(output, fmt, dpi)
    except RenderError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {output}", err=True)


__all__ = ["draw_command"]
