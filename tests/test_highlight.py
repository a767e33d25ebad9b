"""The Pygments lexer: every shipped spec lexes cleanly, and tokens get the right types."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.lexers import find_lexer_class_for_filename, get_lexer_by_name
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from xdsl.highlight import XdslLexer
from xdsl.lexer import KEYWORDS

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted([*ROOT.glob("specs/*.x"), *ROOT.glob("specs/variants/*.x")])


def tokens(text: str) -> list[tuple[object, str]]:
    return [(tok, val) for tok, val in XdslLexer().get_tokens(text) if val.strip()]


def kind(text: str, word: str) -> object:
    return next(tok for tok, val in tokens(text) if val == word)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_shipped_spec_lexes_without_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    errors = [(val, text[:text.find(val)].count("\n") + 1) for tok, val in tokens(text)
              if tok in Error]
    assert errors == [], f"unlexed text (value, line): {errors}"
    assert "".join(val for _, val in XdslLexer().get_tokens(text)) == text


def test_there_are_shipped_specs() -> None:
    assert any(p.name == "xception.x" for p in SPECS)


SNIPPET = """\
# a comment
network net(width: int = 728, eps: float = 1e-3, pad: choice(same, valid) = same):
    input image: 3 x 299 x 299
    block down(c: int):
        residual project(conv c 1x1 stride=2):
            sepconv c 3x3; relu
    flow entry:
        repeat 3: down(width)
        concat as joined:
            branch left: conv 4 1x1
        global avgpool; dropout 0.5 if not true; linear 1_000
    audit:
        trainable = 22,855,952  "paper"
"""


@pytest.mark.parametrize(("word", "expected"), [
    ("# a comment", Comment.Single),
    ("network", Keyword.Declaration),
    ("net", Name.Class),
    ("int", Keyword.Type),
    ("choice", Keyword.Type),
    ("728", Number.Integer),
    ("1e-3", Number.Float),
    ("same", Name.Constant),
    ("image", Name.Variable),
    ("x", Operator.Word),
    ("down", Name.Function),
    ("residual", Keyword),
    ("project", Keyword),
    ("conv", Name.Builtin),
    ("1x1", Number),
    ("stride", Name.Attribute),
    ("entry", Name.Namespace),
    ("repeat", Keyword),
    ("concat", Keyword),
    ("left", Name.Label),
    ("global", Keyword),
    ("0.5", Number.Float),
    ("not", Operator.Word),
    ("true", Keyword.Constant),
    ("1_000", Number.Integer),
    ("22,855,952", Number.Integer),
    ('"paper"', String.Double),
])
def test_token_types(word: str, expected: object) -> None:
    assert kind(SNIPPET, word) in expected


def test_every_keyword_is_highlighted() -> None:
    for word in KEYWORDS:
        assert kind(f"{word}\n", word) in Keyword or kind(f"{word}\n", word) in Operator.Word


def test_registered_with_pygments() -> None:
    """The entry point makes `pygmentize -l xdsl` and LaTeX minted's {xdsl} work."""
    assert isinstance(get_lexer_by_name("xdsl"), XdslLexer)
    text = (ROOT / "specs" / "xception.x").read_text(encoding="utf-8")
    assert find_lexer_class_for_filename("xception.x", text) is XdslLexer
