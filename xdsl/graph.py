"""Syntax tree + parameter values → graph IR (a ``networkx.DiGraph`` of layer nodes).

Blocks, repeats and conditionals are expanded; every node gets a hierarchical name, its
validated attributes, the inferred output shape, and its parameter, state and MAC counts.

Naming (these names become ``state_dict`` keys and diagram clusters): flows, block calls
(``down1``, ``down2`` …), ``residual{k}`` and ``concat{k}``/``add{k}`` merges with their
``branch{i}`` and ``shortcut`` parts, and ``output`` heads open scopes; a layer is named after
its op and its position among same-named ops in its scope (``sepconv2``). ``repeat`` and ``if``
open no scope, so layers of successive iterations keep counting. A block whose whole body is
one residual or merge uses the block's scope for it (``entry.down1.sepconv1``, not
``entry.down1.residual1.sepconv1``).

Errors never cause errors that are not real: a statement that fails leaves a *poisoned* tensor
(``None``) as the current tensor and under its ``as`` name, and layers reading a poisoned tensor
build nothing and report nothing more (errors that do not depend on the tensor, such as a bad
option, are still reported).  An error inside a block carries the chain of calls that led to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from . import tree as t
from .diagnostics import Collector, Note, Source, Span
from .evaluate import EvalError, Value, describe, evaluate
from .ops import OPS, Attrs, NoAttrs, Pads, Shape, ShapeError, fmt_shape
from .params import check_type, resolve_params
from .parser import too_deep
from .printer import arg as print_arg
from .validate import walk_stmts

Scope = tuple[str, ...]


class Limits(BaseModel):
    """Bounds checked while the graph is built, before any framework allocates memory."""

    max_repeat: int = Field(1000, ge=1)
    max_channels: int = Field(65536, ge=1)
    max_param_bytes: int = Field(4 * 2**30, ge=1)
    """Budget for parameters and state as float32 (4 bytes each)."""
    max_nodes: int = Field(100_000, ge=1)


class LayerNode(BaseModel):
    """One node of the graph IR."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: str
    attrs: SerializeAsAny[Attrs]
    scope: Scope
    inputs: tuple[str, ...]
    shape: Shape
    params: int = 0
    state: int = 0
    macs: int = 0
    pads: Pads | None = None
    groups: int | None = None
    is_global: bool = False
    repeats: tuple[tuple[int, int], ...] = ()
    """Enclosing ``repeat`` iterations, outermost first: (repeat id, iteration from 0).
    ``graph.graph["repeats"][id]`` describes each repeat (count, scope, source line)."""
    span: Span | None = Field(None, exclude=True, repr=False)


class NetworkGraph(nx.DiGraph):
    """The graph IR: a ``networkx.DiGraph`` that Jupyter displays as its diagram."""

    def _repr_svg_(self) -> str | None:
        from .backends.graphviz import draw

        try:
            return draw(self)._repr_svg_()
        except Exception:  # no renderer here: Jupyter falls back to the text repr
            return None


class _Abort(Exception):
    pass


# ---- elaboration -----------------------------------------------------------------------------


class _Frame:
    """Names visible to a block call (or the network body): parameters and tensors.

    A tensor name bound to ``None`` is poisoned: its statement failed with an error.
    """

    def __init__(self, env: dict[str, Value], tensors: dict[str, str | None]):
        self.env, self.tensors = env, tensors


