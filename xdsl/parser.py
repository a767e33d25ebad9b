"""Spec text → syntax tree (:mod:`xdsl.tree`): typed nodes built during the LALR parse.

:class:`_Build` has a method per grammar rule; :mod:`xdsl.lalr` calls it at each reduction.
The nesting of what is built is measured on the way (without recursion): every later stage
walks the tree recursively, so a spec nested deeper than :data:`MAX_NESTING` levels is refused
with an error at the place where it gets too deep, never with Python's ``RecursionError``.
"""

from __future__ import annotations

import functools
import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from . import tree as t
from .diagnostics import Diagnostic, Note, Source, Span, SpecError
from .lalr import Reductions, TooMany, Unparsable, lark_table
from .lexer import LexError, _Indenter, lark_parser, span_of
from .scan import Lexers, Tok, Unlexable, load, tokens
from .tree import new

if TYPE_CHECKING:
    from lark import Token, Tree

MAX_NESTING = 100
"""Levels of statements (bodies of repeat, residual, branch, if, output, block, flow) and of
expressions (parentheses, operators, conditionals) inside each other."""
DEFAULT_MAX_STATEMENTS = 5_000
"""Statements and declarations in one spec (``--max-statements``): forty times the largest
shipped spec (Inception V3, 123). Parsing stops at the first one over. At 5,000 one-layer
statements every torch-free command took under 1 s of CPU on the shared two-core machine, at
10,000 some took 2 s (the graph of 10,000 written layers)."""
MAX_NUMBER = 1 << 62
"""The largest whole number a spec may write (the largest an expression may compute)."""


def _number(token: Token, text: str | None = None) -> int:
    """A whole-number literal; one above :data:`MAX_NUMBER` is an error at ``token``."""
    digits = (text if text is not None else str(token)).replace(",", "").replace("_", "")
    if len(digits) > len(str(MAX_NUMBER)) or int(digits) > MAX_NUMBER:
        shown = digits if len(digits) <= 24 else f"{digits[:6]}…{digits[-4:]} " \
            f"({len(digits):,} digits)"
        raise SpecError([Diagnostic(f"the number {shown} is too large", span_of(token),
                                    hint=f"numbers in a spec are at most {MAX_NUMBER:,} (2**62)")])
    return int(digits)


