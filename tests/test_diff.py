"""xdsl diff: layers matched by name, per-block deltas that add up to the totals."""

from __future__ import annotations

import json

from click.testing import CliRunner

import xdsl
from xdsl.audit import audit
from xdsl.cli import main
from xdsl.diff import block_changes, layer_changes


def test_one_spec_at_two_settings() -> None:
    result = CliRunner().invoke(main, ["diff", "xception", "segments=4", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {c["kind"] for c in data["layers"]} == {"changed"}
    assert len(data["layers"]) == 34  # every separable convolution, nothing else
    assert data["layers"][0]["before"].startswith("sepconv segments=none")
    delta = sum(b["params_delta"] for b in data["blocks"])
    base, four = (audit(xdsl.parse("xception"), s).trainable for s in ({}, {"segments": "4"}))
    assert delta == four - base == sum(c["params"] for c in data["layers"])


def test_removed_shortcuts_and_table_output() -> None:
    a, b = xdsl.graph("xception"), xdsl.graph("xception", residuals=False)
    changes = layer_changes(a, b)
    assert {c.kind for c in changes} == {"removed"}
    assert {c.name.rsplit(".", 1)[-1] for c in changes} == {"conv1", "bn1", "add1"}
    assert sum(r["params_delta"] for r in block_changes(a, b)) == -977_072
    out = CliRunner().invoke(main, ["diff", "xception", "residuals=false"]).output
    assert out.startswith("20 layers differ") and "-977,072" in out


def test_two_different_specs_and_identical_ones() -> None:
    out = CliRunner().invoke(main, ["diff", "xception", "variants/xception_extreme"]).output
    assert "order=spatial_first" in out and "order=pointwise_first" in out
    same = CliRunner().invoke(main, ["diff", "xception", "xception"]).output
    assert same.strip() == "0 layers differ"
