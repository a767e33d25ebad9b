"""Graph IR → what the diagram shows: boxes, edges and nested clusters.

The IR is fully expanded (Xception's middle flow is 8 × 3 separable convolutions); a figure is
not.  This stage decides what is drawn, independently of DOT syntax:

* a ``repeat`` whose unrolled drawing would take more than ``unroll_max`` boxes is drawn once
  (its first iteration) inside a cluster saying "repeated N times"; shorter ones are drawn out,
  as the paper draws the three separable convolutions of a middle-flow module;
* consecutive calls of one block, each fed by the previous one, are drawn once like a repeat
  ("3 \u00d7 inception_a", as the Inception V3 paper's Table 1 writes them): always when the calls
  are identical and would take more than ``unroll_max`` boxes, and when only their arguments
  differ once there are at least ``fold`` of them (the boxes then read "Conv 32/64/64, 1\u00d71");
* batch normalization is folded into the convolution it follows, as the paper's figures omit it,
  and so is the activation after it when every layer of that type has the same one;
* a block's shortcut starts from a fork inside the block, so it never leaves the block's outline;
* a layer in a branch of a multi-branch module reads on two lines (op and channels, then kernel)
  and a repeated module's "3 \u00d7 inception_a" stands under it, so that the modules of a
  full-depth Inception V3 fit a page side by side, as the paper's module figures are drawn;
* scopes deeper than ``depth`` become single boxes;
* flows become clusters and, in the ``columns`` layout, side-by-side columns that each start from
  a "feature maps" node, like Figure 5 of the Xception paper.

Everything is ordered by build order, so the same spec always gives the same drawing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from xdsl.backends import labels

from xdsl.graph import LayerNode, layers
from xdsl.layergraph import GraphIR
from xdsl.ops import Activation

FOLDABLE = frozenset({"conv", "gconv", "sepconv", "dwconv", "linear", "deconv", "pwlinear"})
"""Ops a following BatchNorm is folded into when BN is not drawn."""
ACTIVATIONS = frozenset(get_args(Activation)) - {"none"} | {"act"}

_STRUCTURAL = re.compile(r"(residual|concat|add|mul)\d+$")


@dataclass(frozen=True)
class Options:
    """What to draw; the CLI flags of ``xdsl draw`` map one to one onto these fields."""

    bn: bool = False
    expand: bool = False
    unroll_max: int = 6
    fold: int = 3
    depth: int | None = None
    direction: Literal["TB", "LR"] = "TB"
    layout: Literal["columns", "chain"] = "columns"
    shapes: bool = False
    params: bool = False


@dataclass
class Box:
    id: str
    kind: Literal["layer", "merge", "input", "scope", "port", "fork", "via", "note"]
    title: str
    shape: tuple[int, ...]
    params: int = 0
    state: int = 0
    macs: int = 0
    folded: list[str] = field(default_factory=list)
    """What is drawn inside this box's layer: "bn" for the BatchNorm that follows a
    convolution, an activation's label ("ReLU")."""
    members: list[str] = field(default_factory=list)
    spine: str = ""
    """Boxes on one spine (a flow's main path, one branch) are drawn in a straight line."""
    narrow: bool = False
    """A layer in one branch of a multi-branch module: its text on two lines ("Conv 64" over
    "1\u00d71") and a tight box, so the branches side by side fit a page, as in the papers."""


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    shortcut: bool = False
    cross: bool = False
    """Joins two flow columns: drawn, but not allowed to push the columns apart."""
    minlen: int = 1
    """Ranks the edge spans at least: 2 past a repeat's note under the box it leaves."""


@dataclass
class Cluster:
    id: str
    kind: Literal["flow", "block", "repeat"]
    title: str
    items: list[str | Cluster] = field(default_factory=list)
    params: int = 0
    level: list[list[str]] = field(default_factory=list)
    """Boxes drawn side by side, left to right: the first layers of a merge's branches."""
    beside: tuple[str, str] | None = None
    """A repeat's (note box, box it stands beside): the "repeated N times" text sits left of
    the repeat's first layer, where no edge runs, as in the paper's Figure 5."""
    under: tuple[str, str] | None = None
    """A module repeat's (note box, box it stands under): its last, the merge of its branches
    (left of the first layer, a row of branch heads leaves no room)."""


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
    modules: bool = False
    """The drawing has multi-branch modules (Inception's): it is set as tightly as a paper's
    module figures, so a full-depth network fits a page at readable type."""