class _Build:
    """Grammar rules → :mod:`xdsl.tree` nodes: ``rule(meta, children)`` per rule (its alias, else
    its name), ``meta`` where its text lies, ``children`` what the grammar keeps of it."""

    # expressions
    def int(self, meta, c):
        return new(t.Num, span=span_of(c[0]), value=_number(c[0]))

    def big_number(self, meta, c):
        return new(t.Num, span=span_of(c[0]), value=_number(c[0]))

    def float(self, meta, c):
        value = float(c[0])
        if not math.isfinite(value):
            raise SpecError([Diagnostic(f"the number {c[0]} is too large", span_of(c[0]),
                                        hint="write a number below 1e308")])
        return new(t.Num, span=span_of(c[0]), value=value)

    def string(self, meta, c):
        return new(t.Str, span=span_of(c[0]), value=c[0][1:-1])

    def name(self, meta, c):
        return new(t.Name, span=span_of(c[0]), id=str(c[0]))

    def size_literal(self, meta, c):
        sp = span_of(c[0])
        return new(t.SizeLit, span=sp, items=[new(t.Num, span=sp, value=_number(c[0], p))
                                              for p in c[0].split("x")])

    def size(self, meta, c):  # `3 x 8x8` is one size of three
        items = [i for x in c for i in (x.items if isinstance(x, t.SizeLit) else [x])]
        return new(t.SizeLit, span=span_of(meta), items=items)

    def paren(self, meta, c):
        return c[1]

    def call(self, meta, c):
        return new(t.Call, span=span_of(meta), func=str(c[0]), args=c[1])

    def ternary(self, meta, c):
        _, then, cond, orelse, _ = c
        return new(t.Ternary, span=span_of(meta), cond=cond, then=then, orelse=orelse)

    def _chain(self, meta, c, ops):
        left = c[0]
        rest = c[1:]
        if ops is None:  # operator tokens interleaved
            for op, right in zip(rest[::2], rest[1::2]):
                left = new(t.BinOp, span=left.span.to(right.span), op=str(op), left=left,
                           right=right)
        else:
            for right in rest:
                left = new(t.BinOp, span=left.span.to(right.span), op=ops, left=left, right=right)
        return left

    def arith(self, meta, c):
        return self._chain(meta, c, None)

    def compare(self, meta, c):
        return self._chain(meta, c, None)

    def or_(self, meta, c):
        return self._chain(meta, c, "or")

    def and_(self, meta, c):
        return self._chain(meta, c, "and")

    def not_(self, meta, c):
        return new(t.Not, span=span_of(meta), operand=c[0])

    def kwarg(self, meta, c):
        return new(t.Arg, span=span_of(meta), name=str(c[0]), value=c[1])

    def arg_group(self, meta, c):
        return [a if isinstance(a, t.Arg) else new(t.Arg, span=a.span, value=a)
                for a in c[1:-1] if a is not None]

    # statements
    def op(self, meta, c):
        is_global = getattr(c[0], "type", None) == "GLOBAL"  # a token
        if is_global:
            c = c[1:]
        name, *rest = c
        args, source, alias, parts = [], None, None, []
        for item in rest:
            if isinstance(item, list):
                args.extend(item)
            elif isinstance(item, tuple):
                if item[0] == "from":
                    source = item[1]
                elif item[0] == "as":
                    alias = item[1]
                else:
                    parts = item[1]
            elif item is not None:
                args.append(item)
        args = [a if isinstance(a, t.Arg) else new(t.Arg, span=a.span, value=a) for a in args]
        return new(t.Op, span=span_of(meta), name=str(name), name_span=span_of(name),
                   is_global=is_global, args=args, source=source, alias=alias, parts=parts)

    def more_names(self, meta, c):
        return ("parts", [str(n) for n in c])

    def from_clause(self, meta, c):
        return ("from", str(c[0]))

    def as_clause(self, meta, c):
        return ("as", str(c[0]))

    def simple_stmt(self, meta, c):
        op, cond = c
        return op.model_copy(update={"cond": cond}) if cond is not None else op

    def simple_stmts(self, meta, c):
        return list(c)

    def suite(self, meta, c):
        return c[0] if isinstance(c[0], list) else [c[0]]

    def block_suite(self, meta, c):
        out = []
        for s in c:
            out.extend(s if isinstance(s, list) else [s])
        return out

    def repeat(self, meta, c):
        count, index, body = c
        return new(t.Repeat, span=span_of(meta), count=count, index=index[1] if index else None,
                   body=body)

    def shortcut(self, meta, c):
        return [x for x in c if isinstance(x, t.Op)]

    def residual_else(self, meta, c):
        word = str(c[1])
        if word not in ("identity", "none"):
            raise SpecError([Diagnostic(
                f"a residual's `else` is `identity` or `none`, got `{word}`", span_of(c[1]),
                hint="`else identity`: the identity shortcut when the condition is false; "
                     "`else none`: no shortcut at all")])
        return word, span_of(meta)

    def residual(self, meta, c):
        shortcut, alias, cond, otherwise, body = c
        word, where = otherwise or (None, None)
        return new(t.Residual, span=span_of(meta), shortcut=shortcut or [],
                   alias=alias[1] if alias else None, cond=cond, otherwise=word,
                   otherwise_span=where, body=body)

    def branch(self, meta, c):
        name, body = c
        return new(t.Branch, span=span_of(meta), name=str(name) if name else None, body=body)

    def merge(self, meta, c):
        mode, alias, *branches = c
        return new(t.Merge, span=span_of(meta), mode=str(mode), alias=alias[1] if alias else None,
                   branches=branches)

    def output(self, meta, c):
        return new(t.Output, span=span_of(meta), name=str(c[0]), body=c[1])

    def else_clause(self, meta, c):
        return span_of(c[0]), c[1]

    def if_stmt(self, meta, c):
        cond, then, orelse = c
        else_span, body = orelse or (None, [])
        return new(t.If, span=span_of(meta), cond=cond, then=then, orelse=body, else_span=else_span)

    # declarations
    def simple_type(self, meta, c):
        return (str(c[0]), [])

    def choice_type(self, meta, c):
        return ("choice", [str(x) for x in c if x.type in ("NAME", "INT")])

    def param(self, meta, c):
        name, typ, default = c
        kind, choices = typ if typ else ("any", [])
        return new(t.Param, span=span_of(meta), name=str(name), type=kind, choices=choices,
                   default=default)

    def param_list(self, meta, c):
        return [p for p in c[1:-1] if p is not None]

    def input_decl(self, meta, c):
        return new(t.Input, span=span_of(meta), name=str(c[0]), shape=c[1])

    def then_op(self, meta, c):
        name, *args = c
        args = [a if isinstance(a, t.Arg) else new(t.Arg, span=a.span, value=a) for a in args]
        return new(t.Op, span=span_of(meta), name=str(name), name_span=span_of(name), args=args)

    def default_rule(self, meta, c):
        *c, cond = c
        ops = [str(x) for x in c if isinstance(x, str)]  # the tokens
        items = [x for x in c if not isinstance(x, str)]
        return new(t.DefaultRule, span=span_of(meta), ops=ops,
                   kwargs=[i for i in items if isinstance(i, t.Arg)],
                   then=[i for i in items if isinstance(i, t.Op)], cond=cond)

    def defaults(self, meta, c):
        return ("defaults", list(c))

    def block_def(self, meta, c):
        name, params, body = c
        return new(t.BlockDef, span=span_of(meta), name=str(name), params=params, body=body)

    def flow(self, meta, c):
        return new(t.Flow, span=span_of(meta), name=str(c[0]), body=c[1])

    def audit_item(self, meta, c):
        note, metric, value, source = c
        return new(t.AuditItem, span=span_of(meta), metric=str(metric), value=value,
                   source=source[1:-1] if source else "", required=note is None)

    def audit(self, meta, c):
        settings, *items = c
        return new(t.Audit, span=span_of(meta), settings=settings or [], items=items)

    def network(self, meta, c):
        name, params, *sections = c
        fields: dict[str, Any] = {"defaults": [], "blocks": [], "body": [], "audits": [],
                                  "inputs": []}
        for s in sections:
            if isinstance(s, list):  # simple statements at network level
                fields["body"].extend(s)
            elif isinstance(s, tuple):
                fields["defaults"].extend(s[1])
            elif isinstance(s, t.Input):
                fields["inputs"].append(s)
            elif isinstance(s, t.BlockDef):
                fields["blocks"].append(s)
            elif isinstance(s, t.Audit):
                fields["audits"].append(s)
            else:
                fields["body"].append(s)
        return new(t.Network, span=span_of(meta), name=str(name), params=params or [], **fields)

    def variant(self, meta, c):
        name, base, settings, *audits = c
        return new(t.Variant, span=span_of(meta), name=str(name), base=base[1:-1],
                   settings=settings or [], audits=audits)

    def use(self, meta, c):
        return [new(t.Use, span=span_of(name), name=str(name)) for name in c]

    def start(self, meta, c):
        *uses, root = c
        if not uses:
            return root
        return root.model_copy(update={"uses": [u for group in uses for u in group]})


