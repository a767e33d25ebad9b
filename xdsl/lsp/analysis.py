"""One document's analysis: the CLI's pipeline (parse, validate, graph) run on its text at the
editor's parameter settings, and an index of what it found.

The index maps places in the text to what they built: every statement elaborated (a layer, a
block call, a repeat, a residual ...) to the graph nodes it made, one node range per time it
was elaborated (a block called three times, a repeat's iterations), and every name written (a
block, a parameter, a tensor) to its symbol, for hovers, inlay hints and navigation.

Positions here are 0-based lines and 0-based *character* offsets in a line; the server turns
them into the protocol's UTF-16 units (:class:`Lines`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from xdsl import tree as t
from xdsl.api import Spec, _variant
from xdsl.diagnostics import Diagnostic, Note, Source, Span, SpecError
from xdsl.graph import Limits, _Abort, _Builder, _Frame, check_activation_memory
from xdsl.layergraph import GraphIR
from xdsl.params import ParamError, resolve_params
from xdsl.parser import parse_source, too_deep
from xdsl.validate import validate

Key = tuple[str, str, str]
"""A symbol: (kind, container, name); kind is ``block``, ``param``, ``tensor``, ``flow`` or
``network``; the container is the block that declares it ('' for the network)."""


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as the paper's diagrams print it: ``728 × 19 × 19``."""
    return " × ".join(map(str, shape))


# ---- the graph, with what each statement built ------------------------------------------------


@dataclass
class Record:
    """A statement and what its elaborations built: node ranges ``[start, end)`` in build order
    and the node each one returned (its output; None when it failed or was skipped)."""

    span: Span
    kind: str
    """``layer``, ``then`` (a layer a ``defaults`` rule appends), ``call``, ``repeat``,
    ``residual``, ``merge``, ``if`` or ``output``."""
    ranges: list[tuple[int, int]] = field(default_factory=list)
    outputs: list[str | None] = field(default_factory=list)
    repeat_ids: list[int] = field(default_factory=list)

    def contains(self, line: int, char: int) -> bool:
        return _contains(self.span, line, char)

    def size(self) -> tuple[int, int]:
        return (self.span.end_line - self.span.line, self.span.end_column - self.span.column)


def _contains(span: Span, line: int, char: int) -> bool:
    start, end = (span.line - 1, span.column - 1), (span.end_line - 1, span.end_column)
    return start <= (line, char) < end or (line, char) == end


def _key(span: Span) -> tuple[int, int, int, int]:
    return (span.line, span.column, span.end_line, span.end_column)


class _Recorder(_Builder):
    """The graph builder, noting which nodes each statement builds."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.records: dict[tuple[tuple[int, int, int, int], str], Record] = {}

    def _note(self, span: Span, kind: str, start: int, out: str | None,
              uid: int | None = None) -> None:
        record = self.records.setdefault((_key(span), kind), Record(span, kind))
        record.ranges.append((start, self.g.number_of_nodes()))
        record.outputs.append(out)
        if uid is not None:
            record.repeat_ids.append(uid)

    def _op(self, op: t.Op, cur: str | None, scope: tuple[str, ...], frame: _Frame,
            then: bool = True) -> str | None:
        start = self.g.number_of_nodes()
        out = super()._op(op, cur, scope, frame, then)
        kind = "call" if op.name in self.blocks else "layer" if then else "then"
        self._note(op.span, kind, start, out)
        return out

    def _stmt(self, s: t.Stmt, cur: str | None, scope: tuple[str, ...], frame: _Frame,
              collapse: bool) -> str | None:
        if isinstance(s, t.Op):
            return super()._stmt(s, cur, scope, frame, collapse)
        start, uid = self.g.number_of_nodes(), len(self.g.graph["repeats"])
        out = super()._stmt(s, cur, scope, frame, collapse)
        repeats = self.g.graph["repeats"]
        made = uid if isinstance(s, t.Repeat) and uid in repeats else None
        self._note(s.span, s.kind, start, out, made)
        return out


def build(spec: Spec, params: Mapping[str, Any], limits: Limits
          ) -> tuple[GraphIR, list[Record]]:
    """``spec.graph(limits, **params)`` (the same checks, errors and notes) and its records."""
    net, source = spec.network, spec.source
    try:
        values = resolve_params(net, params, source)
        builder = _Recorder(net, values, limits, source)
        try:
            builder.build()
        except _Abort:
            pass
        except RecursionError:
            raise too_deep(source, builder.at, builder._chain()) from None
        builder.out.raise_if_any()
        check_activation_memory(builder.g, limits.max_activation_bytes, 1, source)
    except SpecError as e:
        if spec.origin:
            e = SpecError([replace(d, trace=(*d.trace, Note(f"while building {spec.origin}")))
                           for d in e.diagnostics])
        raise e.with_source(source) from None
    records = [replace(r, span=trimmed(r.span, source.lines)) if r.span.end_line > r.span.line
               else r for r in builder.records.values()]
    return builder.g, records


def code_end(line: str) -> int:
    """Where a line's code ends: before its comment and trailing blanks."""
    comment = next((m.start() for m in _TOKEN.finditer(line) if m[0].startswith("#")),
                   len(line))
    return len(line[:comment].rstrip())


