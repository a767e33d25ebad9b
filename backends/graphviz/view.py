"""Graph IR → what the diagram shows: boxes, edges and nested clusters.

The IR is fully expanded (Xception's middle flow is 8 × 3 separable convolutions); a figure is
not.  This stage decides what is drawn, independently of DOT syntax:

* a ``repeat`` whose unrolled drawing would take more than ``unroll_max`` boxes is drawn once
  (its first iteration) inside a cluster saying "repeated N times"; shorter ones are drawn out,
  as the paper draws the three separable convolutions of a middle-flow module;
* batch normalization is folded into the convolution it follows, as the paper's figures omit it;
* scopes deeper than ``depth`` become single boxes;
* flows become clusters and, in the ``columns`` layout, side-by-side columns that each start from
  a "feature maps" node, like Figure 5 of the Xception paper.

Everything is ordered by build order, so the same spec always gives the same drawing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import networkx as nx
from xdsl.backends import labels

from xdsl.graph import LayerNode, layers

FOLDABLE = frozenset({"conv", "gconv", "sepconv", "dwconv", "linear"})
"""Ops a following BatchNorm is folded into when BN is not drawn."""

_STRUCTURAL = re.compile(r"(residual|concat|add)\d+$")


@dataclass(frozen=True)
class Options:
    """What to draw; the CLI flags of ``xdsl draw`` map one to one onto these fields."""

    bn: bool = False
    expand: bool = False
    unroll_max: int = 6
    depth: int | None = None
    direction: Literal["TB", "LR"] = "TB"
    layout: Literal["columns", "chain"] = "columns"
    shapes: bool = False
    params: bool = False


@dataclass
class Box:
    id: str
    kind: Literal["layer", "merge", "input", "scope", "port"]
    title: str
    shape: tuple[int, ...]
    params: int = 0
    state: int = 0
    macs: int = 0
    folded: list[str] = field(default_factory=list)
    """Ops drawn inside this box's layer (the BatchNorm that follows a convolution)."""
    members: list[str] = field(default_factory=list)
    spine: str = ""
    """Boxes on one spine (a flow's main path, one branch) are drawn in a straight line."""


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    shortcut: bool = False
    cross: bool = False
    """Joins two flow columns: drawn, but not allowed to push the columns apart."""


@dataclass
class Cluster:
    id: str
    kind: Literal["flow", "block", "repeat"]
    title: str
    items: list[str | Cluster] = field(default_factory=list)
    params: int = 0


@dataclass
class View:
    name: str
    options: Options
    boxes: dict[str, Box]
    edges: list[Edge]
    root: Cluster
    notes: list[str]
    ports: list[str]
    """Flow-entry nodes, drawn on one rank so the columns start level."""


def flow_title(name: str) -> str:
    words = name.replace("_", " ")
    title = words[:1].upper() + words[1:]
    return title if title.lower().endswith("flow") else f"{title} flow"


def _feature_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"{shape[0]}-dimensional vectors"
    return f"{labels.shape(shape)} feature maps"


