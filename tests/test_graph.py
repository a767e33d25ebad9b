"""Graph IR: expansion, naming, shapes, and exact counts."""

from __future__ import annotations

import pytest

import xdsl
from xdsl.graph import Limits, layers, totals
from xdsl.ops import window

HEADER = "network n(c: int = 8, deep: bool = false):\n    input x: 3 x 32 x 32\n"


def build(text: str, **params):
    return xdsl.graph(HEADER + text, **params)


def node(g, name):
    return g.nodes[name]["node"]


def test_xception_reproduces_the_paper_counts() -> None:
    g = xdsl.graph("specs/xception.x")
    assert totals(g) == {"trainable": 22_855_952, "non_trainable": 54_528,
                         "macs": 8_357_403_496}
    assert node(g, g.graph["output"]).shape == (1000,)


def test_xception_spatial_sizes_follow_figure_5() -> None:
    g = xdsl.graph("specs/xception.x")
    sizes = {n.name: n.shape[1] for n in layers(g) if len(n.shape) == 3}
    assert sizes["entry.conv1"] == 149 and sizes["entry.conv2"] == 147
    assert [sizes[f"entry.down{i}.add1"] for i in (1, 2, 3)] == [74, 37, 19]
    assert sizes["middle.residual8.add1"] == 19 and sizes["exit.down1.add1"] == 10


def test_xception_names_are_hierarchical() -> None:
    g = xdsl.graph("specs/xception.x")
    names = set(g.nodes)
    for expected in ["entry.conv1", "entry.bn1", "entry.down1.sepconv1",
                     "entry.down1.shortcut.conv1", "entry.down1.shortcut.bn1",
                     "middle.residual8.sepconv3", "exit.linear1"]:
        assert expected in names
    # pre_relu=false: the first module starts with its separable convolution
    assert node(g, "entry.down1.sepconv1").inputs == ("entry.relu2",)
    assert node(g, "entry.down2.sepconv1").inputs == ("entry.down2.relu1",)


def test_projection_shortcut_reads_the_pre_relu_input() -> None:
    g = xdsl.graph("specs/xception.x")
    short = node(g, "entry.down2.shortcut.conv1")
    relu = node(g, "entry.down2.relu1")
    assert short.inputs == relu.inputs == ("entry.down1.add1",)


def test_tensorflow_same_padding_is_asymmetric_when_the_stride_needs_it() -> None:
    assert window(74, 3, 2, 1, "same") == (37, 0, 1)
    assert window(147, 3, 2, 1, "same") == (74, 1, 1)
    assert window(74, 3, 2, 1, 1) == (37, 1, 1)
    g = xdsl.graph("specs/xception.x")
    assert node(g, "entry.down2.maxpool1").pads == (0, 1, 0, 1)
    sym = xdsl.graph("specs/xception.x", pool_pad="symmetric")
    assert node(sym, "entry.down2.maxpool1").pads == (1, 1, 1, 1)
    assert totals(sym) == totals(g)