def parse_source(source: Source) -> t.Network | t.Variant:
    """Parse spec text; raise :class:`SpecError` with a located, human message on failure.

    The compiled grammar parses (:mod:`xdsl.scan`, lark not even imported); a text it cannot
    lex or parse, and every text where the compiled grammar is missing, is parsed by lark,
    whose errors the diagnostics are made from."""
    text = source.text if source.text.endswith("\n") else source.text + "\n"
    fast = _compiled()
    collecting = gc.isenabled()
    gc.disable()  # every node made survives the parse: collecting them is wasted (a quarter)
    try:
        root = None
        if fast is not None:
            build, lexers = fast
            try:
                root = parse_compiled(build, lexers, text)
            except (Unlexable, Unparsable, LexError):
                root = None  # lark's run finds the same place and reports it
        if root is None:
            build = _with_lark()
            root = _parse_with_lark(build, text, source)
    except TooMany as e:
        raise SpecError([_too_many(e, build.limit)], source) from None
    finally:
        if collecting:
            gc.enable()
    if root.height > MAX_NESTING:  # rare: find the place on lark's own tree, walked top down
        deep = _too_deep(lark_parser().parse(text))
        raise SpecError([deep] if deep else too_deep(source).diagnostics, source)
    if build.error is not None:
        raise SpecError(build.error.diagnostics, source) from None
    return root.value


def parse_compiled(build: Reductions, lexers: Lexers, text: str) -> Any:
    """``text`` through the compiled grammar (``build`` over its table); raises
    :class:`Unlexable`, :class:`Unparsable` or :class:`LexError` where lark's run would
    report an error, and :class:`TooMany`."""
    return build.parse(lambda s, stack: _Indenter().process(tokens(lexers, s, stack)), Tok,
                       text, _max_statements.get())


def _parse_with_lark(build: Reductions, text: str, source: Source) -> Any:
    """``text`` through lark's parser; its errors become diagnostics (:class:`TooMany`
    propagates)."""
    from lark import UnexpectedInput

    from .syntax_errors import lex_diagnostic, parse_diagnostic

    try:
        return build.parse_with_lark(lark_parser(), text, _max_statements.get())
    except LexError as e:
        raise SpecError([lex_diagnostic(e)], source) from None
    except UnexpectedInput as e:
        raise SpecError([parse_diagnostic(e, source)], source) from None


