"""A Pygments lexer for xdsl specs (``pygmentize -l xdsl``, LaTeX ``minted``, Sphinx, MkDocs).

Registered through the ``pygments.lexers`` entry point.  Keywords, op names and parameter types
come from the language's own tables, so the highlighting follows the grammar as it grows.
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from .evaluate import FUNCTIONS
from .lexer import KEYWORDS
from .ops import OPS, option_words
from .validate import CHANNELS, PARAM_TYPES

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WORD_OPERATORS = ("and", "or", "not", "x")
_DECLARATIONS = {"network": Name.Class, "block": Name.Function, "flow": Name.Namespace,
                 "input": Name.Variable}
_HEADER = re.compile(rf"^network\s+{_NAME}\s*[(:]", re.M)
_CONSTANTS = ("true", "false")
_SYMBOLS = ("same", "valid", "none", *option_words("upsample", "mode"))  # nearest, ...


def _declaration(word: str, kind: object) -> tuple[str, object]:
    return rf"\b({word})(\s+)({_NAME})", bygroups(Keyword.Declaration, Whitespace, kind)


class XdslLexer(RegexLexer):
    """Lexer for xdsl network specs (``*.x``)."""

    name = "xdsl"
    aliases = ["xdsl"]
    filenames = ["*.x"]
    mimetypes = ["text/x-xdsl"]
    url = "https://pypi.org/project/xdsl-nets/"

    def analyse_text(text: str) -> float:  # type: ignore[misc]  # pygments' static protocol
        """``*.x`` is also Logos' suffix: a ``network NAME`` header settles it."""
        return 0.9 if _HEADER.search(text) else 0.0

    tokens = {
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"[^"\n]*"', String.Double),
            *(_declaration(w, kind) for w, kind in _DECLARATIONS.items()),
            (rf"\b(branch|as|from)(\s+)({_NAME})", bygroups(Keyword, Whitespace, Name.Label)),
            (words(_CONSTANTS, prefix=r"\b", suffix=r"\b"), Keyword.Constant),
            (words(_WORD_OPERATORS, prefix=r"\b", suffix=r"\b"), Operator.Word),
            (words([k for k in KEYWORDS if k not in _WORD_OPERATORS], prefix=r"\b",
                   suffix=r"\b"), Keyword),
            (rf"(:)(\s*)({'|'.join(PARAM_TYPES)})\b",
             bygroups(Punctuation, Whitespace, Keyword.Type)),
            (words(_SYMBOLS, prefix=r"\b", suffix=r"\b"), Name.Constant),
            (words(sorted(FUNCTIONS), prefix=r"\b", suffix=r"(?=\()"), Name.Builtin),
            (rf"\b{CHANNELS}\b(?!\s*=)", Name.Builtin.Pseudo),
            (words(sorted(OPS), prefix=r"\b", suffix=r"\b(?!\s*=)"), Name.Builtin),
            (r"\d+(?:x\d+)+(?![\w.])", Number),  # a size: 3x3, 3x299x299
            (r"\d{1,3}(?:,\d{3})+(?!\d)", Number.Integer),  # 22,855,952 in audits
            (r"(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+", Number.Float),
            (r"\d+(?:_\d+)*", Number.Integer),
            (rf"({_NAME})(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            (rf"({_NAME})(?=\()", Name.Function),
            (_NAME, Name),
            (r"==|!=|<=|>=|//|[-+*/%<>=]", Operator),
            (r"[(),:;]", Punctuation),
        ],
    }
