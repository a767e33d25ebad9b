"""The graph IR's container: the builder's LayerGraph reads as networkx's DiGraph and hands over
the same graph; the commands that only read it never load networkx."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from isolation import loaded

import xdsl
from xdsl.layergraph import LayerGraph, is_graph
from xdsl.netgraph import NetworkGraph

ROOT = Path(__file__).resolve().parent.parent
TOP = sorted((ROOT / "specs").glob("*.x"))


def _same(a: object, b: nx.DiGraph, pred_order: bool = True) -> None:
    """Everything a reader of the graph IR sees, through the API both share (``pred_order``:
    each node's predecessors in the same order, not only the same ones)."""
    assert list(a.nodes) == list(b.nodes)  # execution order
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.nodes(data="node")) == list(b.nodes(data="node"))
    assert list(a.edges(data=True)) == list(b.edges(data=True))
    assert a.graph == b.graph
    assert len(a) == len(b) and a.number_of_nodes() == b.number_of_nodes()
    assert a.number_of_edges() == b.number_of_edges() and len(a.edges) == len(b.edges)
    for n in b:
        assert n in a and a.has_node(n)
        assert list(a.successors(n)) == list(b.successors(n))
        pa, pb = list(a.predecessors(n)), list(b.predecessors(n))
        assert pa == pb if pred_order else sorted(pa) == sorted(pb)
        assert a.in_degree(n) == b.in_degree(n) and a.out_degree(n) == b.out_degree(n)
        assert dict(a[n]) == dict(b[n])
    for u, v in b.edges:
        assert (u, v) in a.edges and a.has_edge(u, v) and a.edges[u, v] == b.edges[u, v]
    assert dict(a.in_degree()) == dict(b.in_degree()) == dict(a.in_degree)
    assert dict(a.out_degree()) == dict(b.out_degree()) == dict(a.out_degree)
    assert len(a.nodes(data=True)) == len(b.nodes(data=True))
    some = list(b.nodes)[:3]
    assert [a.in_degree[n] for n in some] == [b.in_degree[n] for n in some]
    assert list(a.in_degree(some)) == list(b.in_degree(some))
    assert list(a.out_degree(some)) == list(b.out_degree(some))
    for n in some:
        assert list(a.edges(n)) == list(b.edges(n))
        assert list(a.edges(n, data=True)) == list(b.edges(n, data=True))
    assert list(a.edges(some, data="index")) == list(b.edges(some, data="index"))
    assert list(a.edges.data("index")) == list(b.edges.data("index"))
    assert list(a.nodes.data("node")) == list(b.nodes.data("node"))


@pytest.mark.parametrize("path", TOP, ids=lambda p: p.stem)
def test_the_builders_graph_reads_as_the_networkx_graph_it_hands_over(path: Path) -> None:
    spec = xdsl.parse(path)
    built = spec.build()
    assert isinstance(built, LayerGraph)
    handed = spec.graph()
    assert isinstance(handed, NetworkGraph) and isinstance(handed, nx.DiGraph)
    _same(built, handed)
    _same(handed, built.to_networkx())
    # networkx's own conversion reads a LayerGraph too (it has `adj`, `nodes`, `graph`); it
    # adds edges source by source, so predecessors come in node order, not input order
    _same(built, nx.DiGraph(built), pred_order=False)
    # and its algorithms agree with the execution order the builder kept
    order = list(built.nodes)
    assert all(order.index(u) < order.index(v) for u, v in built.edges)
    assert nx.is_directed_acyclic_graph(handed)


def test_the_comparison_sees_one_changed_edge_and_one_reordered_node() -> None:
    g = xdsl.parse("xception").build()
    h = g.to_networkx()
    u, v = next(iter(h.edges))
    h.edges[u, v]["index"] = 7
    with pytest.raises(AssertionError):
        _same(g, h)
    h = g.to_networkx()
    first = next(iter(h.nodes))
    data = h.nodes[first]
    h.remove_node(first)
    h.add_node(first, **data)
    with pytest.raises(AssertionError):
        _same(g, h)


