"""Spec text → syntax tree (:mod:`xdsl.tree`), with parser failures turned into diagnostics."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedInput, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
from lark.lexer import PatternStr

from . import tree as t
from .diagnostics import Diagnostic, Source, Span, SpecError

KEYWORDS = (
    "network input defaults then block flow audit repeat residual project concat add branch "
    "if else from as global choice and or not x output note variant of"
).split()


class _IndentError(Exception):
    def __init__(self, message: str, token: Token, hint: str = ""):
        super().__init__(message)
        self.token, self.hint = token, hint


class _Indenter:
    """Post-lexer: newlines with leading whitespace become _NL, _INDENT and _DEDENT tokens.

    Written here rather than using ``lark.indenter.Indenter`` so that a bad dedent or an
    unbalanced parenthesis raises an error carrying its position instead of an assertion.
    """

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open_parens: list[Token] = []

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.open_parens = []
        levels, last, style = [0], None, ""
        for tok in stream:
            last = tok
            if tok.type == "_NL":
                if self.open_parens:
                    continue
                yield tok
                indent_str = tok.rsplit("\n", 1)[1]
                used = "".join(sorted(set(indent_str)))
                if used and style and used != style or used == "\t ":
                    raise _IndentError("indentation mixes tabs and spaces", tok,
                                       "indent with spaces only")
                style = style or used
                indent = len(indent_str.expandtabs(4))
                if indent > levels[-1]:
                    levels.append(indent)
                    yield Token.new_borrow_pos("_INDENT", indent_str, tok)
                else:
                    while indent < levels[-1]:
                        levels.pop()
                        yield Token.new_borrow_pos("_DEDENT", indent_str, tok)
                    if indent != levels[-1]:
                        raise _IndentError(
                            f"this line is indented by {indent} spaces, which matches no "
                            "enclosing block", tok,
                            f"indent it like an enclosing line ({', '.join(map(str, levels))})")
                continue
            if tok.type == "LPAR":
                self.open_parens.append(tok)
            elif tok.type == "RPAR":
                if not self.open_parens:
                    raise _IndentError("unmatched `)`", tok, "remove it, or add the `(` it closes")
                self.open_parens.pop()
            yield tok
        for _ in levels[1:]:
            yield Token("_DEDENT", "", 0, last.end_line or 1, last.end_column or 1) if last \
                else Token("_DEDENT", "")


@functools.cache
def _lark() -> Lark:
    grammar = resources.files("xdsl").joinpath("grammar.lark").read_text()
    # cache=True keeps the LALR tables in the temp directory (keyed by grammar hash): the
    # table construction is a third of `xdsl check`'s start-up otherwise.
    return Lark(grammar, parser="lalr", postlex=_Indenter(), propagate_positions=True,
                maybe_placeholders=True, cache=True)


def _span(item: Any) -> Span:
    """Span of a lark Token or tree meta; lark's end column is exclusive."""
    line, col = item.line, item.column
    end_line = getattr(item, "end_line", None) or line
    end_col = (getattr(item, "end_column", None) or col + 1) - 1
    return Span(line=line, column=col, end_line=end_line, end_column=max(col, end_col)
                if end_line == line else end_col)


def _number(text: str) -> int:
    return int(text.replace(",", "").replace("_", ""))