def test_counts_match_closed_forms() -> None:
    g = build("    conv 16 3x3 stride=2 bias=false\n    bn\n    sepconv 24 5x5 mult=2\n"
              "    gconv 32 3x3 segments=4 pad=same\n    dwconv 3x3 pad=1\n"
              "    global avgpool\n    linear 10\n")
    conv, bn, sep, gconv, dw, _, lin = [n for n in layers(g) if n.op != "input"]
    assert conv.shape == (16, 15, 15) and conv.params == 3 * 3 * 3 * 16
    assert conv.macs == 15 * 15 * 3 * 3 * 3 * 16
    assert bn.params == 32 and bn.state == 32
    assert sep.shape == (24, 11, 11)
    assert sep.params == 5 * 5 * 16 * 2 + 16 * 2 * 24 + 24
    assert sep.macs == 11 * 11 * (5 * 5 * 32 + 32 * 24)
    assert gconv.shape == (32, 11, 11) and gconv.params == 3 * 3 * (24 // 4) * 32 + 32
    assert gconv.groups == 4
    assert dw.shape == (32, 11, 11) and dw.params == 9 * 32 + 32
    assert lin.params == 32 * 10 + 10 and lin.macs == 320


def test_group_width_sets_the_number_of_groups() -> None:
    g = build("    conv 16 1x1\n    gconv 16 3x3 group_width=4\n")
    assert node(g, "gconv1").groups == 4


def test_named_tensors_allow_skip_wiring() -> None:
    g = build("    conv c 3x3 pad=same as skip\n    relu\n    conv c 3x3 pad=same\n"
              "    add(skip) as s\n    conv 4 1x1 from skip\n    concat(s)\n")
    add = node(g, "add1")
    assert add.inputs == ("conv2", "conv1")
    assert node(g, "conv3").inputs == ("conv1",)
    assert node(g, "concat1").shape == (12, 32, 32)


def test_branches_join_by_concat_in_order() -> None:
    g = build("    concat:\n        branch: conv 4 1x1\n"
              "        branch: conv 6 1x1; conv 6 3x3 pad=1\n"
              "        branch: maxpool 3x3 stride=1 pad=same\n")
    join = node(g, "concat1.concat1")
    assert join.shape == (13, 32, 32)
    assert join.inputs == ("concat1.branch1.conv1", "concat1.branch2.conv2",
                           "concat1.branch3.maxpool1")
    assert [g.edges[s, "concat1.concat1"]["index"] for s in join.inputs] == [0, 1, 2]


def test_conditionals_follow_boolean_parameters() -> None:
    text = "    relu\n    if deep:\n        conv c 3x3\n    else:\n        conv c 1x1\n"
    assert node(build(text), "conv1").attrs.kernel == (1, 1)
    assert node(build(text, deep=True), "conv1").attrs.kernel == (3, 3)


def test_repeat_keeps_counting_and_records_iterations() -> None:
    g = build("    repeat 3: conv c 1x1; relu\n")
    assert [n.name for n in layers(g)][-2:] == ["conv3", "relu3"]
    assert node(g, "conv2").repeats == ((0, 1),)
    assert g.graph["repeats"][0]["count"] == 3


def test_defaults_apply_and_explicit_options_win() -> None:
    text = ("    defaults:\n        conv: bias=false, then bn eps=0.001\n"
            "    conv 4 1x1\n    conv 4 1x1 bias=true\n")
    g = build(text)
    assert node(g, "conv1").attrs.bias is False and node(g, "conv2").attrs.bias is True
    assert node(g, "bn1").attrs.eps == 0.001 and "bn2" in g


def test_parameter_overrides_and_their_errors() -> None:
    assert node(build("    conv c 1x1\n", c=5), "conv1").shape[0] == 5
    with pytest.raises(xdsl.ParamError, match="no parameter `d`"):
        build("    relu\n", d=1)
    with pytest.raises(xdsl.ParamError, match="is int"):
        build("    relu\n", c="many")


def test_limits_are_configurable() -> None:
    with pytest.raises(xdsl.SpecError, match="limit of 2 repetitions"):
        build("    repeat 3: relu\n", limits=Limits(max_repeat=2))
    with pytest.raises(xdsl.SpecError, match="more than 10 layers"):
        build("    repeat 20: relu\n", limits=Limits(max_nodes=10))
    with pytest.raises(xdsl.SpecError, match="more than 1 KiB"):
        build("    conv 64 3x3\n", limits=Limits(max_param_bytes=1024))


def test_graph_nodes_are_pydantic_models_that_dump() -> None:
    g = xdsl.graph("specs/xception.x")
    dumped = node(g, "entry.down1.sepconv1").model_dump()
    assert dumped["attrs"]["filters"] == 128 and dumped["attrs"]["pad"] == "same"
    assert dumped["scope"] == ("entry", "down1") and "span" not in dumped


def test_option_words_can_be_written_literally() -> None:
    g = build("    sepconv 16 3x3 order=pointwise_first mid_act=elu segments=4\n")
    attrs = node(g, "sepconv1").attrs
    assert (attrs.order, attrs.mid_act, attrs.segments) == ("pointwise_first", "elu", 4)


def test_a_disabled_residual_still_names_its_output() -> None:
    g = build("    residual as r if deep: conv 8 3x3 pad=same\n    relu\n    add(r)\n")
    assert node(g, "add1").inputs == ("relu1", "residual1.conv1")
    assert [n.name for n in layers(g)] == ["x", "residual1.conv1", "relu1", "add1"]
