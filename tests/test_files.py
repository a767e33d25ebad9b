"""Issue 11, items 5, 12, 14 (compile) and 15: spec files are untrusted input.

Every file problem (missing, a directory, a device, a FIFO, unreadable, too large, not a spec)
is a clear error that names the file or points at the variant line naming it, never an
``OSError``, a hang or an error that quotes a file that is not a spec. Commands that read
devices or FIFOs run in a subprocess with a timeout and a memory cap, so that a regression fails
the test instead of hanging it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import xdsl
from xdsl.cli import main
from xdsl.diagnostics import Diagnostic, Source, Span, SpecError, render

ROOT = Path(__file__).resolve().parent.parent
HEAD = "network t(d: int = 2):\n    input image: 3 x 8 x 8\n"
TINY = HEAD + "    conv 4 3x3; relu\n    global avgpool; linear 2\n"


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def run_process(*args: str, timeout: float = 60, fsize: int | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``xdsl ARGS`` in a child process with 2 GiB of address space (and a file-size limit)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "xdsl", *args], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit, cwd=cwd)


def spec_error(spec: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        xdsl.parse(spec)
    return info.value


# ---- item 5: a variant's base that cannot be read is a located error ---------------------------


def _hostile_bases(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "folder.x").mkdir()
    os.mkfifo(tmp_path / "pipe.x")
    (tmp_path / "loop.x").symlink_to(tmp_path / "loop.x")
    (tmp_path / "plain.x").write_text(TINY)
    return {"folder.x": "it is a directory",
            "pipe.x": "it is not a regular file (a FIFO)",
            "loop.x": "Too many levels of symbolic links",
            "x" * 300 + ".x": "File name too long",
            "plain.x/inner.x": "does not exist",
            "nonexistent.x": "does not exist"}


@pytest.mark.parametrize("base", ["folder.x", "pipe.x", "loop.x", "x" * 300 + ".x",
                                  "plain.x/inner.x", "nonexistent.x"])
def test_a_variant_base_that_cannot_be_read_is_a_located_spec_error(base: str,
                                                                     tmp_path: Path) -> None:
    reason = _hostile_bases(tmp_path)[base]
    variant = tmp_path / "v.x"
    variant.write_text(f'# a variant\nvariant v of "{base}" (d=3)\n')
    [diag] = spec_error(str(variant)).diagnostics
    assert diag.span is not None and (diag.span.line, diag.span.column) == (2, 1)
    assert diag.message.startswith("variant `v` names a base spec that ")
    assert reason in diag.message
    result = run("check", str(variant))
    assert result.exit_code == 1
    assert result.output.startswith(f"{variant}:2:1: error: variant `v` names a base spec")


# ---- item 12: a variant's base must be a spec ----------------------------------------------


@pytest.mark.parametrize("base", ["/etc/passwd", "/dev/zero", "/proc/self/mem", "/dev/null",
                                  "..", "/", "notes.txt"])
def test_a_variant_base_that_is_not_a_spec_is_refused_without_reading_it(
        base: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("root:x:0:0:secret\n")
    variant = tmp_path / "v.x"
    variant.write_text(f'variant v of "{base}"\n')
    error = spec_error(str(variant))
    [diag] = error.diagnostics
    assert diag.message == f'variant `v` is based on "{base}", which is not a spec'
    assert diag.hint == ("a base is a `.x` file (its path relative to the variant's file) or "
                         "a shipped spec's name, such as `xception`")
    assert diag.span is not None and diag.span.line == 1
    rendered = error.render()
    assert "root:" not in rendered and "secret" not in rendered
    assert len(rendered) < 400


def test_a_variant_can_name_a_shipped_spec_as_its_base(tmp_path: Path) -> None:
    variant = tmp_path / "v.x"
    variant.write_text('variant narrow of "xception" (segments=4)\n')
    summary = xdsl.check(str(variant))
    assert summary.network == "narrow"
    assert replace(summary, network="xception") == xdsl.check("xception", segments=4)
    variant.write_text('variant narrow of "variants/xception_s4" (width=256)\n')
    assert replace(xdsl.check(str(variant)), network="xception_s4") == \
        xdsl.check("variants/xception_s4", width=256)
    variant.write_text('variant narrow of "xceptoin"\n')
    [diag] = spec_error(str(variant)).diagnostics
    assert diag.message == 'variant `narrow` is based on "xceptoin", which is not a spec'
    assert diag.hint.endswith("; did you mean `xception`?")


def test_a_huge_variant_base_prints_a_short_error(tmp_path: Path) -> None:
    big = tmp_path / "big.x"
    with open(big, "wb") as f:  # sparse: 50 MB of zero bytes without writing them
        f.truncate(50_000_000)
    variant = tmp_path / "v.x"
    variant.write_text('variant v of "big.x"\n')
    error = spec_error(str(variant))
    [diag] = error.diagnostics
    assert diag.message == ("the spec is larger than the limit of 1 MiB (1,048,576 bytes)")
    assert diag.span == Span.point(1, 1_048_577)
    assert error.source is not None and error.source.name.endswith("big.x")
    assert len(error.render()) < 1000


# ---- item 15: only regular files, and at most --max-spec-size of them --------------------------


def test_check_refuses_a_device_without_reading_it() -> None:
    result = run_process("check", "/dev/zero", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "cannot read /dev/zero: it is not a regular file (a character device)" in \
        result.stderr


def test_check_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "spec.x")
    result = run_process("check", str(tmp_path / "spec.x"), timeout=60)
    assert result.returncode == 2
    assert f"cannot read {tmp_path / 'spec.x'}: it is not a regular file (a FIFO)" in \
        result.stderr


def test_an_unreadable_regular_file_is_a_usage_error_not_an_internal_error() -> None:
    result = run("check", "/proc/self/mem")  # a regular file whose first read fails with EIO
    assert result.exit_code == 2
    assert "cannot read /proc/self/mem: Input/output error" in result.output


def test_a_path_too_long_for_the_system_is_a_usage_error() -> None:
    result = run("check", "x" * 300 + ".x")
    assert result.exit_code == 2
    assert f"cannot read {'x' * 300}.x: File name too long" in result.output


def test_a_spec_larger_than_the_limit_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "long.x"
    path.write_text(TINY + "    # " + "x" * 2000 + "\n")
    assert run("check", str(path), "--max-spec-size", "3KiB").exit_code == 0
    result = run("check", str(path), "--max-spec-size", "1KiB")
    assert result.exit_code == 1
    column = 1024 - len(TINY) + 1
    assert result.output.startswith(f"{path}:5:{column}: error: the spec is larger than the "
                                    "limit of 1 KiB (1,024 bytes)\n")
    assert "hint: raise the limit with --max-spec-size" in result.output
    for command in (["audit"], ["diff"], ["export"], ["draw"], ["fmt", "--check"]):
        assert run(*command, str(path), "--max-spec-size", "1KiB").exit_code == 1, command


def test_the_default_limit_is_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "big.x"
    path.write_text(TINY + "#" * (2**20 - len(TINY) - 1) + "\n")
    assert len(path.read_bytes()) == 2**20
    assert run("check", str(path)).exit_code == 0
    path.write_text(TINY + "#" * (2**20 - len(TINY)) + "\n")
    result = run("check", str(path))
    assert result.exit_code == 1 and "limit of 1 MiB" in result.output
    with xdsl.files.spec_size_limit(2 * 2**20):
        assert xdsl.check(str(path)).network == "t"


def test_a_long_line_prints_a_short_excerpt_with_the_caret_in_place() -> None:
    line = "    relu; " * 10_000 + "oops 3; relu"
    source = Source(HEAD + line + "\n", "long.x")
    column = line.index("oops") + 1
    text = render(Diagnostic("unknown layer `oops`", Span(line=3, column=column, end_line=3,
                                                           end_column=column + 3)), source)
    _, _, excerpt, carets = text.splitlines()
    assert len(excerpt) < 260
    assert excerpt.startswith("3 | …") and excerpt.endswith("oops 3; relu")
    assert excerpt[carets.index("^"):].startswith("oops ")
    assert carets.count("^") == 4


def test_a_huge_name_is_quoted_by_its_ends(tmp_path: Path) -> None:
    path = tmp_path / "name.x"
    path.write_text(HEAD + "    " + "n" * 100_000 + " 3\n")
    result = run("check", str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first == (f"{path}:3:5: error: unknown layer or block `{'n' * 40}…{'n' * 40}`")
    assert len(result.output) < 1000


# ---- item 14: compile never overwrites the spec it reads ---------------------------------------


@pytest.mark.parametrize("option", ["--export-py", "-o", "--onnx"])
def test_compile_refuses_to_write_over_its_spec(option: str, tmp_path: Path) -> None:
    spec = tmp_path / "s.x"
    spec.write_text(TINY)
    result = run("compile", str(spec), option, str(spec))
    assert result.exit_code == 2
    assert f"{spec} is the spec being compiled" in result.output
    assert spec.read_text() == TINY


def test_compile_refuses_to_write_over_a_variants_base(tmp_path: Path) -> None:
    (tmp_path / "base.x").write_text(TINY)
    (tmp_path / "v.x").write_text('variant v of "base.x" (d=3)\n')
    link = tmp_path / "link.py"
    link.symlink_to(tmp_path / "base.x")
    result = run("compile", str(tmp_path / "v.x"), "--export-py", str(link))
    assert result.exit_code == 2 and "is the spec being compiled" in result.output
    assert (tmp_path / "base.x").read_text() == TINY