class _Builder:
    def __init__(self, g: nx.DiGraph, options: Options, flows: frozenset[str] | None,
                 blocks: frozenset[str] | None):
        self.g, self.o = g, options
        self.nodes: list[LayerNode] = layers(g)
        self.by_name = {n.name: n for n in self.nodes}
        depth1 = {n.scope[0] for n in self.nodes if n.scope}
        self.flows = depth1 if flows is None else depth1 & flows
        self.blocks = None if blocks is None else re.compile(
            "(?:" + "|".join(map(re.escape, sorted(blocks))) + r")\d+" if blocks else "(?!)")
        self.repeats: dict[int, dict] = g.graph.get("repeats", {})
        # iterations[uid][i] = names of the nodes built in iteration i of repeat uid
        self.iterations: dict[int, dict[int, list[str]]] = {}
        self.position: dict[tuple[int, str], int] = {}  # (repeat, node) → index in iteration
        for n in self.nodes:
            for uid, i in n.repeats:
                names = self.iterations.setdefault(uid, {}).setdefault(i, [])
                self.position[uid, n.name] = len(names)
                names.append(n.name)
        self.collapsed = self._choose_collapsed()

    # -- which node stands for which ------------------------------------------------------

    def _scope_box(self, n: LayerNode) -> str | None:
        depth = self.o.depth
        if depth is None or len(n.scope) <= depth:
            return None
        return ".".join(n.scope[: depth + 1])

    def _base(self, name: str) -> str:
        """The box a node is drawn in, ignoring repeats: its scope box, or its own, or (BN)
        the box of the convolution it follows."""
        n = self.by_name[name]
        if (box := self._scope_box(n)) is not None:
            return box
        if n.op == "bn" and not self.o.bn and len(n.inputs) == 1:
            src = self.by_name[n.inputs[0]]
            if src.op in FOLDABLE and self.g.out_degree(src.name) == 1:
                return self._base(src.name)
        return name

    def _choose_collapsed(self) -> set[int]:
        """Repeats drawn once: those that would take more than ``unroll_max`` boxes drawn out
        (BatchNorm not counted, so --bn changes no structure), unless a --depth box holds
        them whole."""
        if self.o.expand:
            return set()
        out = set()
        for uid, info in self.repeats.items():
            if self.o.depth is not None and len(info["scope"]) > self.o.depth:
                continue
            first = self.iterations.get(uid, {}).get(0, [])
            boxes = {self._base(name) for name in first if self.by_name[name].op != "bn"}
            if info["count"] > 1 and info["count"] * len(boxes) > self.o.unroll_max:
                out.add(uid)
        return out

    def hidden(self, name: str) -> bool:
        return any(uid in self.collapsed and i > 0 for uid, i in self.by_name[name].repeats)

    def counterpart(self, name: str) -> str:
        """The node of a collapsed repeat's first iteration that ``name`` repeats."""
        while True:
            n = self.by_name[name]
            hit = next(((uid, i) for uid, i in n.repeats if uid in self.collapsed and i > 0),
                       None)
            if hit is None:
                return name
            uid, i = hit
            mine, first = self.iterations[uid][i], self.iterations[uid][0]
            k = self.position[uid, name]
            name = first[k] if len(first) == len(mine) else first[-1]

    def rep(self, name: str) -> str:
        return self._base(self.counterpart(name))

    # -- boxes, edges, clusters -----------------------------------------------------------

    def boxes(self) -> dict[str, Box]:
        boxes: dict[str, Box] = {}
        for n in self.nodes:
            if self.hidden(n.name):
                continue
            rid = self.rep(n.name)
            box = boxes.get(rid)
            if box is None:
                if self._scope_box(self.by_name[self.counterpart(n.name)]) is not None:
                    last = rid.rsplit(".", 1)[-1]
                    title = flow_title(last) if rid in self.flows else last
                    box = Box(rid, "scope", title, n.shape)
                else:
                    kind = ("input" if n.op == "input" else
                            "merge" if n.op in ("add", "concat") else "layer")
                    box = Box(rid, kind, labels.label(n), n.shape)
                boxes[rid] = box
            elif box.kind != "scope" and n.op != "input":
                box.folded.append(n.op)
            box.shape = n.shape
            box.params += n.params
            box.state += n.state
            box.macs += n.macs
            box.members.append(n.name)
        for box in boxes.values():
            box.spine = self._spine(self.scope_of_box(box.id) if box.kind == "scope"
                                    else self.by_name[box.members[0]].scope)
        return boxes

    def _spine(self, scope: tuple[str, ...]) -> str:
        """A flow's main path, or the innermost merge branch the scope lies in."""
        roles = [self._role(scope[: d + 1]) for d in range(len(scope))]
        if "shortcut" in roles:
            return ""
        for d in range(len(scope) - 1, -1, -1):
            if roles[d] == "branch":
                return ".".join(scope[: d + 1])
        return scope[0] if roles and roles[0] == "flow" else "main"

    def _role(self, scope: tuple[str, ...]) -> str:
        """What opened the last scope: a flow, a block call, a residual, a merge, a merge's
        branch, or a shortcut (the IR names say it, with the spec's block names to tell a
        block call from a named branch)."""
        last = scope[-1]
        if len(scope) == 1 and last in self.flows:
            return "flow"
        if last == "shortcut":
            return "shortcut"
        if match := _STRUCTURAL.match(last):
            return "residual" if match.group(1) == "residual" else "merge"
        if self.blocks is not None:
            return "block" if self.blocks.fullmatch(last) else "branch"
        parent = scope[-2] if len(scope) > 1 else ""
        merge = _STRUCTURAL.match(parent) and not parent.startswith("residual")
        return "branch" if merge or re.fullmatch(r"branch\d+", last) else "block"

    def edges(self) -> list[Edge]:
        seen: set[tuple[str, str]] = set()
        out = []
        for n in self.nodes:
            if self.hidden(n.name):
                continue
            dst = self.rep(n.name)
            for index, src_name in enumerate(n.inputs):
                src = self.rep(src_name)
                if src == dst or (src, dst) in seen:
                    continue
                seen.add((src, dst))
                shortcut = (n.op == "add" and index > 0) or (
                    "shortcut" in n.scope and "shortcut" not in self.by_name[src_name].scope)
                out.append(Edge(src, dst, shortcut=shortcut))
        return out

    def scope_of_box(self, box: str) -> tuple[str, ...]:
        if box in self.by_name:
            return self.by_name[box].scope
        return tuple(box.split("."))[:-1]

    def clusters(self, boxes: Iterable[Box]) -> Cluster:
        """Nest boxes in flow, block and collapsed-repeat clusters."""
        root = Cluster("", "flow", "")
        index: dict[tuple, Cluster] = {(): root}
        for b in boxes:
            box = b.id
            path = self._container_path(box, b.members)
            parent = root
            for depth in range(1, len(path) + 1):
                key = tuple(path[:depth])
                if key not in index:
                    index[key] = self._new_cluster(key[-1])
                    parent.items.append(index[key])
                parent = index[key]
            parent.items.append(box)
        for key, cluster in index.items():
            if cluster.kind == "repeat":
                uid = key[-1][1]
                cluster.params = sum(self.by_name[name].params
                                     for names in self.iterations[uid].values() for name in names)
        return root

    def _container_path(self, box: str, members: Sequence[str]) -> list[tuple]:
        scope = self.scope_of_box(box)
        n = self.by_name.get(box)
        reps = [uid for uid, _ in (n.repeats if n else self._scope_repeats(members))
                if uid in self.collapsed]
        path: list[tuple] = []
        for d in range(len(scope) + 1):
            for uid in reps:
                if tuple(self.repeats[uid]["scope"]) == scope[:d]:
                    path.append(("repeat", uid))
            if d < len(scope) and self._is_cluster(scope[: d + 1]):
                path.append(("scope", scope[: d + 1]))
        return path

    def _scope_repeats(self, members: Sequence[str]) -> tuple[tuple[int, int], ...]:
        """Repeats enclosing a whole collapsed scope: those all its layers share."""
        first = self.by_name[members[0]].repeats
        common = set(first)
        for name in members[1:]:
            common &= set(self.by_name[name].repeats)
        return tuple(r for r in first if r in common)

    def _is_cluster(self, scope: tuple[str, ...]) -> bool:
        return self._role(scope) in ("flow", "block")

    def _new_cluster(self, key: tuple) -> Cluster:
        kind, what = key
        if kind == "repeat":
            count = self.repeats[what]["count"]
            return Cluster(f"repeat{what}", "repeat", f"repeated {count} times")
        scope: tuple[str, ...] = what
        if len(scope) == 1 and scope[0] in self.flows:
            return Cluster(scope[0], "flow", flow_title(scope[0]))
        return Cluster(".".join(scope), "block", scope[-1])


