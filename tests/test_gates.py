"""Issue 12's gates and ShuffleNet ops without torch: broadcasting `add` / `mul`, `drop_path`,
`split` and `shuffle` — shapes, exact counts, errors, labels, the lexer and fmt."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.token import Keyword, Name
from xdsl.backends.labels import label

import xdsl
from xdsl.diagnostics import SpecError
from xdsl.graph import LayerNode, layers
from xdsl.highlight import XdslLexer


def spec_of(body: str, shape: str = "32 x 16 x 16") -> str:
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return f"network one():\n    input image: {shape}\n    flow f:\n{lines}"


def nodes(text: str) -> dict[str, LayerNode]:
    return {n.name: n for n in layers(xdsl.graph(text))}


def error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        xdsl.graph(text)
    return str(info.value)


SE = """\
network se(c: int = 32, r: int = 4):
    input image: 3 x 16 x 16
    flow f:
        conv c 3x3 pad=1 as feat
        avgpool 16x16; conv c // r 1x1; relu; conv c 1x1; sigmoid
        mul(feat)
"""


def test_se_gate_multiplies_channel_wise_and_counts_no_macs() -> None:
    got = nodes(SE)
    mul = got["f.mul1"]
    assert mul.shape == (32, 16, 16)
    assert mul.inputs == ("f.sigmoid1", "f.conv1")
    assert (mul.params, mul.state, mul.macs) == (0, 0, 0)
    # conv 3x3: 3*32*9*256 = 221,184; the gate's two 1x1 convs at 1x1: 32*8 + 8*32 = 512
    assert xdsl.check(SE).macs == 221_184 + 512
    assert xdsl.check(SE).trainable == (3 * 9 * 32 + 32) + (32 * 8 + 8) + (8 * 32 + 32)


@pytest.mark.parametrize(("gate", "shape"), [
    ("avgpool 16x16", (32, 1, 1)),          # squeeze-and-excitation: C x 1 x 1
    ("conv 1 1x1", (1, 16, 16)),            # a spatial gate: 1 x H x W
    ("avgpool 1x16", (32, 16, 1)),
    ("identity", (32, 16, 16)),
])
@pytest.mark.parametrize("op", ["mul", "add"])
def test_mul_and_add_broadcast_each_dimension_equal_or_one(gate: str, shape: tuple, op: str
                                                           ) -> None:
    got = nodes(spec_of(f"identity as feat\n{gate}; sigmoid\n{op}(feat)"))
    assert got["f.sigmoid1"].shape == shape
    assert got[f"f.{op}1"].shape == (32, 16, 16)


def test_add_of_a_map_and_a_channel_vector_map_is_accepted_as_the_issue_asks() -> None:
    """`add` of 32x16x16 and 32x1x1 (rejected before broadcasting)."""
    got = nodes(spec_of("identity as x\navgpool 16x16\nadd(x)"))
    assert got["f.add1"].shape == (32, 16, 16)


def test_both_sides_broadcast_to_the_larger_dimension() -> None:
    got = nodes(spec_of("avgpool 16x16 as c\nconv 1 1x1 from image\nmul(c)"))
    assert got["f.mul1"].shape == (32, 16, 16)  # 1 x 16 x 16 times 32 x 1 x 1


def test_mul_merge_with_branches() -> None:
    got = nodes(spec_of("mul:\n    branch: conv 32 1x1\n    branch gate: avgpool 16x16; sigmoid"))
    assert got["f.mul1.mul1"].inputs == ("f.mul1.branch1.conv1", "f.mul1.gate.sigmoid1")
    assert got["f.mul1.mul1"].shape == (32, 16, 16)


@pytest.mark.parametrize(("body", "message"), [
    ("avgpool 2x2 as g\nmul(image)", "`mul` joins 32 x 8 x 8 with 32 x 16 x 16"),
    ("conv 16 1x1 as g\nadd(image)", "`add` joins 16 x 16 x 16 with 32 x 16 x 16"),
    ("global avgpool\nmul(image)", "`mul` joins 32 with 32 x 16 x 16"),
])
def test_shapes_that_do_not_broadcast_name_both(body: str, message: str) -> None:
    text = error(spec_of(body))
    assert message in text
    assert "each dimension must be equal, or 1 in one of them" in text


def test_a_residual_does_not_broadcast() -> None:
    """A residual whose main path shrank to 1x1 is a mistake, not a gate."""
    assert "residual add joins 32 x 1 x 1 with 32 x 16 x 16" in \
        error(spec_of("residual: avgpool 16x16"))


# ---- drop_path --------------------------------------------------------------------------------


def test_drop_path_keeps_the_shape_and_counts_nothing() -> None:
    got = nodes(spec_of("residual: conv 32 3x3 pad=1; drop_path 0.1"))
    dp = got["f.residual1.drop_path1"]
    assert (dp.shape, dp.params, dp.state, dp.macs, dp.attrs.p) == ((32, 16, 16), 0, 0, 0, 0.1)
    assert got["f.residual1.add1"].inputs == ("f.residual1.drop_path1", "image")


def test_drop_path_rate_is_an_expression() -> None:
    text = ("network n(rate: float = 0.2, blocks: int = 4):\n    input image: 8 x 4 x 4\n"
            "    flow f:\n        residual: conv 8 1x1; drop_path rate * 3 / blocks\n")
    [dp] = [n for n in layers(xdsl.graph(text)) if n.op == "drop_path"]
    assert dp.attrs.p == pytest.approx(0.15)


@pytest.mark.parametrize(("rate", "message"), [
    ("1.0", "`p` of `drop_path` must be < 1.0, got 1"),
    ("0.1 - 0.2", "`p` of `drop_path` must be ≥ 0.0, got -0.1"),
])
def test_drop_path_rate_in_zero_to_one(rate: str, message: str) -> None:
    assert message in error(spec_of(f"drop_path {rate}"))


# ---- split and shuffle --------------------------------------------------------------------------


def test_split_names_its_parts_and_goes_on_with_the_first() -> None:
    got = nodes(spec_of("split 2 as a, b\nconv 16 1x1 from b as y\nconcat(y) from a\nshuffle 2"))
    assert [(n.name, n.shape, n.attrs.start, n.attrs.stop) for n in got.values()
            if n.op == "split"] == [("f.split1", (16, 16, 16), 0, 16),
                                    ("f.split2", (16, 16, 16), 16, 32)]
    assert got["f.conv1"].inputs == ("f.split2",)
    assert got["f.concat1"].inputs == ("f.split1", "f.conv1")
    assert got["f.shuffle1"].shape == (32, 16, 16)
    assert all(n.macs == n.params == 0 for n in got.values() if n.op in ("split", "shuffle"))


def test_split_with_sizes_and_the_current_tensor_is_the_first_part() -> None:
    got = nodes(spec_of("split(8, 20, 4) as a, b, c\nrelu\nconcat(b, c)"))
    assert [n.shape[0] for n in got.values() if n.op == "split"] == [8, 20, 4]
    assert got["f.relu1"].inputs == ("f.split1",)
    assert got["f.concat1"].shape == (32, 16, 16)


@pytest.mark.parametrize(("body", "message"), [
    ("split 3 as a, b, c", "`split 3` cuts 32 channels into 3 equal parts, which does not "
                           "divide evenly"),
    ("split(16, 8) as a, b", "`split(16, 8)` takes 24 channels, but its input has 32"),
    ("split 2 as a, b, c", "`split` makes 2 parts, but 3 names follow `as`"),
    ("split 2", "`split` needs a name for each of its parts"),
    ("relu as a, b", "`relu` makes one tensor, but 2 names follow `as`"),
    ("shuffle 3", "`shuffle 3` deals 32 channels into 3 groups, which does not divide evenly"),
    ("global avgpool\nshuffle 2", "`shuffle` needs a feature map"),
])
def test_split_and_shuffle_misuse(body: str, message: str) -> None:
    assert message in error(spec_of(body))


def test_a_failed_split_poisons_its_names_without_more_errors() -> None:
    text = error(spec_of("split 3 as a, b, c\nrelu from b\nconcat(c)"))
    assert text.count("error:") == 1


# ---- labels, lexer, fmt -----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "name", "words"), [
    ("identity as x\navgpool 16x16\nmul(x)", "f.mul1", "\u00d7"),
    ("drop_path 0.2", "f.drop_path1", "Stochastic Depth 0.2"),
    ("shuffle 4", "f.shuffle1", "Channel Shuffle, 4 groups"),
    ("split(8, 24) as a, b", "f.split2", "Channel Split 8/24, part 2"),
])
def test_diagram_labels_in_the_papers_words(body: str, name: str, words: str) -> None:
    assert label(nodes(spec_of(body))[name]) == words


def test_lexer_knows_the_new_words() -> None:
    text = spec_of("identity as x\nmul(x)\nmul:\n    branch: relu\ndrop_path 0.1\nsplit 2 as a, b"
                   "\nshuffle 2")
    kinds = {val: tok for tok, val in XdslLexer().get_tokens(text) if val.strip()}
    assert kinds["mul"] in Keyword  # a merge, like `add` and `concat`
    for word in ("drop_path", "split", "shuffle"):
        assert kinds[word] is Name.Builtin, word


CANONICAL = spec_of("""\
conv 32 3x3 pad=1 as feat
avgpool 16x16; conv 8 1x1; relu; conv 32 1x1; sigmoid
mul(feat)
mul:
    branch: identity
    branch: conv 1 1x1; sigmoid
split 2 as a, b
conv 16 1x1 from b; drop_path 0.1 as y
concat(y) from a
shuffle 2
split(8, 24) as p, q
residual: conv 8 1x1; drop_path 0.05""").replace("network one():", "network one:")


def test_fmt_round_trip_is_stable_and_means_the_same() -> None:
    messy = CANONICAL.replace("as a, b", "as a ,b").replace("split(8, 24)", "split( 8,24 )")
    assert messy != CANONICAL
    once = xdsl.fmt(messy)
    assert once == CANONICAL
    assert xdsl.fmt(once) == once
    assert [n.model_dump() for n in layers(xdsl.graph(once))] == \
        [n.model_dump() for n in layers(xdsl.graph(messy))]


def test_readme_example_builds_with_these_counts() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("**Gates, stochastic depth, channel split and shuffle.**")[1]
    body = section.split("```")[1].strip("\n")
    summary = xdsl.check(spec_of("\n".join(line.strip() for line in body.splitlines()),
                                 "3 x 32 x 32"))
    assert (summary.trainable, summary.macs) == (43_600, 41_912_320)
