"""Inception V3: the audit figures of the reference implementations, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import xdsl
from xdsl.audit import audit, depth, metrics
from xdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("settings", "trainable", "non_trainable"), [
    ({}, 23_834_568, 34_432),                    # torchvision inception_v3(aux_logits=False)
    ({"aux": True}, 27_161_264, 34_432 + 2 * (128 + 768)),   # with the auxiliary tower
    ({"flavour": "keras"}, 23_817_352, 34_432),  # Keras InceptionV3
    ({"flavour": "keras1"}, 23_626_728, 34_240),  # Keras 1.1-1.2: the paper's Table 3
])
def test_parameter_counts(settings: dict, trainable: int, non_trainable: int) -> None:
    found = metrics(xdsl.graph("specs/inception_v3.x", **settings))
    assert (found["trainable"], found["non_trainable"]) == (trainable, non_trainable)


def test_macs_and_shapes() -> None:
    g = xdsl.graph("specs/inception_v3.x")
    assert metrics(g)["macs"] == 5_713_216_096
    nodes = g.nodes
    assert nodes["grid35.inception_a1.concat1"]["node"].shape == (256, 35, 35)
    assert nodes["grid17.reduce_a1.concat1"]["node"].shape == (768, 17, 17)
    assert nodes["grid8.inception_c2.concat1"]["node"].shape == (2048, 8, 8)
    assert nodes[g.graph["output"]]["node"].shape == (1000,)


@pytest.mark.parametrize(("flavour", "bn_scale", "include_pad"), [
    ("torchvision", True, True),   # PyTorch's avg_pool2d counts the zero padding
    ("keras", False, False),       # TensorFlow's "same" pooling divides by the real pixels
    ("keras1", True, False),
])
def test_flavour_sets_bn_scale_and_the_pooling_divisor(flavour: str, bn_scale: bool,
                                                       include_pad: bool) -> None:
    nodes = [n["node"] for _, n in xdsl.graph("inception_v3", flavour=flavour).nodes(data=True)]
    assert {n.attrs.scale for n in nodes if n.op == "bn"} == {bn_scale}
    padded = [n for n in nodes if n.op == "avgpool" and n.attrs.pad != "valid"]
    assert len(padded) == 9 and {n.attrs.include_pad for n in padded} == {include_pad}


def test_unknown_flavour_names_the_choices() -> None:
    result = CliRunner().invoke(main, ["check", "inception_v3", "--set", "flavour=keras2"])
    assert result.exit_code == 2
    assert "`flavour` is one of torchvision, keras, keras1, got `keras2`" in result.output


def test_keras1_quirks_are_where_reference_md_says() -> None:
    g = xdsl.graph("specs/inception_v3.x", flavour="keras1")
    nodes = g.nodes
    assert nodes["grid35.inception_a3.concat1"]["node"].shape == (256, 35, 35)
    assert nodes["grid17.reduce_a1.concat1"]["node"].shape == (736, 17, 17)
    assert nodes["grid17.inception_b4.branch3.conv1"]["node"].attrs.filters == 160
    assert nodes["grid8.reduce_b1.branch3.avgpool1"]["node"].attrs.stride == (2, 2)
    unit = [n for n in g.nodes if n.startswith("stem.")][:4]
    assert unit == ["stem.conv1", "stem.relu1", "stem.bn1", "stem.conv2"]
    assert nodes["stem.conv1"]["node"].attrs.bias is True
    # 21,526,368 kernels + 17,120 biases + 34,240 BN + 2,049,000 classifier
    kernels = sum(n["node"].params - n["node"].attrs.filters
                  for _, n in g.nodes(data=True) if n["node"].op == "conv")
    biases = sum(n["node"].attrs.filters for _, n in g.nodes(data=True)
                 if n["node"].op == "conv")
    assert (kernels, biases) == (21_526_368, 17_120)


def test_aux_head_is_a_second_output() -> None:
    g = xdsl.graph("specs/inception_v3.x", aux=True)
    main_out, aux_out = g.graph["outputs"]
    assert main_out == g.graph["output"]
    assert aux_out == "grid17.aux_logits.linear1"
    aux = g.nodes["grid17.aux_logits.conv2"]["node"]
    assert aux.shape == (768, 1, 1) and aux.params == 128 * 768 * 25


def test_audit_passes_every_stated_expectation_and_shows_the_paper_figure() -> None:
    report = audit(xdsl.parse("specs/inception_v3.x"))
    assert report.ok and len(report.checks) == 8
    (note,) = [c for c in report.checks if not c.required]
    assert (note.expected, note.actual, note.delta) == (23_626_728, 23_834_568, 207_840)
    data = json.loads(CliRunner().invoke(main, ["audit", str(ROOT / "specs/inception_v3.x"),
                                                "--format", "json"]).output)
    assert data["params"]["trainable"] == 23834568 and data["macs"] == 5713216096
    assert all(c["ok"] for c in data["checks"])


def test_shipped_keras1_variant_reproduces_table_3() -> None:
    spec = xdsl.parse("variants/inception_v3_keras1")
    assert spec.name == "inception_v3_keras1"
    report = audit(spec)
    assert report.ok and report.trainable == 23_626_728


def test_table_3_comparison() -> None:
    result = CliRunner().invoke(main, ["audit", "xception", "inception_v3", "--format", "json"])
    rows = json.loads(result.output)
    assert [(r["label"], r["params"]["trainable"]) for r in rows] == [
        ("xception", 22855952), ("inception_v3", 23834568)]
    assert rows[0]["depth"] == 36 == depth(xdsl.graph("xception"))