def _flow_ports(b: _Builder, boxes: dict[str, Box], edges: list[Edge],
                root: Cluster) -> tuple[list[Edge], list[str]]:
    """Columns layout: a tensor passed from one flow to another leaves its column through a
    "feature maps" node at the bottom and enters the next column through one at the top, as
    in the paper's Figure 5; the link between the two is kept in the DOT but not drawn."""
    flow_of = {box: b.scope_of_box(box)[0] for box in boxes
               if b.scope_of_box(box) and b.scope_of_box(box)[0] in b.flows}
    clusters = {c.id: c for c in root.items if isinstance(c, Cluster) and c.kind == "flow"}
    outs: dict[str, str] = {}
    ins: dict[tuple[str, str], str] = {}
    out: list[Edge] = []

    def port(flow: str, direction: str, src: str, top: bool) -> str:
        count = sum(1 for p in boxes if p.startswith(f"{flow}.{direction}")
                    and boxes[p].kind == "port")
        pid = f"{flow}.{direction}{count + 1}"
        boxes[pid] = Box(pid, "port", _feature_text(boxes[src].shape), boxes[src].shape,
                         spine=flow)
        items = clusters[flow].items
        items.insert(0, pid) if top else items.append(pid)
        return pid

    for e in edges:
        src_flow, dst_flow = flow_of.get(e.src), flow_of.get(e.dst)
        if dst_flow is None or src_flow is None or src_flow == dst_flow:
            out.append(e)
            continue
        if e.src not in outs:
            outs[e.src] = port(src_flow, "out", e.src, top=False)
            out.append(Edge(e.src, outs[e.src]))
        if (e.src, dst_flow) not in ins:
            ins[e.src, dst_flow] = port(dst_flow, "in", e.src, top=True)
            out.append(Edge(outs[e.src], ins[e.src, dst_flow], cross=True))
        out.append(Edge(ins[e.src, dst_flow], e.dst, shortcut=e.shortcut))
    return out, list(ins.values())


