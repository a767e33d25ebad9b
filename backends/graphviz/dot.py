"""View → DOT text.  Pure string building, so the output is byte-stable and golden-testable.

Non-ASCII characters are written as HTML entities (``&#215;``): the DOT file stays ASCII and
both ``dot`` and graphviz-pure read it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.backends.graphviz.view import Box, Cluster, Edge, View

FONT = "Helvetica"

# fill colours by op family: light enough to print in greyscale, distinct on screen
FILL = {
    "conv": "#dbe8f6", "gconv": "#dbe8f6", "sepconv": "#d5ecdf", "dwconv": "#d5ecdf",
    "maxpool": "#fbe3cd", "avgpool": "#fbe3cd", "linear": "#eadcf2", "dropout": "#f2f2f2",
    "bn": "#f7f3d3", "deconv": "#dbe8f6", "adaptive_avgpool": "#fbe3cd", "pwlinear": "#eadcf2",
}
DEFAULT_FILL = "#ffffff"


@dataclass(frozen=True)
class Spacing:
    """Gaps, in inches (``nodesep``, ``ranksep``) and points (the rest)."""

    nodesep: float
    ranksep: float
    pack: str | int
    flow_margin: int
    cluster_margin: int | None


CHAINS = Spacing(nodesep=0.25, ranksep=0.22, pack="true", flow_margin=10, cluster_margin=None)
MODULES = Spacing(nodesep=0.06, ranksep=0.15, pack=4, flow_margin=4, cluster_margin=3)
"""A figure of multi-branch modules is set as tightly as the Inception paper's module figures:
four branches of a module side by side, two modules side by side, fit a page's width."""
NARROW = dict(margin="0.04,0.03", width=0.3)
"""A layer box in a module's branch: its text close to the outline, no minimum width."""


