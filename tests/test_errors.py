"""Malformed specs: golden files of the exact error text (tests/golden/errors/*.x → *.err)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import xdsl
from xdsl.audit import audit
from xdsl.cli import main

CASES = sorted((Path(__file__).parent / "golden" / "errors").glob("*.x"))
LOCATION = re.compile(r"^tests/golden/errors/\w+\.x:\d+:\d+: error: .+", re.M)


def error_text(path: Path) -> str:
    relative = path.relative_to(Path(__file__).parent.parent).as_posix()
    with pytest.raises(xdsl.SpecError) as info:  # an audit also evaluates the audit sections
        audit(xdsl.parse(relative))
    return info.value.render() + "\n"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parent.parent)


def test_there_are_many_distinct_mistakes() -> None:
    kinds = {p.stem.split("_")[0] for p in CASES}
    assert len(CASES) >= 25
    assert kinds == {"syntax", "name", "arity", "type", "shape", "limit"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_error_text_matches_golden(path: Path, golden) -> None:
    text = error_text(path)
    golden(f"errors/{path.stem}.err", text)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_error_has_place_caret_and_hint(path: Path) -> None:
    text = error_text(path)
    blocks = [b for b in text.strip().split("\n\n") if "error:" in b]
    assert blocks
    for block in blocks:
        assert LOCATION.search(block), block
        assert re.search(r"^\s*\d+ \| ", block, re.M), f"no source line in:\n{block}"
        assert re.search(r"^\s+\| *\^+", block, re.M), f"no caret in:\n{block}"
        assert "= hint: " in block, f"no hint in:\n{block}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_cli_exits_1_without_traceback(path: Path) -> None:
    relative = path.relative_to(Path(__file__).parent.parent).as_posix()
    result = CliRunner().invoke(main, ["audit", relative])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith(relative + ":")


def test_several_errors_are_reported_in_one_run() -> None:
    text = error_text(Path("tests/golden/errors/name_several_at_once.x").resolve())
    assert text.count("error:") == 3
    assert text.rstrip().endswith("3 errors found")
