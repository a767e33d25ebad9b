"""Issue 11, items 1, 2, 3, 4, 6 and 8: every resource bomb and huge input stops early with a
located spec error (never a hang, never an internal error).

Each test is a minimal reproducer. Times are not asserted (the CI machine is shared): the work
done before the error is, through the counters the errors report, and they are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import xdsl
from xdsl.cli import main
from xdsl.diagnostics import Diagnostic, SpecError
from xdsl.graph import MAX_DEPTH, MAX_ERRORS, Limits, activation_peak
from xdsl.parser import MAX_NESTING

HEAD = "network bomb:\n    input image: 3 x 8 x 8\n"


def errors(spec: str, limits: Limits | None = None, **params: object) -> list[Diagnostic]:
    with pytest.raises(SpecError) as info:
        xdsl.graph(xdsl.parse(spec), limits=limits, **params)
    return info.value.diagnostics


def only(spec: str, limits: Limits | None = None) -> Diagnostic:
    [diag] = errors(spec, limits)
    assert diag.span is not None
    return diag


def where(diag: Diagnostic) -> tuple[int, int]:
    assert diag.span is not None
    return diag.span.line, diag.span.column


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result


# ---- item 1: the work of elaboration is bounded, not only the layers kept --------------------

NESTED_FALSE_IF = HEAD + "    repeat 1000:\n        repeat 1000:\n            repeat 1000:\n" \
    "                relu if false\n    relu\n"
DOUBLING = HEAD + "    block b0(): relu if false\n" + "".join(
    f"    block b{i}(): b{i - 1}(); b{i - 1}()\n" for i in range(1, 21)) + "    b20()\n"


def test_nested_repeats_that_build_nothing_stop_after_their_first_iteration() -> None:
    diag = only(NESTED_FALSE_IF)
    assert diag.message == "elaboration takes more than 150,000 steps"
    # the middle repeat: after its first iteration (the whole inner repeat) the rest is foreseen
    assert where(diag) == (4, 9)
    assert diag.notes == ("1,003 steps taken; this repeat's 999 remaining iterations would take "
                          "1,001 steps each",)
    assert "--max-work" in diag.hint


def test_blocks_that_call_another_twice_stop_at_the_step_limit() -> None:
    limit = Limits(max_work=5000)
    diag = only(DOUBLING, limit)
    assert diag.message == "elaboration takes more than 5,000 steps"
    assert diag.notes == ("5,001 steps taken",)
    assert where(diag) == (4, 23)  # the second `b0()` in `b1`: 5,000 steps were taken before
    # the 20 calls that led there, innermost first, the middle ones counted
    assert [n.message for n in diag.trace] == [
        *(f"in b{i}(), called" for i in range(1, 7)), "… 9 calls in between",
        *(f"in b{i}(), called" for i in range(16, 21))]
    assert only(DOUBLING).message == "elaboration takes more than 150,000 steps"


def test_the_step_limit_counts_what_it_says() -> None:
    """Statements, `then` layers and block calls each count one step; a repeat's statements
    count once per iteration."""
    spec = HEAD + "    defaults:\n        conv: then relu\n" \
        "    block b(): conv 4 1x1; relu if false\n    repeat 3: b()\n"
    # per iteration: repeat body `b()` (1), its conv (1), the conv's relu (1), `relu if false` (1)
    assert xdsl.graph(spec, limits=Limits(max_work=13)).number_of_nodes() == 7
    diag = only(spec, Limits(max_work=12))
    assert diag.message == "elaboration takes more than 12 steps"


def test_a_misspelt_limit_is_an_error_not_ignored() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_steps"):
        Limits(max_steps=10)  # type: ignore[call-arg]


def test_the_same_error_in_every_iteration_stops_after_max_errors() -> None:
    spec = HEAD + "    repeat 1000:\n        repeat 1000: conv 8 3x3 stride=0\n"
    diags = errors(spec)  # the same error at the same place is shown once
    assert [d.message for d in diags] == ["`stride` of `conv` must be ≥ 1, got 0",
                                          f"elaboration stopped after {MAX_ERRORS:,} errors"]
    assert where(diags[0]) == where(diags[1]) == (4, 33)


# ---- item 8: a limit that will be hit is reported before the work is done --------------------


def test_the_layer_limit_is_foreseen_from_a_repeats_first_iteration() -> None:
    spec = HEAD + "    repeat 100:\n        repeat 1000: relu\n"
    diag = only(spec)
    assert diag.message == "the network expands to more than 100,000 layers"
    assert where(diag) == (3, 5)
    assert diag.notes == ("1,001 layers built; this repeat's 99 remaining iterations would add "
                          "1,000 layers each",)


def test_the_parameter_limit_is_foreseen_from_a_repeats_second_iteration() -> None:
    spec = "network p:\n    input v: 128\n    repeat 99:\n        repeat 1000: linear 128\n"
    diag = only(spec)
    assert diag.message == "the parameters need more than 4 GiB as float32"
    assert where(diag) == (3, 5)
    assert diag.notes == ("33,024,000 values so far; this repeat's 97 remaining iterations "
                          "would add 16,512,000 values each",)


def test_a_repeat_that_ends_exactly_at_the_limit_is_not_refused() -> None:
    spec = HEAD + "    repeat 10:\n        repeat 100: relu\n"
    assert xdsl.graph(spec, limits=Limits(max_nodes=1001)).number_of_nodes() == 1001
    diag = only(spec, Limits(max_nodes=1000))
    assert diag.notes == ("101 layers built; this repeat's 9 remaining iterations would add "
                          "100 layers each",)


# ---- item 2: feature maps that cannot fit are refused before the forward pass ---------------


def test_activation_peak_counts_live_feature_maps() -> None:
    spec = HEAD + "    conv 16 3x3 pad=1 as a\n    conv 16 3x3 pad=1\n    add(a)\n"
    g = xdsl.graph(spec)
    # while the add runs: `a`, the second conv's output and the sum (each 16x8x8); the image
    # was freed after the first conv read it
    assert activation_peak(g) == (3 * 16 * 64 * 4, "add1")
    assert activation_peak(g, batch=3) == (3 * 3 * 16 * 64 * 4, "add1")


@pytest.mark.parametrize(("body", "layer", "where_"), [
    ("    input image: 3 x 100000 x 100000\n    relu\n", "image", (2, 5)),
    ("    input image: 3 x 8 x 8\n    maxpool 3x3 pad=1000000000\n", "maxpool1", (3, 5))])
def test_huge_feature_maps_are_a_located_limit_error(body: str, layer: str,
                                                     where_: tuple[int, int]) -> None:
    diag = only("network big:\n" + body)
    assert diag.message == "the feature maps need more than 4 GiB as float32 at batch 1"
    assert where(diag) == where_
    assert diag.notes[0].startswith(f"at `{layer}` (")
    assert "--max-activation-memory" in diag.hint


def test_compile_checks_feature_maps_at_its_own_batch(tmp_path: Path) -> None:
    path = tmp_path / "wide.x"
    path.write_text("network wide:\n    input image: 3 x 256 x 256\n    conv 64 3x3 pad=1\n")
    # batch 1 peaks at (3 + 64) x 256 x 256 x 4 bytes = 17,563,648 bytes; batch 2 twice that
    assert activation_peak(xdsl.graph(str(path)))[0] == 17_563_648
    ok = run("check", str(path), "--max-activation-memory", "20MB")
    assert ok.exit_code == 0, ok.output
    refused = run("compile", str(path), "--optimize", "--max-activation-memory", "20MB")
    assert refused.exit_code == 1
    assert refused.output.startswith(f"{path}:3:5: error: the feature maps need more than "
                                     "19.1 MiB as float32 at batch 2")


# ---- item 3: recursion limits are located errors ---------------------------------------------


def test_a_long_sum_is_a_located_nesting_error() -> None:
    spec = HEAD + "    conv 8 3x3 pad=(1" + " + 0" * 20000 + ")\n"
    [diag] = parse_errors(spec)
    assert diag.message == f"this expression nests too deeply (more than {MAX_NESTING} levels)"
    assert where(diag) == (3, len("    conv 8 3x3 pad=(") + 1)  # where the sum starts
    assert diag.notes == ("a chain of 20,000 operators counts 20,000 levels",)


def test_deep_parentheses_and_statements_are_located_nesting_errors() -> None:
    parens = HEAD + "    conv 8 3x3 pad=" + "(" * 2000 + "1" + ")" * 2000 + "\n"
    [diag] = parse_errors(parens)
    assert diag.message == f"this expression nests too deeply (more than {MAX_NESTING} levels)"
    assert where(diag) == (3, 5 + len("conv 8 3x3 pad=") + MAX_NESTING)  # the 101st `(`
    nested = HEAD + "".join("    " * (i + 1) + "residual:\n" for i in range(400)) \
        + "    " * 401 + "relu\n"
    [diag] = parse_errors(nested)
    assert diag.message == f"statements nest too deeply (more than {MAX_NESTING} levels)"
    assert where(diag) == (3 + MAX_NESTING, 5 + 4 * MAX_NESTING)


def parse_errors(spec: str) -> list[Diagnostic]:
    with pytest.raises(SpecError) as info:
        xdsl.parse(spec)
    assert info.value.source is not None
    return info.value.diagnostics


def test_a_long_chain_of_block_calls_is_a_located_depth_error() -> None:
    spec = HEAD + "    block b0(): relu\n" + "".join(
        f"    block b{i}(): b{i - 1}()\n" for i in range(1, 1501)) + "    b1500()\n"
    diag = only(spec)
    assert diag.message == f"blocks and statements nest too deeply (more than {MAX_DEPTH} levels)"
    # b1500 is called at network level (depth 1); each call's body is one level deeper
    assert where(diag) == (1503 - MAX_DEPTH + 1, 20)
    chain = [n.message for n in diag.trace]
    assert chain[0] == f"in b{1500 - MAX_DEPTH + 1}(), called" and chain[-1] == "in b1500(), called"
    assert len(chain) == 12 and chain[6] == f"… {MAX_DEPTH - 11} calls in between"


def test_a_chain_of_blocks_within_the_depth_limit_builds() -> None:
    spec = HEAD + "    block b0(): relu\n" + "".join(
        f"    block b{i}(): b{i - 1}()\n" for i in range(1, 90)) + "    b89()\n"
    assert list(xdsl.graph(spec))[-1] == ".".join(f"b{i}1" for i in range(89, -1, -1)) \
        + ".relu1"


# ---- item 4: a huge integer literal is a located error ---------------------------------------


@pytest.mark.parametrize(("line", "column"), [("    linear {n}\n", 12),
                                              ("    maxpool {n}x3\n", 13)])
def test_a_huge_integer_literal_is_a_located_error(line: str, column: int) -> None:
    [diag] = parse_errors(HEAD + line.format(n="9" * 4400))
    assert diag.message == "the number 999999…9999 (4,400 digits) is too large"
    assert where(diag) == (3, column)


def test_a_number_above_two_to_the_62_is_too_large_and_one_below_is_not() -> None:
    big = 2**62
    [diag] = parse_errors(HEAD + f"    linear {big + 1}\n")
    assert diag.message == f"the number {big + 1} is too large"
    assert xdsl.parse(HEAD + f"    dropout {big} * 0\n")


# ---- item 6: every error is located ----------------------------------------------------------


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.x"
    path.write_bytes(HEAD.encode() + "    relu  # café\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        xdsl.parse(str(path))
    [diag] = info.value.diagnostics
    byte = len(HEAD.encode()) + len("    relu  # caf")
    assert diag.message == f"the spec is not UTF-8 text (byte {byte})"
    assert where(diag) == (3, 16)
    out = run("check", str(path)).output
    assert out.startswith(f"{path}:3:16: error: the spec is not UTF-8")
    assert "3 |     relu  # caf\ufffd" in out
    # after a byte-order mark and Windows line ends: the byte counts in the file, the column
    # in the line as read
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(SpecError) as info:
        xdsl.parse(str(path))
    [diag] = info.value.diagnostics
    assert diag.message == f"the spec is not UTF-8 text (byte {3 + byte + 2})"
    assert where(diag) == (3, 16)


# ---- the statements of a spec (issue 11: 20,000 lines took seconds in every command) -----------


def test_a_spec_over_the_statement_limit_stops_at_the_first_statement_over() -> None:
    from xdsl.parser import DEFAULT_MAX_STATEMENTS

    assert DEFAULT_MAX_STATEMENTS == 5_000
    # the input and 4,999 layers: at the limit, parsed
    assert len(xdsl.parse(HEAD + "    relu\n" * 4_999).network.body) == 4_999
    # one more, then a syntax error far below: the limit is met first, parsing stops there
    [diag] = errors(HEAD + "    relu\n" * 5_000 + "    relu(\n" * 10)
    assert diag.message == "the spec has more than 5,000 statements"
    assert (diag.span.line, diag.span.column, diag.span.end_column) == (5_002, 5, 8)
    assert diag.hint == ("write repeated layers with `repeat` or a block, or raise the limit "
                         "(--max-statements)")


def test_statements_on_one_line_and_compound_ones_count() -> None:
    from xdsl.parser import statement_limit

    spec = HEAD + "    repeat 2:\n        relu; relu\n    relu\n"  # input, 2 layers, repeat, 1
    with statement_limit(5):
        assert len(xdsl.parse(spec).network.body) == 2
    with statement_limit(4), pytest.raises(SpecError) as info:
        xdsl.parse(spec)
    [diag] = info.value.diagnostics
    assert diag.message == "the spec has more than 4 statements"
    assert where(diag) == (5, 5)  # the last `relu`: a repeat is counted when it ends


def test_the_statement_limit_is_an_option(tmp_path: Path) -> None:
    spec = HEAD + "    relu\n" * 3
    path = tmp_path / "s.x"
    path.write_text(spec)
    assert run("check", str(path), "--max-statements", "4").exit_code == 0
    over = run("check", str(path), "--max-statements", "3")
    assert over.exit_code == 1
    assert over.output.startswith(f"{path}:5:5: error: the spec has more than 3 statements")
    assert run("check", str(path), "--max-statements", "0").exit_code == 2


# ---- nesting measured while the tree is built: the limit exactly, for every kind -------------

_PAD = "    conv 8 3x3 pad="


@pytest.mark.parametrize(("nest", "levels", "column"), [
    (lambda d: "(" * d + "1" + ")" * d, 1, len(_PAD) + 1 + MAX_NESTING),
    (lambda d: "not " * d + "1", 1, len(_PAD) + 1 + 4 * MAX_NESTING),
    (lambda d: "(1 if " * d + "1" + " else 2)" * d, 1, len(_PAD) + 1 + 6 * MAX_NESTING),
    (lambda d: "max(" * d + "1" + ")" * d, 1, len(_PAD) + 1 + 4 * MAX_NESTING),
    (lambda d: "1" + " + 1" * d, 1, len(_PAD) + 1),  # a chain is refused where it starts
    (lambda d: "1" + " or 1" * d, 1, len(_PAD) + 1),
    (lambda d: "(1 x " * d + "1" + ")" * d, 2, len(_PAD) + 1 + 5 * (MAX_NESTING // 2)),
], ids=["parentheses", "not", "conditional", "call", "sum", "or", "size"])
def test_each_kind_of_nesting_is_allowed_to_the_limit_and_refused_past_it(
        nest: Callable[[int], str], levels: int, column: int) -> None:
    from xdsl.parser import parse

    depth = MAX_NESTING // levels  # `(a x b)` nests two levels: the parenthesis and the size
    parse(HEAD + _PAD + nest(depth) + "\n")
    with pytest.raises(SpecError) as info:
        parse(HEAD + _PAD + nest(depth + 1) + "\n")
    [diag] = info.value.diagnostics
    assert "nests too deeply (more than 100 levels)" in diag.message
    assert where(diag) == (3, column)


def test_a_validation_error_repeated_many_times_is_shown_three_times_with_a_count() -> None:
    # 5,000 duplicated options on one line: every duplicate is an error, shown as the collector
    # shows repeated errors (3 and a count), not rendered 4,999 times (quadratic in the line)
    spec = "network p:\n    input image: 3 x 8 x 8\n    conv 8 3x3" + " pad=1" * 5000 + "\n"
    with pytest.raises(SpecError) as e:
        xdsl.check(spec)
    text = str(e.value)
    assert len(e.value.diagnostics) == 3 and text.count("is given twice to `conv`") == 3
    assert "4996 more errors like this one" in text


def test_a_spec_of_too_many_tokens_is_refused_where_it_crosses_the_limit() -> None:
    # one layer with 20,000 options (60,000 tokens): under the statement limit and the size cap,
    # and seconds of parsing without this bound
    from xdsl.lexer import MAX_TOKENS

    spec = "network p:\n    input image: 3 x 8 x 8\n    conv 8 3x3" + " pad=1" * 20_000 + "\n"
    with pytest.raises(SpecError) as e:
        xdsl.check(spec)
    [d] = e.value.diagnostics
    assert d.message == f"the spec has more than {MAX_TOKENS:,} tokens"
    # the first token over: 13 tokens on lines 1-2 (newlines included), `conv 8 3x3`, then
    # `pad`, `=`, `1` per option; option k starts at column 6k + 10 (" pad=1" after column 14)
    k, r = divmod(MAX_TOKENS + 1 - 16 - 1, 3)
    assert (d.span.line, d.span.column) == (3, 6 * (k + 1) + 10 + (0, 3, 4)[r])
    assert "pad=1" * 100 not in str(e.value)  # the excerpt stays short


def test_the_largest_shipped_spec_is_far_below_the_token_limit() -> None:
    from xdsl.api import shipped_specs
    from xdsl.lexer import MAX_TOKENS, lark_parser

    most = max(sum(1 for _ in lark_parser().lex(p.read_text() + "\n"))
               for p in shipped_specs().values())
    assert most * 50 < MAX_TOKENS