def _reductions(table: Any) -> Reductions:
    return Reductions(table, _Build(), _STATEMENTS | _EXPRESSIONS, _CHAINS,
                      counted=_STATEMENTS | _COUNTED)


@functools.cache
def _compiled() -> tuple[Reductions, Lexers] | None:
    """The parser over the shipped tables (None where they do not match the grammar)."""
    loaded = load()
    if loaded is None:
        return None
    table, lexers = loaded
    return _reductions(table), lexers


@functools.cache
def _with_lark() -> Reductions:
    return _reductions(lark_table(lark_parser()))


_max_statements: ContextVar[int] = ContextVar("max_statements", default=DEFAULT_MAX_STATEMENTS)


def max_statements() -> int:
    """The statement limit now (``--max-statements``; see :func:`statement_limit`)."""
    return _max_statements.get()


@contextmanager
def statement_limit(limit: int) -> Iterator[None]:
    """Parse specs of up to ``limit`` statements inside the ``with`` block (the CLI's
    ``--max-statements``): ``with xdsl.parser.statement_limit(20_000): xdsl.check(path)``."""
    if limit < 1:
        raise ValueError(f"the statement limit must be positive, not {limit}")
    token = _max_statements.set(limit)
    try:
        yield
    finally:
        _max_statements.reset(token)


def _too_many(e: TooMany, limit: int) -> Diagnostic:
    return Diagnostic(f"the spec has more than {limit:,} statements", span_of(e.node),
                      notes=("statements: each layer or block call, `repeat`, `residual`, "
                             "`if`, merge, `branch`, `output`, block, flow, input, defaults "
                             "rule and audit line",),
                      hint="write repeated layers with `repeat` or a block, or raise the limit "
                           "(--max-statements)")


_STATEMENTS = frozenset({"repeat", "residual", "merge", "branch", "if_stmt", "output",
                         "block_def", "flow"})
_COUNTED = frozenset({"simple_stmt", "input_decl", "default_rule", "audit_item"})
"""With :data:`_STATEMENTS`: what the statement limit counts."""
_EXPRESSIONS = frozenset({"paren", "ternary", "not_", "size", "call"})
_CHAINS = {"arith": 2, "compare": 2, "or_": 1, "and_": 1}
"""Operator chains (``a + b - c``): a left-nested operation per operator; the step between
operands in the children (2 where the operator tokens are kept)."""


def _too_deep(root: Tree) -> Diagnostic | None:
    """The first place (in source order) nested deeper than :data:`MAX_NESTING` levels, walked
    without recursion. A chain of n operators nests n levels: ``a + b + c`` is ``(a + b) + c``."""
    from lark import Tree

    stack: list[tuple[Tree, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        kind = str(node.data)
        children = [c for c in node.children if isinstance(c, Tree)]
        if kind in _STATEMENTS or kind in _EXPRESSIONS:
            depth += 1
            if depth > MAX_NESTING:
                what = "statements nest" if kind in _STATEMENTS else "this expression nests"
                return Diagnostic(f"{what} too deeply (more than {MAX_NESTING} levels)",
                                  _start(node), hint=_NESTING_HINT)
        elif kind in _CHAINS:
            operands = node.children[::_CHAINS[kind]]
            ops = len(operands) - 1
            if depth + ops > MAX_NESTING:
                return Diagnostic(f"this expression nests too deeply (more than {MAX_NESTING} "
                                  "levels)",
                                  _start(node), notes=(f"a chain of {ops:,} operators counts "
                                                       f"{ops:,} levels",), hint=_NESTING_HINT)
            # operand j sits under the operators after it: the first two under all of them
            stack.extend((c, depth + ops - max(j - 1, 0)) for j, c in
                         reversed(list(enumerate(operands))) if isinstance(c, Tree))
            continue
        stack.extend((c, depth) for c in reversed(children))
    return None


_NESTING_HINT = ("flatten it: split a long expression with parameters, or move nested "
                 "statements into a block")


def _start(node: Tree) -> Span | None:
    """Where a subtree starts: its first token (a parenthesis, a keyword, an operand)."""
    meta = node.meta
    return None if meta.empty else Span.point(meta.line, meta.column)


def too_deep(source: Source | None, span: Span | None = None,
             trace: tuple[Note, ...] = ()) -> SpecError:
    """Python's recursion limit reached despite the limits on nesting: refused, not crashed on
    (a backstop: the nesting limits keep every stage well below it)."""
    return SpecError([Diagnostic("the spec nests too deeply", span, trace=trace,
                                 hint="flatten the expressions or the blocks")], source)


def parse(text: str, name: str = "<string>") -> t.Network | t.Variant:
    return parse_source(Source(text, name))
