"""Syntax tree → canonical spec text (``xdsl fmt``), comments preserved; fingerprints.

The canonical form: four-space indentation, layers in space form (``conv 32 3x3 stride=2``),
block calls and merges in call form (``down(128, 128)``, ``add(skip)``), minimal parentheses,
one blank line where the source had any.  The author's grouping is kept: statements written on
one line with ``;`` stay on one line, and a block body written after its ``:`` stays there.
Comments stay in front of the statement they preceded, or at the end of its line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import tree as t
from .diagnostics import Source
from .evaluate import describe_settings

INDENT = "    "
WIDTH = 100

# Binding strength of each operator: higher binds tighter.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
               "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}


# ---- expressions -------------------------------------------------------------------------------


def expr(e: t.Expr, context: int = 0) -> str:
    """Print ``e``; parenthesise it when it binds more loosely than ``context``."""
    match e:
        case t.Num(value=v):
            return _number(v)
        case t.Str(value=v):
            return f'"{v}"'
        case t.Name(id=name):
            return name
        case t.SizeLit(items=items):
            if len(items) == 2 and all(isinstance(i, t.Num) and isinstance(i.value, int)
                                       for i in items):
                text = "x".join(str(i.value) for i in items)  # type: ignore[union-attr]
            else:  # shapes (3 x 299 x 299) and sizes built from expressions (k x k)
                text = " x ".join(expr(i, 7) for i in items)
                return f"({text})" if context > 0 else text
            return text
        case t.Not(operand=o):
            text = f"not {expr(o, _PRECEDENCE['not'])}"
            return f"({text})" if context > _PRECEDENCE["not"] else text
        case t.Ternary(cond=c, then=a, orelse=b):
            return f"({expr(a)} if {expr(c)} else {expr(b)})"
        case t.Call(func=func, args=args):
            return f"{func}({', '.join(arg(a) for a in args)})"
        case t.BinOp(op=op, left=left, right=right):
            p = _PRECEDENCE[op]
            # comparisons do not chain; arithmetic is left-associative
            right_ctx = p + 1 if p != 4 else p + 1
            left_ctx = p if p != 4 else p + 1
            text = f"{expr(left, left_ctx)} {op} {expr(right, right_ctx)}"
            return f"({text})" if context > p else text
    raise AssertionError(e)  # pragma: no cover


def _number(v: int | float) -> str:
    """Python's shortest round-trip digits, the exponent unpadded: ``1e-6``, not ``1e-06``."""
    if isinstance(v, float):
        mantissa, e, exponent = repr(v).partition("e")
        if e:  # Python pads the exponent to two digits and writes its plus sign
            sign = "-" if exponent.startswith("-") else ""
            return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0')}"
        return mantissa if "." in mantissa else mantissa + ".0"
    return str(v)


def arg(a: t.Arg) -> str:
    return f"{a.name}={expr(a.value)}" if a.name else expr(a.value)


def op(o: t.Op, blocks: set[str]) -> str:
    words = ["global"] if o.is_global else []
    if o.name in blocks or o.name in ("add", "concat", "mul") or (
            o.name == "split" and len([a for a in o.args if a.name is None]) > 1):
        if len(o.args) == 1 and not o.args[0].name and isinstance(o.args[0].value, t.Ternary):
            words.append(f"{o.name}{expr(o.args[0].value)}")  # its parentheses are the call's
        else:
            words.append(f"{o.name}({', '.join(arg(a) for a in o.args)})")
    else:
        words.append(o.name)
        words += [arg(a) for a in o.args]
    if o.source:
        words.append(f"from {o.source}")
    alias = ", ".join([o.alias, *o.parts]) if o.alias else None
    return " ".join(words + _tail(alias, o.cond))


def _tail(alias: str | None, cond: t.Expr | None) -> list[str]:
    """The ``as NAME`` and ``if COND`` a statement ends with."""
    return ([f"as {alias}"] if alias else []) + ([f"if {expr(cond)}"] if cond else [])


