"""The grammar compiled to plain data, and the contextual lexer that runs it without lark.

lark turns ``grammar.lark`` into an LALR table and a *contextual* lexer: in each parser state
only the terminals that state accepts are tried, so a keyword is a name where no keyword can
stand (``output = 1000``). Building those from lark at every start costs more than the rest
of ``xdsl check``: importing lark, loading its cached parser and compiling one regular
expression per state (44 for Xception). So ``python tools/grammar_tables.py`` stores what lark
built in ``xdsl/_grammar_tables.py`` (the table, the rules as :class:`~xdsl.lalr.RuleInfo`, the
terminals' expressions in lark's order and, per state, the terminals its lexer tries and the
keywords a name becomes there); a test keeps the file equal to what the installed lark builds
from the grammar. :func:`tokens` then lexes as lark's ``ContextualLexer`` does:

- lark tries a state's terminals in one fixed order (priority, longest possible match, longest
  literal, name), and each state's list is that order with the others left out. One
  expression over *all* terminals in that order finds the first terminal that matches; when
  the state accepts it, it is the state's answer, and otherwise only the state's terminals
  after it are tried, one at a time.
- A keyword that a name's expression matches is not a terminal of its own: a name whose text
  is a keyword the state accepts becomes that keyword (lark's ``UnlessCallback``).

A text the fast path cannot lex or parse is parsed again by lark itself, whose errors the
diagnostics are made from (:func:`xdsl.parser.parse_source`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .lalr import RuleInfo, Table

FORMAT = 1
"""The layout of ``_grammar_tables.py``; a file of another layout is not used."""


class Tok(str):
    """A token: its text, terminal name and where it lies (lark's ``Token`` attributes: 1-based
    lines and columns, exclusive end column, character offsets)."""

    __slots__ = ("type", "start_pos", "line", "column", "end_line", "end_column", "end_pos")

    type: str
    start_pos: int | None
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    end_pos: int | None

    def __new__(cls, type: str, value: str, start_pos: int | None = None,  # noqa: A002
                line: int | None = None, column: int | None = None,
                end_line: int | None = None, end_column: int | None = None,
                end_pos: int | None = None) -> Tok:
        self = super().__new__(cls, value)
        self.type, self.start_pos, self.line, self.column = type, start_pos, line, column
        self.end_line, self.end_column, self.end_pos = end_line, end_column, end_pos
        return self

    @classmethod
    def new_borrow_pos(cls, type: str, value: str, borrow: Any) -> Tok:  # noqa: A002
        return cls(type, value, borrow.start_pos, borrow.line, borrow.column, borrow.end_line,
                   borrow.end_column, borrow.end_pos)

    @property
    def value(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Tok({self.type!r}, {str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Tok, (self.type, str(self), self.start_pos, self.line, self.column,
                      self.end_line, self.end_column, self.end_pos))


class Lexers:
    """The compiled lexers: one expression over every terminal, each terminal's own expression
    (compiled when first needed), and per parser state the terminals tried and keywords."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.order: list[str] = [name for name, _ in data["terminals"]]
        self.index = {name: i for i, name in enumerate(self.order)}
        self.sources = dict(data["terminals"])
        flags = data["flags"]
        self.flags = flags
        self.master = re.compile("|".join(f"(?P<{name}>{source})"
                                          for name, source in data["terminals"]), flags)
        self._single: dict[str, re.Pattern[str]] = {}
        self.ignore = frozenset(data["ignore"])
        self.newline = frozenset(data["newline"])
        # per lexer: (accepted terminals, [their indexes in order], {name terminal: {text: kw}})
        self.lexers = [(frozenset(names), sorted(self.index[n] for n in names), unless)
                       for names, unless in data["lexers"]]
        self.of_state: dict[Any, int] = data["state_lexer"]

    def single(self, name: str) -> re.Pattern[str]:
        pattern = self._single.get(name)
        if pattern is None:
            pattern = self._single[name] = re.compile(self.sources[name], self.flags)
        return pattern


class Unlexable(Exception):
    """No terminal the state accepts matches here (lark's run reports it)."""


def tokens(lexers: Lexers, text: str, state_stack: list[Any]) -> Iterator[Tok]:
    """The tokens of ``text``, each lexed in the state the parser is in when it asks
    (``state_stack[-1]``), as lark's contextual lexer gives them (ignored terminals dropped)."""
    master, order, single = lexers.master, lexers.order, lexers.single
    ignore, newline = lexers.ignore, lexers.newline
    all_lexers, of_state = lexers.lexers, lexers.of_state
    pos, line, line_start, end = 0, 1, 0, len(text)
    while pos < end:
        accepted, indexes, unless = all_lexers[of_state[state_stack[-1]]]
        m = master.match(text, pos)
        if m is None:
            raise Unlexable(pos)
        kind = m.lastgroup
        assert kind is not None
        if kind in accepted:
            value = m.group()
        else:  # the first terminal that matches is not tried here: try the state's later ones
            after = lexers.index[kind]
            for i in indexes:
                if i > after:
                    found = single(order[i]).match(text, pos)
                    if found is not None:
                        kind, value = order[i], found.group()
                        break
            else:
                raise Unlexable(pos)
        column = pos - line_start + 1
        start, start_line = pos, line
        pos += len(value)
        if kind in newline:
            count = value.count("\n")
            if count:
                line += count
                line_start = start + value.rindex("\n") + 1
        if kind in ignore:
            continue
        if kind in unless:
            kind = unless[kind].get(value, kind)
        yield Tok(kind, value, start, start_line, column, line, pos - line_start + 1, pos)


# ---- the compiled grammar ----------------------------------------------------------------------


