"""The compiled grammar (xdsl/scan.py): the shipped tables are lark's, and the lexer and parser
that run them without lark give what lark's own run gives, tree, spans and errors."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from isolation import loaded
from lark import UnexpectedInput
from spec_strategies import SHIPPED, generated_spec

from xdsl import parser as p
from xdsl import scan
from xdsl.diagnostics import SpecError
from xdsl.lalr import Unparsable
from xdsl.lexer import LexError, lark_parser

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = sorted((ROOT / "tests" / "golden").rglob("*.x"))


def test_the_shipped_tables_are_what_lark_builds_from_the_grammar(update_golden: bool) -> None:
    """Refresh with `python tools/grammar_tables.py` (or --update-golden) after editing
    grammar.lark; the file is the same whatever order lark's sets iterate in."""
    source = scan.tables_source()
    if update_golden:
        scan.TABLES_PATH.write_text(source, encoding="utf-8")
    assert scan.TABLES_PATH.read_text(encoding="utf-8") == source
    assert scan.load() is not None


def test_the_tables_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """lark numbers states as its sets iterate: the file renumbers them (a fresh lark cache)."""
    code = "from xdsl.scan import tables_source; import sys; sys.stdout.write(tables_source())"
    texts = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={"PYTHONHASHSEED": seed, "TMPDIR": str(tmp_path / seed),
                                             "PATH": ""}).stdout
             for seed in ("1", "2") if (tmp_path / seed).mkdir() is None}
    assert len(texts) == 1


def _fast(text: str) -> tuple[Any, ...]:
    compiled = p._compiled()
    assert compiled is not None
    build, lexers = compiled
    try:
        with p.statement_limit(10**6):
            root = p.parse_compiled(build, lexers, text)
    except (scan.Unlexable, Unparsable, LexError):
        return ("refused",)
    return _outcome(root, build)


def _slow(text: str) -> tuple[Any, ...]:
    build = p._with_lark()
    try:
        root = build.parse_with_lark(lark_parser(), text, 10**6)
    except (UnexpectedInput, LexError):
        return ("refused",)
    return _outcome(root, build)


def _outcome(root: Any, build: Any) -> tuple[Any, ...]:
    from test_parser import _dump

    errors = None if build.error is None else [d.message for d in build.error.diagnostics]
    return ("parsed", root.height, _dump(root.value), errors)


@pytest.mark.parametrize("path", SHIPPED + GOLDEN, ids=lambda q: q.relative_to(ROOT).as_posix())
def test_the_fast_path_and_lark_agree_on_every_spec(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    text = text if text.endswith("\n") else text + "\n"
    assert _fast(text) == _slow(text)


def test_the_comparison_sees_a_changed_token() -> None:
    text = (ROOT / "specs" / "xception.x").read_text(encoding="utf-8")
    assert _fast(text)[0] == "parsed"
    assert _fast(text) != _slow(text.replace("sepconv", "sepconv ", 1))  # a column moved
    broken = text.replace("network xception", "network xception (", 1)
    assert broken != text and _fast(broken) == ("refused",) == _slow(broken)


def test_a_keyword_is_a_name_where_no_keyword_can_stand() -> None:
    """The contextual lexer: `output` and `block` as parameter names, `x` as a name."""
    text = ("network n(output: int = 4, block: int = 2):\n    input x: 3 x 8 x 8\n"
            "    conv output * block 3x3\n")
    assert _fast(text) == _slow(text)
    assert _fast(text)[0] == "parsed"
    net = p.parse(text)
    assert [q.name for q in net.params] == ["output", "block"]


_EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
    ["", " ", "\n", ":", "(", ")", ",", "x", "3x3", "if", "else", "output", "#", "\t", "  ",
     "1_000", "\"", "=", "-", "**", "block", "repeat 2:", "\n    "])), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), _EDITS)
def test_the_fast_path_and_lark_agree_on_edited_specs(path: Path, edits: list) -> None:
    """Characters inserted or removed anywhere: the same tree, or refused by both (the
    diagnostics are then lark's, as the fast path hands refused texts to lark)."""
    text = path.read_text(encoding="utf-8")
    for at, insert in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + (0 if insert else 1):]
    text = text if text.endswith("\n") else text + "\n"
    assert _fast(text) == _slow(text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_spec())
def test_the_fast_path_and_lark_agree_on_generated_specs(text: str) -> None:
    text = text if text.endswith("\n") else text + "\n"
    assert _fast(text) == _slow(text)


def test_a_refused_text_gets_lark_s_diagnostic() -> None:
    text = "network n:\n    input x: 3 x 8 x 8\n    conv 8 3x3 )\n"
    with pytest.raises(SpecError) as e:
        p.parse(text)
    assert "unmatched `)`" in e.value.render()
    with pytest.raises(SpecError) as e:
        p.parse("network n:\n    input x: 3 x 8 x 8\n    conv 8 3x3 $\n")
    assert e.value.diagnostics[0].span.column == 16


def test_stale_or_missing_tables_fall_back_to_lark(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "specs" / "xception.x").read_text(encoding="utf-8")
    expected = p.parse(text)
    monkeypatch.setattr(scan, "grammar_hash", lambda text: "the hash of an edited grammar")
    assert scan.load() is None
    p._compiled.cache_clear()
    try:
        assert p._compiled() is None
        assert p.parse(text) == expected
    finally:
        monkeypatch.undo()
        p._compiled.cache_clear()
    assert p._compiled() is not None


def test_tokens_pickle_and_read_as_lark_s() -> None:
    tok = scan.Tok("NAME", "relu", 4, 2, 5, 2, 9, 8)
    again = pickle.loads(pickle.dumps(tok))
    assert (again, again.type, again.line, again.column, again.end_column, again.end_pos) == \
        ("relu", "NAME", 2, 5, 9, 8)
    assert type(str(tok)) is str and tok.value == "relu" and repr(tok) == "Tok('NAME', 'relu')"
    moved = scan.Tok.new_borrow_pos("_INDENT", "    ", tok)
    assert (moved.type, moved.line, moved.column) == ("_INDENT", 2, 5)


def test_parsing_loads_no_lark() -> None:
    assert loaded("import xdsl\nxdsl.check('xception')\nxdsl.check('inception_v3')",
                  ("lark",)) == []
    refused = "network n:\n    input x: 3\n    conv 8 3x3 )\n"
    assert loaded(f"import xdsl\ntry:\n    xdsl.parse({refused!r})\n"
                  "except xdsl.SpecError:\n    pass", ("lark",)) == ["lark"]
