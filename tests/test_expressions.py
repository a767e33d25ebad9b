"""Issue 12's language slice: built-in functions, `channels`, `repeat n as i`, tensors as
block arguments, and the two traps (a conditional projection, a concat listing the current
tensor) that used to pass `check` with the right counts and build another network."""

from __future__ import annotations

import pytest

import xdsl
from xdsl.evaluate import make_divisible
from xdsl.graph import layers, totals

HEAD = "network n(proj: bool = false, res: bool = true, w: int = 8, a: float = 0.75):\n" \
       "    input x: 8 x 8 x 8\n"


def indent(body: str) -> str:
    return "".join("    " + line for line in body.splitlines(keepends=True))


def build(body: str, **params):
    return xdsl.graph(HEAD + indent(body), **params)


def node(g, name):
    return g.nodes[name]["node"]


def errors(body: str) -> str:
    with pytest.raises(xdsl.SpecError) as info:
        build(body)
    return info.value.render()


def fmt_round_trip(body: str) -> str:
    text = xdsl.fmt(HEAD + indent(body))
    assert xdsl.fmt(text) == text
    assert xdsl.parse(text).network.model_dump() == \
        xdsl.parse(HEAD + indent(body)).network.model_dump()
    return text[len(HEAD):]


# ---- the residual trap ------------------------------------------------------------------------

RESNET = ("residual project(conv 8 1x1 bias=false) if proj:\n"
          "    conv 8 3x3 pad=1 bias=false; relu; conv 8 3x3 pad=1 bias=false\n")


def test_conditional_projection_falls_back_to_the_identity() -> None:
    g = build(RESNET)  # proj=false: an identity shortcut, not none (the ResNet-50 trap)
    assert node(g, "residual1.add1").inputs == ("residual1.conv2", "x")
    assert totals(g)["trainable"] == 2 * 8 * 8 * 9
    g = build(RESNET, proj=True)
    assert node(g, "residual1.add1").inputs == ("residual1.conv2", "residual1.shortcut.conv1")
    assert totals(g)["trainable"] == 2 * 8 * 8 * 9 + 8 * 8


def test_no_shortcut_at_all_is_written_explicitly() -> None:
    body = RESNET.replace("if proj:", "if proj else none:")
    g = build(body)
    assert [n.op for n in layers(g)] == ["input", "conv", "relu", "conv"]
    assert node(build(body, proj=True), "residual1.add1").inputs[1] == "residual1.shortcut.conv1"
    g = build(RESNET.replace("if proj:", "if proj else identity:"))
    assert node(g, "residual1.add1").inputs == ("residual1.conv2", "x")
    # without a projection, `if` decides whether there is a residual at all
    g = build("residual if res: conv 8 3x3 pad=1\n", res=False)
    assert [n.op for n in layers(g)] == ["input", "conv"]
    g = build("residual if res: conv 8 3x3 pad=1\n")
    assert node(g, "residual1.add1").inputs == ("residual1.conv1", "x")


def test_residual_else_misuse_is_an_error() -> None:
    assert "`else identity` needs a projection" in errors(
        "residual if res else identity: conv 8 3x3 pad=1\n")
    text = errors("residual project(conv 8 1x1) if proj else nothing: conv 8 3x3 pad=1\n")
    assert "a residual's `else` is `identity` or `none`, got `nothing`" in text


def test_identity_fallback_that_cannot_add_says_so() -> None:
    text = errors("residual project(conv 16 1x1 stride=2) if proj: conv 16 3x3 stride=2 pad=1\n")
    assert "residual add joins 16 x 4 x 4 with 8 x 8 x 8" in text


def test_xception_without_residuals_keeps_its_counts() -> None:
    g = xdsl.graph("variants/xception_no_residual")
    assert totals(g) == {"trainable": 21_878_880, "non_trainable": 50_256,
                         "macs": 8_125_858_664}
    assert not [n for n in layers(g) if n.op == "add"]
    assert len([n for n in layers(xdsl.graph("xception")) if n.op == "add"]) == 12