class _Builder:
    def __init__(self, net: t.Network, params: dict[str, Value], limits: Limits,
                 source: Source | None):
        self.net, self.params, self.limits = net, params, limits
        self.out = Collector(source)
        self.g = NetworkGraph(name=net.name, params=dict(params))
        self.blocks = {b.name: b for b in net.blocks}
        self.counters: dict[Scope, Counter[str]] = {}
        self.repeat_stack: list[tuple[int, int]] = []
        self.g.graph["repeats"] = {}
        self.g.graph["outputs"] = []  # side heads; the main output is prepended at the end
        self.total_params = 0
        self.broken: set[str] = set()  # ops whose `defaults` rule failed: their layers are poisoned
        self.defaults = self._defaults()

    # -- helpers ---------------------------------------------------------------------------

    def _eval(self, expr: t.Expr, env: Mapping[str, Value]) -> Value | None:
        try:
            return evaluate(expr, env)
        except EvalError as e:
            self.out.error(str(e), e.span, hint=e.hint)
            return None

    def _condition(self, expr: t.Expr, env: Mapping[str, Value]) -> bool | None:
        """An ``if`` condition's value; None (with an error reported) when it is no boolean."""
        value = self._eval(expr, env)
        if value is None or isinstance(value, bool):
            return value
        self.out.error(f"`if` needs true or false, got {describe(value)}", expr.span,
                       hint="write a condition, e.g. `if depth > 2` or a bool parameter")
        return None

    def _defaults(self) -> dict[str, tuple[dict[str, tuple[Value, t.Arg]], list[t.Op]]]:
        table: dict[str, tuple[dict[str, tuple[Value, t.Arg]], list[t.Op]]] = {}
        for rule in self.net.defaults:
            applies = True if rule.cond is None else self._condition(rule.cond, self.params)
            if applies is None:
                self.broken.update(rule.ops)
            if not applies:
                continue
            values = [(kw, self._eval(kw.value, self.params)) for kw in rule.kwargs]
            for op in rule.ops:
                kwargs, then = table.setdefault(op, ({}, []))
                for kw, value in values:
                    if value is None:
                        self.broken.add(op)
                    elif kw.name:
                        kwargs[kw.name] = (value, kw)
                then.extend(rule.then)
        return table

    def _name(self, scope: Scope, base: str) -> str:
        counter = self.counters.setdefault(scope, Counter())
        counter[base] += 1
        return f"{base}{counter[base]}"

    def _shape(self, node: str | None) -> Shape | None:
        return None if node is None else self.g.nodes[node]["node"].shape

    def _add_node(self, node: LayerNode) -> str:
        if self.repeat_stack:
            node = node.model_copy(update={"repeats": tuple(self.repeat_stack)})
        if self.g.number_of_nodes() >= self.limits.max_nodes:
            self.out.error(f"the network expands to more than {self.limits.max_nodes:,} layers",
                           node.span, hint="lower the repeat counts, or raise the limit "
                           "(--max-layers)")
            raise _Abort
        self.g.add_node(node.name, node=node)
        for i, src in enumerate(node.inputs):
            self.g.add_edge(src, node.name, index=i)
        self.total_params += node.params + node.state
        budget = self.limits.max_param_bytes
        if self.total_params * 4 > budget:
            self.out.error(
                f"the parameters need more than {_bytes(budget)} as float32 "
                f"({self.total_params:,} values so far, at this layer)", node.span,
                hint="shrink the network, or raise the budget with --max-param-memory")
            raise _Abort
        return node.name

    # -- statements ------------------------------------------------------------------------

    def build(self) -> nx.DiGraph:
        net = self.net
        inp = net.inputs[0]
        shape = self._eval(inp.shape, self.params)
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        src: str | None = None  # a bad input poisons the network: its other errors still show
        if isinstance(shape, tuple) and len(shape) in (1, 3) and all(
                isinstance(v, int) and v > 0 for v in shape):
            src = self._add_node(LayerNode(name=inp.name, op="input", attrs=NoAttrs(),
                                           scope=(), inputs=(), shape=shape, span=inp.span))
            self.g.graph["input"] = src
        elif shape is not None:
            self.out.error(f"the input must be channels x height x width (or a vector "
                           f"size), got {describe(shape)}", inp.shape.span,
                           hint="for example `input image: 3 x 224 x 224`")
        frame = _Frame(dict(self.params), {inp.name: src})
        cur = src
        for section in net.body:
            if isinstance(section, t.Flow):
                cur = self._stmts(section.body, cur, (section.name,), frame)
            else:
                cur = self._stmts([section], cur, (), frame)
        self.g.graph["output"] = cur
        self.g.graph["outputs"] = [cur, *self.g.graph["outputs"]]
        return self.g

    def _stmts(self, stmts: Iterable[t.Stmt], cur: str | None, scope: Scope,
               frame: _Frame, collapse: bool = False) -> str | None:
        for s in stmts:
            match s:
                case t.Op():
                    cur = self._op(s, cur, scope, frame)
                case t.Repeat(count=count, body=body):
                    n = self._count(count, frame.env)
                    if n is None:  # how often the body runs is unknown: poisoned
                        self._poison(body, frame)
                        cur = None
                        continue
                    uid = len(self.g.graph["repeats"])
                    self.g.graph["repeats"][uid] = {"count": n, "scope": scope,
                                                    "line": s.span.line}
                    for i in range(n):
                        self.repeat_stack.append((uid, i))
                        cur = self._stmts(body, cur, scope, frame)
                        self.repeat_stack.pop()
                case t.If(cond=cond, then=then, orelse=orelse):
                    c = self._condition(cond, frame.env)
                    if c is None:  # neither branch is known to run: both poisoned
                        self._poison([*then, *orelse], frame)
                        cur = None
                    else:
                        cur = self._stmts(then if c else orelse, cur, scope, frame)
                case t.Output(name=name, body=body):
                    head = self._stmts(body, cur, (*scope, name), frame)
                    frame.tensors[name] = head
                    if head is not None:
                        self.g.graph["outputs"].append(head)
                case t.Residual():
                    cur = self._residual(s, cur, scope, frame, collapse)
                case t.Merge():
                    cur = self._merge(s, cur, scope, frame, collapse)
        return cur

    def _count(self, count: t.Expr, env: Mapping[str, Value]) -> int | None:
        """A ``repeat`` count; None (with an error reported) when it is not a valid one."""
        n = self._eval(count, env)
        if n is None:
            return None
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            self.out.error(f"`repeat` needs a count of 0 or more, got {describe(n)}",
                           count.span)
            return None
        if n > self.limits.max_repeat:
            self.out.error(f"`repeat {n}` exceeds the limit of {self.limits.max_repeat} "
                           "repetitions", count.span,
                           hint="raise it with --max-repeat if this is intended")
            return None
        return n

    def _poison(self, stmts: Iterable[t.Stmt], frame: _Frame) -> None:
        """Statements that cannot be elaborated: the names they define become poisoned."""
        for s in walk_stmts(stmts):
            name = s.name if isinstance(s, t.Output) else getattr(s, "alias", None)
            if name:
                frame.tensors[name] = None

    def _residual(self, s: t.Residual, cur: str | None, scope: Scope, frame: _Frame,
                  collapse: bool) -> str | None:
        enabled = self._condition(s.cond, frame.env) if s.cond is not None else True
        inner = scope if collapse else (*scope, self._name(scope, "residual"))
        main = self._stmts(s.body, cur, inner, frame)  # runs either way: its errors are real
        if enabled is None:  # with or without the add is unknown: its output is poisoned
            if s.alias:
                frame.tensors[s.alias] = None
            return None
        if not enabled:  # the same scope name either way, so diffs line up
            if s.alias:  # the plain sequence's output is the statement's output
                frame.tensors[s.alias] = main
            return main
        short = cur
        for op in s.shortcut:
            short = self._op(op, short, (*inner, "shortcut"), frame)
        return self._join("add", [main, short], inner, s.span, s.alias, frame, s)

    def _merge(self, s: t.Merge, cur: str | None, scope: Scope, frame: _Frame,
               collapse: bool) -> str | None:
        inner = scope if collapse else (*scope, self._name(scope, s.mode))
        ends = []
        for i, branch in enumerate(s.branches):
            ends.append(self._stmts(branch.body, cur, (*inner, branch.name or f"branch{i + 1}"),
                                    frame))
        return self._join(s.mode, ends, inner, s.span, s.alias, frame, s)

    def _join(self, mode: str, ins: list[str | None], scope: Scope, span: Span,
              alias: str | None, frame: _Frame, stmt: t.Node) -> str | None:
        if alias:  # poisoned unless the join succeeds
            frame.tensors[alias] = None
        if any(i is None for i in ins):
            return None
        shapes = [self._shape(i) for i in ins]
        try:
            inferred = OPS[mode].rule(NoAttrs(), shapes, False)  # type: ignore[arg-type]
        except ShapeError as e:
            if isinstance(stmt, t.Residual):
                main, short = shapes
                what = ("channels" if main[0] != short[0] else "sizes")
                self.out.error(
                    f"residual add joins {fmt_shape(main)} with {fmt_shape(short)}", span,
                    label=f"the main path ends with {fmt_shape(main)}",
                    notes=[f"the shortcut gives {fmt_shape(short)}"],
                    hint=("give the shortcut a projection, e.g. "
                          f"`residual project(conv {main[0]} 1x1 stride=...)`, or match the "
                          f"main path's {what} to the input" if not stmt.shortcut else
                          f"make the shortcut's output match the main path ({fmt_shape(main)})"))
            else:
                self.out.error(str(e), span, hint=e.hint, notes=e.notes)
            return None
        name = (*scope, self._name(scope, mode))
        node = self._add_node(LayerNode(name=".".join(name), op=mode, attrs=NoAttrs(),
                                        scope=scope, inputs=tuple(ins), shape=inferred.shape,
                                        span=span))
        if alias:
            frame.tensors[alias] = node
        return node

    def _op(self, op: t.Op, cur: str | None, scope: Scope, frame: _Frame,
            then: bool = True) -> str | None:
        if op.cond is not None:
            enabled = self._condition(op.cond, frame.env)
            if enabled is None:  # neither skipping nor running it is known to be right
                self._poison([op], frame)
                return None
            if not enabled:
                return cur
        if op.source is not None:
            cur = self._tensor(op.source, op.span, frame)
        if op.name in self.blocks:
            out = self._call(op, cur, scope, frame)
        else:
            out = self._layer(op, cur, scope, frame)
            if then:
                for follow in self.defaults.get(op.name, ({}, []))[1]:
                    out = self._op(follow, out, scope, frame, then=False)
        if op.alias:
            frame.tensors[op.alias] = out
        return out

    def _tensor(self, name: str, span: Span, frame: _Frame) -> str | None:
        """The node a tensor name stands for; None if it is poisoned (silently) or unknown."""
        if name in frame.tensors:
            return frame.tensors[name]
        self.out.error(f"tensor `{name}` is not defined at this point", span,
                       hint="a name can be used only after the layer that defines it "
                            "(and inside the block that defines it)")
        return None

    def _call(self, op: t.Op, cur: str | None, scope: Scope, frame: _Frame) -> str | None:
        block = self.blocks[op.name]
        names = [p.name for p in block.params]
        values = [self._eval(a.value, frame.env) for a in op.args]
        given: dict[str, tuple[Value | None, t.Arg]] = {}
        positional = [(a, v) for a, v in zip(op.args, values) if a.name is None]
        for name, (arg, value) in zip(names, positional):
            given[name] = (value, arg)
        for arg, value in zip(op.args, values):
            if arg.name is not None:
                given[arg.name] = (value, arg)
        ok = True
        for p in block.params:
            value, arg = given.get(p.name, (None, None))
            if value is None or arg is None:
                ok = ok and arg is None  # an argument that failed was reported
            elif problem := check_type(p, value):
                self.out.error(f"argument of block `{block.name}`: {problem}", arg.span,
                               hint=f"declared on line {p.span.line}")
                ok = False
        if not ok:
            return None
        outer = self.out.trace
        self.out.trace = (self._call_note(op, values), *outer)
        try:
            env: dict[str, Value] = dict(self.params)
            for p in block.params:
                if p.name in given:
                    env[p.name] = given[p.name][0]  # type: ignore[assignment]
                    continue
                # a default may refer to earlier parameters; a missing argument was reported
                value = None if p.default is None else self._eval(p.default, env)
                if value is None:
                    return None
                env[p.name] = value
            inner = (*scope, self._name(scope, block.name))
            collapse = len(block.body) == 1 and \
                isinstance(block.body[0], t.Residual | t.Merge) and not block.body[0].alias
            return self._stmts(block.body, cur, inner, _Frame(env, {}), collapse=collapse)
        finally:
            self.out.trace = outer

    def _call_note(self, op: t.Op, values: list[Value | None]) -> Note:
        """``in down(c, c * 2) = down(32, 64), called`` (the values when they differ)."""
        written = f"{op.name}({', '.join(print_arg(a) for a in op.args)})"
        shown = [f"{a.name}=" * bool(a.name) + describe(v).strip("`")
                 for a, v in zip(op.args, values)]
        valued = f"{op.name}({', '.join(shown)})"
        text = written if valued == written else f"{written} = {valued}"
        source = self.out.source
        return Note(f"in {text}, called", op.span, source.name if source else None)

    def _layer(self, op: t.Op, cur: str | None, scope: Scope, frame: _Frame) -> str | None:
        spec = OPS[op.name]
        if spec.merges:
            names = [a.value.id for a in op.args if isinstance(a.value, t.Name)]
            ins = [cur, *(self._tensor(n, op.span, frame) for n in names)]
            return self._join(op.name, ins, scope, op.span, None, frame, op)
        values: dict[str, tuple[Value, t.Node]] = {
            name: (v, arg) for name, (v, arg) in self.defaults.get(op.name, ({}, []))[0].items()}
        positional = [a for a in op.args if a.name is None]
        failed = False
        for name, arg in [*zip(spec.positional, positional),
                          *((a.name, a) for a in op.args if a.name is not None)]:
            value = self._eval(arg.value, frame.env)
            if value is None:
                failed = True
            else:
                values[name] = (value, arg)
        if failed:
            return None
        fields = spec.attrs.model_fields
        values = {k: va for k, va in values.items()  # `none` leaves an optional option unset
                  if not (va[0] == "none" and k in fields and fields[k].default is None)}
        attrs = self._attrs(op, {k: v for k, (v, _) in values.items()},
                            {k: a for k, (_, a) in values.items()})
        if attrs is None or cur is None or op.name in self.broken:
            return None
        shape = self._shape(cur)
        try:
            inferred = spec.rule(attrs, [shape], op.is_global)
        except ShapeError as e:
            self.out.error(str(e), op.span, label=f"input is {fmt_shape(shape)}", hint=e.hint,
                           notes=e.notes)
            return None
        if inferred.shape and len(inferred.shape) == 3 and \
                inferred.shape[0] > self.limits.max_channels:
            self.out.error(f"`{op.name}` makes {inferred.shape[0]:,} channels, above the limit "
                           f"of {self.limits.max_channels:,}", op.span,
                           hint="raise it with --max-channels if this is intended")
            return None
        name = (*scope, self._name(scope, op.name))
        return self._add_node(LayerNode(
            name=".".join(name), op=op.name, attrs=attrs, scope=scope, inputs=(cur,),
            shape=inferred.shape, params=inferred.params, state=inferred.state,
            macs=inferred.macs, pads=inferred.pads, groups=inferred.groups,
            is_global=op.is_global, span=op.span))

    def _attrs(self, op: t.Op, values: dict[str, Value], nodes: dict[str, t.Node]) -> Attrs | None:
        spec = OPS[op.name]
        try:
            return spec.attrs(**values)
        except ValidationError as err:
            for e in err.errors():
                field = str(e["loc"][0]) if e["loc"] else ""
                node = nodes.get(field)
                self.out.error(_attr_message(op.name, field, e), node.span if node else op.span,
                               hint=_attr_hint(op.name, field, e, spec.summary))
            return None


