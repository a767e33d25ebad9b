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


# ---- errors inside blocks name the calls that led to them (issue 10, item 6) -----------------

NESTED = Path("tests/golden/errors/shape_residual_in_nested_block.x")


def test_an_error_inside_a_block_lists_the_call_chain_innermost_first() -> None:
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(NESTED.as_posix())
    [diag] = info.value.diagnostics
    assert diag.span is not None and diag.span.line == 8  # the residual in `down`
    assert [(n.message, n.span.line, n.span.column) for n in diag.trace] == [
        ("in down(c, c * 2) = down(32, 64), called", 14, 9),
        ("in stage(width) = stage(32), called", 19, 9)]
    text = info.value.render()
    assert "= note: in down(c, c * 2) = down(32, 64), called at line 14\n" in text
    assert "= note: in stage(width) = stage(32), called at line 19\n" in text
    # the residual's own note comes first, the hint last
    assert text.index("the shortcut gives") < text.index("called at line 14") \
        < text.index("called at line 19") < text.index("= hint:")


def test_a_call_written_with_literals_is_not_repeated_with_its_values() -> None:
    spec = HEADER_BLOCK + "        down(8, 16)\n"
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    [diag] = info.value.diagnostics
    assert [n.message for n in diag.trace] == ["in down(8, 16), called"]


HEADER_BLOCK = """network n:
    input x: 3 x 16 x 16
    block down(c1: int, c2: int):
        residual: conv c1 3x3 pad=same; conv c2 3x3 pad=same
    flow main:
        conv 8 3x3 pad=same
"""


def test_the_same_error_through_different_calls_is_shown_once_naming_the_other_calls() -> None:
    spec = HEADER_BLOCK + "".join(f"        output o{i}: down(8, 16)\n" for i in range(5))
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    [diag] = info.value.diagnostics
    assert [(n.message, n.span and n.span.line) for n in diag.trace] == [
        ("in down(8, 16), called", 7), ("also in down(8, 16), called", 8),
        ("also in down(8, 16), called", 9), ("also in down(8, 16), called", 10),
        ("and 1 more call", None)]
    assert info.value.render().endswith(
        "  = note: in down(8, 16), called at line 7\n"
        "  = note: also in down(8, 16), called at line 8\n"
        "  = note: also in down(8, 16), called at line 9\n"
        "  = note: also in down(8, 16), called at line 10\n"
        "  = note: and 1 more call\n"
        "  = hint: give the shortcut a projection, e.g. `residual project(conv 16 1x1 "
        "stride=...)`, or match the main path's channels to the input")


def test_the_same_error_in_nested_calls_names_the_outermost_call_that_differs() -> None:
    spec = HEADER_BLOCK.replace("    flow", "    block stage(c: int): down(c, c * 2)\n    flow")
    spec += "        output a: stage(8)\n        output b: stage(8)\n"
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    [diag] = info.value.diagnostics
    assert [(n.message, n.span.line) for n in diag.trace] == [
        ("in down(c, c * 2) = down(8, 16), called", 5), ("in stage(8), called", 8),
        ("also in stage(8), called", 9)]


def test_different_errors_in_one_block_stay_separate() -> None:
    spec = HEADER_BLOCK + "        output a: down(8, 16)\n        output b: down(8, 32)\n"
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    assert [d.message for d in info.value.diagnostics] == [
        "residual add joins 16 x 16 x 16 with 8 x 16 x 16",
        "residual add joins 32 x 16 x 16 with 8 x 16 x 16"]
    assert [d.trace[0].span.line for d in info.value.diagnostics] == [7, 8]


def test_a_variant_names_its_call_chain_and_itself(tmp_path: Path) -> None:
    (tmp_path / "base.x").write_text(HEADER_BLOCK.replace("network n:", "network n(w: int = 8):")
                                     + "        down(8, w)\n")
    (tmp_path / "wide.x").write_text('variant wide of "base.x" (w=16)\n')
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(tmp_path / "wide.x")
    text = info.value.render()
    assert text.startswith(f"{tmp_path / 'base.x'}:4:9: error: residual add joins")
    assert "= note: in down(8, w) = down(8, 16), called at line 7\n" in text
    assert f"= note: while building variant `wide` ({tmp_path / 'wide.x'}:1: w=16)" in text
    assert text.index("called at line 7") < text.index("while building") < text.index("= hint")