def test_identity_fallback_equals_a_hand_written_resnet_block() -> None:
    torch = pytest.importorskip("torch")
    net = xdsl.compile(HEAD + indent(RESNET), seed=0).double()
    sd = net.state_dict()
    w1, w2 = sd["residual1.conv1.weight"], sd["residual1.conv2.weight"]

    def block(x, shortcut: bool):
        y = torch.nn.functional.conv2d(x, w1, padding=1).relu()
        y = torch.nn.functional.conv2d(y, w2, padding=1)
        return y + x if shortcut else y

    x = torch.randn(2, 8, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = net(x)
    torch.testing.assert_close(out, block(x, True), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(out, block(x, False), atol=1e-3)  # the dropped shortcut is caught


# ---- the concat trap --------------------------------------------------------------------------

STEM = "conv 4 1x1 as stem\nconv 6 1x1 as new\n"


def test_concat_joins_in_the_order_written_and_nothing_twice() -> None:
    g = build(STEM + "concat(stem, new)\n")  # it was [new, stem, new], 16 channels
    assert node(g, "concat1").inputs == ("conv1", "conv2")
    assert node(g, "concat1").shape == (10, 8, 8)
    g = build(STEM + "concat(new, stem)\n")
    assert node(g, "concat1").inputs == ("conv2", "conv1")
    g = build(STEM + "concat(stem)\n")  # the current tensor unlisted: it comes first
    assert node(g, "concat1").inputs == ("conv2", "conv1")
    g = build(STEM + "concat(new, new)\n")  # listed twice, joined twice
    assert node(g, "concat1").inputs == ("conv2", "conv2")
    g = build(STEM + "add(new, new)\n")
    assert node(g, "add1").inputs == ("conv2", "conv2")


def test_concat_of_the_current_tensor_alone_is_an_error() -> None:
    text = errors(STEM + "concat(new)\n")
    assert "`concat(new)` joins the current tensor with nothing" in text
    assert "a tensor joins itself only when listed twice" in text


def test_densenet_concat_still_grows() -> None:
    g = build("conv 4 1x1 as prev\nrepeat 3: conv 2 3x3 pad=1; concat(prev) as prev\n")
    assert [node(g, f"concat{i}").shape[0] for i in (1, 2, 3)] == [6, 8, 10]
    assert node(g, "concat2").inputs == ("conv3", "concat1")


# ---- expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("v", "divisor", "low", "expected"), [
    (24.0, 8, None, 24), (37, 8, None, 40), (10, 8, None, 16), (3, 8, None, 8),
    (20, 8, None, 24), (12, 8, None, 16), (100, 8, 128, 128), (91, 16, None, 96),
    (32 * 1.1, 8, None, 32), (4, 8, 4, 8),
])
def test_make_divisible_values(v: float, divisor: int, low: int | None, expected: int) -> None:
    assert make_divisible(v, divisor, low) == expected


def test_make_divisible_agrees_with_torchvision() -> None:
    utils = pytest.importorskip("torchvision.models._utils")
    for v in [x / 4 for x in range(1, 2000)]:
        for divisor in (1, 4, 8, 16):
            assert make_divisible(v, divisor) == utils._make_divisible(v, divisor)
            assert make_divisible(v, divisor, 24) == utils._make_divisible(v, divisor, 24)


def test_functions_in_specs() -> None:
    g = build("conv make_divisible(w * a * 5, 8) 1x1\nconv ceil(w / 3) 1x1\n"
              "conv floor(w / 3) 1x1\nconv round(w * a + 0.5) 1x1\nconv max(w, 3, 5) 1x1\n"
              "conv min(w, 3 * 2) 1x1\nconv make_divisible(3, 8, min_value=16) 1x1\n")
    assert [n.shape[0] for n in layers(g)[1:]] == [32, 3, 2, 6, 8, 6, 16]  # round(6.5) = 6


@pytest.mark.parametrize(("body", "message"), [
    ("conv ceil(w, 2) 1x1\n", "`ceil` takes one number, got 2 arguments"),
    ("conv max(w) 1x1\n", "`max` takes two numbers or more, got 1 argument"),
    ("conv make_divisible(w) 1x1\n", "`make_divisible` takes a value, a divisor"),
    ("conv make_divisible(w, 0) 1x1\n", "the divisor of `make_divisible` is a whole number"),
    ("conv make_divisible(w, 8, floor=2) 1x1\n", "`make_divisible` takes a value, a divisor"),
    ("conv round(same) 1x1\n", "`round` needs numbers, but `same` is a word"),
])
def test_function_misuse(body: str, message: str) -> None:
    assert message in errors(body)


def test_channels_is_the_current_tensors() -> None:
    g = build("conv 6 1x1\nconv channels * 2 1x1\nconv 4 1x1 from x\nconv channels 1x1 from x\n"
              "residual: conv channels 3x3 pad=1\n")
    assert [n.shape[0] for n in layers(g)[1:]] == [6, 12, 4, 8, 8, 8]
    # in a block: the block's current tensor; a default may use it
    g = build("block se(r: int = 4, c: int = channels // r):\n"
              "    conv c 1x1; conv channels * r 1x1\n"
              "conv 16 1x1\nse()\nse(2)\n")
    assert [n.shape[0] for n in layers(g)[1:]] == [16, 4, 16, 8, 16]
    # in a branch: the branch's current tensor
    g = build("conv 4 1x1\nconcat:\n    branch: conv channels 1x1; conv channels * 3 1x1\n"
              "    branch: conv 2 1x1\n")
    assert node(g, "concat1.concat1").shape == (14, 8, 8)


def test_channels_outside_statements_and_as_a_name_are_errors() -> None:
    text = errors("conv 8 1x1\naudit:\n    output = channels\n")
    assert "`channels` is known only in a statement" in text
    with pytest.raises(xdsl.SpecError, match="`channels` cannot name a parameter"):
        xdsl.graph("network n(channels: int = 3):\n    input x: 3 x 8 x 8\n    conv 8 1x1\n")