# ---- statements ---------------------------------------------------------------------------------


@dataclass
class Line:
    text: str
    source: int | None  # the spec line it was printed from, for blank lines and comments


class _Printer:
    def __init__(self, net: t.Network | t.Variant):
        self.blocks = {b.name for b in net.blocks} if isinstance(net, t.Network) else set()
        self.lines: list[Line] = []

    def emit(self, depth: int, text: str, source: int | None) -> None:
        self.lines.append(Line(INDENT * depth + text, source))

    def suite(self, depth: int, header: str, body: list[t.Stmt], line: int) -> None:
        """``header:`` then the body: inline when the source had it on the header's line."""
        inline = self.inline(body, line)
        if inline is not None:
            self.emit(depth, f"{header}: {inline}", line)
        else:
            self.emit(depth, f"{header}:", line)
            self.stmts(depth + 1, body)

    def inline(self, body: list[t.Stmt], line: int) -> str | None:
        if not body or body[0].span.line != line:
            return None
        if all(isinstance(s, t.Op) and s.span.line == line for s in body):
            return "; ".join(op(s, self.blocks) for s in body)  # type: ignore[arg-type]
        if len(body) == 1 and isinstance(body[0], t.Repeat | t.Residual):
            inner = self.inline(body[0].body, line)
            if inner is not None:
                return f"{self.header(body[0])}: {inner}"
        return None

    def header(self, s: t.Repeat | t.Residual) -> str:
        if isinstance(s, t.Repeat):
            return f"repeat {expr(s.count)}" + (f" as {s.index}" if s.index else "")
        words = ["residual"]
        if s.shortcut:
            words.append(f"project({'; '.join(op(o, self.blocks) for o in s.shortcut)})")
        words += _tail(s.alias, s.cond)
        return " ".join(words + ([f"else {s.otherwise}"] if s.otherwise else []))

    def stmts(self, depth: int, body: Iterable[t.Stmt | t.Flow]) -> None:
        group: list[t.Op] = []

        def flush() -> None:
            if group:
                self.emit(depth, "; ".join(op(o, self.blocks) for o in group),
                          group[0].span.line)
                group.clear()

        for s in body:
            if isinstance(s, t.Op):
                if group and group[-1].span.line != s.span.line:
                    flush()
                group.append(s)
                continue
            flush()
            self.stmt(depth, s)
        flush()

    def stmt(self, depth: int, s: t.Stmt | t.Flow) -> None:
        line = s.span.line
        match s:
            case t.Flow(name=name, body=body):
                self.suite(depth, f"flow {name}", body, line)
            case t.Repeat() | t.Residual():
                self.suite(depth, self.header(s), s.body, line)
            case t.Output(name=name, body=body):
                self.suite(depth, f"output {name}", body, line)
            case t.Merge(mode=mode, alias=alias, branches=branches):
                self.emit(depth, mode + (f" as {alias}" if alias else "") + ":", line)
                for b in branches:
                    name = f"branch {b.name}" if b.name else "branch"
                    self.suite(depth + 1, name, b.body, b.span.line)
            case t.If(cond=cond, then=then, orelse=orelse):
                self.suite(depth, f"if {expr(cond)}", then, line)
                if orelse:
                    else_line = s.else_span.line if s.else_span else orelse[0].span.line - 1
                    self.suite(depth, "else", orelse, else_line)

    # ---- declarations ---------------------------------------------------------------------

    def params(self, head: str, params: list[t.Param], tail: str, line: int) -> None:
        items = [self.param(p) for p in params]
        one = f"{head}({', '.join(items)}){tail}" if params else f"{head}{tail}"
        if len(one) <= WIDTH or not params:
            self.emit(0, one, line)
            return
        indent = " " * (len(head) + 1)
        current = f"{head}({items[0]}"
        for item in items[1:]:
            if len(current) + len(item) + 3 > WIDTH:  # ", " before it, "," after
                self.emit(0, current + ",", line)
                current = indent + item
            else:
                current += ", " + item
        self.emit(0, current + f"){tail}", line)

    @staticmethod
    def param(p: t.Param) -> str:
        text = p.name
        if p.type == "choice":
            text += f": choice({', '.join(p.choices)})"
        elif p.type != "any":
            text += f": {p.type}"
        if p.default is not None:  # PEP 8 spacing: `c: int = 16`, `stride=1`
            text += f"{' = ' if p.type != 'any' else '='}{expr(p.default)}"
        return text

    def uses(self, uses: list[t.Use]) -> None:
        """``use a, b`` lines first, one per line of the source (a blank line follows)."""
        lines: dict[int, list[str]] = {}
        for u in uses:
            lines.setdefault(u.span.line, []).append(u.name)
        for line, names in lines.items():
            self.emit(0, f"use {', '.join(names)}", line)

    def network(self, net: t.Network) -> None:
        self.uses(net.uses)
        self.params(f"network {net.name}", net.params, ":", net.span.line)
        sections: list[tuple[int, Any]] = [(i.span.line, i) for i in net.inputs]
        if net.defaults:
            sections.append((net.defaults[0].span.line - 1, net.defaults))
        sections += [(b.span.line, b) for b in net.blocks]
        sections += [(s.span.line, s) for s in net.body]
        sections += [(a.span.line, a) for a in net.audits]
        pending: list[t.Stmt] = []  # statements directly in the network, printed together
        for _, section in sorted(sections, key=lambda x: x[0]):
            if isinstance(section, t.Op | t.Repeat | t.Residual | t.Merge | t.If | t.Output):
                pending.append(section)
                continue
            self.stmts(1, pending)
            pending = []
            match section:
                case t.Input(name=name, shape=shape):
                    self.emit(1, f"input {name}: {expr(shape)}", section.span.line)
                case list():
                    self.emit(1, "defaults:", section[0].span.line - 1)
                    texts = [self.rule(rule) for rule in section]
                    width = max(len(text) for text in texts)
                    for rule, text in zip(section, texts):
                        cond = f"    if {expr(rule.cond)}" if rule.cond is not None else ""
                        self.emit(2, text.ljust(width) + cond if cond else text,
                                  rule.span.line)
                case t.BlockDef(name=name, params=params, body=body):
                    header = f"block {name}({', '.join(self.param(p) for p in params)})"
                    self.suite(1, header, body, section.span.line)
                case t.Audit():
                    self.audit(1, section)
                case _:
                    self.stmts(1, [section])
        self.stmts(1, pending)

    def rule(self, rule: t.DefaultRule) -> str:
        items = [arg(a) for a in rule.kwargs]
        for o in rule.then:
            items.append(" ".join(["then", o.name, *(arg(a) for a in o.args)]))
        return f"{', '.join(rule.ops)}: {', '.join(items)}"

    def audit(self, depth: int, a: t.Audit) -> None:
        settings = f" ({', '.join(arg(s) for s in a.settings)})" if a.settings else ""
        self.emit(depth, f"audit{settings}:", a.span.line)
        rows = []
        for item in a.items:
            value = item.value
            counted = (item.metric != "output" and isinstance(value, t.Num)
                       and isinstance(value.value, int))
            shown = f"{value.value:,}" if counted else expr(value)  # type: ignore[union-attr]
            rows.append((("note " if not item.required else "") + f"{item.metric} = {shown}",
                         item))
        width = max(len(r) for r, _ in rows)
        for text, item in rows:
            source = f'  "{item.source}"' if item.source else ""
            self.emit(depth + 1, (text.ljust(width) + source).rstrip(), item.span.line)

    def variant(self, var: t.Variant) -> None:
        self.uses(var.uses)
        settings = f" ({', '.join(arg(s) for s in var.settings)})" if var.settings else ""
        head = f'variant {var.name} of "{var.base}"{settings}'
        self.emit(0, head + (":" if var.audits else ""), var.span.line)
        for a in var.audits:
            self.audit(1, a)