def test_a_note_in_another_file_names_that_file() -> None:
    from xdsl.diagnostics import Diagnostic, Note, Source, Span, render

    source = Source("conv 8 3x3\n", "a.x")
    here = Note("in down(8), called", Span.point(3, 5), file="a.x")
    there = Note("in down(8), called", Span.point(3, 5), file="b.x")
    text = render(Diagnostic("bad", Span.point(1, 1), trace=(here, there)), source)
    assert "= note: in down(8), called at line 3\n" in text
    assert text.endswith("= note: in down(8), called at b.x:3:5")


# ---- an error never causes a follow-on error (item 7) ----------------------------------------

FLOW = "network n(k: int = 3):\n    input x: 3 x 16 x 16\n    flow main:\n"


@pytest.mark.parametrize(("body", "message"), [
    # a merge's shape error: `b`, defined after it, is still defined
    ("conv 8 3x3 as a\nmaxpool 2x2 stride=2\nconcat(a)\nconv 8 3x3 as b\nconcat(b)",
     "`concat` joins tensors of different sizes"),
    # an error in a residual body, the residual named
    ("residual as r: conv 8 3x3 stride=0\nconv 4 1x1 as b\nadd(r)\nconcat(b)",
     "`stride` of `conv` must be ≥ 1"),
    # an error in a branch, the merge named
    ("concat as m:\n    branch: conv 8 17x17\n    branch: conv 8 1x1\nconv 4 1x1 from m as b\n"
     "concat(b)", "window shrinks"),
    # a block call with a bad argument, named
    ("down(true) as d\nconv 4 1x1 from d as b\nadd(b)", "argument of block `down`"),
    # a layer whose condition is no boolean: its name is poisoned, not skipped
    ("conv 8 3x3 stride=2 as a if k\nconv 4 1x1 from a\nmaxpool 9x9",
     "`if` needs true or false"),
    # a repeat with a bad count: the names inside it are poisoned, the shape unknown
    ("repeat k - 4: conv 8 3x3 stride=2 as a\nconv 4 1x1 from a\nmaxpool 9x9",
     "`repeat` needs a count of 0 or more"),
    # an `if` whose condition is no boolean: names of both branches are poisoned
    ("if k:\n    conv 8 3x3 as a\nelse:\n    conv 8 3x3 as b\nadd(a, b)",
     "`if` needs true or false"),
    # a residual whose condition is no boolean: its body still defines its names
    ("residual as r if k: conv 3 3x3 pad=same as a\nconv 4 1x1 from a\nconcat(r)\n"
     "maxpool 9x9", "`if` needs true or false"),
    # an output head that fails is still defined
    ("output aux: conv 8 17x17\nconv 4 1x1 from aux\nmaxpool 9x9", "window shrinks"),
])
def test_an_error_causes_no_follow_on_error(body: str, message: str) -> None:
    block = "    block down(c: int): conv c 1x1\n"
    spec = FLOW.replace("    flow", block + "    flow") + "".join(
        f"        {line}\n" for line in body.splitlines())
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    assert [d.message for d in info.value.diagnostics if message not in d.message] == []
    assert len(info.value.diagnostics) == 1


def test_a_failing_default_poisons_its_layers_instead_of_dropping_the_option() -> None:
    spec = ("network n(p: int = 0):\n    input x: 3 x 16 x 16\n    defaults:\n"
            "        conv: pad=(1 // p)\n    flow main:\n        conv 8 3x3; conv 8 3x3\n"
            "        maxpool 13x13\n")
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    assert [d.message for d in info.value.diagnostics] == ["division by zero"]


def test_errors_independent_of_a_poisoned_tensor_are_still_reported() -> None:
    body = "conv 8 17x17\nconv 8 3x3 stride=0\nconcat(nothing_yet)\nconv 4 1x1 as nothing_yet"
    spec = FLOW + "".join(f"        {line}\n" for line in body.splitlines())
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    messages = [d.message for d in info.value.diagnostics]
    assert len(messages) == 3
    assert messages[0].startswith("`conv` with a 17x17 window shrinks")
    assert messages[1:] == ["`stride` of `conv` must be ≥ 1, got 0",
                            "tensor `nothing_yet` is not defined at this point"]


