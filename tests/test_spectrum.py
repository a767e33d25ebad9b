"""The spectrum between regular and depthwise separable convolutions, and the paper's
ablations: every shipped variant's count against a closed form derived here by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import xdsl
from xdsl.audit import audit
from xdsl.cli import main

# (input channels, filters) of Xception's 36 - 2 separable convolutions, in order.
SEPCONVS = ([(64, 128), (128, 128), (128, 256), (256, 256), (256, 728), (728, 728)]
            + [(728, 728)] * 24 + [(728, 728), (728, 1024), (1024, 1536), (1536, 2048)])
SHORTCUTS = [(64, 128), (128, 256), (256, 728), (728, 1024)]
STEM = 3 * 3 * 3 * 32 + 2 * 32 + 3 * 3 * 32 * 64 + 2 * 64


def closed_form(*, segments=None, group_width=None, pointwise_first=False, residuals=True,
                fc_layers=0, classes=1000) -> int:
    """Trainable parameters: pointwise + grouped 3x3 spatial + BN per separable layer."""
    total = STEM
    for cin, f in SEPCONVS:
        spatial_channels = f if pointwise_first else cin
        if group_width is not None:
            groups = spatial_channels // group_width
        else:
            groups = segments or spatial_channels
        per_group = spatial_channels // groups
        total += cin * f + 9 * per_group * spatial_channels + 2 * f
    if residuals:
        total += sum(cin * f + 2 * f for cin, f in SHORTCUTS)
    width = 2048
    for _ in range(fc_layers):
        total += width * 4096 + 4096
        width = 4096
    return total + width * classes + classes


def trainable(spec: str, **settings) -> int:
    return audit(xdsl.parse(spec), settings).trainable


def test_closed_form_reproduces_the_paper_figure() -> None:
    assert closed_form() == 22_855_952 == trainable("xception")


VARIANTS = {
    "xception_s1": {"segments": 1},
    "xception_s1_pointwise_first": {"segments": 1, "pointwise_first": True},
    "xception_s4": {"segments": 4},
    "xception_gw4": {"group_width": 4},
    "xception_gw8": {"group_width": 8},
    "xception_extreme": {"pointwise_first": True},
    "xception_mid_relu": {},
    "xception_mid_elu": {},
    "xception_no_residual": {"residuals": False},
    "xception_fc": {"fc_layers": 2},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_shipped_variant_counts_match_the_closed_form(name: str) -> None:
    assert trainable(f"variants/{name}") == closed_form(**VARIANTS[name])


def test_fc_layers_by_hand() -> None:
    by_hand = (22_855_952 - (2048 * 1000 + 1000) + (2048 * 4096 + 4096)
               + (4096 * 4096 + 4096) + (4096 * 1000 + 1000))
    assert trainable("xception", fc_layers=2) == by_hand == 50_077_968


@pytest.mark.parametrize("segments", [1, 2, 4, 8])
def test_segment_sweep_points(segments: int) -> None:
    assert trainable("xception", segments=segments) == closed_form(segments=segments)


def test_mid_activation_is_placed_between_the_two_convolutions() -> None:
    g = xdsl.graph("variants/xception_mid_elu")
    node = g.nodes["middle.residual1.sepconv1"]["node"]
    assert node.attrs.mid_act == "elu" and node.attrs.order == "spatial_first"


def test_segments_that_do_not_divide_point_at_the_layer() -> None:
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.graph("xception", segments=3)
    (diag,) = info.value.diagnostics
    assert "splits 64 channels into 3 segments" in diag.message
    assert diag.span.line == 21 and "1, 2, 4, 8" in diag.hint


def test_segments_and_group_width_are_exclusive() -> None:
    with pytest.raises(xdsl.SpecError, match="at most one of `segments` and `group_width`"):
        xdsl.graph("xception", segments=2, group_width=2)


def test_sweep_json_has_one_audit_object_per_setting() -> None:
    result = CliRunner().invoke(main, ["audit", "xception", "--sweep", "segments=1,2,4,8,none",
                                       "--format", "json"])
    rows = json.loads(result.output)
    assert [r["params"]["trainable"] for r in rows] == [
        closed_form(segments=s) for s in (1, 2, 4, 8, None)]
    single = json.loads(CliRunner().invoke(main, ["audit", "xception", "--format", "json"])
                        .output)
    assert set(single) <= set(rows[0])
    assert [r["baseline"] for r in rows] == [False] * 4 + [True]


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex"])
def test_sweep_tables(fmt: str) -> None:
    out = CliRunner().invoke(main, ["audit", "xception", "--sweep", "group_width=1,8",
                                    "--format", fmt]).output
    assert "24,307,976" in out.replace("{,}", ",") and "1.064" in out
