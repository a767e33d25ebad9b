"""Hovers (Markdown): a layer's output shape, parameters and MACs with its share of the
network's; a block call's totals; a repeat per iteration and in total; a parameter's type,
default and value; a named tensor's definition and shape."""

from __future__ import annotations

from typing import Any

from xdsl import tree as t
from xdsl.printer import expr

from .analysis import Analysis, Occurrence, Record, shape_text

MAX_ROWS = 300
"""Layers listed in one hover (a `defaults` rule's `then bn` builds one per convolution)."""


def hover(a: Analysis, line: int, char: int) -> str | None:
    """The hover text at a position of ``a``'s text, or None."""
    occurrence = a.symbols.at(line, char) if a.symbols is not None else None
    if occurrence is not None and occurrence.key[0] in ("param", "tensor"):
        return symbol(a, occurrence)
    if occurrence is not None and occurrence.key[0] == "block" and occurrence.definition:
        return block_definition(a, occurrence.name)
    if a.tree is not None and isinstance(a.tree, t.Variant):
        return variant(a, line, char)
    if not a.ok:
        return None
    for record in a.records_at(line, char):
        return statement(a, record)
    return None


def _share(macs: int, total: int) -> str:
    return f"{100 * macs / total:.2f}%" if total else "—"


def _sums(nodes: list[Any]) -> tuple[int, int, int]:
    return (sum(n.params for n in nodes), sum(n.state for n in nodes),
            sum(n.macs for n in nodes))


def _counts(a: Analysis, nodes: list[Any]) -> str:
    params, state, macs = _sums(nodes)
    total = a.totals()["macs"]
    return (f"{len(nodes):,} layer{'s' * (len(nodes) != 1)} · {params:,} parameters "
            f"({state:,} non-trainable) · {macs:,} MACs ({_share(macs, total)} of the "
            "network)")


def table(a: Analysis, nodes: list[Any]) -> list[str]:
    """One row per layer: name, output, parameters, non-trainable, MACs, share."""
    if not nodes:
        return []
    total = a.totals()["macs"]
    rows = ["| layer | output | params | non-trainable | MACs | share |",
            "|---|---|---:|---:|---:|---:|"]
    for n in nodes[:MAX_ROWS]:
        rows.append(f"| `{n.name}` | {shape_text(n.shape)} | {n.params:,} | {n.state:,} | "
                    f"{n.macs:,} | {_share(n.macs, total)} |")
    if len(nodes) > MAX_ROWS:
        rows.append(f"| … {len(nodes) - MAX_ROWS:,} more | | | | | |")
    return rows


def output_shapes(a: Analysis, record: Record) -> str:
    shapes = list(dict.fromkeys(shape_text(a.node(o).shape) for o in record.outputs
                                if o is not None))
    if len(shapes) > 4:
        return " | ".join(shapes[:4]) + " | …"
    return " | ".join(shapes)


def statement(a: Analysis, record: Record) -> str:
    nodes = a.nodes(record)
    line = a.lines[record.span.line - 1]
    end = record.span.end_column if record.span.end_line == record.span.line else len(line)
    text = line[record.span.column - 1:end].strip()
    times = len(record.ranges)
    head = {"call": "block call", "then": "layer added by a `defaults` rule"}.get(
        record.kind, record.kind)
    out = [f"**{head}** `{text[:60]}`" + (f" · elaborated {times} times" if times > 1 else "")]
    shapes = output_shapes(a, record)
    if shapes:
        out.append(f"output: **{shapes}**")
    if record.kind == "call":
        out.append(signature(a, text.split("(")[0].split()[0]) or "")
    if record.kind == "repeat":
        out += repeat(a, record)
    out.append(_counts(a, nodes))
    if record.kind in ("layer", "then"):
        rows = nodes
    else:  # a call or a compound statement: its totals, and the joins it makes itself
        start = (record.span.line, record.span.column)
        rows = [n for n in nodes if n.span is not None and (n.span.line, n.span.column) == start]
    if record.kind == "call" and 1 < times:
        per = [a.nodes(Record(record.span, record.kind, [r])) for r in record.ranges]
        out.append("per call: " + "; ".join(
            f"{_sums(p)[0]:,} parameters, {_sums(p)[2]:,} MACs" for p in per[:8])
            + ("; …" if len(per) > 8 else ""))
    body = "\n\n".join(x for x in out if x)
    rows_text = "\n".join(table(a, rows))
    return body + ("\n\n" + rows_text if rows_text else "")


