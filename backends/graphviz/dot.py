"""View → DOT text.  Pure string building, so the output is byte-stable and golden-testable.

Non-ASCII characters are written as HTML entities (``&#215;``): the DOT file stays ASCII and
both ``dot`` and graphviz-pure read it the same way.
"""

from __future__ import annotations

from xdsl.backends.graphviz.view import Box, Cluster, Edge, View

FONT = "Helvetica"

# fill colours by op family: light enough to print in greyscale, distinct on screen
FILL = {
    "conv": "#dbe8f6", "gconv": "#dbe8f6", "sepconv": "#d5ecdf", "dwconv": "#d5ecdf",
    "maxpool": "#fbe3cd", "avgpool": "#fbe3cd", "linear": "#eadcf2", "dropout": "#f2f2f2",
    "bn": "#f7f3d3",
}
DEFAULT_FILL = "#ffffff"


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
    return f'<{html(title)}<BR/><FONT POINT-SIZE="{size}" COLOR="#555555">{small}</FONT>>'


def _node(box: Box, view: View, op: str) -> str:
    details = _details(box, view)
    if box.kind == "merge" and box.title == "+":
        attrs = _attrs(label="+", shape="circle", width=0.28, fixedsize="true", fontsize=14,
                       xlabel=_label("", details) if details else None)
    elif box.kind == "input":
        attrs = _attrs(label=_label(box.title, details), shape="box", style="rounded,bold")
    elif box.kind == "port":
        attrs = _attrs(label=box.title, shape="plaintext", fontsize=10, fontcolor="#333333",
                       height=0.2)
    elif box.kind == "scope":
        attrs = _attrs(label=_label(box.title, [f"{len(box.members)} layers", *details]),
                       style="rounded,filled,bold", fillcolor="#eeeeee")
    else:
        attrs = _attrs(label=_label(box.title, details), style="filled",
                       fillcolor=FILL.get(op, DEFAULT_FILL))
    if box.spine:
        attrs = attrs[:-1] + f", group={quote(box.spine)}]"
    return f"{quote(box.id)} {attrs}"


def _edge(e: Edge) -> str:
    if e.cross:
        attrs = _attrs(constraint="false", style="invis")
    elif e.shortcut:
        attrs = _attrs(color="#c0392b", penwidth=1.3, weight=0)
    else:
        attrs = ""
    return f"{quote(e.src)} -> {quote(e.dst)}" + (f" {attrs}" if attrs else "")


def _cluster(c: Cluster, view: View, ops: dict[str, str], indent: str) -> list[str]:
    inner = indent + "    "
    lines = [f"{indent}subgraph {quote('cluster_' + c.id)} {{"]
    if c.kind == "flow":
        style = dict(label=c.title, style="rounded", color="#444444", fontsize=14,
                     labeljust="l", fontname=f"{FONT}-Bold", penwidth=1.2, margin=10)
    elif c.kind == "repeat":
        title = c.title if not (view.options.params and c.params) else \
            f"{c.title}\n({c.params:,} params in all)"
        style = dict(label=title, style="rounded,filled", fillcolor="#f4f4f4",
                     color="#888888", fontsize=12, labeljust="r", labelloc="b",
                     fontname=FONT)
    else:
        style = dict(label=c.title, style="rounded,dashed", color="#aaaaaa", fontsize=9,
                     fontcolor="#666666", labeljust="r", fontname=FONT)
    lines.append(inner + "graph " + _attrs(**style))
    lines += _items(c.items, view, ops, inner)
    lines.append(f"{indent}}}")
    return lines


def _items(items: list[str | Cluster], view: View, ops: dict[str, str],
           indent: str) -> list[str]:
    out = []
    for item in items:
        if isinstance(item, Cluster):
            out += _cluster(item, view, ops, indent)
        else:
            out.append(indent + _node(view.boxes[item], view, ops.get(item, "")))
    return out


def to_dot(view: View, ops: dict[str, str], title: str) -> str:
    """The DOT source of ``view``; ``ops`` gives each layer box's op (for its colour)."""
    o = view.options
    caption = [title, *view.notes]
    lines = [
        f"digraph {quote(view.name)} {{",
        "    " + "graph " + _attrs(rankdir=o.direction, newrank="true", fontname=FONT,
                                   fontsize=11, nodesep=0.25, ranksep=0.22, labelloc="b",
                                   label=_caption(caption)),
        "    " + "node " + _attrs(shape="box", fontname=FONT, fontsize=11, height=0.32,
                                  margin="0.12,0.04", penwidth=0.8),
        "    " + "edge " + _attrs(arrowsize=0.6, color="#333333", penwidth=0.9),
    ]
    lines += _items(view.root.items, view, ops, "    ")
    lines += ["    " + _edge(e) for e in view.edges]
    if view.ports:
        tops = [b.id for b in view.boxes.values() if b.kind == "input"] + view.ports
        lines.append("    {rank=same; " + "; ".join(quote(t) for t in tops) + "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _caption(lines: list[str]) -> str:
    head, rest = lines[0], lines[1:]
    body = "".join(f'<BR/><FONT POINT-SIZE="10">{html(r)}</FONT>' for r in rest)
    return f"<<B>{html(head)}</B>{body}>"
