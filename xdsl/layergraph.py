"""The graph IR's container: layers in the order they run, joined to the layers they read.

networkx takes a fifth of a second to import (285 modules), longer than parsing, validating
and building Xception together, and xdsl's own stages only read the graph. So the builder
writes into a :class:`LayerGraph`: networkx's layout (``graph``, node attribute dicts,
successor and predecessor dicts) and the part of ``networkx.DiGraph``'s API that reads it
(``g.graph``, ``g.nodes[name]``, ``g.nodes(data=True)``, ``g.edges``, ``g.successors``,
``g.predecessors``, ``g.in_degree``, ``len(g)``, ...). :meth:`LayerGraph.to_networkx` hands the
same graph over as a ``networkx.DiGraph`` (what ``xdsl.graph()`` returns) for its algorithms.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from .netgraph import NetworkGraph

Attrs = dict[str, Any]

GraphIR: TypeAlias = "LayerGraph | NetworkGraph"
"""What the graph IR's readers take: the builder's graph or the networkx one of ``xdsl.graph()``
(they read the same API)."""


class NodeView(Mapping[Hashable, Attrs]):
    """``g.nodes``: the node names in order; ``g.nodes[n]`` is n's attribute dict;
    ``g.nodes(data=True)`` gives (name, attributes) pairs, ``g.nodes(data="node")`` (name,
    value) pairs, as networkx's ``NodeView`` does."""

    __slots__ = ("_node",)

    def __init__(self, node: dict[Hashable, Attrs]) -> None:
        self._node = node

    def __getitem__(self, n: Hashable) -> Attrs:
        return self._node[n]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def __contains__(self, n: object) -> bool:
        return n in self._node

    def __call__(self, data: bool | str = False, default: Any = None) -> Any:
        if data is False:
            return self
        return self.data(data, default)

    def data(self, data: bool | str = True, default: Any = None) -> list[tuple[Hashable, Any]]:
        if data is True:
            return list(self._node.items())
        return [(n, d.get(data, default)) for n, d in self._node.items()]

    def __repr__(self) -> str:
        return f"NodeView({tuple(self._node)})"


class EdgeView:
    """``g.edges``: (u, v) pairs in order of u; ``g.edges[u, v]`` is the edge's attribute dict;
    ``g.edges(nbunch, data=True)`` gives (u, v, attributes) of the edges out of ``nbunch`` (a
    node or nodes; all without it), as networkx's ``OutEdgeView`` does."""

    __slots__ = ("_succ",)

    def __init__(self, succ: dict[Hashable, dict[Hashable, Attrs]]) -> None:
        self._succ = succ

    def __iter__(self) -> Iterator[tuple[Hashable, Hashable]]:
        return ((u, v) for u, nbrs in self._succ.items() for v in nbrs)

    def __len__(self) -> int:
        return sum(len(nbrs) for nbrs in self._succ.values())

    def __contains__(self, e: object) -> bool:
        try:
            u, v = e  # type: ignore[misc]
        except (TypeError, ValueError):
            return False
        return u in self._succ and v in self._succ[u]

    def __getitem__(self, e: tuple[Hashable, Hashable]) -> Attrs:
        u, v = e
        return self._succ[u][v]

    def __call__(self, nbunch: Any = None, data: bool | str = False,
                 default: Any = None) -> Any:
        if nbunch is None and data is False:
            return self
        sources = list(self._succ) if nbunch is None else _bunch(self._succ, nbunch)
        pairs = [(u, v, d) for u in sources for v, d in self._succ[u].items()]
        if data is False:
            return [(u, v) for u, v, _ in pairs]
        if data is True:
            return pairs
        return [(u, v, d.get(data, default)) for u, v, d in pairs]

    def data(self, data: bool | str = True, default: Any = None, nbunch: Any = None) -> Any:
        return self(nbunch, data, default)


class DegreeView:
    """``g.in_degree`` / ``g.out_degree``: ``view[n]`` and ``view(n)`` are n's degree;
    ``view()`` or the view itself gives (node, degree) pairs; ``view(nodes)`` those nodes'."""

    __slots__ = ("_adj",)

    def __init__(self, adj: dict[Hashable, dict[Hashable, Attrs]]) -> None:
        self._adj = adj

    def __getitem__(self, n: Hashable) -> int:
        return len(self._adj[n])

    def __call__(self, nbunch: Any = None) -> Any:
        if nbunch is None:
            return self
        if _is_node(self._adj, nbunch):
            return len(self._adj[nbunch])
        return [(n, len(self._adj[n])) for n in _bunch(self._adj, nbunch)]

    def __iter__(self) -> Iterator[tuple[Hashable, int]]:
        return ((n, len(a)) for n, a in self._adj.items())

    def __len__(self) -> int:
        return len(self._adj)


