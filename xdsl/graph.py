"""Syntax tree + parameter values → graph IR (a :class:`~xdsl.layergraph.LayerGraph` of layer
nodes, handed over as a ``networkx.DiGraph`` by ``LayerGraph.to_networkx``).

Blocks, repeats and conditionals are expanded; every node gets a hierarchical name, its
validated attributes, the inferred output shape, and its parameter, state and MAC counts.

Naming (these names become ``state_dict`` keys and diagram clusters): flows, block calls
(``down1``, ``down2`` …), ``residual{k}`` and ``concat{k}``/``add{k}`` merges with their
``branch{i}`` and ``shortcut`` parts, and ``output`` heads open scopes; a layer is named after
its op and its position among same-named ops in its scope (``sepconv2``). ``repeat`` and ``if``
open no scope, so layers of successive iterations keep counting. A block whose whole body is
one residual or merge uses the block's scope for it (``entry.down1.sepconv1``, not
``entry.down1.residual1.sepconv1``).

The work is bounded as well as the result (:class:`Limits`): elaboration steps, layers,
parameters and feature maps, plus fixed bounds on nesting (:data:`MAX_DEPTH`) and on the errors
collected (:data:`MAX_ERRORS`). A ``repeat`` whose remaining iterations would cross a limit is
refused after the iterations that show it (every iteration elaborates the same statements), so
a spec far over a limit fails at once rather than when the limit is reached.

Errors never cause errors that are not real: a statement that fails leaves a *poisoned* tensor
(``None``) as the current tensor and under its ``as`` name, and layers reading a poisoned tensor
build nothing and report nothing more (errors that do not depend on the tensor, such as a bad
option, are still reported).  An error inside a block carries the chain of calls that led to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from . import tree as t
from .diagnostics import Collector, Diagnostic, Note, Source, Span, SpecError
from .evaluate import EvalError, Value, describe, evaluate
from .layergraph import GraphIR, LayerGraph
from .ops import (
    OPS,
    Attrs,
    NoAttrs,
    Pads,
    Shape,
    ShapeError,
    SplitAttrs,
    SplitPartAttrs,
    fmt_shape,
    split_sizes,
)
from .params import check_type, resolve_params
from .parser import too_deep
from .printer import arg as print_arg
from .tree import new
from .validate import CHANNELS, walk_stmts

Scope = tuple[str, ...]


MAX_DEPTH = 100
"""Bodies (of repeat, residual, branch, if, output, flow) and block calls inside each other
while elaborating: each level costs Python stack."""
MAX_ERRORS = 1000
"""Errors collected before elaboration stops (the same error in every iteration of a repeat
counts each time)."""


class Limits(BaseModel):
    """Bounds checked while the graph is built, before any framework allocates memory."""

    # a misspelt limit is an error, not ignored; the validator is built when first needed
    model_config = ConfigDict(extra="forbid", defer_build=True)

    max_repeat: int = Field(1000, ge=1)
    max_channels: int = Field(65536, ge=1)
    max_param_bytes: int = Field(4 * 2**30, ge=1)
    """Budget for parameters and state as float32 (4 bytes each)."""
    max_nodes: int = Field(100_000, ge=1)
    max_work: int = Field(150_000, ge=1)
    """Elaboration steps: a step is a statement elaborated (a block call, a layer, a layer that
    a ``defaults`` rule appends, a repeat, ...), once per iteration of the repeats around it,
    whether or not it builds anything."""
    max_activation_bytes: int = Field(4 * 2**30, ge=1)
    """Budget for the feature maps alive at once in a forward pass, as float32: at batch 1
    when the graph is built, at its own batch in ``xdsl compile`` (see :func:`activation_peak`)."""


class LayerNode(BaseModel):
    """One node of the graph IR."""

    model_config = ConfigDict(frozen=True, defer_build=True)

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


class _Abort(Exception):
    pass


class _Errors(Collector):
    """A collector that ends elaboration at :data:`MAX_ERRORS` errors and gives each error the
    chain of block calls that led to it (built only when an error is reported: calls are many,
    errors few)."""

    def __init__(self, source: Source | None, chain: Callable[[], tuple[Note, ...]]):
        super().__init__(source)
        self.chain = chain

    def error(self, message: str, span: Span | None, **kwargs: Any) -> None:
        self.trace = self.chain()
        super().error(message, span, **kwargs)
        if len(self.diagnostics) >= MAX_ERRORS:
            super().error(f"elaboration stopped after {MAX_ERRORS:,} errors", span,
                          hint="fix the errors above first (the same mistake met in every "
                               "iteration of a repeat counts each time)")
            raise _Abort


_LAYERS_HINT = "lower the repeat counts, or raise the limit (--max-layers)"
_STEPS_HINT = ("a step is a statement elaborated, once per iteration of the repeats around it "
               "and once per block call that reaches it; lower the repeat counts or the calls, "
               "or raise the limit (--max-work)")
_PARAMS_HINT = "shrink the network, or raise the budget with --max-param-memory"


# ---- elaboration -----------------------------------------------------------------------------


class _Frame:
    """Names visible to a block call (or the network body): parameters and tensors.

    A tensor name bound to ``None`` is poisoned: its statement failed with an error.
    """

    def __init__(self, env: dict[str, Value], tensors: dict[str, str | None]):
        self.env, self.tensors = env, tensors


class _Unknown(Exception):
    """``channels`` of a poisoned tensor: the expression's value is unknown, silently."""


