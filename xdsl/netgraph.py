"""The graph IR as a ``networkx.DiGraph``: what ``xdsl.graph()`` and ``Spec.graph()`` return,
for networkx's algorithms. xdsl's own commands read the :class:`~xdsl.layergraph.LayerGraph`
the builder writes and never import networkx."""

from __future__ import annotations

import networkx as nx


class NetworkGraph(nx.DiGraph):
    """The graph IR: a ``networkx.DiGraph`` that Jupyter displays as its diagram."""

    def _repr_svg_(self) -> str | None:
        from .backends.graphviz import svg_or_none

        return svg_or_none(self)


__all__ = ["NetworkGraph"]