def quote(text: str) -> str:
    """A DOT double-quoted string."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + _entities(body) + '"'


def html(text: str) -> str:
    """Text for an HTML-like label."""
    body = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _entities(body)


def _entities(text: str) -> str:
    return "".join(c if ord(c) < 128 else f"&#{ord(c)};" for c in text)


def _attrs(**attrs: str | int | float | None) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
            parts.append(f"{key}={value}")
        elif isinstance(value, str):
            parts.append(f"{key}={quote(value)}")
        else:
            parts.append(f"{key}={value}")
    return "[" + ", ".join(parts) + "]" if parts else ""


def _details(box: Box, view: View) -> list[str]:
    o = view.options
    lines = []
    if o.shapes and box.kind not in ("merge", "input", "port"):
        lines.append(_shape(box.shape))
    if o.params and box.kind in ("layer", "scope") and box.params:
        lines.append(f"{box.params:,} params")
    return lines


def _shape(shape: tuple[int, ...]) -> str:
    return " \u00d7 ".join(map(str, shape))


def _label(title: str, details: list[str], size: int = 9) -> str:
    if not details:
        return title
    small = "<BR/>".join(html(d) for d in details)
    head = "<BR/>".join(html(line) for line in title.split("\n"))
    return f'<{head}<BR/><FONT POINT-SIZE="{size}" COLOR="#555555">{small}</FONT>>'


def _node(box: Box, view: View, op: str) -> str:
    details = _details(box, view)
    if box.kind == "merge" and box.title in ("+", "\u00d7"):  # a sum, a product
        attrs = _attrs(label=box.title, shape="circle", width=0.28, fixedsize="true", fontsize=14,
                       xlabel=_label("", details) if details else None)
    elif box.kind == "input":
        attrs = _attrs(label=_label(box.title, details), shape="box", style="rounded,bold")
    elif box.kind == "fork":
        attrs = _attrs(label="", shape="point", width=0.05, height=0.05)
    elif box.kind == "via":
        attrs = _attrs(label="", shape="point", width=0.01, height=0.01, style="invis")
    elif box.kind == "note":
        attrs = _attrs(label=box.title, shape="plaintext", fontsize=12, margin="0.02,0.02")
    elif box.kind == "port":
        attrs = _attrs(label=box.title, shape="plaintext", fontsize=10, fontcolor="#333333",
                       height=0.2)
    elif box.kind == "scope":
        attrs = _attrs(label=_label(box.title, [f"{len(box.members)} layers", *details]),
                       style="rounded,filled,bold", fillcolor="#eeeeee")
    else:
        attrs = _attrs(label=_label(box.title, details), style="filled",
                       **(NARROW if box.narrow else {}), fillcolor=FILL.get(op, DEFAULT_FILL))
    if box.spine:
        attrs = attrs[:-1] + f", group={quote(box.spine)}]"
    return f"{quote(box.id)} {attrs}"


def _edge(e: Edge, view: View) -> str:
    if e.cross:
        attrs = _attrs(constraint="false", style="invis")
    elif e.shortcut:
        into_via = view.boxes[e.dst].kind == "via"
        straight = into_via and view.boxes[e.src].kind == "via"  # a line beside the layers
        out_of_via = view.boxes[e.src].kind == "via"
        attrs = _attrs(color="#c0392b", penwidth=1.3, weight=100 if straight else 0,
                       arrowhead="none" if into_via else None,
                       headclip="false" if into_via else None,
                       tailclip="false" if out_of_via else None)  # one unbroken line
    else:
        attrs = _attrs(minlen=e.minlen) if e.minlen != 1 else ""
    return f"{quote(e.src)} -> {quote(e.dst)}" + (f" {attrs}" if attrs else "")


def _cluster(c: Cluster, view: View, ops: dict[str, str], indent: str,
             order: int | None = None) -> list[str]:
    inner = indent + "    "
    lines = [f"{indent}subgraph {quote('cluster_' + c.id)} {{"]
    space = _spacing(view)
    if c.kind == "flow":
        style = dict(sortv=order if view.ports else None, label=c.title, style="rounded",
                     color="#444444", fontsize=14, labeljust="l",
                     fontname=f"{FONT}-Bold", penwidth=1.2, margin=space.flow_margin)
    elif c.kind == "repeat":  # titled by the note beside its first layer or under its last
        style = dict(label="", style="rounded,filled", fillcolor="#f4f4f4", color="#888888",
                     margin=space.cluster_margin)
    else:  # a block: outlined, unnamed, as the paper names no module instance
        style = dict(label=c.title, style="rounded,dashed", color="#aaaaaa",
                     margin=space.cluster_margin)
    lines.append(inner + "graph " + _attrs(**style))
    lines += _items(c.items, view, ops, inner)
    lines += _levels(c, view, inner)
    if c.beside:
        note, first = c.beside
        lines.append(f"{inner}{{rank=same; {quote(note)}; {quote(first)}}}")
        lines.append(f"{inner}{quote(note)} -> {quote(first)} [style=\"invis\"]")
    if c.under:  # below the last box, beside the edge leaving it (that edge spans 2 ranks)
        note, last = c.under
        lines.append(f"{inner}{quote(last)} -> {quote(note)} [style=\"invis\", weight=0]")
    lines.append(f"{indent}}}")
    return lines


def _levels(c: Cluster, view: View, indent: str) -> list[str]:
    """Branch heads on one rank, chained by unseen edges: a flat edge's tail lies left of its
    head, which fixes their left-to-right order.  (A shortcut's unseen points are only
    levelled: their common group keeps them in one straight line.)"""
    out = []
    for group in c.level:
        out.append(f"{indent}{{rank=same; " + "; ".join(quote(b) for b in group) + "}")
        if not any(view.boxes[b].kind == "via" for b in group):
            out += [f"{indent}{quote(a)} -> {quote(b)} [style=\"invis\"]"
                    for a, b in zip(group, group[1:])]
    return out


def _items(items: list[str | Cluster], view: View, ops: dict[str, str],
           indent: str) -> list[str]:
    out = []
    flows = 0
    for item in items:
        if isinstance(item, Cluster):
            flows += item.kind == "flow"
            out += _cluster(item, view, ops, indent, flows)
        else:
            out.append(indent + _node(view.boxes[item], view, ops.get(item, "")))
    return out


def to_dot(view: View, ops: dict[str, str], title: str) -> str:
    """The DOT source of ``view``; ``ops`` gives each layer box's op (for its colour)."""
    o = view.options
    caption = [title, *view.notes]
    columns = [c for c in view.root.items if isinstance(c, Cluster) and c.kind == "flow"]
    # columns: each flow is laid out on its own (ranks shared between columns would open gaps
    # in one column wherever another has a border) and the packer sets them side by side in
    # spec order (sortv), tops aligned, in one row of at most three (more flows: two a row, so a
    # deep network keeps a page's proportions); chain: one layout, ranks shared.
    per_row = len(columns) if len(columns) <= 3 else 2
    space = _spacing(view)
    layout = dict(pack=space.pack, packmode=f"array_tu{per_row}") if view.ports else \
        dict(newrank="true")
    lines = [
        f"digraph {quote(view.name)} {{",
        "    " + "graph " + _attrs(rankdir=o.direction, **layout, ordering="out",
                                   fontname=FONT, fontsize=11, nodesep=space.nodesep,
                                   ranksep=space.ranksep,
                                   labelloc="b", label=_caption(caption)),
        "    " + "node " + _attrs(shape="box", fontname=FONT, fontsize=11, height=0.32,
                                  margin="0.12,0.04", penwidth=0.8),
        "    " + "edge " + _attrs(arrowsize=0.6, color="#333333", penwidth=0.9),
    ]
    lines += _items(view.root.items, view, ops, "    ")
    lines += _levels(view.root, view, "    ")
    # a link between two columns is not drawn: the columns' "feature maps" nodes say it
    lines += ["    " + _edge(e, view) for e in view.edges if not (view.ports and e.cross)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _spacing(view: View) -> Spacing:
    return MODULES if view.modules else CHAINS


def _caption(lines: list[str]) -> str:
    head, rest = lines[0], lines[1:]
    body = "".join(f'<BR/><FONT POINT-SIZE="10">{html(r)}</FONT>' for r in rest)
    return f"<<B>{html(head)}</B>{body}>"