def trimmed(span: Span, lines: list[str]) -> Span:
    """A statement's span ending at its last character of code (a compound statement's span
    reaches the start of the line after it)."""
    end_line, end_column = span.end_line, span.end_column
    while end_line > span.line:
        text = lines[end_line - 1] if end_line <= len(lines) else ""
        if code_end(text[:end_column]) > 0:
            break
        end_line -= 1
        end_column = len(lines[end_line - 1]) if end_line <= len(lines) else 0
    text = lines[end_line - 1][:end_column] if end_line <= len(lines) else ""
    end_column = max(code_end(text), span.column if end_line == span.line else 1)
    return Span(line=span.line, column=span.column, end_line=end_line, end_column=end_column)


# ---- names in the text ------------------------------------------------------------------------

_TOKEN = re.compile(r'"[^"\n]*"?|#.*|\d[\w.]*|([A-Za-z_][A-Za-z0-9_]*)')


def tokens(line: str) -> list[tuple[int, int, str]]:
    """The names on a line (not in comments, strings or numbers): (start, end, text)."""
    return [(m.start(1), m.end(1), m[1]) for m in _TOKEN.finditer(line) if m[1]]


@dataclass(frozen=True)
class Occurrence:
    key: Key
    line: int
    start: int
    end: int
    definition: bool = False
    owner: Span | None = None
    """For a tensor's definition: the statement that defines it."""
    part: int = 0
    """For a tensor's definition: which of a split's parts (0: the first or the only one)."""

    @property
    def name(self) -> str:
        return self.key[2]


