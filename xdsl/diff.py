"""Differences between two networks (or one spec at two settings), layer by layer and per block.

Layers are matched by their hierarchical name, which depends on the spec's structure, not on
line numbers: changing an option shows as a changed layer, inserting one as an added layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .audit import block_rows
from .graph import LayerNode, layers
from .layergraph import GraphIR


@dataclass(frozen=True)
class LayerChange:
    name: str
    kind: str  # "added", "removed" or "changed"
    before: str
    after: str
    params: int  # change in trainable parameters
    macs: int


def describe_layer(n: LayerNode, only: set[str] | None = None) -> str:
    """``sepconv 728 3x3 segments=4 -> 728x19x19``: options as a spec writes them (those left
    at their default omitted), restricted to ``only`` when given."""
    attrs = n.attrs.model_dump(exclude_defaults=True)
    if only is not None:
        attrs = {k: v for k, v in n.attrs.model_dump().items() if k in only}
    words = [f"{k}={_fmt(v)}" for k, v in attrs.items()]
    return " ".join([n.op, *words, "->", "x".join(map(str, n.shape))])


def _changed(x: LayerNode, y: LayerNode) -> set[str] | None:
    """The options that differ (empty when only the shape does); None when nothing does."""
    if x.op != y.op:
        return set()
    a, b = x.attrs.model_dump(), y.attrs.model_dump()
    keys = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    return keys if keys or x.shape != y.shape else None


def _fmt(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return "x".join(map(str, v))
    return str(v)


def layer_changes(a: GraphIR, b: GraphIR) -> list[LayerChange]:
    before = {n.name: n for n in layers(a)}
    after = {n.name: n for n in layers(b)}
    order = list(before) + [n for n in after if n not in before]
    out = []
    for name in order:
        x, y = before.get(name), after.get(name)
        if x is not None and y is not None:
            keys = _changed(x, y)
            if keys is None:
                continue
            only = keys if x.op == y.op else None
            out.append(LayerChange(name, "changed", describe_layer(x, only),
                                   describe_layer(y, only), y.params - x.params,
                                   y.macs - x.macs))
        elif x is not None:
            out.append(LayerChange(name, "removed", describe_layer(x), "", -x.params, -x.macs))
        else:
            assert y is not None
            out.append(LayerChange(name, "added", "", describe_layer(y), y.params, y.macs))
    return out


def block_changes(a: GraphIR, b: GraphIR) -> list[dict[str, Any]]:
    """Per-block parameters and MACs on both sides, for blocks whose counts differ."""
    left = {r["name"]: r for r in block_rows(a)}
    right = {r["name"]: r for r in block_rows(b)}
    empty = {"params": 0, "macs": 0}
    rows = []
    for name in list(left) + [n for n in right if n not in left]:
        x, y = left.get(name, empty), right.get(name, empty)
        if (x["params"], x["macs"]) != (y["params"], y["macs"]):
            rows.append({"block": name, "params_before": x["params"],
                         "params_after": y["params"], "params_delta": y["params"] - x["params"],
                         "macs_before": x["macs"], "macs_after": y["macs"],
                         "macs_delta": y["macs"] - x["macs"]})
    return rows