@v_args(meta=True)
class _Build(Transformer):
    """Lark parse tree → :mod:`xdsl.tree` nodes."""

    # expressions
    def int(self, meta, c):
        return t.Num(span=_span(c[0]), value=_number(c[0]))

    def big_number(self, meta, c):
        return t.Num(span=_span(c[0]), value=_number(c[0]))

    def float(self, meta, c):
        return t.Num(span=_span(c[0]), value=float(c[0]))

    def string(self, meta, c):
        return t.Str(span=_span(c[0]), value=c[0][1:-1])

    def name(self, meta, c):
        return t.Name(span=_span(c[0]), id=str(c[0]))

    def size_literal(self, meta, c):
        sp = _span(c[0])
        return t.SizeLit(span=sp, items=[t.Num(span=sp, value=int(p)) for p in c[0].split("x")])

    def size(self, meta, c):  # `3 x 8x8` is one size of three
        items = [i for x in c for i in (x.items if isinstance(x, t.SizeLit) else [x])]
        return t.SizeLit(span=_span(meta), items=items)

    def paren(self, meta, c):
        return c[1]

    def ternary(self, meta, c):
        _, then, cond, orelse, _ = c
        return t.Ternary(span=_span(meta), cond=cond, then=then, orelse=orelse)

    def _chain(self, meta, c, ops):
        left = c[0]
        rest = c[1:]
        if ops is None:  # operator tokens interleaved
            for op, right in zip(rest[::2], rest[1::2]):
                left = t.BinOp(span=left.span.to(right.span), op=str(op), left=left, right=right)
        else:
            for right in rest:
                left = t.BinOp(span=left.span.to(right.span), op=ops, left=left, right=right)
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
        return t.Not(span=_span(meta), operand=c[0])

    def kwarg(self, meta, c):
        return t.Arg(span=_span(meta), name=str(c[0]), value=c[1])

    def arg_group(self, meta, c):
        return [a if isinstance(a, t.Arg) else t.Arg(span=a.span, value=a)
                for a in c[1:-1] if a is not None]

    # statements
    def op(self, meta, c):
        is_global = isinstance(c[0], Token) and c[0].type == "GLOBAL"
        if is_global:
            c = c[1:]
        name, *rest = c
        args, source, alias = [], None, None
        for item in rest:
            if isinstance(item, list):
                args.extend(item)
            elif isinstance(item, tuple):
                if item[0] == "from":
                    source = item[1]
                else:
                    alias = item[1]
            elif item is not None:
                args.append(item)
        args = [a if isinstance(a, t.Arg) else t.Arg(span=a.span, value=a) for a in args]
        return t.Op(span=_span(meta), name=str(name), name_span=_span(name), is_global=is_global,
                    args=args, source=source, alias=alias)

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
        return t.Repeat(span=_span(meta), count=c[0], body=c[1])

    def shortcut(self, meta, c):
        return [x for x in c if isinstance(x, t.Op)]

    def residual(self, meta, c):
        shortcut, alias, cond, body = c
        return t.Residual(span=_span(meta), shortcut=shortcut or [],
                          alias=alias[1] if alias else None, cond=cond, body=body)

    def branch(self, meta, c):
        name, body = c
        return t.Branch(span=_span(meta), name=str(name) if name else None, body=body)

    def merge(self, meta, c):
        mode, alias, *branches = c
        return t.Merge(span=_span(meta), mode=str(mode), alias=alias[1] if alias else None,
                       branches=branches)

    def output(self, meta, c):
        return t.Output(span=_span(meta), name=str(c[0]), body=c[1])

    def if_stmt(self, meta, c):
        cond, then, orelse = c
        return t.If(span=_span(meta), cond=cond, then=then, orelse=orelse or [])

    # declarations
    def simple_type(self, meta, c):
        return (str(c[0]), [])

    def choice_type(self, meta, c):
        return ("choice", [str(x) for x in c if x.type == "NAME"])

    def param(self, meta, c):
        name, typ, default = c
        kind, choices = typ if typ else ("any", [])
        return t.Param(span=_span(meta), name=str(name), type=kind, choices=choices,
                       default=default)

    def param_list(self, meta, c):
        return [p for p in c[1:-1] if p is not None]

    def input_decl(self, meta, c):
        return t.Input(span=_span(meta), name=str(c[0]), shape=c[1])

    def then_op(self, meta, c):
        name, *args = c
        args = [a if isinstance(a, t.Arg) else t.Arg(span=a.span, value=a) for a in args]
        return t.Op(span=_span(meta), name=str(name), name_span=_span(name), args=args)

    def default_rule(self, meta, c):
        *c, cond = c
        ops = [str(x) for x in c if isinstance(x, Token)]
        items = [x for x in c if not isinstance(x, Token)]
        return t.DefaultRule(span=_span(meta), ops=ops,
                             kwargs=[i for i in items if isinstance(i, t.Arg)],
                             then=[i for i in items if isinstance(i, t.Op)], cond=cond)

    def defaults(self, meta, c):
        return ("defaults", list(c))

    def block_def(self, meta, c):
        name, params, body = c
        return t.BlockDef(span=_span(meta), name=str(name), params=params, body=body)

    def flow(self, meta, c):
        return t.Flow(span=_span(meta), name=str(c[0]), body=c[1])

    def audit_item(self, meta, c):
        note, metric, value, source = c
        return t.AuditItem(span=_span(meta), metric=str(metric), value=value,
                           source=source[1:-1] if source else "", required=note is None)

    def audit(self, meta, c):
        settings, *items = c
        return t.Audit(span=_span(meta), settings=settings or [], items=items)

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
        return t.Network(span=_span(meta), name=str(name), params=params or [], **fields)

    def variant(self, meta, c):
        name, base, settings, *audits = c
        return t.Variant(span=_span(meta), name=str(name), base=base[1:-1],
                         settings=settings or [], audits=audits)

    def start(self, meta, c):
        return c[-1]


