"""xdsl fmt: canonical, idempotent, meaning-preserving and comment-preserving."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from spec_strategies import SHIPPED, generated_spec

from xdsl.cli import main
from xdsl.diagnostics import Source
from xdsl.parser import parse
from xdsl.printer import fingerprint, format_source

GOLDEN = Path(__file__).parent / "golden" / "fmt"


def fmt(text: str) -> str:
    return format_source(Source(text))


def comments(text: str) -> list[str]:
    return sorted(m.group(0).rstrip() for m in re.finditer(r"#[^\n]*", text)
                  if text[: m.start()].count('"') % 2 == 0)


def assert_canonical(text: str) -> str:
    out = fmt(text)
    assert parse(out).model_dump() == parse(text).model_dump(), out
    assert fmt(out) == out, "formatting twice changes the text"
    assert comments(out) == comments(text)
    return out


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_specs_are_canonical(path: Path) -> None:
    text = path.read_text()
    assert assert_canonical(text) == text


def test_messy_spec_golden(golden) -> None:
    out = assert_canonical((GOLDEN / "messy.x").read_text())
    golden("fmt/messy.out.x", out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_spec())
def test_generated_specs_round_trip(text: str) -> None:
    assert_canonical(text)


def test_cli_check_and_rewrite(tmp_path: Path) -> None:
    messy = tmp_path / "m.x"
    messy.write_text((GOLDEN / "messy.x").read_text())
    runner = CliRunner()
    result = runner.invoke(main, ["fmt", "--check", str(messy)])
    assert result.exit_code == 1 and "would reformat" in result.output
    assert runner.invoke(main, ["fmt", str(messy)]).exit_code == 0
    assert runner.invoke(main, ["fmt", "--check", str(messy)]).exit_code == 0
    stdin = runner.invoke(main, ["fmt", "-"], input="network n:\n  input x: 3x8x8\n  relu\n")
    assert stdin.output == "network n:\n    input x: 3 x 8 x 8\n    relu\n"


def test_fmt_refuses_invalid_specs_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.x"
    bad.write_text("network n:\n    input x: 3x8x8\n    conv 3 3x3)\n")
    result = CliRunner().invoke(main, ["fmt", str(bad)])
    assert result.exit_code == 1 and "unmatched `)`" in result.output
    assert bad.read_text().endswith("3x3)\n")  # untouched


def test_fingerprint_names_the_architecture_not_the_layout() -> None:
    text = (GOLDEN / "messy.x").read_text()
    tree = parse(text)
    assert fingerprint(tree) == fingerprint(parse(fmt(text)))
    assert fingerprint(tree) != fingerprint(tree, {"c": 32})
    assert fingerprint(tree) != fingerprint(parse(text.replace("dropout 0.25", "dropout 0.5")))
    assert re.fullmatch(r"[0-9a-f]{12}", fingerprint(tree))


@pytest.mark.parametrize(("written", "printed"), [
    ("1e-6", "1e-6"), ("1E-06", "1e-6"), ("1.5e-7", "1.5e-7"), ("2e+16", "2e16"),
    ("1e22", "1e22"), ("1e-3", "0.001"), ("0.5", "0.5"), ("3.", "3.0"), ("1e2", "100.0"),
])
def test_floats_print_without_padded_exponents(written: str, printed: str) -> None:
    text = f"network n(eps: float = {written}):\n    input x: 3 x 8 x 8\n    bn eps=eps\n"
    out = assert_canonical(text)
    assert out == text.replace(f"= {written}", f"= {printed}")