def test_an_edge_added_again_updates_its_attributes_as_in_networkx() -> None:
    g, h = LayerGraph(name="t"), nx.DiGraph(name="t")
    for graph in (g, h):
        graph.add_node("a", node=1)
        graph.add_edge("a", "b", index=0)
        graph.add_edge("a", "b", index=1, kind="again")
        graph.add_edge("c", "b")
        graph.add_node("a", extra=True)
    _same(g, h)
    assert g.edges["a", "b"] == {"index": 1, "kind": "again"}
    assert repr(g) == "<LayerGraph 't': 3 nodes, 2 edges>"
    assert g.name == "t" and "zz" not in g and [] not in g
    g.name = h.name = "u"
    _same(g, h)


def test_is_graph_takes_both_and_nothing_else() -> None:
    g = xdsl.parse("xception").build()
    assert is_graph(g) and is_graph(g.to_networkx())
    assert not is_graph({"nodes": []}) and not is_graph(xdsl.parse("xception"))


def test_readers_take_either_graph() -> None:
    spec = xdsl.parse("xception")
    assert xdsl.audit(spec).trainable == 22_855_952
    built, handed = spec.build(), spec.graph()
    from xdsl.api import summarize
    from xdsl.audit import block_rows, metrics

    assert summarize(built) == summarize(handed)
    assert metrics(built) == metrics(handed)
    assert block_rows(built) == block_rows(handed)


@pytest.mark.parametrize("argv", [["check", "xception"], ["audit", "xception"],
                                  ["draw", "xception"], ["export", "xception"],
                                  ["fmt", "--check", str(ROOT / "specs" / "xception.x")],
                                  ["list"], ["--help"]])
def test_the_reading_commands_import_neither_networkx_nor_lark(argv: list[str]) -> None:
    code = f"import runpy, sys\nsys.argv = ['xdsl', *{argv!r}]\nrunpy.run_module('xdsl')"
    assert loaded(code, ("networkx", "torch", "lark")) == []


@pytest.mark.parametrize("path", TOP, ids=lambda p: p.stem)
def test_every_layer_node_the_builder_makes_passes_its_models_validation(path: Path) -> None:
    """The builder makes nodes unvalidated (``tree.new``): their model still describes them."""
    from xdsl.graph import LayerNode, layers

    nodes = layers(xdsl.parse(path).build())
    for node in nodes:
        fields = {k: getattr(node, k) for k in LayerNode.model_fields}
        assert LayerNode.model_validate(fields, strict=True) == node, node.name


def test_the_layer_node_validation_catches_a_wrong_field() -> None:
    from pydantic import ValidationError

    from xdsl.graph import LayerNode, layers
    from xdsl.tree import new

    node = layers(xdsl.parse("xception").build())[3]
    fields = {k: getattr(node, k) for k in LayerNode.model_fields}
    assert LayerNode.model_validate(fields, strict=True) == node
    with pytest.raises(ValidationError):
        LayerNode.model_validate({**fields, "shape": list(node.shape)}, strict=True)
    with pytest.raises(ValidationError):
        LayerNode.model_validate({**fields, "params": float(node.params)}, strict=True)
    assert new(LayerNode, **fields) == node


def test_networkx_loads_when_its_graph_is_asked_for() -> None:
    assert loaded("import xdsl\nxdsl.parse('xception').build()", ("networkx",)) == []
    assert loaded("import xdsl\nxdsl.graph('xception')", ("networkx",)) == ["networkx"]


def test_a_compiled_module_keeps_the_networkx_graph() -> None:
    from xdsl.backends.pytorch.build import compile_network

    text = "network n:\n    input x: 3 x 8 x 8\n    conv 4 3x3\n    global avgpool\n"
    for spec in (text, xdsl.parse(text).build(), xdsl.graph(text)):
        model = compile_network(spec)
        assert isinstance(model.graph, nx.DiGraph)
        _same(xdsl.parse(text).build(), model.graph)