def repeat(a: Analysis, record: Record) -> list[str]:
    assert a.graph is not None
    infos = [a.graph.graph["repeats"][u] for u in record.repeat_ids]
    counts = [i["count"] for i in infos]
    ids = set(record.repeat_ids)
    per: dict[tuple[int, int], list[Any]] = {}
    for n in a.nodes(record):
        for uid, i in n.repeats:
            if uid in ids:
                per.setdefault((uid, i), []).append(n)
    figures = [(_sums(nodes)[0], _sums(nodes)[2]) for nodes in per.values()]
    lines = [f"{' + '.join(map(str, counts[:8]))}{' + …' if len(counts) > 8 else ''} "
             f"iteration{'s' * (sum(counts) != 1)}" + (f" in {len(counts)} elaborations"
                                                       if len(counts) > 1 else "")]
    distinct = list(dict.fromkeys(figures))
    if len(distinct) == 1:
        lines.append(f"per iteration: {distinct[0][0]:,} parameters, {distinct[0][1]:,} MACs")
    elif distinct:
        lines.append("per iteration: " + "; ".join(
            f"{p:,} parameters, {m:,} MACs" for p, m in figures[:8])
            + ("; …" if len(figures) > 8 else ""))
    return lines


def signature(a: Analysis, name: str) -> str | None:
    net = a.spec.network if a.spec is not None else a.tree
    if not isinstance(net, t.Network):
        return None
    block = next((b for b in net.blocks if b.name == name), None)
    if block is None:
        return None
    return f"`block {name}({', '.join(param_text(p) for p in block.params)})`"


def param_text(p: t.Param) -> str:
    kind = f"choice({', '.join(p.choices)})" if p.type == "choice" else p.type
    text = p.name + (f": {kind}" if kind != "any" else "")
    return text + (f" = {expr(p.default)}" if p.default is not None else "")


def block_definition(a: Analysis, name: str) -> str:
    out = [signature(a, name) or f"block `{name}`"]
    calls = [r for r in a.records if r.kind == "call"
             and a.lines[r.span.line - 1][r.span.column - 1:].startswith(name)] if a.ok else []
    if calls:
        nodes = [n for r in calls for n in a.nodes(r)]
        times = sum(len(r.ranges) for r in calls)
        out.append(f"called {times} time{'s' * (times != 1)}: {_counts(a, nodes)}")
    return "\n\n".join(out)


def symbol(a: Analysis, o: Occurrence) -> str:
    assert a.symbols is not None
    kind, container, name = o.key
    definition = a.symbols.definition(o.key)
    where = f"defined at line {definition.line + 1}" if definition else "defined nowhere"
    if kind == "param":
        return parameter(a, container, name, where)
    out = [f"**tensor** `{name}` · {where}"]
    if definition is not None and definition.owner is not None and a.ok:
        shapes: list[str] = []
        if definition.owner == (a.tree.inputs[0].span if isinstance(a.tree, t.Network)
                                and a.tree.inputs else None):
            assert a.graph is not None
            shapes = [shape_text(a.node(a.graph.graph["input"]).shape)]
        for r in a.records:
            if r.span != definition.owner or r.kind == "then":
                continue
            if definition.part == 0:
                shapes += [shape_text(a.node(x).shape) for x in r.outputs if x is not None]
            else:
                shapes += [shape_text(a.node(a.order[s + definition.part]).shape)
                           for s, e in r.ranges if s + definition.part < e]
        shapes = list(dict.fromkeys(shapes))
        if shapes:
            out.append("shape: **" + " | ".join(shapes[:4]) + (" | …" if len(shapes) > 4
                                                               else "") + "**")
    return "\n\n".join(out)


def parameter(a: Analysis, container: str, name: str, where: str) -> str:
    net = a.spec.network if a.spec is not None else a.tree
    if "@" in container:
        return f"**repeat index** `{name}` · {where}: 0 … count − 1"
    if not isinstance(net, t.Network):
        return f"**parameter** `{name}`"
    if container:
        block = next((b for b in net.blocks if b.name == container), None)
        p = next((p for p in block.params if p.name == name), None) if block else None
        text = f"**block parameter** `{param_text(p) if p else name}` of `{container}` · {where}"
        return text + "\n\n(its value is given by each call)"
    p = next((p for p in net.params if p.name == name), None)
    if p is None:
        return f"**parameter** `{name}`"
    out = [f"**parameter** `{param_text(p)}` · {where}"]
    if a.graph is not None:
        from xdsl.evaluate import describe

        value = a.graph.graph["params"].get(name)
        origin = "from the editor's settings" if name in a.settings else "the default"
        out.append(f"value: `{describe(value).strip('`')}` ({origin})")
    return "\n\n".join(out)


def variant(a: Analysis, line: int, char: int) -> str | None:
    var = a.tree
    assert isinstance(var, t.Variant)
    if a.spec is None or a.graph is None:
        return None
    for arg in var.settings:
        if arg.name and arg.span.line - 1 == line and \
                arg.span.column - 1 <= char < arg.span.column - 1 + len(arg.name):
            p = next((p for p in a.spec.network.params if p.name == arg.name), None)
            if p is not None:
                return parameter(a, "", arg.name, f"set here; declared in {var.base}")
    if var.span.line - 1 == line:
        from xdsl.api import summarize

        return f"**variant** `{var.name}` of `{var.base}`\n\n{summarize(a.graph)}"
    return None
