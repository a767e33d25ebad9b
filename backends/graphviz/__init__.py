"""Graphviz backend: a spec's diagram in the style of the Xception paper's Figure 5.

``draw(spec)`` → :class:`Diagram` (``.dot``, ``.save(path)``, ``_repr_svg_`` for notebooks).
Stages: graph IR → :mod:`.view` (what is shown) → :mod:`.dot` (DOT text) → :mod:`.render`
(``dot`` or graphviz-pure).  Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xdsl.backends.graphviz.dot import to_dot
from xdsl.backends.graphviz.render import FORMATS, Renderer, RenderError, render_dot
from xdsl.backends.graphviz.view import Options, build_view

from xdsl import tree as t
from xdsl.graph import Limits
from xdsl.layergraph import GraphIR, is_graph

MAX_BOXES = 3000
"""Above this, layout takes minutes and the picture is unreadable: ask for --depth instead."""


@dataclass(frozen=True)
class Diagram:
    """A rendered-on-demand diagram: DOT text plus the way to turn it into a file."""

    dot: str
    renderer: Renderer = "auto"

    def render(self, fmt: str = "svg", dpi: int | None = None) -> bytes:
        return render_dot(self.dot, fmt, self.renderer, dpi)

    def save(self, path: str | os.PathLike[str], fmt: str | None = None,
             dpi: int | None = None) -> Path:
        """Write the diagram; the format comes from the suffix (.svg .png .pdf .dot)."""
        path = Path(path)
        fmt = fmt or path.suffix.lstrip(".").lower()
        if fmt not in FORMATS:
            raise RenderError(f"cannot tell the format from {path.name!r}: use a file name "
                              f"ending in {', '.join('.' + f for f in FORMATS)}")
        data = self.render(fmt, dpi)
        path.write_bytes(data)
        return path

    def _repr_svg_(self) -> str | None:
        try:
            return self.render("svg").decode("utf-8")
        except RenderError:
            return None


def svg_or_none(spec: Any) -> str | None:
    """``draw(spec)`` as SVG, for Jupyter's ``_repr_svg_`` of specs and graphs; None where it
    cannot be drawn here (no renderer: Jupyter then shows the text repr)."""
    try:
        return draw(spec)._repr_svg_()
    except Exception:
        return None


def _names(net: t.Network) -> tuple[list[str], list[str]]:
    """The spec's flow and block names: they tell the graph's scopes apart."""
    return [s.name for s in net.body if isinstance(s, t.Flow)], [b.name for b in net.blocks]


def draw(spec: Any, /, *, bn: bool = False, expand: bool = False, unroll_max: int = 6,
         fold: int = 3, depth: int | None = None, direction: Literal["TB", "LR"] = "TB",
         layout: Literal["columns", "chain"] = "columns", shapes: bool = False,
         params: bool = False, renderer: Renderer = "auto", limits: Limits | None = None,
         **spec_params: Any) -> Diagram:
    """Diagram of a spec (path, shipped name, text, :class:`xdsl.Spec`) or a built graph.

    Keywords other than the options set the spec's parameters (like ``--set``):
    ``draw("xception", middle_repeats=4, shapes=True)``. The options are the flags of ``xdsl
    draw`` (the fields of :class:`Options`): ``bn`` draws BatchNorm boxes, ``expand`` every
    iteration of every repeat (``unroll_max``: repeats that fit in so many boxes are always
    drawn out), ``fold``: as many consecutive calls of a block that differ only in their
    arguments are drawn once (0: never), ``depth`` collapses deeper scopes into boxes,
    ``shapes`` and ``params`` label the boxes with output shapes and parameter counts. A spec
    parameter named like an option is set on the graph: ``draw(xdsl.graph(spec, depth=3),
    depth=1)``.
    """
    from xdsl.api import check_keywords, old_mapping, options_of, parse

    spec_params = old_mapping(spec_params, "values", "draw")
    if not is_graph(spec):
        spec = parse(spec)
        check_keywords(spec, spec_params, "draw", options_of(draw))
    opts = Options(bn=bn, expand=expand, unroll_max=unroll_max, fold=fold, depth=depth,
                   direction=direction, layout=layout, shapes=shapes, params=params)
    return diagram(spec, spec_params, opts, renderer=renderer, limits=limits)


def diagram(spec: Any, spec_params: Mapping[str, Any], opts: Options, *,
            renderer: Renderer = "auto", limits: Limits | None = None) -> Diagram:
    """:func:`draw` with the spec's parameters in a mapping (``xdsl draw``'s ``--set``)."""
    if is_graph(spec):
        if spec_params:
            raise ValueError("spec parameters apply to a spec, not to a built graph: set them "
                             "with xdsl.graph(spec, ...)")
        g, names = spec, (None, None)
    else:
        from xdsl.api import parse

        parsed = parse(spec)
        g, names = parsed.build(limits, **spec_params), _names(parsed.network)
    view = build_view(g, opts, *names)
    if len(view.boxes) > MAX_BOXES:
        raise RenderError(f"the diagram would have {len(view.boxes):,} boxes (at most "
                          f"{MAX_BOXES:,} are drawn); draw repeats once (no --expand) or "
                          "collapse blocks into boxes with --depth")
    ops = {name: g.nodes[name]["node"].op for name in view.boxes if name in g.nodes}
    return Diagram(to_dot(view, ops, _title(g, spec_params)), renderer)


def _title(g: GraphIR, values: Mapping[str, Any] | None) -> str:
    name = g.graph.get("name", "network")
    if not values:
        return name
    return f"{name} (" + ", ".join(f"{k}={v}" for k, v in values.items()) + ")"


__all__ = ["Diagram", "Options", "RenderError", "diagram", "draw"]