# ---- comments and layout ---------------------------------------------------------------------


def _split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of one source line; a ``#`` inside a string is not a comment. Only
    spaces and tabs are trimmed from a comment's end: any other character is its text."""
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_string = not in_string
        elif ch == "#" and not in_string:
            return line[:i].rstrip(), line[i:].rstrip(" \t")
    return line.rstrip(), ""


def _layout(lines: list[Line], source: Source) -> tuple[str, list[int | None]]:
    """Interleave the printed lines with the source's comments and blank lines; also the
    source line each output line comes from (None for blank lines)."""
    full: dict[int, str] = {}
    trailing: dict[int, str] = {}
    blank: set[int] = set()
    for number, text in enumerate(source.lines, start=1):
        code, comment = _split_comment(text)
        if not code.strip():
            if comment:
                full[number] = comment
            else:
                blank.add(number)
        elif comment:
            trailing[number] = comment
    out: list[str] = []
    origins: list[int | None] = []
    last = 0  # the last source line accounted for
    following: list[int] = []  # the next printed line's source line, for each printed line
    after = len(source.lines) + 1
    for line in reversed(lines):
        following.append(after)
        after = line.source if line.source is not None else after
    following.reverse()
    for i, line in enumerate(lines):
        indent = line.text[: len(line.text) - len(line.text.lstrip())]
        if line.source is not None and line.source > last:
            between = range(last + 1, line.source)
            gap = False
            for n in between:
                if n in blank:
                    gap = True
                elif n in full:
                    if gap and out:
                        out.append("")
                        origins.append(None)
                    gap = False
                    out.append(indent + full.pop(n))
                    origins.append(n)
            if gap and out and out[-1] != "":
                out.append("")
                origins.append(None)
            last = line.source
        text = line.text
        if line.source is not None:
            # its own line's comment, and those of the continuation lines it was printed from
            for n in range(line.source, max(following[i], line.source + 1)):
                if n in trailing:
                    text += "  " + trailing.pop(n)
        out.append(text)
        origins.append(line.source)
    leftovers = sorted([*full.items(), *trailing.items()])
    if leftovers:
        if out and out[-1]:
            out.append("")
            origins.append(None)
        out += [text for _, text in leftovers]
        origins += [n for n, _ in leftovers]
    while out and not out[-1]:
        out.pop()
        origins.pop()
    return "\n".join(out) + "\n", origins


