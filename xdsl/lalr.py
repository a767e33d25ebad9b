"""The syntax tree built during the LALR parse: lark's grammar, tables and lexer, our loop.

Left to itself lark builds a parse tree (a ``Tree`` per rule, positions propagated to each)
which a ``Transformer`` then walks again: for a spec of 20,000 statements that was most of the
parse. lark's ``transformer=`` option would build during the parse but gives no positions. So
here the LALR loop runs over lark's tables and its contextual lexer (with the post-lexer), and
every reduction calls the builder at once with what lark would have given it: the children
the grammar keeps (placeholders for absent optional parts, ``__star`` rules spliced in) and
the positions lark would have propagated (from the start of the first child to the end of the
last, the tokens the grammar drops included). Syntax errors are lark's own
(``UnexpectedToken``, ``UnexpectedCharacters``), with the same expected terminals.

Each built node also carries its nesting *height* (the most levels of statements and
expressions inside each other below it, operators in a chain counted as lark's parse tree
nests them), so that the nesting limit is checked without keeping a tree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from lark import Lark, Token, UnexpectedToken
from lark.grammar import Rule
from lark.parsers.lalr_analysis import Shift

from .diagnostics import SpecError


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


@functools.cache
def _table(parser: Lark) -> tuple[dict[Any, dict[str, Action]], Any, Any, list[Rule]]:
    """lark's LALR table with each rule replaced by its number (no ``Rule`` hashing per
    reduction), the start and end states, and the rules by number."""
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
    return states, conf.start_state, conf.end_state, rules


class TooMany(Exception):
    """More of the counted rules than :meth:`Reductions.parse` allows: ``node`` is the first
    one over (built, not yet given to the builder)."""

    def __init__(self, node: Built) -> None:
        super().__init__(node)
        self.node = node


class Reductions:
    """The parser. ``builder`` has a method per rule name (its alias, else its name) taking
    ``(meta, children)``; in each parse the first :class:`SpecError` a method raises is kept
    in :attr:`error` and the parse goes on building nothing, so that a later syntax error (or
    nesting error) is reported first, as when the tree was built after the parse. The rules
    named in ``counted`` are counted, and the parse stops at once (:class:`TooMany`) past its
    limit. Not reentrant (neither is lark's post-lexer): one parse at a time."""

    def __init__(self, parser: Lark, builder: object, nesting: Iterable[str],
                 chains: dict[str, int], counted: Iterable[str] = ()) -> None:
        self.error: SpecError | None = None
        self.count, self.limit = 0, 0
        self.parser, self.builder = parser, builder
        self.nesting, self.chains, self.counted = frozenset(nesting), chains, frozenset(counted)
        self.states, self.start, self.end, rules = _table(parser)
        self.callbacks = [self._callback(rule) for rule in rules]

    def parse(self, text: str, limit: int) -> Built:
        """Parse ``text`` with at most ``limit`` counted rules; lark's errors
        (``UnexpectedInput``, post-lexer errors) and :class:`TooMany` propagate."""
        self.error, self.count, self.limit = None, 0, limit
        session = self.parser.parse_interactive(text)
        state = session.parser_state  # its stacks are ours: the contextual lexer reads them
        states, callbacks = self.states, self.callbacks
        state_stack, value_stack = state.state_stack, state.value_stack
        state_stack[:] = [self.start]
        token = None
        for token in session.lexer_thread.lex(state):
            while True:
                row = states[state_stack[-1]]
                try:
                    shift, arg = row[token.type]
                except KeyError:
                    raise _unexpected(token, row, state) from None
                if shift:
                    state_stack.append(arg)
                    value_stack.append(token)
                    break
                self._reduce(arg, callbacks, state_stack, value_stack)
        end = Token.new_borrow_pos("$END", "", token) if token else Token("$END", "", 0, 1, 1)
        while True:
            row = states[state_stack[-1]]
            if "$END" not in row or row["$END"][0]:
                raise _unexpected(end, row, state)
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

    def _callback(self, rule: Rule) -> Callable[[list[Any]], Any]:
        name = rule.alias or rule.options.template_source or rule.origin.name
        include, trailing = _plan(rule)
        method = getattr(self.builder, name, None)
        if rule.options.expand1 and not rule.alias and method is None:
            if len(rule.expansion) != 1 or trailing or include[0][1]:
                raise ValueError(f"rule {rule} would need a parse-tree node")
            return lambda raw: raw[0]  # `?rule: child`: the child itself, as lark does
        if method is None and not name.startswith("_"):
            raise ValueError(f"no builder method for rule {name!r}")
        weight = 1 if name in self.nesting else 0
        counted = name in self.counted
        step = self.chains.get(name)
        if step is not None and len(rule.expansion) == 1:
            return lambda raw: raw[0]  # a chain of one operand is that operand
        spliced = any(splice for _, splice, _ in include)
        # without a splice, what is kept is a fixed pick of the children (-1: a placeholder)
        pick = [j for i, _, nones in include for j in [-1] * nones + [i]] + [-1] * trailing
        as_is = not spliced and pick == list(range(len(rule.expansion)))

        def reduce(raw: list[Any]) -> Built:
            first = last = None
            height = 0
            for c in raw:  # lark's propagate_positions, and the highest child
                if type(c) is Built:
                    if c.height > height:
                        height = c.height
                    if c.line is None:
                        continue
                elif not isinstance(c, Token):
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


def _unexpected(token: Token, row: dict[str, Action], state: Any) -> UnexpectedToken:
    """lark's error for a token the state has no action for."""
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