def parse_source(source: Source) -> t.Network | t.Variant:
    """Parse spec text; raise :class:`SpecError` with a located, human message on failure."""
    try:
        text = source.text if source.text.endswith("\n") else source.text + "\n"
        parse_tree = _lark().parse(text)
    except _IndentError as e:
        tok = e.token
        if tok.type == "_NL":  # the offending line is the one the newline token leads into
            indent = tok.rsplit("\n", 1)[1]
            span = Span.point(tok.end_line or tok.line, len(indent.expandtabs(1)) + 1)
        else:
            span = _span(tok)
        raise SpecError([Diagnostic(str(e), span, hint=e.hint)], source) from None
    except UnexpectedInput as e:
        opened = _lark().options.postlex.open_parens
        token = getattr(e, "token", None)
        if opened and token is not None and (token.line or 0) > opened[-1].line:
            paren = opened[-1]
            diag = Diagnostic("this `(` is never closed", _span(paren),
                              hint=f"close it with `)` before line {token.line}")
        else:
            diag = _syntax_diagnostic(e, source)
        raise SpecError([diag], source) from None
    network = _Build().transform(parse_tree)
    return network


# ---- turning lark failures into diagnostics ---------------------------------------------------


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
    term = next((td for td in _lark().terminals if td.name == name), None)
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


def _nl_span(tok: Token, source: Source) -> Span:
    """Where to point for a newline token: the end of the line it ends, or the next line."""
    if tok.type in ("_NL", "$END", "_DEDENT", "_INDENT") and tok.line:
        line = tok.line
        text = source.line(line)
        stripped = text.split("#", 1)[0].rstrip()
        if tok.type in ("_INDENT",) or (tok.type == "_DEDENT" and str(tok)):
            nxt = tok.end_line or line
            return Span.point(nxt, len(source.line(nxt)) - len(source.line(nxt).lstrip()) + 1)
        return Span.point(line, len(stripped) + 1)
    return _span(tok)


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
        span = _nl_span(tok, source)
        return _token_diagnostic(tok, expected, span)
    if isinstance(e, UnexpectedEOF):
        return Diagnostic("unexpected end of file", Span.point(max(1, len(source.lines)), 1),
                          hint="the spec stops in the middle of a statement")
    return Diagnostic(str(e).splitlines()[0], None)


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
    return Diagnostic(f"unexpected {got}", span, hint=hint)


def parse(text: str, name: str = "<string>") -> t.Network | t.Variant:
    return parse_source(Source(text, name))