def flow_title(name: str) -> str:
    words = name.replace("_", " ")
    title = words[:1].upper() + words[1:]
    return title if title.lower().endswith("flow") else f"{title} flow"


def kind_of(title: str) -> str:
    """A layer type as the caption names it: "Conv", "SeparableConv"."""
    return title.split(" ")[0].split(",")[0]


def merge_labels(texts: Sequence[str]) -> str:
    """One box text for several layers drawn as one: numbers that differ list their values
    in call order ("Conv 32/64/64, 1×1"); texts that differ otherwise are listed whole."""
    parts = [re.split(r"(\d+)", t) for t in texts]
    if any(len(p) != len(parts[0]) or p[0::2] != parts[0][0::2] for p in parts):
        return " | ".join(dict.fromkeys(texts))
    out = list(parts[0])
    for k in range(1, len(out), 2):
        values = [p[k] for p in parts]
        out[k] = values[0] if len(set(values)) == 1 else "/".join(values)
    return "".join(out)


def _feature_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"{shape[0]}-dimensional vectors"
    return f"{labels.shape(shape)} feature maps"


class _Builder:
    def __init__(self, g: GraphIR, options: Options, flows: frozenset[str] | None,
                 blocks: frozenset[str] | None):
        self.g, self.o = g, options
        self.nodes: list[LayerNode] = layers(g)
        self.by_name = {n.name: n for n in self.nodes}
        depth1 = {n.scope[0] for n in self.nodes if n.scope}
        self.flows = depth1 if flows is None else depth1 & flows
        self.blocks = None if blocks is None else re.compile(
            "(?:" + "|".join(map(re.escape, sorted(blocks))) + r")\d+" if blocks else "(?!)")
        self.repeats: dict[int, dict] = dict(g.graph.get("repeats", {}))
        # iterations[uid][i] = names of the nodes built in iteration i of repeat uid
        self.iterations: dict[int, dict[int, list[str]]] = {}
        self.position: dict[tuple[int, str], int] = {}  # (repeat, node) → index in iteration
        for n in self.nodes:
            for uid, i in n.repeats:
                names = self.iterations.setdefault(uid, {}).setdefault(i, [])
                self.position[uid, n.name] = len(names)
                names.append(n.name)
        self.runs: dict[str, tuple[tuple[int, int], ...]] = {}
        """Node → the block-call runs it lies in, as (run id, call index): runs are negative
        ids in ``repeats`` and are collapsed like repeats."""
        self._find_runs()
        self.folded_into = self._fold_tails()
        self.collapsed = self._choose_collapsed()
        self.run_scopes = {tuple(self.repeats[uid]["first"]) for uid in self.collapsed
                           if uid < 0}

    def reps(self, name: str) -> tuple[tuple[int, int], ...]:
        return self.by_name[name].repeats + self.runs.get(name, ())

    # -- runs of calls of one block -------------------------------------------------------

    def _find_runs(self) -> None:
        calls: dict[tuple[str, ...], list[tuple[str, ...]]] = {}  # parent → its block calls
        members: dict[tuple[str, ...], list[str]] = {}
        for n in self.nodes:
            for d in range(len(n.scope)):
                scope = n.scope[: d + 1]
                if self._role(scope) == "block":
                    if scope not in members:
                        calls.setdefault(scope[:-1], []).append(scope)
                    members.setdefault(scope, []).append(n.name)
        for scopes in calls.values():
            run: list[tuple[str, ...]] = []
            for scope in [*scopes, None]:
                if run and scope is not None and self._continues(run[-1], scope, members):
                    run.append(scope)
                    continue
                if len(run) > 1:
                    self._add_run(run, members)
                run = [scope] if scope is not None else []

    def _signature(self, scope: tuple[str, ...], names: list[str]) -> list[tuple]:
        prefix = ".".join(scope) + "."
        inside = set(names)
        return [(name[len(prefix):], self.by_name[name].op, self.by_name[name].repeats,
                 tuple(i[len(prefix):] if i in inside else None
                       for i in self.by_name[name].inputs)) for name in names]

    def _continues(self, prev: tuple[str, ...], scope: tuple[str, ...],
                   members: dict[tuple[str, ...], list[str]]) -> bool:
        """``scope`` calls the block ``prev`` called, right after it, on its output."""
        kind = re.sub(r"\d+$", "", scope[-1])
        if re.sub(r"\d+$", "", prev[-1]) != kind:
            return False
        a, b = members[prev], members[scope]
        if self._signature(prev, a) != self._signature(scope, b):
            return False
        order = {n.name: k for k, n in enumerate(self.nodes)}
        if order[b[0]] != order[a[-1]] + 1:
            return False
        inside = set(b)
        return all(i == a[-1] for name in b for i in self.by_name[name].inputs
                   if i not in inside)

    def _add_run(self, run: list[tuple[str, ...]],
                 members: dict[tuple[str, ...], list[str]]) -> None:
        uid = -1 - sum(1 for u in self.repeats if u < 0)
        texts = [[labels.label(self.by_name[name]) for name in members[s]] for s in run]
        self.repeats[uid] = {"count": len(run), "scope": run[0][:-1], "first": run[0],
                             "block": re.sub(r"\d+$", "", run[0][-1]),
                             "identical": all(t == texts[0] for t in texts)}
        for i, scope in enumerate(run):
            self.iterations[uid] = self.iterations.get(uid, {})
            self.iterations[uid][i] = list(members[scope])
            for k, name in enumerate(members[scope]):
                self.position[uid, name] = k
                self.runs[name] = (*self.runs.get(name, ()), (uid, i))

    def title(self, n: LayerNode) -> str:
        """The box text of a layer; for the first call of a collapsed run of calls whose
        arguments differ, each number that differs lists its values ("Conv 32/64/64, 1×1")."""
        for uid, i in self.runs.get(n.name, ()):
            if uid in self.collapsed and i == 0 and not self.repeats[uid]["identical"]:
                k = self.position[uid, n.name]
                return merge_labels([labels.label(self.by_name[names[k]])
                                     for names in self.iterations[uid].values()])
        return labels.label(n)

    # -- folding BatchNorm and activations into layers --------------------------------------

    def _tail(self, n: LayerNode) -> list[str]:
        """The BatchNorm and activation that only this layer feeds, in order."""
        tail: list[str] = []
        name, ops = n.name, set()
        while self.g.out_degree(name) == 1:
            nxt = self.by_name[next(iter(self.g.successors(name)))]
            kind = "bn" if nxt.op == "bn" else "act" if nxt.op in ACTIVATIONS else None
            if kind is None or kind in ops or len(nxt.inputs) != 1:
                break
            ops.add(kind)
            tail.append(nxt.name)
            name = nxt.name
        return tail

    def _fold_tails(self) -> dict[str, str]:
        """Node → the layer it is drawn in: a BatchNorm right after a convolution always; an
        activation after it when every layer of that type is followed by the same ops."""
        by_kind: dict[str, list[tuple[LayerNode, list[str]]]] = {}
        for n in self.nodes:
            if n.op in FOLDABLE and not self.o.bn:
                by_kind.setdefault(kind_of(labels.label(n)), []).append((n, self._tail(n)))
        into: dict[str, str] = {}
        for group in by_kind.values():
            ops = {tuple(self.by_name[t].op for t in tail) for _, tail in group}
            same = len(ops) == 1
            for n, tail in group:
                for name in tail:
                    if self.by_name[name].op != "bn" and not same:
                        break
                    into[name] = n.name
        return into

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
        if name in self.folded_into:
            return self._base(self.folded_into[name])
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
            if uid < 0 and not info["identical"]:
                if self.o.fold and info["count"] >= self.o.fold:
                    out.add(uid)
            elif info["count"] > 1 and info["count"] * len(boxes) > self.o.unroll_max:
                out.add(uid)
        return out

    def hidden(self, name: str) -> bool:
        return any(uid in self.collapsed and i > 0 for uid, i in self.reps(name))

    def counterpart(self, name: str) -> str:
        """The node of a collapsed repeat's first iteration that ``name`` repeats."""
        while True:
            hit = next(((uid, i) for uid, i in self.reps(name)
                        if uid in self.collapsed and i > 0), None)
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
                            "merge" if n.op in ("add", "concat", "mul") else "layer")
                    box = Box(rid, kind, self.title(n), n.shape)
                boxes[rid] = box
            elif box.kind != "scope" and n.op != "input":
                box.folded.append(n.op if n.op in ("bn", "add", "concat", "mul")
                                  else labels.label(n))
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

    def in_branch(self, box: Box) -> bool:
        """The box is a layer in a branch of a multi-branch module (a concat's, an add's)."""
        if box.kind != "layer":
            return False
        scope = self.by_name[box.members[0]].scope
        return any(self._role(scope[: d + 1]) == "branch" for d in range(len(scope)))

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
        reps = [uid for uid, _ in (self.reps(box) if box in self.by_name
                                   else self._scope_repeats(members))
                if uid in self.collapsed]
        path: list[tuple] = []
        for d in range(len(scope) + 1):
            for uid in reps:
                if tuple(self.repeats[uid]["scope"]) == scope[:d]:
                    path.append(("repeat", uid))
            if (d < len(scope) and self._is_cluster(scope[: d + 1])
                    and scope[: d + 1] not in self.run_scopes):
                path.append(("scope", scope[: d + 1]))
        return path

    def _scope_repeats(self, members: Sequence[str]) -> tuple[tuple[int, int], ...]:
        """Repeats enclosing a whole collapsed scope: those all its layers share."""
        first = self.reps(members[0])
        common = set(first)
        for name in members[1:]:
            common &= set(self.reps(name))
        return tuple(r for r in first if r in common)

    def _is_cluster(self, scope: tuple[str, ...]) -> bool:
        return self._role(scope) in ("flow", "block")

    def _new_cluster(self, key: tuple) -> Cluster:
        kind, what = key
        if kind == "repeat":
            info = self.repeats[what]
            if what < 0:
                return Cluster(f"repeat_run{-what}", "repeat",
                               f"{info['count']} \u00d7 {info['block']}")
            return Cluster(f"repeat{what}", "repeat", f"repeated {info['count']} times")
        scope: tuple[str, ...] = what
        if len(scope) == 1 and scope[0] in self.flows:
            return Cluster(scope[0], "flow", flow_title(scope[0]))
        return Cluster(".".join(scope), "block", "")  # the paper names no module instance


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


