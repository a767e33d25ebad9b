"""`xdsl draw`: what the Xception diagram shows, golden DOT, and the rendered files."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from xdsl.backends.graphviz import Diagram, RenderError, draw
from xdsl.backends.graphviz.view import Options, build_view
from xdsl.backends.labels import label, two_lines

import xdsl
from xdsl.cli import main
from xdsl.graph import layers
from xdsl.params import ParamError

TINY = """\
network tiny(n: int = 2):
    input x: 3 x 32 x 32
    conv 8 3x3 pad=same
    concat:
        branch a: conv 4 1x1
        branch b:
            conv 4 1x1; conv 4 3x3 pad=same
    repeat n: relu
    global avgpool; linear 10
"""


def view(spec: str = "xception", **options):
    parsed = xdsl.parse(spec)
    net = parsed.network
    flows = [s.name for s in net.body if getattr(s, "kind", "") == "flow"]
    return build_view(parsed.graph(), Options(**options), flows, [b.name for b in net.blocks])


def adds_in(v, prefix: str) -> list[str]:
    return [b.id for b in v.boxes.values() if b.title == "+" and b.id.startswith(prefix)]


def test_dot_golden_default(golden) -> None:
    golden("graphviz/xception.dot", draw("xception").dot)


def test_dot_golden_shapes_params_left_to_right(golden) -> None:
    dot = draw("xception", shapes=True, params=True, direction="LR").dot
    golden("graphviz/xception_shapes_params_lr.dot", dot)


def test_output_is_deterministic() -> None:
    assert draw("xception", expand=True).dot == draw("xception", expand=True).dot


def test_cli_prints_dot_without_output_file() -> None:
    result = CliRunner().invoke(main, ["draw", "xception"])
    assert result.exit_code == 0, result.output
    assert result.output == draw("xception").dot


def test_three_flows_as_clusters_and_middle_drawn_once() -> None:
    dot = draw("xception").dot
    for title in ("Entry flow", "Middle flow", "Exit flow"):
        assert f'label="{title}"' in dot
    assert 'label="repeated 8 times"' in dot
    v = view()
    assert adds_in(v, "middle.") == ["middle.residual1.add1"]
    # the paper draws the three ReLU/SeparableConv pairs of a module out
    assert [b.title for b in v.boxes.values() if b.id.startswith("middle.residual1.")] == [
        "ReLU", "SeparableConv 728, 3\u00d73"] * 3 + ["+"]


def test_expand_draws_the_eight_middle_residuals() -> None:
    v = view(expand=True)
    assert len(adds_in(v, "middle.")) == 8
    assert "repeated" not in draw("xception", expand=True).dot


def test_repeat_count_follows_the_parameter() -> None:
    assert 'label="repeated 3 times"' in draw("xception", middle_repeats=3).dot
    assert "repeated" not in draw("xception", middle_repeats=1).dot


def test_shortcuts_enter_the_plus_nodes_from_the_side() -> None:
    v = view()
    into = {(e.src, e.dst) for e in v.edges if e.shortcut}
    assert ("entry.down1.shortcut.conv1", "entry.down1.add1") in into
    # a shortcut into a block starts from a fork inside it: it stays inside the outline
    assert ("entry.down1.fork1", "entry.down1.shortcut.conv1") in into
    # the identity shortcut: a straight line through unseen points beside the six layers
    assert ("repeat0.fork1", "repeat0.fork1.via1") in into
    assert ("repeat0.fork1.via6", "middle.residual1.add1") in into
    assert ("middle.in1", "repeat0.fork1") in {(e.src, e.dst) for e in v.edges}
    assert v.boxes["entry.down1.shortcut.conv1"].title == "Conv 128, 1\u00d71, stride=2\u00d72"


def test_paper_labels() -> None:
    titles = {n.name: label(n) for n in layers(xdsl.graph("xception"))}
    assert titles["entry.conv1"] == "Conv 32, 3\u00d73, stride=2\u00d72"
    assert titles["entry.down1.sepconv1"] == "SeparableConv 128, 3\u00d73"
    assert titles["entry.down1.maxpool1"] == "MaxPooling 3\u00d73, stride=2\u00d72"
    assert titles["exit.avgpool1"] == "GlobalAveragePooling"
    assert titles["exit.linear1"] == "Linear 1000"
    assert titles["entry.relu1"] == "ReLU"


def test_batch_norm_folded_by_default_and_drawn_with_bn() -> None:
    folded = draw("xception").dot
    assert "BatchNorm" not in folded
    assert "every Conv and SeparableConv layer is followed by batch normalization" in folded
    shown = draw("xception", bn=True).dot
    assert shown.count('label="BatchNorm"') == 2 + 3 * 3 + 3 + 3 + 2  # entry, middle once, exit
    assert "followed by batch normalization" not in shown


def test_depth_collapses_blocks_into_boxes() -> None:
    v = view(depth=1, params=True)
    scopes = {b.id: b for b in v.boxes.values() if b.kind == "scope"}
    assert list(scopes)[:3] == ["entry.down1", "entry.down2", "entry.down3"]
    assert scopes["entry.down1"].params == 35_264  # the block's layers, BN included
    assert "middle.residual2" not in scopes  # the middle flow is still drawn once
    assert 'label="repeated 8 times"' in draw("xception", depth=1).dot
    flows = view(depth=0)
    assert [b.title for b in flows.boxes.values()] == [
        "image: 3 \u00d7 299 \u00d7 299", "Entry flow", "Middle flow", "Exit flow"]
    assert sum(b.params for b in flows.boxes.values()) == 22_855_952


def test_shapes_and_params_on_boxes() -> None:
    dot = draw("xception", shapes=True, params=True).dot
    assert "728 &#215; 19 &#215; 19" in dot
    assert "537,992 params" in dot  # SeparableConv 728 with its BatchNorm
    assert "12,911,808 params in all" in dot  # the eight middle-flow modules


def test_columns_start_each_flow_with_its_feature_maps() -> None:
    v = view()
    assert v.ports == ["middle.in1", "exit.in1"]
    assert v.boxes["middle.in1"].title == "728 \u00d7 19 \u00d7 19 feature maps"
    chain = view(layout="chain")
    assert chain.ports == [] and all(b.kind != "port" for b in chain.boxes.values())


def test_spec_without_flows_with_branches() -> None:
    v = view(TINY)
    assert [c for c in v.root.items if not isinstance(c, str)] == []  # no flow clusters
    assert any(b.title == "Concat" for b in v.boxes.values())
    spines = {b.id: b.spine for b in v.boxes.values()}
    assert spines["concat1.a.conv1"] != spines["concat1.b.conv1"]
    assert sum(b.title == "ReLU" for b in v.boxes.values()) == 2  # short repeats drawn out
    draw(TINY).render("dot")


def test_unknown_option_and_format() -> None:
    with pytest.raises(ParamError, match="neither one of its options"):
        draw("xception", colour=True)
    with pytest.raises(RenderError, match="cannot tell the format"):
        Diagram("digraph {}").save("diagram.txt")


def test_bad_output_suffix_is_a_usage_error(tmp_path) -> None:
    result = CliRunner().invoke(main, ["draw", "xception", "-o", str(tmp_path / "x.jpg")])
    assert result.exit_code == 2
    assert "cannot tell the format" in result.output


def test_draw_refuses_to_write_over_its_spec(tmp_path) -> None:
    spec = tmp_path / "net.dot"  # a spec may have any name; -o takes the format from it
    text = "network net:\n    input image: 3 x 8 x 8\n    conv 4 3x3\n"
    spec.write_text(text)
    result = CliRunner().invoke(main, ["draw", str(spec), "-o", str(spec)])
    assert result.exit_code == 2, result.output
    assert "is the spec being drawn" in result.output
    assert spec.read_text() == text


def test_a_built_graph_draws_like_its_spec() -> None:
    """Without the syntax tree, flows and blocks are recognised from the scope names."""
    assert draw(xdsl.graph("xception")).dot == draw("xception").dot


def test_two_lines_breaks_after_the_op_and_its_channels() -> None:
    assert two_lines("Conv 128/160/160/192, 1\u00d77") == "Conv 128/160/160/192\n1\u00d77"
    assert two_lines("Conv 384, 3\u00d73, stride=2\u00d72") == "Conv 384\n3\u00d73, stride=2\u00d72"
    assert two_lines("MaxPooling 3\u00d73, stride=2\u00d72") == \
        "MaxPooling\n3\u00d73, stride=2\u00d72"
    assert two_lines("AveragePooling 3\u00d73") == "AveragePooling\n3\u00d73"
    assert two_lines("Concat") == "Concat"  # no kernel: whole
    assert two_lines("Linear 1000") == "Linear 1000"


def test_module_layers_on_two_lines_chain_layers_on_one() -> None:
    """In a module's branches (Inception's) the kernel goes under the op, so four branches side
    by side fit a page; a flow's own chain (the stem, all of Xception) keeps one-line labels."""
    v = view("inception_v3")
    assert v.modules
    assert v.boxes["grid17.inception_b1.branch2.conv1"].title == "Conv 128/160/160/192\n1\u00d71"
    assert v.boxes["grid17.reduce_a1.branch3.maxpool1"].title == \
        "MaxPooling\n3\u00d73, stride=2\u00d72"
    assert v.boxes["stem.conv1"].title == "Conv 32, 3\u00d73, stride=2\u00d72"
    assert v.boxes["classifier.avgpool1"].title == "GlobalAveragePooling"
    dot = draw("inception_v3").dot
    assert '[label="Conv 128/160/160/192\\n1&#215;1", style="filled", margin="0.04,0.03"' in dot
    assert "nodesep=0.06, ranksep=0.15" in dot
    x = view("xception")
    assert not x.modules and not [b for b in x.boxes.values() if "\n" in b.title]
    assert "nodesep=0.25, ranksep=0.22" in draw("xception").dot


def test_depth_still_draws_inception_blocks_as_boxes() -> None:
    v = view("inception_v3", depth=1)
    scopes = [b.id for b in v.boxes.values() if b.kind == "scope"]
    assert scopes == ["grid35.inception_a1", "grid17.reduce_a1", "grid17.inception_b1",
                      "grid8.reduce_b1", "grid8.inception_c1", "grid8.inception_c2"]
    assert not v.modules  # no branch drawn: the chains' spacing
    assert "nodesep=0.25" in draw("inception_v3", depth=1).dot
