"""Parser failures → diagnostics: what was expected, in the spec's words, with a hint."""

from __future__ import annotations

import re

from lark import Token, UnexpectedInput
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
from lark.lexer import PatternStr

from .diagnostics import Diagnostic, Source, Span
from .lexer import KEYWORDS, LexError, lark_parser, span_of


def _describe_terminal(name: str) -> str:
    special = {
        "NAME": "a name", "INT": "a whole number", "FLOAT": "a number", "SIZE": "a size like 3x3",
        "STRING": 'a "quoted source"', "_NL": "end of line", "$END": "end of file",
        "_INDENT": "an indented block", "_DEDENT": "end of the indented block",
        "BIGNUM": "a number", "COMPARE": "a comparison", "ADDOP": "`+` or `-`",
        "MULOP": "`*`, `/`, `//` or `%`", "MERGE": "`concat` or `add`", "LPAR": "`(`",
        "RPAR": "`)`", "GLOBAL": "`global`",
    }
    if name in special:
        return special[name]
    term = next((td for td in lark_parser().terminals if td.name == name), None)
    if term is not None and isinstance(term.pattern, PatternStr):
        return f"`{term.pattern.value}`"
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type in ("_NL", "$END", "_INDENT", "_DEDENT"):
        return _describe_terminal(tok.type)
    text = str(tok)
    if tok.type == "NAME" or str(tok) in KEYWORDS:
        return f"`{text}`" + (" (a keyword)" if text in KEYWORDS and tok.type != "NAME" else "")
    return f"`{text}`"


def _nlspan_of(tok: Token, source: Source) -> Span:
    """Where to point for a newline token: the end of the line it ends, or the next line."""
    if tok.type in ("_NL", "$END", "_DEDENT", "_INDENT") and tok.line:
        line = tok.line
        text = source.line(line)
        stripped = text.split("#", 1)[0].rstrip()
        if tok.type in ("_INDENT",) or (tok.type == "_DEDENT" and str(tok)):
            nxt = tok.end_line or line
            return Span.point(nxt, len(source.line(nxt)) - len(source.line(nxt).lstrip()) + 1)
        return Span.point(line, len(stripped) + 1)
    return span_of(tok)


def _syntax_diagnostic(e: UnexpectedInput, source: Source) -> Diagnostic:
    if not source.text.strip() or (isinstance(e, UnexpectedToken) and e.token.type == "$END"
                                   and not any(line.strip() and not line.lstrip()
                                               .startswith("#") for line in source.lines)):
        return Diagnostic("the spec is empty", Span.point(1, 1),
                          hint="a spec starts with `network NAME:`")
    if isinstance(e, UnexpectedCharacters):
        char = source.text[e.pos_in_stream] if e.pos_in_stream < len(source.text) else ""
        hint = {
            "{": "blocks are written with `:` and an indented body, not braces",
            "}": "blocks are written with `:` and an indented body, not braces",
            "[": "write sizes as 3x3 or `k x k`; lists are not part of the language",
            "'": 'strings use double quotes: "paper Table 3"',
            "-": "negative numbers have no meaning here; sizes, counts and strides are positive",
        }.get(char, "remove it, or check the spelling of the line")
        return Diagnostic(f"unexpected character `{char}`", Span.point(e.line, e.column),
                          hint=hint)
    if isinstance(e, UnexpectedToken):
        tok = e.token
        expected = {x for x in e.expected if not x.startswith("__")}
        span = _nlspan_of(tok, source)
        return _token_diagnostic(tok, expected, span)
    if isinstance(e, UnexpectedEOF):
        return Diagnostic("unexpected end of file", Span.point(max(1, len(source.lines)), 1),
                          hint="the spec stops in the middle of a statement")
    line, column = getattr(e, "line", 0) or 0, getattr(e, "column", 0) or 0
    return Diagnostic(str(e).splitlines()[0],
                      Span.point(line, column) if line > 0 and column > 0 else None)


def _token_diagnostic(tok: Token, expected: set[str], span: Span) -> Diagnostic:
    got = _describe_token(tok)
    wanted = sorted(_describe_terminal(x) for x in expected)
    listing = ", ".join(wanted[:8]) + (", …" if len(wanted) > 8 else "")
    if "COLON" in expected and tok.type in ("_NL", "$END"):
        return Diagnostic("missing `:` at the end of this line", span,
                          hint="a line that opens a block (network, flow, block, repeat, "
                               "residual, branch, if) ends with `:`")
    if tok.type == "_INDENT":
        return Diagnostic("unexpected indentation", span,
                          hint="only the body of a line ending in `:` is indented further")
    if tok.type == "_NL" and expected == {"RPAR"}:
        return Diagnostic("missing `)`", span, hint="close the parenthesis opened on this line")
    if tok.type in ("_NL", "_DEDENT", "$END") and "_INDENT" in expected:
        return Diagnostic("expected an indented block after `:`", span,
                          hint="indent the body of the block on the next lines, or write it "
                               "after the `:` on the same line")
    if tok.type == "EQUAL" and "COLON" in expected:
        return Diagnostic(f"unexpected {got}", span,
                          hint="declare a parameter as `name: int = 10`")
    if tok.type == "ADDOP" and str(tok) == "-" and "ADDOP" not in expected:
        return Diagnostic("unexpected `-`", span, hint="negative numbers have no meaning here; "
                          "sizes, counts and strides are positive")
    hint = f"expected {listing}" if wanted else ""
    if tok.type == "NAME" and "NAME" not in expected and "COLON" in expected:
        hint = "missing `:` before this word?"
    if tok.type == "NAME" and (word := _glued_keyword(str(tok), expected)):
        hint = f"a keyword is a whole word: missing a space in `{word} {str(tok)[len(word):]}`?"
    return Diagnostic(f"unexpected {got}", span, hint=hint)


def _glued_keyword(text: str, expected: set[str]) -> str | None:
    """The longest expected keyword that ``text`` (a name where none may stand) starts with:
    `networkt` for `network t`."""
    patterns = [td.pattern.to_regexp() for td in lark_parser().terminals
                if td.name in expected and td.name != "NAME"]
    words = [kw for kw in KEYWORDS if len(kw) < len(text) and text.startswith(kw)
             and any(re.fullmatch(p, kw) for p in patterns)]
    return max(words, key=len, default=None)




def lex_diagnostic(e: LexError) -> Diagnostic:
    tok = e.token
    if tok.type == "_NL":  # the offending line is the one the newline token leads into
        indent = tok.rsplit("\n", 1)[1]
        span = Span.point(tok.end_line or tok.line, len(indent.expandtabs(1)) + 1)
    else:
        span = span_of(tok)
    return Diagnostic(str(e), span, hint=e.hint)


def parse_diagnostic(e: UnexpectedInput, source: Source) -> Diagnostic:
    """The diagnostic for a parser failure; an unclosed parenthesis is named as such."""
    opened = lark_parser().options.postlex.open_parens
    token = getattr(e, "token", None)
    if opened and token is not None and (token.line or 0) > opened[-1].line:
        return Diagnostic("this `(` is never closed", span_of(opened[-1]),
                          hint=f"close it with `)` before line {token.line}")
    return _syntax_diagnostic(e, source)
