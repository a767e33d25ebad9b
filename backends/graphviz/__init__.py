"""Graphviz backend: a spec's diagram in the style of the Xception paper's Figure 5.

``draw(spec)`` → :class:`Diagram` (``.dot``, ``.save(path)``, ``_repr_svg_`` for notebooks).
Stages: graph IR → :mod:`.view` (what is shown) → :mod:`.dot` (DOT text) → :mod:`.render`
(``dot`` or graphviz-pure).  Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import networkx as nx
from xdsl.backends.graphviz.dot import to_dot
from xdsl.backends.graphviz.render import FORMATS, Renderer, RenderError, render_dot
from xdsl.backends.graphviz.view import Options, build_view

from xdsl import tree as t
from xdsl.graph import Limits

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


def _names(net: t.Network) -> tuple[list[str], list[str]]:
    """The spec's flow and block names: they tell the graph's scopes apart."""
    return [s.name for s in net.body if isinstance(s, t.Flow)], [b.name for b in net.blocks]


def draw(spec: Any, values: Mapping[str, Any] | None = None, *, limits: Limits | None = None,
         renderer: Renderer = "auto", **options: Any) -> Diagram:
    """Diagram of a spec (path, shipped name, text, :class:`xdsl.Spec`) or a built graph.

    ``values`` overrides network parameters (like ``--set``); ``options`` are the fields of
    :class:`Options` (``bn``, ``expand``, ``unroll_max``, ``depth``, ``direction``, ``layout``,
    ``shapes``, ``params``).
    """
    known = {f.name for f in fields(Options)}
    if unknown := sorted(set(options) - known):
        raise TypeError(f"draw() got unknown options {unknown}; known: {sorted(known)}")
    opts = Options(**options)
    if isinstance(spec, nx.DiGraph):
        g, names = spec, (None, None)
    else:
        from xdsl.api import parse

        parsed = parse(spec)
        g, names = parsed.graph(limits, **dict(values or {})), _names(parsed.network)
    view = build_view(g, opts, *names)
    if len(view.boxes) > MAX_BOXES:
        raise RenderError(f"the diagram would have {len(view.boxes):,} boxes (at most "
                          f"{MAX_BOXES:,} are drawn); draw repeats once (no --expand) or "
                          "collapse blocks into boxes with --depth")
    ops = {name: g.nodes[name]["node"].op for name in view.boxes if name in g.nodes}
    return Diagram(to_dot(view, ops, _title(g, values)), renderer)


def _title(g: nx.DiGraph, values: Mapping[str, Any] | None) -> str:
    name = g.graph.get("name", "network")
    if not values:
        return name
    return f"{name} (" + ", ".join(f"{k}={v}" for k, v in values.items()) + ")"


__all__ = ["Diagram", "Options", "RenderError", "draw"]