def test_repeat_index() -> None:
    g = build("repeat 3 as i: conv 4 * (i + 1) 1x1\n")
    assert [n.shape[0] for n in layers(g)[1:]] == [4, 8, 12]
    # nested, and passed to a block with an offset: a global block index for drop-path rates
    g = build("block b(k: int, total: int): conv 8 + k 1x1; dropout 0.2 * k / total\n"
              "repeat 2 as s: repeat 3 as i: b(s * 3 + i, 6)\n")
    assert [n.shape[0] for n in layers(g) if n.op == "conv"] == [8, 9, 10, 11, 12, 13]
    assert [round(n.attrs.p, 6) for n in layers(g) if n.op == "dropout"] == \
        [0.0, 0.033333, 0.066667, 0.1, 0.133333, 0.166667]


@pytest.mark.parametrize(("body", "message"), [
    ("repeat 2 as w: conv 4 1x1\n", "the repeat index `w` would hide a parameter"),
    ("repeat 2 as i: repeat 2 as i: conv 4 1x1\n", "the repeat index `i` would hide"),
    ("repeat 2 as i: conv 4 1x1\nconv i 1x1\n", "unknown name `i`"),
])
def test_repeat_index_misuse(body: str, message: str) -> None:
    assert message in errors(body)


# ---- tensors as block arguments ---------------------------------------------------------------

UNET = ("block up(c: int, skip: tensor):\n"
        "    upsample 2; conv c 3x3 pad=1; concat(skip); conv c 3x3 pad=1\n"
        "conv 16 3x3 pad=1 as e1\nmaxpool 2x2 stride=2\nconv 32 3x3 pad=1\n")


def test_a_tensor_passed_to_a_block() -> None:
    g = build(UNET + "up(16, skip=e1)\n")
    assert node(g, "up1.concat1").inputs == ("up1.conv1", "conv1")
    assert node(g, "up1.concat1").shape == (32, 8, 8)
    assert node(build(UNET + "up(16, e1)\n"), "up1.conv2").shape == (16, 8, 8)
    g = build(UNET.replace("concat(skip); conv c", "conv c 1x1 from skip; add(skip); conv c")
              + "up(16, e1)\n")
    assert node(g, "up1.add1").inputs == ("up1.conv2", "conv1")


@pytest.mark.parametrize(("call", "message"), [
    ("up(16, skip=3)", "`skip` of block `up` is a tensor, got a value"),
    ("up(e1, skip=e1)", "`e1` is a tensor, but `c` of block `up` is a value"),
    ("up(16, skip=e9)", "no tensor is named `e9`"),
])
def test_tensor_argument_misuse(call: str, message: str) -> None:
    assert message in errors(UNET + call + "\n")


def test_tensor_parameters_only_in_blocks_and_without_defaults() -> None:
    with pytest.raises(xdsl.SpecError, match="network parameter `t` cannot be a tensor"):
        xdsl.graph("network n(t: tensor):\n    input x: 3 x 8 x 8\n    conv 8 1x1\n")
    assert "tensor parameter `skip` cannot have a default" in errors(
        "block b(skip: tensor = x): concat(skip)\nb(x)\n")


# ---- fmt and highlighting ---------------------------------------------------------------------


def test_new_constructs_round_trip_through_fmt() -> None:
    body = ("block up(c: int,skip:tensor): concat(skip); conv make_divisible(channels*0.5,8) 1x1\n"
            "conv 8 1x1 as e\nrepeat 2 as i: conv max(i+1,  2) 1x1\n"
            "residual project(conv 8 1x1)  if proj else   none: conv 8 3x3 pad=1\n"
            "up(8, skip=e)\n")
    text = fmt_round_trip(body)
    assert "block up(c: int, skip: tensor):" in text
    assert "concat(skip); conv make_divisible(channels * 0.5, 8) 1x1" in text
    assert "repeat 2 as i: conv max(i + 1, 2) 1x1" in text
    assert "residual project(conv 8 1x1) if proj else none: conv 8 3x3 pad=1" in text


def test_highlighting_knows_the_new_words() -> None:
    pygments = pytest.importorskip("pygments")
    from pygments.token import Keyword, Name

    from xdsl.highlight import XdslLexer

    tokens = {(v, k) for k, v in pygments.lex("conv make_divisible(channels, 8) 1x1\n"
                                              "block b(skip: tensor): concat(skip)\n",
                                              XdslLexer())}
    assert ("make_divisible", Name.Builtin) in tokens
    assert ("channels", Name.Builtin.Pseudo) in tokens
    assert ("tensor", Keyword.Type) in tokens


def test_fmt_golden(golden) -> None:
    from pathlib import Path

    text = (Path(__file__).parent / "golden" / "fmt" / "expressions.x").read_text()
    out = xdsl.fmt(text)
    assert xdsl.fmt(out) == out
    assert xdsl.parse(out).network.model_dump() == xdsl.parse(text).network.model_dump()
    assert out.count("#") == text.count("#")
    golden("fmt/expressions.out.x", out)
