"""Issue 11, items 7, 11 and 14 (fmt): formatting keeps every comment byte for byte, never
changes meaning (it refuses with a located error instead), counts lines as the lexer does, and
never leaves a half-written file.

A line ends at ``\\n``, ``\\r\\n`` or ``\\r`` and nowhere else: form feeds, vertical tabs, the
file/group/record separators, NEL and U+2028/U+2029 are ordinary characters, as they are for
the lexer (Python's ``str.splitlines`` breaks at all of them, which cut comments).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

import xdsl
from xdsl import diagnostics, printer
from xdsl import tree as t
from xdsl.cli import main
from xdsl.diagnostics import Source, Span, SpecError
from xdsl.parser import MAX_NESTING
from xdsl.printer import format_source
from xdsl.roundtrip import first_difference

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "fmt"
HEAD = "network t(d: int = 2):\n    input image: 3 x 8 x 8\n"
SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
"""Line ends for ``str.splitlines`` that are ordinary characters in a spec."""


def fmt(text: str) -> str:
    return format_source(Source(text, "t.x"))


def refusal(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        fmt(text)
    return info.value


# ---- item 7 and 11: comments are kept byte for byte --------------------------------------------


@pytest.mark.parametrize("sep", SEPARATORS, ids=lambda c: f"U+{ord(c):04X}")
def test_comments_holding_a_unicode_line_separator_are_kept(sep: str) -> None:
    text = (HEAD + f"    relu   # before{sep}after\n"
            f"      # whole{sep}line {sep}\n    tanh\n")
    assert fmt(text) == (HEAD + f"    relu  # before{sep}after\n"
                         f"    # whole{sep}line {sep}\n    tanh\n")


def test_form_feed_in_a_comment_keeps_the_rest_of_the_comment() -> None:
    text = HEAD + "    relu  # keep this\fand keep this too\n"
    assert fmt(text) == text


@pytest.mark.parametrize("space", ["\xa0", "\u3000", "\u2003"])
def test_unicode_spaces_at_the_end_of_a_comment_are_kept(space: str) -> None:
    text = HEAD + f"    relu  # note{space}\n"
    assert fmt(text) == text
    assert fmt(HEAD + "    relu  # note \t \n") == HEAD + "    relu  # note\n"


@pytest.mark.parametrize("sep", SEPARATORS, ids=lambda c: f"U+{ord(c):04X}")
def test_an_error_after_such_a_comment_shows_its_own_line(sep: str) -> None:
    text = HEAD + f"    # keep this{sep}and keep this too\n    relu\n    oops 3\n"
    with pytest.raises(SpecError) as info:
        xdsl.parse(text)
    assert str(info.value).startswith("<string>:5:5: error: unknown layer or block `oops`\n"
                                      "  |\n5 |     oops 3\n  |     ^^^^\n")
    text = HEAD + f"    # keep this{sep}and keep this too\n    relu\n    conv 3 3x3)\n"
    with pytest.raises(SpecError) as info:
        xdsl.parse(text)
    assert "5 |     conv 3 3x3)\n  |               ^\n" in str(info.value)


def test_one_definition_of_a_line() -> None:
    text = "a\x0cb\u2028c\r\nd\re\nf\n"
    split_lines = diagnostics.split_lines
    assert split_lines(text) == ["a\x0cb\u2028c", "d", "e", "f"]
    assert Source(text).lines == split_lines(text)
    assert Source(text).text == "a\x0cb\u2028c\nd\ne\nf\n"
    assert split_lines("") == [] and split_lines("a") == ["a"] and split_lines("a\n\n") == ["a", ""]


def test_separators_golden(golden) -> None:
    text = (GOLDEN / "separators.x").read_text(encoding="utf-8")
    assert all(sep in text for sep in SEPARATORS + ["\xa0"])
    out = fmt(text)
    golden("fmt/separators.out.x", out)
    assert fmt(out) == out
    assert xdsl.parse(out).network.model_dump() == xdsl.parse(text).network.model_dump()


# ---- item 7: fmt checks its own output and refuses rather than corrupt -----------------------


def long_sum(terms: int) -> str:
    return HEAD + "    conv 8 3x3 pad=1" + " + 0" * terms + "\n    relu  # end\n"


def test_the_deepest_expression_a_spec_may_write_is_formatted() -> None:
    text = long_sum(MAX_NESTING)
    assert fmt(text) == text


def test_the_meaning_check_compares_trees_deeper_than_pydantic_dumps() -> None:
    def chain(terms: int, last: int) -> t.Expr:
        expr: t.Expr = t.Num(span=Span.point(1, 1), value=1)
        for i in range(terms):
            right = t.Num(span=Span.point(2, i + 1), value=last if i == terms - 1 else 0)
            expr = t.BinOp(span=Span.point(3, i + 1), op="+", left=expr, right=right)
        return expr

    with warnings.catch_warnings():
        # pydantic: "Maximum serialization depth exceeded" (2.14), "Circular reference detected
        # (depth exceeded)" (2.13)
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="depth exceeded"):
            chain(3000, 0).model_dump()
        assert first_difference(chain(3000, 0), chain(3000, 0)) is None
        changed = first_difference(chain(3000, 0), chain(3000, 5))
        assert changed is not None and changed.span == Span.point(2, 3000)
        assert first_difference(chain(3000, 0), chain(2999, 0)) is not None


def test_fmt_refuses_output_that_means_something_else(monkeypatch: pytest.MonkeyPatch) -> None:
    number = printer._number
    monkeypatch.setattr(printer, "_number", lambda v: "7" if v == 0 else number(v))
    error = refusal(long_sum(50))
    [diag] = error.diagnostics
    assert diag.message == ("xdsl fmt would change the meaning of the spec here (a bug in "
                            "xdsl fmt); nothing was written")
    assert diag.span is not None and (diag.span.line, diag.span.column) == (3, 24)
    assert str(error).startswith("t.x:3:24: error: xdsl fmt would change the meaning")


def test_fmt_refuses_output_that_loses_a_comment(monkeypatch: pytest.MonkeyPatch) -> None:
    split = printer._split_comment
    monkeypatch.setattr(printer, "_split_comment",
                        lambda line: (split(line)[0], "") if "drop" in line else split(line))
    [diag] = refusal(HEAD + "    relu  # keep\n    tanh  # drop me\n").diagnostics
    assert diag.message == ("xdsl fmt would lose or change this comment (a bug in xdsl fmt); "
                            "nothing was written")
    assert diag.span is not None and (diag.span.line, diag.span.column) == (4, 11)


def test_fmt_refuses_output_that_does_not_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    arg = printer.arg
    monkeypatch.setattr(printer, "arg", lambda a: "stride=(" if a.name == "stride" else arg(a))
    text = HEAD + "    relu\n    conv 8 3x3 stride=2\n"
    [diag] = refusal(text).diagnostics
    assert diag.message.startswith("xdsl fmt would write text that does not parse "
                                   "(a bug in xdsl fmt); nothing was written: ")
    assert diag.span is not None and diag.span.line == 4


def test_the_cli_leaves_a_file_it_refuses_to_format_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    number = printer._number
    monkeypatch.setattr(printer, "_number", lambda v: "7" if v == 0 else number(v))
    path = tmp_path / "s.x"
    text = long_sum(3)
    path.write_text(text)
    result = CliRunner().invoke(main, ["fmt", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{path}:3:24: error: xdsl fmt would change the meaning")
    assert path.read_text() == text


# ---- item 14: the rewrite is atomic --------------------------------------------------------------


def test_fmt_under_a_file_size_limit_leaves_the_spec_whole(tmp_path: Path) -> None:
    path = tmp_path / "xception.x"
    data = (ROOT / "specs" / "xception.x").read_bytes().replace(b"\n", b"\r\n")
    path.write_bytes(data)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    result = subprocess.run([sys.executable, "-m", "xdsl", "fmt", str(path)], text=True,
                            capture_output=True, timeout=120, preexec_fn=limit)
    assert path.read_bytes() == data
    assert result.returncode == 1
    assert f"cannot write {path}: File too large; it is left as it was" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["xception.x"]


def test_fmt_keeps_the_mode_and_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.x"
    real.write_text(HEAD + "    relu;tanh\n")
    real.chmod(0o640)
    link = tmp_path / "link.x"
    link.symlink_to(real)
    assert CliRunner().invoke(main, ["fmt", str(link)]).exit_code == 0
    assert real.read_text() == HEAD + "    relu; tanh\n"
    assert link.is_symlink() and os.stat(real).st_mode & 0o7777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.x", "real.x"]


def test_fmt_of_standard_input_is_capped_too() -> None:
    result = CliRunner().invoke(main, ["fmt", "-", "--max-spec-size", "1KiB"],
                                input=HEAD + "    relu  # " + "x" * 2000 + "\n")
    assert result.exit_code == 1
    assert result.output.startswith(f"<stdin>:3:{1024 - len(HEAD) + 1}: error: the spec is "
                                    "larger than the limit of 1 KiB")


def test_the_fuzzing_oracle_reports_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal is a located spec error, which the oracle otherwise accepts: it must still be
    reported as the fmt bug it is."""
    from fuzz.mutate import Case, encode
    from fuzz.oracle import Workspace, run

    workspace = Workspace()
    try:
        case = Case("bomb/long_expression", encode(long_sum(3)))
        assert run(case, workspace).failures == []
        number = printer._number
        monkeypatch.setattr(printer, "_number", lambda v: "7" if v == 0 else number(v))
        assert {f.signature for f in run(case, workspace).failures} == {
            "fmt|fmt-refused|xdsl fmt would change the meaning of the spec here (a bug in xdsl "
            "fmt); nothing was writte"}
    finally:
        workspace.close()