def _bunch(adj: dict[Hashable, Any], nbunch: Any) -> list[Hashable]:
    """networkx's ``nbunch``: one node, or an iterable of nodes (those not in the graph
    skipped)."""
    if _is_node(adj, nbunch):
        return [nbunch]
    return [n for n in nbunch if _is_node(adj, n)]


def _is_node(adj: dict[Hashable, Any], n: Any) -> bool:
    try:
        return n in adj
    except TypeError:  # a list of nodes, say
        return False


class LayerGraph:
    """A directed graph in networkx's layout without networkx (see the module's text).

    Nodes keep the order they were added in (for the graph IR: the order layers run in); an
    edge added again updates its attributes, as in ``networkx.DiGraph``.
    """

    __slots__ = ("graph", "_node", "_succ", "_pred")

    def __init__(self, **attr: Any) -> None:
        self.graph: Attrs = dict(attr)
        self._node: dict[Hashable, Attrs] = {}
        self._succ: dict[Hashable, dict[Hashable, Attrs]] = {}
        self._pred: dict[Hashable, dict[Hashable, Attrs]] = {}

    # -- building ---------------------------------------------------------------------------

    def add_node(self, n: Hashable, **attr: Any) -> None:
        if n not in self._node:
            self._node[n] = {}
            self._succ[n] = {}
            self._pred[n] = {}
        self._node[n].update(attr)

    def add_edge(self, u: Hashable, v: Hashable, **attr: Any) -> None:
        for n in (u, v):
            if n not in self._node:
                self.add_node(n)
        data = self._succ[u].get(v, {})
        data.update(attr)
        self._succ[u][v] = data
        self._pred[v][u] = data

    # -- reading, as networkx ---------------------------------------------------------------

    @property
    def nodes(self) -> NodeView:
        return NodeView(self._node)

    @property
    def edges(self) -> EdgeView:
        return EdgeView(self._succ)

    @property
    def succ(self) -> Mapping[Hashable, Mapping[Hashable, Attrs]]:
        return self._succ

    adj = succ

    @property
    def pred(self) -> Mapping[Hashable, Mapping[Hashable, Attrs]]:
        return self._pred

    @property
    def name(self) -> str:
        return str(self.graph.get("name", ""))

    @name.setter
    def name(self, value: str) -> None:
        self.graph["name"] = value

    def successors(self, n: Hashable) -> Iterator[Hashable]:
        return iter(self._succ[n])

    neighbors = successors

    def predecessors(self, n: Hashable) -> Iterator[Hashable]:
        return iter(self._pred[n])

    @property
    def in_degree(self) -> DegreeView:
        return DegreeView(self._pred)

    @property
    def out_degree(self) -> DegreeView:
        return DegreeView(self._succ)

    def has_node(self, n: Hashable) -> bool:
        return n in self._node

    def has_edge(self, u: Hashable, v: Hashable) -> bool:
        return (u, v) in self.edges

    def number_of_nodes(self) -> int:
        return len(self._node)

    def number_of_edges(self) -> int:
        return len(self.edges)

    def is_directed(self) -> bool:
        return True

    def is_multigraph(self) -> bool:
        return False

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def __contains__(self, n: object) -> bool:
        try:
            return n in self._node
        except TypeError:
            return False

    def __getitem__(self, n: Hashable) -> Mapping[Hashable, Attrs]:
        return self._succ[n]

    def __repr__(self) -> str:
        return (f"<LayerGraph {self.name!r}: {len(self._node)} nodes, "
                f"{self.number_of_edges()} edges>")

    # -- handing over ------------------------------------------------------------------------

    def to_networkx(self) -> NetworkGraph:
        """The same graph as a ``networkx.DiGraph`` (an :class:`~xdsl.netgraph.NetworkGraph`):
        graph, node and edge attribute dicts copied (their values shared), nodes in the same
        order, each node's predecessors in the order its edges were added."""
        from .netgraph import NetworkGraph

        g = NetworkGraph()
        g.graph.update(self.graph)
        g.add_nodes_from((n, dict(d)) for n, d in self._node.items())
        g.add_edges_from((u, v, dict(d)) for v, preds in self._pred.items()
                         for u, d in preds.items())
        return g

    def _repr_svg_(self) -> str | None:
        """Jupyter shows the graph as its diagram (None when it cannot be drawn here)."""
        from .backends.graphviz import svg_or_none

        return svg_or_none(self)


def is_graph(obj: object) -> bool:
    """Whether ``obj`` is a graph IR: a :class:`LayerGraph` or a ``networkx.DiGraph`` (asked
    without importing networkx: where it is not loaded, nothing is one of its graphs)."""
    if isinstance(obj, LayerGraph):
        return True
    nx = sys.modules.get("networkx")
    return nx is not None and isinstance(obj, nx.DiGraph)


__all__ = ["DegreeView", "EdgeView", "GraphIR", "LayerGraph", "NodeView", "is_graph"]
