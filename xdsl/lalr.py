"""The syntax tree built during the LALR parse: lark's grammar and tables, our loop.

Left to itself lark builds a parse tree (a ``Tree`` per rule, positions propagated to each)
which a ``Transformer`` then walks again: for a spec of 20,000 statements that was most of the
parse. lark's ``transformer=`` option would build during the parse but gives no positions. So
here the LALR loop runs over lark's table (as plain data: :class:`Table`) and a contextual
lexer with the post-lexer, and every reduction calls the builder at once with what lark would
have given it: the children the grammar keeps (placeholders for absent optional parts,
``__star`` rules spliced in) and the positions lark would have propagated (from the start of
the first child to the end of the last, the tokens the grammar drops included).

Two front ends feed the loop: :meth:`Reductions.parse` takes the compiled grammar's lexer
(:mod:`xdsl.scan`: lark is not imported) and :meth:`Reductions.parse_with_lark` lark's own
parser, whose syntax errors (``UnexpectedToken``, ``UnexpectedCharacters``, with the expected
terminals) the diagnostics are made from.

Each built node also carries its nesting *height* (the most levels of statements and
expressions inside each other below it, operators in a chain counted as lark's parse tree
nests them), so that the nesting limit is checked without keeping a tree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from .diagnostics import SpecError

if TYPE_CHECKING:  # lark is imported where its parser runs: not on the fast path (xdsl.scan)
    from lark import Lark, UnexpectedToken
    from lark.grammar import Rule


class Built:
    """A reduction's result on the value stack: the node and where its text lies (lark's
    ``meta``: 1-based start, exclusive end column; ``None`` for a node without text)."""

    __slots__ = ("value", "line", "column", "end_line", "end_column", "height")

    def __init__(self, line: int | None, column: int | None, end_line: int | None,
                 end_column: int | None, height: int) -> None:
        self.value: Any = None
        self.line, self.column, self.end_line, self.end_column = line, column, end_line, end_column
        self.height = height


Action = tuple[bool, Any]
"""(shift?, next state) or (False, (rule number, children popped, rule's nonterminal))."""


class RuleInfo(NamedTuple):
    """What a reduction needs of a grammar rule (lark's ``Rule``, as plain data)."""

    name: str
    """Its alias, else its template's name, else its nonterminal: the builder's method."""
    expand1: bool
    """``?rule``: a rule of one child is that child."""
    size: int
    include: tuple[tuple[int, bool, int], ...]
    """The children kept: (index, splice it, placeholders before it) (see :func:`_plan`)."""
    trailing: int
    """Placeholders after the last child kept."""
    aliased: bool


class Table(NamedTuple):
    """An LALR table as plain data: states → terminal or nonterminal → action, the start and
    end states and the rules by number. Built from lark's (:func:`lark_table`) or loaded
    (:mod:`xdsl.scan`)."""

    states: dict[Any, dict[str, Action]]
    start: Any
    end: Any
    rules: list[RuleInfo]


@functools.cache
def lark_table(parser: Lark) -> Table:
    """lark's LALR table with each rule replaced by its number (no ``Rule`` hashing per
    reduction)."""
    from lark.parsers.lalr_analysis import Shift

    conf = parser.parse_interactive("").parser_state.parse_conf
    rules: list[Rule] = []
    number: dict[int, int] = {}
    states: dict[Any, dict[str, Action]] = {}
    for state, actions in conf.states.items():
        row: dict[str, Action] = {}
        for symbol, (action, arg) in actions.items():
            if action is Shift:
                row[symbol] = (True, arg)
            else:
                if id(arg) not in number:
                    number[id(arg)] = len(rules)
                    rules.append(arg)
                row[symbol] = (False, (number[id(arg)], len(arg.expansion), arg.origin.name))
        states[state] = row
    return Table(states, conf.start_state, conf.end_state, [_rule_info(r) for r in rules])


def _rule_info(rule: Rule) -> RuleInfo:
    include, trailing = _plan(rule)
    return RuleInfo(rule.alias or rule.options.template_source or rule.origin.name,
                    bool(rule.options.expand1), len(rule.expansion), tuple(include), trailing,
                    bool(rule.alias))


class TooMany(Exception):
    """More of the counted rules than :meth:`Reductions.parse` allows: ``node`` is the first
    one over (built, not yet given to the builder)."""

    def __init__(self, node: Built) -> None:
        super().__init__(node)
        self.node = node


class Unparsable(Exception):
    """A token the table has no action for (the fast path: lark's own run reports it)."""


Tokens = Callable[[str, list[Any]], Iterator[Any]]
"""A lexer: the text and the parser's state stack (read for each token: the lexer is
contextual) → tokens, the post-lexer's included."""


class Reductions:
    """The parser. ``builder`` has a method per rule name (its alias, else its name) taking
    ``(meta, children)``; in each parse the first :class:`SpecError` a method raises is kept
    in :attr:`error` and the parse goes on building nothing, so that a later syntax error (or
    nesting error) is reported first, as when the tree was built after the parse. The rules
    named in ``counted`` are counted, and the parse stops at once (:class:`TooMany`) past its
    limit. Not reentrant (neither is lark's post-lexer): one parse at a time."""

    def __init__(self, table: Table, builder: object, nesting: Iterable[str],
                 chains: dict[str, int], counted: Iterable[str] = ()) -> None:
        self.error: SpecError | None = None
        self.count, self.limit = 0, 0
        self.builder = builder
        self.nesting, self.chains, self.counted = frozenset(nesting), chains, frozenset(counted)
        self.states, self.start, self.end, rules = table
        self.callbacks = [self._callback(rule) for rule in rules]

    def parse_with_lark(self, parser: Lark, text: str, limit: int) -> Built:
        """Parse with lark's contextual lexer (this table must be ``lark_table(parser)``);
        lark's errors (``UnexpectedInput``, post-lexer errors) and :class:`TooMany`
        propagate."""
        from lark import Token

        session = parser.parse_interactive(text)
        state = session.parser_state  # its stacks are ours: the contextual lexer reads them
        state.state_stack[:] = [self.start]

        def unexpected(token: Any, row: dict[str, Action]) -> Exception:
            return _unexpected(token, row, state)

        return self._run(session.lexer_thread.lex(state), state.state_stack, state.value_stack,
                         Token, unexpected, limit)

    def parse(self, tokens: Tokens, token_class: type, text: str, limit: int) -> Built:
        """Parse with the lexer ``tokens``; a token the table has no action for raises
        :class:`Unparsable`, and the lexer's own errors propagate, as does :class:`TooMany`."""
        state_stack: list[Any] = [self.start]

        def unexpected(token: Any, row: dict[str, Action]) -> Exception:
            return Unparsable(token)

        return self._run(tokens(text, state_stack), state_stack, [], token_class, unexpected,
                         limit)

    def _run(self, tokens: Iterator[Any], state_stack: list[Any], value_stack: list[Any],
             token_class: Any, unexpected: Callable[[Any, dict[str, Action]], Exception],
             limit: int) -> Built:
        self.error, self.count, self.limit = None, 0, limit
        states, callbacks = self.states, self.callbacks
        token = None
        for token in tokens:
            while True:
                row = states[state_stack[-1]]
                try:
                    shift, arg = row[token.type]
                except KeyError:
                    raise unexpected(token, row) from None
                if shift:
                    state_stack.append(arg)
                    value_stack.append(token)
                    break
                self._reduce(arg, callbacks, state_stack, value_stack)
        end = token_class.new_borrow_pos("$END", "", token) if token \
            else token_class("$END", "", 0, 1, 1)
        while True:
            row = states[state_stack[-1]]
            if "$END" not in row or row["$END"][0]:
                raise unexpected(end, row)
            self._reduce(row["$END"][1], callbacks, state_stack, value_stack)
            if state_stack[-1] == self.end:
                return value_stack[-1]

    def _reduce(self, arg: tuple[int, int, str], callbacks: list[Callable[[list[Any]], Any]],
                state_stack: list[Any], value_stack: list[Any]) -> None:
        rule, size, origin = arg
        if size:
            children = value_stack[-size:]
            del state_stack[-size:]
            del value_stack[-size:]
        else:
            children = []
        value_stack.append(callbacks[rule](children))
        state_stack.append(self.states[state_stack[-1]][origin][1])

    def _callback(self, rule: RuleInfo) -> Callable[[list[Any]], Any]:
        name, include, trailing = rule.name, list(rule.include), rule.trailing
        method = getattr(self.builder, name, None)
        if rule.expand1 and not rule.aliased and method is None:
            if rule.size != 1 or trailing or include[0][1]:
                raise ValueError(f"rule {name} would need a parse-tree node")
            return lambda raw: raw[0]  # `?rule: child`: the child itself, as lark does
        if method is None and not name.startswith("_"):
            raise ValueError(f"no builder method for rule {name!r}")
        weight = 1 if name in self.nesting else 0
        counted = name in self.counted
        step = self.chains.get(name)
        if step is not None and rule.size == 1:
            return lambda raw: raw[0]  # a chain of one operand is that operand
        spliced = any(splice for _, splice, _ in include)
        # without a splice, what is kept is a fixed pick of the children (-1: a placeholder)
        pick = [j for i, _, nones in include for j in [-1] * nones + [i]] + [-1] * trailing
        as_is = not spliced and pick == list(range(rule.size))

        def reduce(raw: list[Any]) -> Built:
            first = last = None
            height = 0
            for c in raw:  # lark's propagate_positions, and the highest child
                if type(c) is Built:
                    if c.height > height:
                        height = c.height
                    if c.line is None:
                        continue
                elif not isinstance(c, str):  # a placeholder (None)
                    continue
                if first is None:
                    first = c
                last = c
            node = Built(None, None, None, None, height) if first is None or last is None \
                else Built(first.line, first.column, last.end_line, last.end_column, height)
            if as_is:
                filtered = raw
            elif spliced:
                filtered = _filter(raw, include, trailing)
            else:
                raw.append(None)
                filtered = [raw[j] for j in pick]
            if counted:
                self.count += 1
                if self.count > self.limit:
                    raise TooMany(node)
            if step is not None:
                node.height = _chain_height(filtered[::step])
            elif weight:
                node.height += 1
            if method is None:
                node.value = filtered
            elif self.error is None:
                try:
                    node.value = method(node, [c.value if type(c) is Built else c
                                               for c in filtered])
                except SpecError as e:
                    self.error = e
            return node

        return reduce


def _unexpected(token: Any, row: dict[str, Action], state: Any) -> UnexpectedToken:
    """lark's error for a token the state has no action for."""
    from lark import UnexpectedToken

    expected = {s for s in row if s.isupper()}
    return UnexpectedToken(token, expected, state=state, interactive_parser=None)


def _filter(raw: list[Any], include: list[tuple[int, bool, int]], trailing: int) -> list[Any]:
    filtered: list[Any] = []
    for i, splice, nones in include:
        if nones:
            filtered += [None] * nones
        if splice:  # a `__star` rule's children join this node's (shared, not copied: O(1))
            if filtered:
                filtered += raw[i].value
            else:
                filtered = raw[i].value
        else:
            filtered.append(raw[i])
    if trailing:
        filtered += [None] * trailing
    return filtered


def _chain_height(operands: list[Any]) -> int:
    """``a + b + c`` nests as ``(a + b) + c``: operand j sits under the operators after it."""
    ops = len(operands) - 1
    height = ops
    for j, c in enumerate(operands):
        if type(c) is Built:
            height = max(height, c.height + ops - max(j - 1, 0))
    return height


def _plan(rule: Rule) -> tuple[list[tuple[int, bool, int]], int]:
    """Which of a rule's children lark keeps: (index, splice it, placeholders before it), and
    the placeholders after the last (lark's ``maybe_create_child_filter``, LALR, no
    ambiguity, ``maybe_placeholders=True``)."""
    n = len(rule.expansion)
    empty = rule.options.empty_indices
    if empty:
        runs = "".join(str(int(b)) for b in empty).split("0")
        nones = [len(ones) for ones in runs]
    else:
        nones = [0] * (n + 1)
    include, pending = [], 0
    for i, sym in enumerate(rule.expansion):
        pending += nones[i]
        if rule.options.keep_all_tokens or not (sym.is_term and sym.filter_out):
            include.append((i, not sym.is_term and sym.name.startswith("_"), pending))
            pending = 0
    return include, pending + nones[n]