def _clusters(root: Cluster) -> tuple[dict[str, Cluster], dict[str, set[str]]]:
    """Each box's innermost cluster, and each cluster's boxes (nested ones included)."""
    parent: dict[str, Cluster] = {}
    members: dict[str, set[str]] = {}

    def walk(c: Cluster) -> set[str]:
        inside: set[str] = set()
        for item in c.items:
            if isinstance(item, Cluster):
                inside |= walk(item)
            else:
                parent[item] = c
                inside.add(item)
        members[c.id] = inside
        return inside

    walk(root)
    return parent, members


def _forks(boxes: dict[str, Box], edges: list[Edge], root: Cluster) -> list[Edge]:
    """A shortcut into a block from outside it starts from a fork at the top of the block, and
    the block's main path from the same fork: the shortcut stays inside the block's outline."""
    parent, members = _clusters(root)
    forks: dict[tuple[str, str], str] = {}
    for e in edges:
        home = parent.get(e.dst, root)
        if e.shortcut and home is not root and e.src not in members[home.id]:
            if (e.src, home.id) not in forks:
                fid = f"{home.id}.fork{sum(1 for _, c in forks if c == home.id) + 1}"
                forks[e.src, home.id] = fid
                boxes[fid] = Box(fid, "fork", "", boxes[e.src].shape)
                home.items.insert(0, fid)
    if not forks:
        return edges
    out: list[Edge] = []
    rerouted: dict[str, list[Edge]] = {}
    for e in edges:
        fid = next((f for (src, cid), f in forks.items()
                    if src == e.src and e.dst in members[cid]), None)
        if fid is None:
            out.append(e)
            continue
        if fid not in rerouted:
            rerouted[fid] = []
            out.append(Edge(e.src, fid))
        rerouted[fid].append(Edge(fid, e.dst, shortcut=e.shortcut))
    for fid, moved in rerouted.items():  # main path first: drawn left of the shortcut
        moved.sort(key=lambda e: e.shortcut)
        boxes[fid].spine = boxes[moved[0].dst].spine
        out += moved
    return _identity_paths(boxes, out, parent)