class Symbols:
    """Every name written in a network spec, resolved to the symbol it stands for."""

    def __init__(self, net: t.Network, lines: list[str]):
        self.net = net
        self.lines = lines
        self.toks = [tokens(line) for line in lines]
        self.occurrences: list[Occurrence] = []
        self.blocks = {b.name: b for b in net.blocks}
        self._network()
        self.by_line: dict[int, list[Occurrence]] = {}
        for o in self.occurrences:
            self.by_line.setdefault(o.line, []).append(o)

    # -- lookups -----------------------------------------------------------------------------

    def at(self, line: int, char: int) -> Occurrence | None:
        return next((o for o in self.by_line.get(line, ()) if o.start <= char <= o.end), None)

    def of(self, key: Key) -> list[Occurrence]:
        return [o for o in self.occurrences if o.key == key]

    def definition(self, key: Key) -> Occurrence | None:
        return next((o for o in self.occurrences if o.key == key and o.definition), None)

    # -- finding names in a span ---------------------------------------------------------------

    def _in(self, span: Span) -> Iterator[tuple[int, int, int, str]]:
        for line in range(span.line - 1, min(span.end_line, len(self.toks))):
            for start, end, text in self.toks[line]:
                if line == span.line - 1 and start < span.column - 1:
                    continue
                if line == span.end_line - 1 and start >= span.end_column:
                    return
                yield line, start, end, text

    def _find(self, span: Span, words: list[str]) -> list[tuple[int, int, int]]:
        """The places of ``words`` written one after the other (first match) in ``span``."""
        found = list(self._in(span))
        for i in range(len(found) - len(words) + 1):
            if all(found[i + k][3] == w for k, w in enumerate(words)):
                return [found[i + k][:3] for k in range(len(words))]
        return []

    def _add(self, key: Key, place: tuple[int, int, int] | None, definition: bool = False,
             owner: Span | None = None, part: int = 0) -> None:
        if place is not None:
            self.occurrences.append(Occurrence(key, *place, definition, owner, part))

    def _at_span(self, span: Span, name: str) -> tuple[int, int, int]:
        start = span.column - 1
        return span.line - 1, start, start + len(name)

    # -- the tree ------------------------------------------------------------------------------

    def _network(self) -> None:
        net = self.net
        found = self._find(net.span, ["network", net.name])
        self._add(("network", "", net.name), found[1] if found else None, True)
        top = {p.name: ("param", "", p.name) for p in net.params}
        for p in net.params:
            self._add(top[p.name], self._at_span(p.span, p.name), True)
            self._expr(p.default, [top], "", set())
        tensors = self._tensors(s for s in net.body)
        tensors |= {i.name for i in net.inputs}
        for inp in net.inputs:
            found = self._find(inp.span, ["input", inp.name])
            self._add(("tensor", "", inp.name), found[1] if found else None, True, inp.span)
            self._expr(inp.shape, [top], "", set())
        for rule in net.defaults:
            for kw in rule.kwargs:
                self._expr(kw.value, [top], "", set())
            self._expr(rule.cond, [top], "", set())
            for op in rule.then:
                self._stmt(op, [top], "", set())
        for block in net.blocks:
            found = self._find(block.span, ["block", block.name])
            self._add(("block", "", block.name), found[1] if found else None, True)
            own = {p.name: ("param", block.name, p.name) for p in block.params}
            for p in block.params:
                self._add(own[p.name], self._at_span(p.span, p.name), True)
                self._expr(p.default, [top, own], block.name, set())
            inner = self._tensors(block.body)
            for s in block.body:
                self._stmt(s, [top, own], block.name, inner)
        for section in net.body:
            if isinstance(section, t.Flow):
                found = self._find(section.span, ["flow", section.name])
                self._add(("flow", "", section.name), found[1] if found else None, True)
                for s in section.body:
                    self._stmt(s, [top], "", tensors)
            else:
                self._stmt(section, [top], "", tensors)
        for audit in net.audits:
            for arg in audit.settings:
                if arg.name in top:
                    self._add(top[arg.name], self._at_span(arg.span, arg.name))
                self._expr(arg.value, [top], "", set())

    def _tensors(self, stmts: Any) -> set[str]:
        from xdsl.validate import walk_stmts

        names: set[str] = set()
        for s in walk_stmts(list(stmts)):
            if isinstance(s, t.Output):
                names.add(s.name)
            elif getattr(s, "alias", None):
                names.add(s.alias)  # type: ignore[arg-type]
            names.update(getattr(s, "parts", ()))
        return names

    def _expr(self, expr: t.Expr | None, scopes: list[dict[str, Key]], container: str,
              tensors: set[str]) -> None:
        from xdsl.validate import expr_names

        for name in expr_names(expr):
            key = self._resolve(name.id, scopes, container, tensors)
            if key is not None:
                self._add(key, self._at_span(name.span, name.id))

    def _resolve(self, name: str, scopes: list[dict[str, Key]], container: str,
                 tensors: set[str]) -> Key | None:
        for scope in reversed(scopes):
            if name in scope:
                return scope[name]
        if name in tensors:
            return ("tensor", container, name)
        return None

    def _stmt(self, s: t.Stmt, scopes: list[dict[str, Key]], container: str,
              tensors: set[str]) -> None:
        match s:
            case t.Op():
                self._op(s, scopes, container, tensors)
            case t.Repeat():
                self._expr(s.count, scopes, container, tensors)
                inner = scopes
                if s.index is not None:
                    key = ("param", f"{container}@{s.span.line}:{s.span.column}", s.index)
                    found = self._find(s.span, ["as", s.index])
                    self._add(key, found[1] if found else None, True)
                    inner = [*scopes, {s.index: key}]
                for b in s.body:
                    self._stmt(b, inner, container, tensors)
            case t.Residual():
                for op in s.shortcut:
                    self._op(op, scopes, container, tensors)
                self._alias(s, s.alias, container)
                self._expr(s.cond, scopes, container, tensors)
                for b in s.body:
                    self._stmt(b, scopes, container, tensors)
            case t.Merge():
                self._alias(s, s.alias, container)
                for branch in s.branches:
                    for b in branch.body:
                        self._stmt(b, scopes, container, tensors)
            case t.If():
                self._expr(s.cond, scopes, container, tensors)
                for b in [*s.then, *s.orelse]:
                    self._stmt(b, scopes, container, tensors)
            case t.Output():
                found = self._find(s.span, ["output", s.name])
                self._add(("tensor", container, s.name), found[1] if found else None, True,
                          s.span)
                for b in s.body:
                    self._stmt(b, scopes, container, tensors)

    def _alias(self, s: t.Node, alias: str | None, container: str) -> None:
        if alias:
            found = self._find(s.span, ["as", alias])
            self._add(("tensor", container, alias), found[1] if found else None, True, s.span)

    def _op(self, op: t.Op, scopes: list[dict[str, Key]], container: str,
            tensors: set[str]) -> None:
        block = self.blocks.get(op.name)
        if block is not None:
            self._add(("block", "", op.name), self._at_span(op.name_span, op.name))
        for arg in op.args:
            if arg.name is not None and block is not None and \
                    any(p.name == arg.name for p in block.params):
                self._add(("param", op.name, arg.name), self._at_span(arg.span, arg.name))
            self._expr(arg.value, scopes, container, tensors)
        if op.source is not None:
            found = self._find(op.span, ["from", op.source])
            self._add(("tensor", container, op.source), found[1] if found else None)
        if op.alias:
            found = self._find(op.span, ["as", op.alias, *op.parts])
            for i, name in enumerate([op.alias, *op.parts]):
                self._add(("tensor", container, name), found[i + 1] if found else None, True,
                          op.span, i)
        self._expr(op.cond, scopes, container, tensors)


