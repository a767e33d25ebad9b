"""Odd input found in review: each gets a clean error or the right result, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import xdsl
from xdsl.cli import main
from xdsl.diagnostics import Source
from xdsl.parser import parse
from xdsl.printer import format_source

HEAD = "network t(d: int = 2):\n    input image: 3 x 8 x 8\n"


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result


def test_byte_order_mark_and_any_line_ends_are_read(tmp_path: Path) -> None:
    for name, data in [("bom.x", b"\xef\xbb\xbf" + HEAD.encode() + b"    relu\n"),
                       ("crlf.x", (HEAD + "    relu\n").replace("\n", "\r\n").encode()),
                       ("cr.x", (HEAD + "    relu\n").replace("\n", "\r").encode())]:
        path = tmp_path / name
        path.write_bytes(data)
        assert run("check", str(path)).exit_code == 0
        assert run("fmt", str(path)).exit_code == 0
        assert path.read_text() == HEAD + "    relu\n"


@pytest.mark.parametrize("args", [["check", "/"], ["check", "xception", "--max-param-memory",
                                                               "-1"],
                                  ["check", "xception", "--max-param-memory", "1e400"]])
def test_bad_paths_and_sizes_are_usage_errors(args: list[str]) -> None:
    assert run(*args).exit_code == 2


def test_overflowing_numbers_and_deep_nesting_are_spec_errors() -> None:
    with pytest.raises(xdsl.SpecError, match="1e400 is too large"):
        parse(HEAD + "    bn eps=1e400\n")
    deep = HEAD + "    conv 8 3x3 pad=" + "(" * 500 + "1" + ")" * 500 + "\n"
    with pytest.raises(xdsl.SpecError, match="nests too deeply"):
        parse(deep)


def test_fmt_keeps_float_audit_figures_and_else_placement() -> None:
    text = (HEAD + "    if d > 1:\n        relu\n    else:  # other\n        tanh\n"
            "    audit:\n        macs = 1.5e9\n        trainable = 1000000\n")
    out = format_source(Source(text))
    assert parse(out).model_dump() == parse(text).model_dump()
    assert "    else:  # other\n        tanh\n" in out
    assert "macs = 1500000000.0" in out and "trainable = 1,000,000" in out


def test_comments_on_continuation_lines_stay_on_their_statement() -> None:
    text = ("network t(c: int = 10,  # classes\n          d: int = 2):  # depth\n"
            "    input image: 3 x 8 x 8\n    relu\n")
    first = format_source(Source(text)).splitlines()[0]
    assert first.endswith("# classes  # depth")


def test_variant_errors_name_the_variant(tmp_path: Path) -> None:
    base = Path(__file__).resolve().parent.parent / "specs" / "xception.x"
    (tmp_path / "xception.x").write_text(base.read_text())
    (tmp_path / "bad.x").write_text('variant bad of "xception.x" (segments=3)\n')
    (tmp_path / "bad2.x").write_text('variant bad2 of "xception.x":\n    audit:\n'
                                     "        trainable = 5 // 0\n")
    out = run("check", str(tmp_path / "bad.x")).output
    assert "while building variant `bad`" in out and "bad.x:1: segments=3" in out
    out = run("audit", str(tmp_path / "bad2.x")).output
    assert out.startswith(f"{tmp_path / 'bad2.x'}:3:26: error: division by zero")


def test_audit_without_applicable_checks_says_so() -> None:
    out = run("audit", "xception", "--set", "classes=10", "--blocks-only").output
    assert "no checks apply at these parameters" in out


def test_compile_output_into_a_missing_folder_is_a_usage_error() -> None:
    result = run("compile", "mini_xception", "-o", "/nonexistent/folder/m.pt")
    assert result.exit_code == 2 and "does not exist" in result.output


# ---- issue 11, item 9: valid specs never fail inside `xdsl compile` ----------------------------

ESCAPED = ("network e:\n    input image: 3 x 8 x 8\n"
           "    flow training:\n        conv 4 3x3\n"
           "    flow training_:\n        conv 4 1x1\n"
           "    flow inplace:\n        conv 4 1x1; relu\n")


def test_names_that_collide_after_escaping_compile_to_distinct_modules(tmp_path: Path) -> None:
    from xdsl.backends.pytorch.build import export_python

    model = xdsl.compile(ESCAPED)
    keys = ["training_.conv1.weight", "training_.conv1.bias", "training__.conv1.weight",
            "training__.conv1.bias", "inplace_.conv1.weight", "inplace_.conv1.bias"]
    assert list(model.state_dict()) == keys
    assert model.inplace is True and model.training is True
    path = tmp_path / "e.x"
    path.write_text(ESCAPED)
    result = run("compile", str(path), "--export-py", str(tmp_path / "e.py"))
    assert result.exit_code == 0, result.output
    namespace: dict = {}
    exec(compile(export_python(ESCAPED), "e.py", "exec"), namespace)  # noqa: S102
    assert list(namespace["E"]().state_dict()) == keys


@pytest.mark.parametrize("layer, option", [("elu alpha=1e308 * 10", "alpha"),
                                           ("bn eps=1e308 * 10", "eps"),
                                           ("elu alpha=(1e308 * 10) - (1e308 * 10)", "alpha")])
def test_infinite_or_nan_option_values_are_spec_errors(layer: str, option: str,
                                                       tmp_path: Path) -> None:
    text = HEAD + f"    conv 4 3x3; {layer}\n"
    with pytest.raises(xdsl.SpecError, match=rf"`{option}` of `\w+` must be a finite number"):
        xdsl.check(text)
    path = tmp_path / "inf.x"
    path.write_text(text)
    result = run("check", str(path))
    assert result.exit_code == 1
    column = text.splitlines()[2].index(f"{option}=") + 1
    assert f"inf.x:3:{column}: error: `{option}` of" in result.output