def format_tree(net: t.Network | t.Variant, source: Source | None = None,
                comments: bool = True) -> str:
    """Canonical text of a syntax tree (with the comments of ``source`` when given)."""
    printer = _Printer(net)
    if isinstance(net, t.Variant):
        printer.variant(net)
    else:
        printer.network(net)
    if source is None or not comments:
        return "\n".join(line.text for line in printer.lines) + "\n"
    return _layout(printer.lines, source)[0]


def format_source(source: Source) -> str:
    """``xdsl fmt``: parse (raising SpecError on bad input), print canonically, and check that
    the text printed means the same and keeps every comment (:mod:`xdsl.roundtrip`): a spec
    error at the place it would get wrong, rather than a changed spec."""
    from .parser import parse_source, too_deep
    from .roundtrip import check

    tree = parse_source(source)
    printer = _Printer(tree)
    try:
        if isinstance(tree, t.Variant):
            printer.variant(tree)
        else:
            printer.network(tree)
    except RecursionError:
        raise too_deep(source) from None
    out, origins = _layout(printer.lines, source)
    check(source, tree, out, origins)
    return out


def fingerprint(net: t.Network | t.Variant, params: Mapping[str, Any] | None = None) -> str:
    """A short hash naming an exact architecture: the canonical form without comments, plus
    the parameter values it is built with."""
    text = format_tree(net, comments=False)
    settings = describe_settings(dict(sorted((params or {}).items())))
    digest = hashlib.sha256(f"{text}\n{settings}".encode()).hexdigest()
    return digest[:12]