# ---- a dedented line is not silently moved out of its flow (item 9) ---------------------------

FLOWS = """network n:
    input x: 3 x 16 x 16
    block down(c: int):
        conv c 3x3 pad=same
        relu
    flow entry:
        conv 8 3x3 pad=same
    flow middle:
        repeat 2:
            conv 8 3x3 pad=same
    flow exit:
        global avgpool; linear 10
"""


def _insert(text: str, after: str, lines: str) -> str:
    head, tail = text.split(after, 1)
    return head + after + lines + tail


def _only_error(spec: str):
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.parse(spec)
    [diag] = info.value.diagnostics
    return diag


def test_a_layer_dedented_out_of_a_flow_is_located_with_the_indentation_to_use() -> None:
    diag = _only_error(_insert(FLOWS, "conv 8 3x3 pad=same\n    flow exit:\n", ""
                               ).replace("            conv 8 3x3 pad=same\n    flow exit",
                                         "            conv 8 3x3 pad=same\n    relu\n"
                                         "    flow exit"))
    assert diag.message == "`relu` is at network level, outside any flow"
    assert (diag.span.line, diag.span.column) == (11, 5)
    assert diag.hint == "indent this line by 8 spaces to keep it in flow `middle`"


def test_every_run_of_dedented_lines_gets_one_error() -> None:
    spec = FLOWS.replace("    flow middle:", "    relu\n    repeat 2: relu\n    flow middle:")
    spec = spec.replace("    flow exit:", "    maxpool 2x2\n    flow exit:")
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.parse(spec)
    diags = info.value.diagnostics
    assert [(d.message, d.span.line) for d in diags] == [
        ("`relu` is at network level, outside any flow", 8),
        ("`maxpool` is at network level, outside any flow", 13)]
    assert "the next line is outside any flow too" in diags[0].notes
    assert [d.hint for d in diags] == [
        "indent this line by 8 spaces to keep it in flow `entry`",
        "indent this line by 8 spaces to keep it in flow `middle`"]


def test_a_layer_after_a_block_in_a_network_with_flows_is_an_error() -> None:
    diag = _only_error(FLOWS.replace("        relu\n    flow entry", "    relu\n    flow entry"))
    assert (diag.span.line, diag.hint) == (
        5, "indent this line by 8 spaces to keep it in block `down`, or move it into a flow")


def test_a_layer_before_the_first_flow_is_an_error_pointing_at_the_flows() -> None:
    diag = _only_error(FLOWS.replace("    block down", "    conv 8 1x1\n    block down"))
    assert (diag.span.line, diag.hint) == (3, "move it into a flow, e.g. flow `entry` on line 7")


def test_a_dedent_after_a_flow_written_on_one_line_suggests_indented_lines() -> None:
    spec = FLOWS.replace("    flow entry:\n        conv 8 3x3 pad=same\n",
                         "    flow entry: conv 8 3x3 pad=same\n    relu\n")
    diag = _only_error(spec)
    assert (diag.span.line, diag.hint) == (
        7, "put the body of flow `entry` on lines indented by 8 spaces below its header, "
           "and this line with them")


def test_a_network_without_flows_keeps_its_statements_at_network_level() -> None:
    spec = ("network tiny:\n    input image: 3 x 32 x 32\n    block b(c: int): conv c 1x1\n"
            "    conv 32 3x3 stride=2; relu\n    b(8)\n    residual: sepconv 8 3x3 pad=same\n"
            "    global avgpool; linear 10\n")
    assert xdsl.check(spec).output == (10,)


def test_a_residual_with_a_bad_condition_still_checks_its_body_and_defines_its_names() -> None:
    body = "residual if k: conv 3 3x3 pad=same as a\nconv 8 17x17 from a"
    spec = FLOW + "".join(f"        {line}\n" for line in body.splitlines())
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec)
    assert [d.message for d in info.value.diagnostics] == [
        "`if` needs true or false, got 3", "`conv` with a 17x17 window shrinks 16x16 to 0x0"]