class _Env(Mapping[str, Value]):
    """The names an expression sees: parameters (and repeat indices) and ``channels``, the
    channel count of the tensor the statement being elaborated reads (``reading``; False
    outside statements, where validation has refused ``channels``)."""

    def __init__(self, env: Mapping[str, Value], builder: _Builder):
        self.env, self.builder = env, builder

    def __contains__(self, name: object) -> bool:
        return name in self.env or (name == CHANNELS and self.builder.reading is not False)

    def __getitem__(self, name: str) -> Value:
        if name in self.env or name != CHANNELS or self.builder.reading is False:
            return self.env[name]
        shape = self.builder._shape(self.builder.reading)  # type: ignore[arg-type]
        if shape is None:
            raise _Unknown
        return shape[0]

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


class _Builder:
    def __init__(self, net: t.Network, params: dict[str, Value], limits: Limits,
                 source: Source | None):
        self.net, self.params, self.limits = net, params, limits
        self.out: Collector = _Errors(source, self._chain)
        self.steps = 0  # statements elaborated, limited by max_work
        self.depth = 0  # bodies and calls entered, limited by MAX_DEPTH
        self.at: Span | None = None  # the statement being elaborated
        self.reading: str | None | bool = False  # the tensor it reads (`channels`)
        self.calls: list[tuple[t.Op, list[Value | None]]] = []  # block calls, outermost first
        self.g = LayerGraph(name=net.name, params=dict(params))
        self.blocks = {b.name: b for b in net.blocks}
        self.counters: dict[Scope, dict[str, int]] = {}
        self.repeat_stack: list[tuple[int, int]] = []
        self.g.graph["repeats"] = {}
        self.g.graph["outputs"] = []  # side heads; the main output is prepended at the end
        self.total_params = 0
        self.broken: set[str] = set()  # ops whose `defaults` rule failed: their layers are poisoned
        self.defaults: dict[str, tuple[dict[str, tuple[Value, t.Arg]], list[t.Op]]] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _eval(self, expr: t.Expr, env: Mapping[str, Value]) -> Value | None:
        try:
            return evaluate(expr, _Env(env, self))
        except _Unknown:  # `channels` of a poisoned tensor: its error was reported
            return None
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
        counter = self.counters.setdefault(scope, {})
        counter[base] = n = counter.get(base, 0) + 1
        return f"{base}{n}"

    def _shape(self, node: str | None) -> Shape | None:
        return None if node is None else self.g.nodes[node]["node"].shape

    def _limit(self, message: str, span: Span | None, hint: str, notes: Iterable[str] = ()
               ) -> None:
        """A limit is reached: report it and stop elaborating."""
        self.out.error(message, span, hint=hint, notes=notes)
        raise _Abort

    def _step(self, span: Span) -> None:
        self.steps += 1
        self.at = span
        if self.steps > self.limits.max_work:
            self._limit(f"elaboration takes more than {self.limits.max_work:,} steps", span,
                        _STEPS_HINT, [f"{self.steps:,} steps taken"])

    def _foresee(self, s: t.Repeat, rest: int, done: int, before: tuple[int, int, int]) -> None:
        """After iteration ``done`` (from 0) of a repeat, refuse it if its ``rest`` remaining
        iterations, each doing what the last one did, would cross a limit. Parameters are
        foreseen from the second iteration on (the first often widens the channels)."""
        nodes, steps, params = before
        span = s.span.to(s.count.span)
        now, each = self.g.number_of_nodes(), self.g.number_of_nodes() - nodes
        if now + rest * each > self.limits.max_nodes:
            self._limit(f"the network expands to more than {self.limits.max_nodes:,} layers", span,
                        _LAYERS_HINT, [f"{now:,} layers built; this repeat's {rest:,} remaining "
                                       f"iterations would add {each:,} layers each"])
        each = self.steps - steps
        if self.steps + rest * each > self.limits.max_work:
            self._limit(f"elaboration takes more than {self.limits.max_work:,} steps", span,
                        _STEPS_HINT, [f"{self.steps:,} steps taken; this repeat's {rest:,} "
                                      f"remaining iterations would take {each:,} steps each"])
        each, budget = self.total_params - params, self.limits.max_param_bytes
        if done >= 1 and (self.total_params + rest * each) * 4 > budget:
            self._limit(f"the parameters need more than {_bytes(budget)} as float32", span,
                        _PARAMS_HINT, [f"{self.total_params:,} values so far; this repeat's "
                                       f"{rest:,} remaining iterations would add {each:,} "
                                       "values each"])

    def _add_node(self, node: LayerNode) -> str:
        if self.repeat_stack:
            node = node.model_copy(update={"repeats": tuple(self.repeat_stack)})
        if self.g.number_of_nodes() >= self.limits.max_nodes:
            self._limit(f"the network expands to more than {self.limits.max_nodes:,} layers",
                        node.span, _LAYERS_HINT)
        self.g.add_node(node.name, node=node)
        for i, src in enumerate(node.inputs):
            self.g.add_edge(src, node.name, index=i)
        self.total_params += node.params + node.state
        budget = self.limits.max_param_bytes
        if self.total_params * 4 > budget:
            self._limit(f"the parameters need more than {_bytes(budget)} as float32 "
                        f"({self.total_params:,} values so far, at this layer)", node.span,
                        _PARAMS_HINT)
        return node.name

    # -- statements ------------------------------------------------------------------------

    def build(self) -> LayerGraph:
        net = self.net
        self.defaults = self._defaults()
        inp = net.inputs[0]
        shape = self._eval(inp.shape, self.params)
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        src: str | None = None  # a bad input poisons the network: its other errors still show
        if isinstance(shape, tuple) and len(shape) in (1, 3) and all(
                isinstance(v, int) and v > 0 for v in shape):
            src = self._add_node(new(LayerNode, name=inp.name, op="input", attrs=NoAttrs(),
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

    def _stmts(self, stmts: Sequence[t.Stmt], cur: str | None, scope: Scope,
               frame: _Frame, collapse: bool = False) -> str | None:
        if stmts and self.depth >= MAX_DEPTH:
            self._limit(f"blocks and statements nest too deeply (more than {MAX_DEPTH} levels)",
                        stmts[0].span, "each block call and each indented body is a level; "
                        "flatten the blocks that call blocks")
        self.depth += 1
        try:
            for s in stmts:
                cur = self._stmt(s, cur, scope, frame, collapse)
        finally:
            self.depth -= 1
        return cur

    def _stmt(self, s: t.Stmt, cur: str | None, scope: Scope, frame: _Frame,
              collapse: bool) -> str | None:
        if not isinstance(s, t.Op):  # a layer or a call counts its step in _op
            self._step(s.span)
            self.reading = cur
        match s:
            case t.Op():
                cur = self._op(s, cur, scope, frame)
            case t.Repeat(count=count, body=body):
                n = self._count(count, frame.env)
                if n is None:  # how often the body runs is unknown: poisoned
                    self._poison(body, frame)
                    return None
                uid = len(self.g.graph["repeats"])
                self.g.graph["repeats"][uid] = {"count": n, "scope": scope,
                                                "line": s.span.line}
                for i in range(n):
                    before = (self.g.number_of_nodes(), self.steps, self.total_params)
                    self.repeat_stack.append((uid, i))
                    if s.index is not None:
                        frame.env[s.index] = i
                    cur = self._stmts(body, cur, scope, frame)
                    self.repeat_stack.pop()
                    if i + 1 < n:
                        self._foresee(s, n - i - 1, i, before)
                if s.index is not None:
                    frame.env.pop(s.index, None)
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
            for part in getattr(s, "parts", ()):
                frame.tensors[part] = None

    def _residual(self, s: t.Residual, cur: str | None, scope: Scope, frame: _Frame,
                  collapse: bool) -> str | None:
        enabled = self._condition(s.cond, frame.env) if s.cond is not None else True
        inner = scope if collapse else (*scope, self._name(scope, "residual"))
        main = self._stmts(s.body, cur, inner, frame)  # runs either way: its errors are real
        if enabled is None:  # with or without the add is unknown: its output is poisoned
            if s.alias:
                frame.tensors[s.alias] = None
            return None
        if not enabled and s.shortcut and s.otherwise != "none":  # projection or identity
            identity = s.model_copy(update={"shortcut": []})
            return self._join("add", [main, cur], inner, s.span, s.alias, frame, identity)
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
            if isinstance(stmt, t.Residual) and shapes[0] != shapes[1]:  # no broadcasting
                raise ShapeError("")
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
        node = self._add_node(new(LayerNode, name=".".join(name), op=mode, attrs=NoAttrs(),
                                  scope=scope, inputs=tuple(ins), shape=inferred.shape,
                                  span=span))
        if alias:
            frame.tensors[alias] = node
        return node

    def _op(self, op: t.Op, cur: str | None, scope: Scope, frame: _Frame,
            then: bool = True) -> str | None:
        self._step(op.span)
        self.reading = frame.tensors.get(op.source) if op.source is not None else cur
        if op.cond is not None:
            enabled = self._condition(op.cond, frame.env)
            if enabled is None:  # neither skipping nor running it is known to be right
                self._poison([op], frame)
                return None
            if not enabled:
                return cur
        if op.source is not None:
            cur = self._tensor(op.source, op.span, frame)
        for part in op.parts:  # poisoned unless the split succeeds
            frame.tensors[part] = None
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
        declared = {p.name: p for p in block.params}
        bound = iter(names)
        tensors: dict[str, str | None] = {}  # `tensor` parameters: names in the block's frame
        values: list[Value | None] = []
        for a in op.args:
            param = declared.get(a.name if a.name is not None else next(bound, ""))
            if param is not None and param.type == "tensor" and isinstance(a.value, t.Name):
                tensors[param.name] = self._tensor(a.value.id, a.value.span, frame)
                values.append(a.value.id if tensors[param.name] is not None else None)
            else:
                values.append(self._eval(a.value, frame.env))
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
        self.calls.append((op, values))
        try:
            env: dict[str, Value] = dict(self.params)
            for p in block.params:
                if p.type == "tensor":
                    continue
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
            return self._stmts(block.body, cur, inner, _Frame(env, tensors), collapse=collapse)
        finally:
            self.calls.pop()

    def _chain(self) -> tuple[Note, ...]:
        """The block calls that led here, innermost first; a long chain shortened."""
        calls = self.calls if len(self.calls) <= 12 else [*self.calls[:5], None, *self.calls[-6:]]
        return tuple(Note(f"… {len(self.calls) - 11} calls in between") if call is None
                     else self._call_note(*call) for call in reversed(calls))

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
            named = [self._tensor(a.value.id, op.span, frame) for a in op.args
                     if isinstance(a.value, t.Name)]
            # the order written is the order joined: the current tensor comes first unless
            # it is listed, and nothing joins twice unless it is listed twice
            ins = named if cur is not None and cur in named else [cur, *named]
            if len(ins) == 1:
                listed = next(print_arg(a) for a in op.args)
                self.out.error(f"`{op.name}({listed})` joins the current tensor with nothing",
                               op.span, notes=[f"`{listed}` is the current tensor here"],
                               hint=f"list the tensors to join, e.g. `{op.name}(other, "
                                    f"{listed})`; a tensor joins itself only when listed twice")
                return None
            return self._join(op.name, ins, scope, op.span, None, frame, op)
        values: dict[str, tuple[Value, t.Node]] = {
            name: (v, arg) for name, (v, arg) in self.defaults.get(op.name, ({}, []))[0].items()}
        positional = [a for a in op.args if a.name is None]
        failed = False
        if spec.variadic and len(positional) > 1:  # `split(58, 58)`: one tuple
            items = [self._eval(a.value, frame.env) for a in positional]
            if None in items:
                return None
            values[spec.positional[0]] = (tuple(items), positional[0])
            positional = []
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
        if isinstance(attrs, SplitAttrs):
            return self._split(op, attrs, cur, scope, frame)
        name = (*scope, self._name(scope, op.name))
        fields = dict(name=".".join(name), op=op.name, attrs=attrs, scope=scope, inputs=(cur,),
                      shape=inferred.shape, params=inferred.params, state=inferred.state,
                      macs=inferred.macs, pads=inferred.pads, groups=inferred.groups,
                      is_global=op.is_global, span=op.span)
        # xdsl's own rules give exact types (tested); a plugin's rule is validated as before
        # nodes were built unvalidated: its list becomes a tuple, its 4.0 a 4
        return self._add_node(LayerNode(**fields) if spec.plugin else new(LayerNode, **fields))

    def _split(self, op: t.Op, attrs: SplitAttrs, cur: str, scope: Scope,
               frame: _Frame) -> str | None:
        """One node per part, each named by the spec (``as a, b``); the first part goes on."""
        sizes = split_sizes(attrs, self._shape(cur))  # the rule has accepted the shape
        names = [op.alias, *op.parts]
        if len(names) != len(sizes):
            example = ", ".join(f"part{i + 1}" for i in range(len(sizes)))
            self.out.error(f"`split` makes {len(sizes)} parts, but {len(names)} "
                           f"name{'s' * (len(names) != 1)} follow `as`", op.span,
                           hint=f"name each part: `as {example}`")
            return None
        _, h, w = self._shape(cur)  # type: ignore[misc]
        nodes = [self._add_node(new(LayerNode,
            name=".".join((*scope, self._name(scope, "split"))), op="split",
            attrs=SplitPartAttrs(sizes=sizes, index=i), scope=scope, inputs=(cur,),
            shape=(size, h, w), span=op.span)) for i, size in enumerate(sizes)]
        for part, node in zip(op.parts, nodes[1:]):
            frame.tensors[part] = node
        return nodes[0]

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
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:g} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def build_graph(net: t.Network, params: Mapping[str, Any] | None = None,
                limits: Limits | None = None, source: Source | None = None) -> LayerGraph:
    """Expand ``net`` at the given parameter values into the graph IR.

    Raises :class:`SpecError` (with every problem found) or :class:`ParamError`.
    """
    values = resolve_params(net, params, source)
    limits = limits or Limits()
    builder = _Builder(net, values, limits, source)
    g = builder.g
    try:
        try:
            builder.build()
        except _Abort:
            pass
        except RecursionError:  # a backstop: the nesting limits keep the stack well below it
            raise too_deep(source, builder.at, builder._chain()) from None
        builder.out.raise_if_any()
    finally:  # the collector's chain is the builder's method: a cycle holding the graph
        del builder.out.chain
    check_activation_memory(g, limits.max_activation_bytes, 1, source)
    return g


def _live_bytes(g: GraphIR, batch: int) -> Iterator[tuple[str, int]]:
    """Each layer in execution order with the bytes of float32 feature maps alive while it
    runs: its inputs, its output and every earlier output that a later layer (or an output of
    the network) still reads. Each layer's output is counted as a tensor of its own."""
    order = list(g.nodes)
    index = {name: i for i, name in enumerate(order)}
    outputs = {o for o in g.graph.get("outputs", []) if o is not None}
    freed: dict[int, int] = {}  # step → bytes freed after it
    sizes = []
    for i, name in enumerate(order):
        size = math.prod(g.nodes[name]["node"].shape) * 4 * batch
        sizes.append(size)
        last = len(order) if name in outputs else \
            max((index[s] for s in g.successors(name)), default=i)
        freed[last] = freed.get(last, 0) + size
    live = 0
    for i, name in enumerate(order):
        live += sizes[i]
        yield name, live
        live -= freed.get(i, 0)


def activation_peak(g: GraphIR, batch: int = 1) -> tuple[int, str | None]:
    """The most bytes of float32 feature maps alive at once in a forward pass at ``batch``
    (an estimate: see :func:`_live_bytes`) and the layer that runs at that moment."""
    peak, where = 0, None
    for name, live in _live_bytes(g, batch):
        if live > peak:
            peak, where = live, name
    return peak, where


def check_activation_memory(g: GraphIR, budget: int, batch: int = 1,
                            source: Source | None = None) -> None:
    """Raise :class:`SpecError` at the first layer whose live feature maps at ``batch`` need
    more than ``budget`` bytes (``Limits.max_activation_bytes``)."""
    for name, live in _live_bytes(g, batch):
        if live > budget:
            node: LayerNode = g.nodes[name]["node"]
            raise SpecError([Diagnostic(
                f"the feature maps need more than {_bytes(budget)} as float32 at batch {batch}",
                node.span, notes=(f"at `{name}` ({fmt_shape(node.shape)}), {_bytes(live)} of "
                                  "feature maps are alive",),
                hint="lower the input size (or the batch), or raise the budget with "
                     "--max-activation-memory")], source)


def layers(g: GraphIR) -> list[LayerNode]:
    """Nodes in execution order (the order they were built)."""
    return [data["node"] for _, data in g.nodes(data=True)]


def totals(g: GraphIR) -> dict[str, int]:
    nodes = layers(g)
    return {
        "trainable": sum(n.params for n in nodes),
        "non_trainable": sum(n.state for n in nodes),
        "macs": sum(n.macs for n in nodes),
    }


def __getattr__(name: str) -> Any:
    if name == "NetworkGraph":  # loads networkx: see xdsl.layergraph
        from .netgraph import NetworkGraph

        return NetworkGraph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MAX_DEPTH", "MAX_ERRORS", "LayerNode", "Limits", "activation_peak",
           "build_graph", "check_activation_memory", "layers", "totals"]