def _identity_paths(boxes: dict[str, Box], edges: list[Edge],
                    parent: dict[str, Cluster]) -> list[Edge]:
    """An identity shortcut from a fork runs through unseen points level with the layers it
    skips, right of them: a straight line the block's outline makes room for."""
    nxt: dict[str, str] = {}
    for e in edges:
        if not e.shortcut:
            nxt.setdefault(e.src, e.dst)
    out = []
    for e in edges:
        if not (e.shortcut and boxes[e.src].kind == "fork" and boxes[e.dst].kind == "merge"):
            out.append(e)
            continue
        path, node = [], nxt.get(e.src)
        while node is not None and node != e.dst and len(path) < len(boxes):
            path.append(node)
            node = nxt.get(node)
        if node != e.dst:
            out.append(e)
            continue
        src = e.src
        for k, layer in enumerate(path):
            via = f"{e.src}.via{k + 1}"
            boxes[via] = Box(via, "via", "", boxes[layer].shape, spine=f"{e.src}.shortcut")
            parent[e.dst].items.append(via)
            parent[e.dst].level.append([layer, via])
            out.append(Edge(src, via, shortcut=True))
            src = via
        out.append(Edge(src, e.dst, shortcut=True))
    return out


def _level_branches(boxes: dict[str, Box], edges: list[Edge], root: Cluster) -> None:
    """The branches leaving one box start level, in spec order, like the paper's modules."""
    parent, _ = _clusters(root)
    fans: dict[str, list[str]] = {}
    for e in edges:
        if not (e.shortcut or e.cross) and boxes[e.dst].kind in ("layer", "scope"):
            fans.setdefault(e.src, []).append(e.dst)
    for dsts in fans.values():
        homes = {id(parent.get(d, root)) for d in dsts}
        if len(dsts) > 1 and len(homes) == 1 and len({boxes[d].spine for d in dsts}) > 1:
            parent.get(dsts[0], root).level.append(dsts)


