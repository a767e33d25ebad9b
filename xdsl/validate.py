"""Static checks of a syntax tree: names, arity, options, declarations.

These need no parameter values, so they run once per spec and report every problem they find.
Checks that depend on values (types, shapes, limits) happen while the graph is built.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import plugins
from . import tree as t
from .diagnostics import Collector, Source, did_you_mean
from .lexer import KEYWORDS
from .ops import OPS, SYMBOLS, option_names, option_words, synonym_hint

PARAM_TYPES = ("int", "float", "bool", "str", "choice", "tensor", "any")
CHANNELS = "channels"
"""The channel count of the tensor a statement reads: a name every statement sees."""
AUDIT_METRICS = ("trainable", "non_trainable", "params", "macs", "flops", "output")


def walk_stmts(stmts: Iterable[t.Stmt | t.Flow]) -> Iterable[t.Stmt]:
    """Every statement, nested ones included, in source order."""
    for s in stmts:
        if isinstance(s, t.Flow):
            yield from walk_stmts(s.body)
            continue
        yield s
        match s:
            case t.Repeat(body=body):
                yield from walk_stmts(body)
            case t.Residual(shortcut=shortcut, body=body):
                yield from shortcut
                yield from walk_stmts(body)
            case t.Merge(branches=branches):
                for b in branches:
                    yield from walk_stmts(b.body)
            case t.If(then=then, orelse=orelse):
                yield from walk_stmts(then)
                yield from walk_stmts(orelse)
            case t.Output(body=body):
                yield from walk_stmts(body)


def expr_names(expr: t.Expr | None) -> Iterable[t.Name]:
    match expr:
        case t.Name():
            yield expr
        case t.SizeLit(items=items):
            for i in items:
                yield from expr_names(i)
        case t.BinOp(left=left, right=right):
            yield from expr_names(left)
            yield from expr_names(right)
        case t.Not(operand=o):
            yield from expr_names(o)
        case t.Ternary(cond=c, then=a, orelse=b):
            for e in (c, a, b):
                yield from expr_names(e)
        case t.Call(args=args):
            for a in args:
                yield from expr_names(a.value)


class _Checker:
    def __init__(self, net: t.Network, source: Source | None):
        self.net = net
        self.out = Collector(source)
        self.plugins = self._uses(net.uses)
        self.blocks = {b.name: b for b in net.blocks if b.name not in self._ops()}
        self.symbols = set(SYMBOLS) | {c for p in net.params for c in p.choices
                                       if not c.isdigit()}
        self.symbols |= plugins.symbols(self.plugins)
        self.tensors = {i.name for i in net.inputs}
        self.tensors |= {p.name for b in net.blocks for p in b.params if p.type == "tensor"}
        for s in walk_stmts([*net.body, *(st for b in net.blocks for st in b.body)]):
            alias = s.name if isinstance(s, t.Output) else getattr(s, "alias", None)
            if alias:
                self.tensors.add(alias)
            self.tensors.update(getattr(s, "parts", ()))

    def run(self) -> None:
        net = self.net
        self._declarations()
        self._outside_flows()
        params = {p.name for p in net.params}
        for rule in net.defaults:
            self._default_rule(rule, params)
        for block in net.blocks:
            self._stmts(block.body, params | {CHANNELS} |
                        {p.name for p in block.params if p.type != "tensor"})
        self._stmts(net.body, params | {CHANNELS})
        for audit in net.audits:
            self._audit(audit, params)
        self._recursion()

    # ---- declarations ------------------------------------------------------------------------

    def _uses(self, uses: list[t.Use]) -> list[str]:
        """Load the plugins the spec names (only those); each problem is located at its name."""
        names: list[str] = []
        self.failed_uses = False
        for use in uses:
            if use.name in names:
                self.out.error(f"plugin `{use.name}` is named twice", use.span,
                               hint="remove one of the two")
                continue
            try:
                plugins.load(use.name)
            except plugins.PluginError as e:
                self.out.error(str(e), use.span, hint=e.hint)
                self.failed_uses = True  # its ops would be reported unknown: said once here
                continue
            names.append(use.name)
        return names

    def _known_layers(self) -> str:
        hint = "layers are " + ", ".join(self._ops())
        if not self.plugins and plugins.installed():
            hint += "; a plugin's ops need `use PLUGIN` (installed: " + \
                ", ".join(sorted(plugins.installed())) + ")"
        return hint

    def _ops(self) -> list[str]:
        """The ops this spec may use: the built-in ones and those of its plugins."""
        return [name for name, spec in OPS.items() if not spec.plugin
                or spec.plugin in self.plugins]

    def _unique(self, items: Iterable[tuple[str, t.Node]], what: str) -> None:
        seen: dict[str, t.Node] = {}
        for name, node in items:
            if name in seen:
                self.out.error(f"{what} `{name}` is defined twice", node.span,
                               notes=[f"first defined on line {seen[name].span.line}"],
                               hint=f"rename one of the two {what}s")
            else:
                seen[name] = node

    def _params(self, params: list[t.Param], outer: set[str], block: bool = False) -> None:
        """Types and defaults; a default may use the parameters declared before it."""
        self._unique(((p.name, p) for p in params), "parameter")
        outer = set(outer)
        for p in params:
            if p.type not in PARAM_TYPES:
                self.out.error(f"unknown parameter type `{p.type}`", p.span,
                               hint=did_you_mean(p.type, PARAM_TYPES)
                               or f"types are {', '.join(PARAM_TYPES)}")
            numbers = [c for c in p.choices if c.isdigit()]
            if numbers and len(numbers) < len(p.choices):
                self.out.error(f"`{p.name}` is a choice of words and numbers at once", p.span,
                               hint="list words (`choice(relu, elu)`) or whole numbers "
                                    "(`choice(18, 34, 50)`)")
            if p.name == CHANNELS:
                self.out.error("`channels` cannot name a parameter", p.span,
                               hint="`channels` is the channel count of the current tensor; "
                                    "give the parameter another name, e.g. `width`")
            if p.type == "tensor" and not block:
                self.out.error(f"network parameter `{p.name}` cannot be a tensor", p.span,
                               hint="`tensor` parameters belong to blocks: "
                                    "`block up(c: int, skip: tensor)`")
            elif p.type == "tensor" and p.default is not None:
                self.out.error(f"tensor parameter `{p.name}` cannot have a default",
                               p.default.span, hint="pass the tensor at every call, "
                               f"e.g. `{p.name}={p.name}`")
            elif p.default is not None:
                self._expr(p.default, outer)
            if p.type != "tensor":
                outer.add(p.name)

    def _declarations(self) -> None:
        net = self.net
        self._params(net.params, set())
        if not net.inputs:
            self.out.error(f"network `{net.name}` declares no input", net.span,
                           hint="add a line such as `input image: 3 x 224 x 224`")
        for extra in net.inputs[1:]:
            self.out.error("a network has exactly one input", extra.span,
                           hint="remove this line, or name tensors with `as` instead")
        params = {p.name for p in net.params}
        for i in net.inputs:
            self._expr(i.shape, params)
        self._unique(((b.name, b) for b in net.blocks), "block")
        self._unique(((f.name, f) for f in net.body if isinstance(f, t.Flow)), "flow")
        named = [("block", b.name, b) for b in net.blocks]
        named += [("parameter", p.name, p) for p in net.params]
        named += [("parameter", p.name, p) for b in net.blocks for p in b.params]
        named += [("flow", f.name, f) for f in net.body if isinstance(f, t.Flow)]
        for what, name, node in named:
            if name in KEYWORDS:
                self.out.error(f"`{name}` is a keyword and cannot name a {what}", node.span,
                               hint=f"rename the {what}, e.g. `{name}_`")
        for b in net.blocks:
            if b.name in self._ops():
                what = f"an op of plugin `{OPS[b.name].plugin}`" if OPS[b.name].plugin \
                    else "a built-in layer"
                self.out.error(f"block `{b.name}` has the name of {what}", b.span,
                               hint="give the block another name")
            self._params(b.params, params | {CHANNELS}, block=True)

    def _outside_flows(self) -> None:
        """In a network with flows every statement belongs to a flow (or a block): one at
        network level is a line dedented by mistake, reported once per run of such lines."""
        net = self.net
        flows = [s for s in net.body if isinstance(s, t.Flow)]
        if not flows:
            return
        sections: list[t.Node] = sorted([*net.inputs, *net.defaults, *net.blocks, *net.body,
                                         *net.audits], key=lambda n: (n.span.line, n.span.column))
        runs: list[list[t.Stmt]] = []
        before: list[t.Node | None] = []
        previous: t.Node | None = None
        for node in sections:
            if isinstance(node, t.Op | t.Repeat | t.Residual | t.Merge | t.If | t.Output):
                if runs and runs[-1][-1] is previous:
                    runs[-1].append(node)
                else:
                    runs.append([node])
                    before.append(previous)
            previous = node
        for run, prev in zip(runs, before):
            first = run[0]
            word = first.name if isinstance(first, t.Op) else getattr(first, "mode", first.kind)
            more = len({s.span.line for s in run[1:]} - {first.span.line})
            notes = [f"the next {more} lines are outside any flow too" if more > 1 else
                     "the next line is outside any flow too"] if more else []
            notes.append("in a network with flows, only `input`, `defaults`, `block`, `flow` "
                         "and `audit` sections stand at network level")
            self.out.error(f"`{word}` is at network level, outside any flow",
                           first.span, notes=notes, hint=self._indent_hint(first, prev, flows))

    def _indent_hint(self, stmt: t.Stmt, prev: t.Node | None, flows: list[t.Flow]) -> str:
        """How to put a dedented statement back where it most likely belongs."""
        if not isinstance(prev, t.Flow | t.BlockDef):
            after = [f for f in flows if f.span.line > stmt.span.line]
            near = after[0] if after else flows[-1]
            return f"move it into a flow, e.g. flow `{near.name}` on line {near.span.line}"
        what = f"{'flow' if isinstance(prev, t.Flow) else 'block'} `{prev.name}`"
        tail = "" if isinstance(prev, t.Flow) else ", or move it into a flow"
        body = prev.body[0]
        if body.span.line == prev.span.line:  # the body is written on the header's line
            indent = self._indent(prev.span) + 4
            return (f"put the body of {what} on lines indented by {indent} spaces below its "
                    f"header, and this line with them{tail}")
        return f"indent this line by {self._indent(body.span)} spaces to keep it in {what}{tail}"

    def _indent(self, span: t.Span) -> int:
        source = self.out.source
        line = source.line(span.line) if source else ""
        if not line:
            return span.column - 1
        return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())

    def _default_rule(self, rule: t.DefaultRule, params: set[str]) -> None:
        for name in rule.ops:
            if name not in self._ops():
                self.out.error(f"`defaults` names unknown layer `{name}`", rule.span,
                               hint=did_you_mean(name, self._ops()) or self._known_layers())
                continue
            for kw in rule.kwargs:
                if kw.name not in option_names(name):
                    self.out.error(f"`{kw.name}` is not an option of `{name}`", kw.span,
                                   hint=did_you_mean(kw.name or "", option_names(name))
                                   or _options_hint(name))
        for kw in rule.kwargs:
            self._expr(kw.value, params)
        if rule.cond is not None:
            self._expr(rule.cond, params)
        for op in rule.then:
            self._op(op, params)

    def _audit(self, audit: t.Audit, params: set[str]) -> None:
        for arg in audit.settings:
            if arg.name is None:
                self.out.error("audit settings are written `name=value`", arg.span,
                               hint="for example `audit (classes=10):`")
            elif arg.name not in params:
                self.out.error(f"audit setting names unknown parameter `{arg.name}`", arg.span,
                               hint=did_you_mean(arg.name, params) or _params_hint(params))
            self._expr(arg.value, params)
        for item in audit.items:
            if item.metric not in AUDIT_METRICS:
                self.out.error(f"unknown audit figure `{item.metric}`", item.span,
                               hint=did_you_mean(item.metric, AUDIT_METRICS)
                               or f"figures are {', '.join(AUDIT_METRICS)}")
            self._expr(item.value, params)

    def _recursion(self) -> None:
        """Each cycle of block calls, reported once at the call that closes it: a depth-first
        walk of the call graph with an explicit stack, each block visited once (linear in the
        calls, however long the chains or however often a block is called)."""
        calls = {b.name: [s for s in walk_stmts(b.body)
                          if isinstance(s, t.Op) and s.name in self.blocks]
                 for b in self.net.blocks}
        done: set[str] = set()
        for root in calls:
            if root in done:
                continue
            path, todo = [root], [iter(calls[root])]
            while todo:
                call = next(todo[-1], None)
                if call is None:
                    done.add(path.pop())
                    todo.pop()
                elif call.name in path:
                    cycle = " → ".join([*path[path.index(call.name):], call.name])
                    self.out.error(f"block `{call.name}` calls itself ({cycle})", call.span,
                                   hint="blocks cannot be recursive; use `repeat` instead")
                elif call.name not in done:
                    path.append(call.name)
                    todo.append(iter(calls[call.name]))

    # ---- statements ----------------------------------------------------------------------------

    def _stmts(self, stmts: Iterable[t.Stmt | t.Flow], params: set[str]) -> None:
        for s in stmts:
            match s:
                case t.Flow(body=body):
                    self._stmts(body, params)
                case t.Op():
                    self._op(s, params)
                case t.Repeat(count=count, body=body):
                    self._expr(count, params)
                    self._stmts(body, params | self._index(s, params))
                case t.Residual(shortcut=shortcut, body=body, cond=cond):
                    for op in shortcut:
                        self._op(op, params)
                    if cond is not None:
                        self._expr(cond, params)
                    if s.otherwise == "identity" and not shortcut:
                        self.out.error("`else identity` needs a projection", s.otherwise_span,
                                       hint="without `project(...)` the shortcut is the "
                                            "identity anyway: `residual if cond:` runs the body "
                                            "without a shortcut when `cond` is false")
                    self._stmts(body, params)
                case t.Merge(branches=branches):
                    for b in branches:
                        self._stmts(b.body, params)
                case t.If(cond=cond, then=then, orelse=orelse):
                    self._expr(cond, params)
                    self._stmts(then, params)
                    self._stmts(orelse, params)
                case t.Output(body=body):
                    self._stmts(body, params)

    def _index(self, s: t.Repeat, params: set[str]) -> set[str]:
        """``repeat n as i``: the index's name, unless it would hide another name."""
        if s.index is None:
            return set()
        if s.index in params or s.index in KEYWORDS or s.index in self.tensors:
            what = ("a keyword" if s.index in KEYWORDS else "the current tensor's channel count"
                    if s.index == CHANNELS else "a tensor" if s.index in self.tensors
                    else "a parameter or an enclosing repeat's index")
            self.out.error(f"the repeat index `{s.index}` would hide {what}", s.span,
                           hint="give the index another name, e.g. `j`")
        return {s.index}

    def _op(self, op: t.Op, params: set[str]) -> None:
        if op.cond is not None:
            self._expr(op.cond, params)
        if op.source is not None and op.source not in self.tensors:
            self._unknown_tensor(op.source, op.span)
        self._split_names(op)
        if op.name in self.blocks:
            self._block_call(op, self.blocks[op.name], params)
            return
        spec = OPS.get(op.name)
        if spec is not None and spec.plugin and spec.plugin not in self.plugins:
            self.out.error(f"`{op.name}` is an op of plugin `{spec.plugin}`, which this spec "
                           "does not use", op.name_span,
                           hint=f"add `use {spec.plugin}` as the spec's first line")
            return
        if spec is None and self.failed_uses:
            return
        if spec is None:
            self.out.error(f"unknown layer or block `{op.name}`", op.name_span,
                           hint=synonym_hint(op.name)
                           or did_you_mean(op.name, [*self._ops(), *self.blocks])
                           or self._known_layers())
            return
        if op.is_global and not spec.pool:
            self.out.error(f"`global` applies to pooling, not to `{op.name}`", op.span,
                           hint="write `global avgpool` or `global maxpool`")
        if spec.merges:
            self._merge_args(op)
            return
        positional = [a for a in op.args if a.name is None]
        if len(positional) > len(spec.positional) and not spec.variadic:
            extra = positional[len(spec.positional)]
            takes = (f"at most {len(spec.positional)} positional arguments "
                     f"({', '.join(spec.positional)})" if spec.positional
                     else "no positional arguments")
            self.out.error(f"`{op.name}` takes {takes}, got {len(positional)}", extra.span,
                           hint=f"usage: {spec.summary or op.name}")
        self._keywords(op, option_names(op.name), spec.positional[: len(positional)],
                       "an option of", params)
        taken = spec.positional * len(positional) if spec.variadic else spec.positional
        fields = [*taken[: len(positional)], *(a.name for a in op.args if a.name)]
        for field, arg in zip(fields, [*positional, *(a for a in op.args if a.name)]):
            words = option_words(op.name, field) if field in option_names(op.name) else []
            self._expr(arg.value, params, words, f"`{field}` of `{op.name}`")

    def _keywords(self, op: t.Op, allowed: list[str], taken: Iterable[str], what: str,
                  params: set[str]) -> None:
        seen = set(taken)
        for arg in op.args:
            if arg.name is None:
                continue
            if arg.name not in allowed:
                hint = did_you_mean(arg.name, allowed) or (
                    f"`{op.name}` accepts {', '.join(allowed)}" if allowed
                    else f"`{op.name}` takes no options")
                self.out.error(f"`{arg.name}` is not {what} `{op.name}`", arg.span, hint=hint)
            elif arg.name in seen:
                self.out.error(f"`{arg.name}` is given twice to `{op.name}`", arg.span,
                               hint="remove one of them")
            seen.add(arg.name)

    def _split_names(self, op: t.Op) -> None:
        """``split`` names each of its parts; nothing else names several tensors."""
        if op.name == "split" and not op.alias:
            self.out.error("`split` needs a name for each of its parts", op.span,
                           hint="write e.g. `split 2 as a, b`")
        elif op.parts and op.name != "split":
            self.out.error(f"`{op.name}` makes one tensor, but {len(op.parts) + 1} names follow "
                           "`as`", op.span,
                           hint=f"name it once (`as {op.alias}`); only `split` makes several")

    def _merge_args(self, op: t.Op) -> None:
        if not op.args:
            self.out.error(f"`{op.name}` needs the names of the tensors to join", op.span,
                           hint=f"write e.g. `{op.name}(skip)`; name a tensor with `... as skip`")
        for arg in op.args:
            if arg.name is not None or not isinstance(arg.value, t.Name):
                self.out.error(f"`{op.name}` takes tensor names", arg.span,
                               hint="name a tensor with `as NAME` and list that name here")
            elif arg.value.id not in self.tensors:
                self._unknown_tensor(arg.value.id, arg.span)

    def _unknown_tensor(self, name: str, span: t.Span) -> None:
        self.out.error(f"no tensor is named `{name}`", span,
                       hint=did_you_mean(name, self.tensors)
                       or "name a layer's output with `as NAME` before using it")

    def _block_call(self, op: t.Op, block: t.BlockDef, params: set[str]) -> None:
        names = [p.name for p in block.params]
        positional = [a for a in op.args if a.name is None]
        signature = f"{block.name}({', '.join(names)})"
        if len(positional) > len(names):
            self.out.error(f"block `{block.name}` takes {len(names)} arguments, got "
                           f"{len(positional)}", positional[len(names)].span,
                           hint=f"it is declared as {signature} on line {block.span.line}")
        self._keywords(op, names, names[: len(positional)], "a parameter of block", params)
        given = set(names[: len(positional)]) | {a.name for a in op.args if a.name}
        missing = [p.name for p in block.params if p.default is None and p.name not in given]
        if missing:
            self.out.error(f"block `{block.name}` is called without "
                           + ", ".join(f"`{m}`" for m in missing), op.span,
                           hint=f"it is declared as {signature} on line {block.span.line}")
        declared = {p.name: p for p in block.params}
        for name, arg in [*zip(names, positional), *((a.name, a) for a in op.args if a.name)]:
            param = declared.get(name or "")
            if param is not None and param.type == "tensor":
                self._tensor_arg(block, param, arg, params)
            else:
                self._expr(arg.value, params, what=f"`{name}` of block `{block.name}`"
                           if param else "")

    def _tensor_arg(self, block: t.BlockDef, param: t.Param, arg: t.Arg,
                    params: set[str]) -> None:
        if not isinstance(arg.value, t.Name) or arg.value.id in params:
            self.out.error(f"`{param.name}` of block `{block.name}` is a tensor, got a value",
                           arg.value.span, hint=f"pass a tensor's name, e.g. `{param.name}=e3` "
                           "after `... as e3`")
        elif arg.value.id not in self.tensors:
            self._unknown_tensor(arg.value.id, arg.value.span)

    def _expr(self, expr: t.Expr, params: set[str], words: list[str] | None = None,
              what: str = "") -> None:
        for name in expr_names(expr):
            if name.id in self.tensors and name.id not in params | self.symbols:
                where = f"{what} is a value" if what else "a value is needed here"
                self.out.error(f"`{name.id}` is a tensor, but {where}", name.span,
                               hint="a tensor is used by `concat(...)`, `add(...)`, `from ...` "
                                    "or a block's `tensor` parameter")
            elif name.id == CHANNELS and name.id not in params:
                self.out.error("`channels` is known only in a statement", name.span,
                               hint="it is the channel count of the tensor a layer, a block "
                                    "call or a body reads; parameters, defaults and audits "
                                    "have no current tensor")
            elif name.id not in params and name.id not in self.symbols:
                hint = did_you_mean(name.id, params | self.symbols)
                if not hint and words and name is expr:
                    hint = f"{what} accepts {', '.join(f'`{w}`' for w in words)} or a value"
                self.out.error(f"unknown name `{name.id}`", name.span,
                               hint=hint or _params_hint(params))




def _options_hint(op: str) -> str:
    names = option_names(op)
    return f"`{op}` accepts {', '.join(names)}" if names else f"`{op}` takes no options"


def _params_hint(params: Iterable[str]) -> str:
    names = sorted(params)
    return f"parameters in scope: {', '.join(names)}" if names else "declare it as a parameter"


def validate(net: t.Network, source: Source | None = None) -> t.Network:
    """Check names, arity and declarations; raise :class:`SpecError` listing every problem."""
    checker = _Checker(net, source)
    checker.run()
    checker.out.raise_if_any()
    return net


def validate_audits(net: t.Network, source: Source | None = None) -> None:
    """Check only the audit sections (a variant's own, against its base's parameters)."""
    checker = _Checker(net, source)
    for audit in net.audits:
        checker._audit(audit, {p.name for p in net.params})
    checker.out.raise_if_any()