def grammar_text() -> str:
    """``grammar.lark``: read beside this module (quick), else through importlib.resources
    (an install that keeps its files in an archive)."""
    try:
        return Path(__file__).with_name("grammar.lark").read_text(encoding="utf-8")
    except OSError:
        from importlib import resources

        return resources.files("xdsl").joinpath("grammar.lark").read_text(encoding="utf-8")


def grammar_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load() -> tuple[Table, Lexers] | None:
    """The shipped tables, or None where they are missing, of another layout or of another
    grammar (the parser then runs lark's: slower, the same trees)."""
    try:
        from . import _grammar_tables as shipped
    except ImportError:
        return None
    if shipped.FORMAT != FORMAT or shipped.GRAMMAR != grammar_hash(grammar_text()):
        return None
    states, start, stop, rules = shipped.TABLE
    table = Table(states, start, stop, [RuleInfo(*r) for r in rules])
    return table, Lexers(shipped.LEXERS)


def compile_grammar() -> dict[str, Any]:
    """What lark builds from the grammar, as plain data (imports lark)."""
    from lark.lexer import PatternStr

    from .lalr import lark_table
    from .lexer import lark_parser

    parser = lark_parser()
    table = lark_table(parser)
    contextual = parser.parser.lexer.lexer  # the post-lexer's connector holds lark's lexer
    order: list[Any] = []  # terminals in lark's order: each state's lexer keeps it
    lexers: list[tuple[list[str], dict[str, dict[str, str]]]] = []
    number: dict[int, int] = {}
    state_lexer: dict[Any, int] = {}
    ignore: set[str] = set()
    newline: set[str] = set()
    for state, basic in contextual.lexers.items():
        if id(basic) not in number:
            scanner = basic.scanner  # builds it: the terminals tried, in order, and keywords
            names = [t.name for t in scanner.terminals]
            unless: dict[str, dict[str, str]] = {}
            for kind, callback in basic.callback.items():
                words: dict[str, str] = {}
                for term in callback.scanner.terminals:
                    if not isinstance(term.pattern, PatternStr) or term.pattern.flags:
                        raise ValueError(f"keyword {term.name} is not a plain string")
                    words.setdefault(term.pattern.value, term.name)
                unless[kind] = words
            for term in scanner.terminals:
                if term not in order:
                    order.append(term)
            if basic.g_regex_flags != parser.lexer_conf.g_regex_flags:
                raise ValueError("lexers with different flags")
            number[id(basic)] = len(lexers)
            lexers.append((names, unless))
            ignore |= basic.ignore_types
            newline |= basic.newline_types
        state_lexer[state] = number[id(basic)]
    order.sort(key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
    rank = {t.name: i for i, t in enumerate(order)}
    for names, _ in lexers:  # each lexer's order is the common order, others left out
        if [rank[n] for n in names] != sorted(rank[n] for n in names):
            raise ValueError("a state's lexer tries terminals out of the common order")
    # lark numbers states, rules and lexers as its sets happen to iterate (it varies with
    # the hash seed): renumber them in a walk from the start state, symbols in sorted order,
    # so that the same grammar always gives the same file
    renumber: dict[Any, int] = {table.start: 0}
    walk = [table.start]
    for state in walk:
        for symbol in sorted(table.states[state]):
            shift, arg = table.states[state][symbol]
            if shift and arg not in renumber:
                renumber[arg] = len(renumber)
                walk.append(arg)
    if len(renumber) != len(table.states):
        raise ValueError("states the start state does not reach")
    rule_number: dict[int, int] = {}
    states: dict[int, dict[str, Any]] = {}
    for state in walk:
        row: dict[str, Any] = {}
        for symbol in sorted(table.states[state]):
            shift, arg = table.states[state][symbol]
            if shift:
                row[symbol] = (True, renumber[arg])
            else:
                rule, size, origin = arg
                rule_number.setdefault(rule, len(rule_number))
                row[symbol] = (False, (rule_number[rule], size, origin))
        states[renumber[state]] = row
    rules = [tuple(table.rules[old]) for old in sorted(rule_number, key=rule_number.get)]
    lexer_number: dict[int, int] = {}
    for state in walk:
        lexer_number.setdefault(state_lexer[state], len(lexer_number))
    ordered = sorted(lexer_number, key=lexer_number.get)
    return {
        "table": (states, 0, renumber[table.end], rules),
        "lexers": {"terminals": [(t.name, t.pattern.to_regexp()) for t in order],
                   "flags": parser.lexer_conf.g_regex_flags,
                   "ignore": sorted(ignore), "newline": sorted(newline),
                   "lexers": [(sorted(lexers[i][0], key=rank.__getitem__),
                               {k: dict(sorted(v.items())) for k, v in
                                sorted(lexers[i][1].items())}) for i in ordered],
                   "state_lexer": {renumber[st]: lexer_number[state_lexer[st]]
                                   for st in walk}},
    }


def tables_source() -> str:
    """The text of ``_grammar_tables.py`` for the grammar and the installed lark."""
    import pprint

    data = compile_grammar()
    return ('"""The grammar compiled by lark, as data: written by `python tools/grammar_tables.py`'
            ',\nread by xdsl/scan.py. Do not edit."""\n\n'
            "# fmt: off\n"
            f"FORMAT = {FORMAT}\n"
            f"GRAMMAR = {grammar_hash(grammar_text())!r}\n"
            f"TABLE = {pprint.pformat(data['table'], width=100, sort_dicts=False)}\n"
            f"LEXERS = {pprint.pformat(data['lexers'], width=100, sort_dicts=False)}\n")


TABLES_PATH = Path(__file__).with_name("_grammar_tables.py")