def _bn_notes(boxes: dict[str, Box]) -> list[str]:
    """Say once, like the paper's caption, which layer types are always followed by a
    (folded) BatchNorm; mark the folded BatchNorm on the boxes of any other type."""
    kinds: dict[str, list[Box]] = {}
    for box in boxes.values():
        if box.kind == "layer":
            kinds.setdefault(box.title.split(" ")[0].split(",")[0], []).append(box)
    always = [k for k, group in kinds.items() if all("bn" in b.folded for b in group)]
    for kind, group in kinds.items():
        if kind not in always:
            for box in group:
                if "bn" in box.folded:
                    box.title += " + BN"
    if not always:
        return []
    names = " and ".join([", ".join(always[:-1]), always[-1]] if len(always) > 1 else always)
    return [f"every {names} layer is followed by batch normalization (not drawn)"]


def build_view(g: nx.DiGraph, options: Options = Options(),
               flows: Sequence[str] | None = None, blocks: Sequence[str] | None = None) -> View:
    """Decide what the diagram of ``g`` shows.

    ``flows`` and ``blocks`` name the spec's flows and blocks (known from its syntax tree);
    without them every top-level scope is taken for a flow, and scope names are guessed.
    """
    b = _Builder(g, options, None if flows is None else frozenset(flows),
                 None if blocks is None else frozenset(blocks))
    boxes = b.boxes()
    edges = b.edges()
    root = b.clusters(boxes.values())
    for e in edges:  # the input sits on the spine it feeds
        if boxes[e.src].kind == "input" and not boxes[e.src].spine:
            boxes[e.src].spine = boxes[e.dst].spine
    ports: list[str] = []
    if options.layout == "columns" and len(b.flows) > 1:
        edges, ports = _flow_ports(b, boxes, edges, root)
    return View(g.graph.get("name", "network"), options, boxes, edges, root, _bn_notes(boxes),
                ports)