# ---- the analysis ------------------------------------------------------------------------------


@dataclass
class Problem:
    """A diagnostic and the source its span points into."""

    diagnostic: Diagnostic
    source: Source | None


@dataclass
class Analysis:
    text: str
    source: Source
    tree: t.Network | t.Variant | None = None
    spec: Spec | None = None
    graph: GraphIR | None = None
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    symbols: Symbols | None = None
    settings: dict[str, str] = field(default_factory=dict)
    """The editor's settings that apply to this spec (names it declares)."""
    order: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.graph is not None

    @property
    def lines(self) -> list[str]:
        return self.source.lines

    def node(self, name: str) -> Any:
        assert self.graph is not None
        return self.graph.nodes[name]["node"]

    def nodes(self, record: Record) -> list[Any]:
        """The nodes a statement built, each once, in build order."""
        seen: dict[int, None] = {}
        for start, end in record.ranges:
            seen.update(dict.fromkeys(range(start, end)))
        return [self.node(self.order[i]) for i in seen]

    def records_at(self, line: int, char: int) -> list[Record]:
        """The statements around a position, innermost first (for a variant: none here,
        its layers are written in its base)."""
        if self.spec is None or self.spec.audit_source is not None:
            return []
        found = [r for r in self.records if r.contains(line, char)]
        return sorted(found, key=Record.size)

    def totals(self) -> dict[str, int]:
        from xdsl.graph import totals

        assert self.graph is not None
        return totals(self.graph)


def analyze(text: str, path: str | None, settings: Mapping[str, Any] | None = None,
            limits: Limits | None = None) -> Analysis:
    """Run the pipeline on ``text`` (the file at ``path``, if any): never raises."""
    source = Source(text, path or "<untitled>", path)
    result = Analysis(text, source)
    try:
        _run(result, dict(settings or {}), limits or Limits())
    except SpecError as e:
        result.problems = [Problem(d, e.source or source) for d in e.diagnostics]
    except ParamError as e:
        result.problems = [Problem(Diagnostic(f"setting: {e}", _header(result)), source)]
    except Exception as e:  # a bug in xdsl: shown, never a crash of the server
        result.graph = None
        result.problems = [Problem(Diagnostic(
            f"xdsl: internal error: {type(e).__name__}: {e}", _header(result),
            hint="This is a bug in xdsl; `xdsl check` with XDSL_DEBUG=1 shows the traceback."),
            source)]
    return result


def _header(result: Analysis) -> Span:
    line = result.tree.span.line if result.tree is not None else 1
    return Span(line=line, column=1, end_line=line,
                end_column=max(1, len(result.source.line(line))))


def _run(result: Analysis, settings: dict[str, Any], limits: Limits) -> None:
    source = result.source
    tree = result.tree = parse_source(source)
    if isinstance(tree, t.Variant):
        spec = _variant(tree, source, ())
    else:
        result.symbols = Symbols(tree, source.lines)
        validate(tree, source)
        spec = Spec(tree, source, files=(source.path,) if source.path else ())
    result.spec = spec
    declared = {p.name for p in spec.network.params}
    result.settings = {k: v for k, v in settings.items() if k in declared}
    graph, records = build(spec, result.settings, limits)
    result.graph, result.records, result.order = graph, records, list(graph.nodes)


# ---- positions ---------------------------------------------------------------------------------


class Lines:
    """Characters ↔ the protocol's UTF-16 code units, per line."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def line(self, n: int) -> str:
        return self.lines[n] if 0 <= n < len(self.lines) else ""

    def to_utf16(self, line: int, char: int) -> int:
        text = self.line(line)[:char]
        return char + sum(1 for c in text if ord(c) > 0xFFFF)

    def from_utf16(self, line: int, units: int) -> int:
        count = 0
        for i, c in enumerate(self.line(line)):
            if count >= units:
                return i
            count += 2 if ord(c) > 0xFFFF else 1
        return len(self.line(line))