def _repeat_notes(boxes: dict[str, Box], edges: list[Edge], root: Cluster,
                  options: Options) -> list[Edge]:
    """A repeat's text ("repeated 8 times") stands left of its first layer, as in the
    Xception paper's Figure 5; a module whose branches start side by side (Inception's) has no
    room there, so the text stands under its last box, beside the edge that leaves it."""
    heads = {b for c in _all_clusters(root) for group in c.level
             if all(boxes[m].kind != "via" for m in group) for b in group}
    for c in _all_clusters(root):
        if c.kind != "repeat":
            continue
        first = next((b for b in _boxes_in(c) if boxes[b].kind != "fork"), None)
        if first is None:
            continue
        nid = f"{c.id}.note"
        title = f"{c.title}\n({c.params:,} params in all)" if options.params and c.params \
            else c.title
        boxes[nid] = Box(nid, "note", title, ())
        c.items.append(nid)
        if first in heads:
            last = next(b for b in reversed(_boxes_in(c)) if boxes[b].kind in _DRAWN)
            c.under = (nid, last)
            edges = [replace(e, minlen=2) if e.src == last else e for e in edges]
        else:
            c.beside = (nid, first)
    return edges


_DRAWN = ("layer", "merge", "scope")


def _all_clusters(c: Cluster) -> list[Cluster]:
    out = [c]
    for item in c.items:
        if isinstance(item, Cluster):
            out += _all_clusters(item)
    return out


def _boxes_in(c: Cluster) -> list[str]:
    out: list[str] = []
    for item in c.items:
        out += _boxes_in(item) if isinstance(item, Cluster) else [item]
    return out


_WORDS = {"bn": "batch normalization"}


def _fold_notes(boxes: dict[str, Box]) -> list[str]:
    """Say once, like the paper's caption, what always follows each layer type and is folded
    into its boxes; mark a folded BatchNorm on the boxes of a type it does not always follow."""
    kinds: dict[str, list[Box]] = {}
    for box in boxes.values():
        if box.kind == "layer":
            kinds.setdefault(kind_of(box.title), []).append(box)
    always: dict[tuple[str, ...], list[str]] = {}
    for kind, group in kinds.items():
        tails = {tuple(b.folded) for b in group}
        if len(tails) == 1 and (tail := next(iter(tails))):
            always.setdefault(tail, []).append(kind)
            continue
        for box in group:
            if "bn" in box.folded:
                box.title += " + BN"
    notes = []
    for tail, names in always.items():
        what = " and ".join(_WORDS.get(op, op) for op in tail)
        who = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        notes.append(f"every {who} layer is followed by {what} (not drawn)")
    return notes


def build_view(g: GraphIR, options: Options = Options(),
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
    edges = _forks(boxes, edges, root)
    _level_branches(boxes, edges, root)
    edges = _repeat_notes(boxes, edges, root, options)
    notes = _fold_notes(boxes)
    for box in boxes.values():
        if b.in_branch(box):
            box.title, box.narrow = labels.two_lines(box.title), True
    return View(g.graph.get("name", "network"), options, boxes, edges, root, notes, ports,
                modules=any(box.narrow for box in boxes.values()))
