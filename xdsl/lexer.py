"""Lexing: the grammar's LALR parser and the post-lexer that turns indentation into tokens.

Lines are counted at ``\n`` only (lark's line counter and the grammar's ``_NL``, ``COMMENT`` and
``STRING``); :class:`~xdsl.diagnostics.Source` turns ``\r\n`` and ``\r`` into ``\n`` first, so
the lexer, the error excerpts and ``fmt`` agree (:func:`~xdsl.diagnostics.split_lines`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .diagnostics import Span

if TYPE_CHECKING:  # lark loads only where its parser runs (see xdsl.scan)
    from lark import Lark, Token

KEYWORDS = (
    "network input defaults then block flow audit repeat residual project concat add mul branch "
    "if else from as global choice and or not x output note variant of use"
).split()


class LexError(Exception):
    """A layout problem the post-lexer finds (bad dedent, mixed tabs, unmatched `)`)."""

    def __init__(self, message: str, token: Token, hint: str = ""):
        super().__init__(message)
        self.token, self.hint = token, hint


MAX_TOKENS = 50_000
"""Tokens in one spec: 67 times Inception V3's 746. The statement limit bounds specs of many
statements; this bounds the few very long ones (a layer with 20,000 options parses in seconds)."""


class _Indenter:
    """Post-lexer: newlines with leading whitespace become _NL, _INDENT and _DEDENT tokens.

    Written here rather than using ``lark.indenter.Indenter`` so that a bad dedent or an
    unbalanced parenthesis raises an error carrying its position instead of an assertion.
    """

    always_accept = ("_NL", "NAME")
    """Terminals every state's lexer tries. NAME: so that a keyword is only ever a whole word
    (the lexer takes the longest of a keyword and a name, and a name that spells a keyword is
    that keyword), never the start of one, as in `networkt:` or `variants of`."""

    def __init__(self) -> None:
        self.open_parens: list[Token] = []

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.open_parens = []
        levels, last, style, previous = [0], None, "", ""
        for count, tok in enumerate(stream, 1):
            last = tok
            if count > MAX_TOKENS:
                raise LexError(f"the spec has more than {MAX_TOKENS:,} tokens", tok,
                               "split very long statements, or the spec, into smaller ones")
            if tok.type == "_NL":
                if self.open_parens:
                    continue
                yield tok
                indent_str = tok.rsplit("\n", 1)[1]
                if indent_str == previous:  # as the line before: already checked, same level
                    continue
                previous = indent_str
                used = "".join(sorted(set(indent_str)))
                if used and style and used != style or used == "\t ":
                    raise LexError("indentation mixes tabs and spaces", tok,
                                       "indent with spaces only")
                style = style or used
                indent = len(indent_str.expandtabs(4))
                if indent > levels[-1]:
                    levels.append(indent)
                    yield type(tok).new_borrow_pos("_INDENT", indent_str, tok)
                else:
                    while indent < levels[-1]:
                        levels.pop()
                        yield type(tok).new_borrow_pos("_DEDENT", indent_str, tok)
                    if indent != levels[-1]:
                        raise LexError(
                            f"this line is indented by {indent} spaces, which matches no "
                            "enclosing block", tok,
                            f"indent it like an enclosing line ({', '.join(map(str, levels))})")
                continue
            if tok.type == "LPAR":
                self.open_parens.append(tok)
            elif tok.type == "RPAR":
                if not self.open_parens:
                    raise LexError("unmatched `)`", tok,
                                   "remove it, or add the `(` it closes")
                self.open_parens.pop()
            yield tok
        for _ in levels[1:]:  # (levels past the first follow a token: `last` is one)
            yield type(last)("_DEDENT", "", 0, last.end_line or 1, last.end_column or 1)


@functools.cache
def lark_parser() -> Lark:
    from lark import Lark

    from .scan import grammar_text

    grammar = grammar_text()
    # cache=True keeps the LALR tables in the temp directory (keyed by grammar hash): the
    # table construction is a third of `xdsl check`'s start-up otherwise.
    return Lark(grammar, parser="lalr", postlex=_Indenter(), propagate_positions=True,
                maybe_placeholders=True, cache=True)


def span_of(item: Any) -> Span:
    """Span of a lark Token or tree meta; lark's end column is exclusive."""
    line, col = item.line, item.column
    try:  # a token or a node built by the parser; lark's tree meta may lack the end
        end_line, end_col = item.end_line or line, (item.end_column or col + 1) - 1
    except AttributeError:
        end_line = getattr(item, "end_line", None) or line
        end_col = (getattr(item, "end_column", None) or col + 1) - 1
    return Span.model_construct(line=line, column=col, end_line=end_line,
                                end_column=max(col, end_col) if end_line == line else end_col)