def _attr_message(op: str, field: str, e: Any) -> str:
    kind, ctx, got = e["type"], e.get("ctx") or {}, e.get("input")
    where = f"`{field}` of `{op}`" if field else f"`{op}`"
    if kind == "missing":
        return f"`{op}` needs `{field}`"
    if kind in ("int_type", "int_from_float"):
        return f"{where} must be a whole number, got {describe(got)}"
    if kind == "bool_type":
        return f"{where} must be true or false, got {describe(got)}"
    if kind == "float_type":
        return f"{where} must be a number, got {describe(got)}"
    if kind == "finite_number":
        return f"{where} must be a finite number, got {describe(got)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤",
                "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        return f"{where} must be {sign} {bound}, got {describe(got)}"
    if kind == "literal_error":
        return f"{where} must be {ctx.get('expected', '')}, got {describe(got)}"
    if kind in ("tuple_type", "union_tag_invalid", "union_type"):
        return f"{where} got {describe(got)}, which has the wrong kind"
    return f"{where}: {e['msg'][0].lower() + e['msg'][1:]}"


def _attr_hint(op: str, field: str, e: Any, summary: str) -> str:
    if e["type"] in ("int_type", "int_from_float") and isinstance(e.get("input"), float):
        return "use `//` for whole-number division"
    if field == "pad":
        return "padding is a number, a size like 1x0, `same` or `valid`"
    return f"usage: {summary}" if summary else ""


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:g} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def build_graph(net: t.Network, params: Mapping[str, Any] | None = None,
                limits: Limits | None = None, source: Source | None = None) -> nx.DiGraph:
    """Expand ``net`` at the given parameter values into the graph IR.

    Raises :class:`SpecError` (with every problem found) or :class:`ParamError`.
    """
    values = resolve_params(net, params, source)
    builder = _Builder(net, values, limits or Limits(), source)
    try:
        g = builder.build()
    except _Abort:
        pass
    except RecursionError:
        raise too_deep(source) from None
    builder.out.raise_if_any()
    return g


def layers(g: nx.DiGraph) -> list[LayerNode]:
    """Nodes in execution order (the order they were built)."""
    return [data["node"] for _, data in g.nodes(data=True)]


def totals(g: nx.DiGraph) -> dict[str, int]:
    nodes = layers(g)
    return {
        "trainable": sum(n.params for n in nodes),
        "non_trainable": sum(n.state for n in nodes),
        "macs": sum(n.macs for n in nodes),
    }


__all__ = ["LayerNode", "Limits", "NetworkGraph", "build_graph", "layers", "totals"]
