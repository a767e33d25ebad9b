"""Compiled Inception V3 == torchvision's ``inception_v3`` with the same weights.

The mapping is by position: torchvision registers every BasicConv2d in the order of the
Inception papers' branches (``branch1x1``, ``branch5x5_1``, ``branch5x5_2``, …, the auxiliary
tower after ``Mixed_6e``, then ``fc``), and so does ``specs/inception_v3.x``; the test checks
that each pair agrees in kind and shape and pins a few pairs by name. The comparison is the
honest one of shared/reference.md: BN statistics calibrated, tolerance relative to how far the
output moves between two inputs, and a deliberately wrong variant (one pooling branch that
excludes padding from its average, as TensorFlow's does) must fail it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from equivalence import calibrate, copy_weights, mapping
from torch import nn

import xdsl

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "specs" / "inception_v3.x"
BATCH = 2
pytestmark = pytest.mark.slow

PINNED = {
    "Conv2d_1a_3x3.conv.weight": "stem.conv1.weight",
    "Mixed_5b.branch5x5_2.conv.weight": "grid35.inception_a1.branch2.conv2.weight",
    "Mixed_6e.branch7x7dbl_5.bn.running_var": "grid17.inception_b4.branch3.bn5.running_var",
    "AuxLogits.conv1.conv.weight": "grid17.aux_logits.conv2.weight",
    "Mixed_7c.branch3x3dbl_3b.conv.weight":
        "grid8.inception_c2.branch3.concat1.branch2.conv1.weight",
    "fc.bias": "classifier.linear1.bias",
}


def torchvision_model(aux: bool) -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.inception_v3(weights=None, aux_logits=aux, init_weights=False,
                                           transform_input=False, dropout=0.0)


def compiled(text: str | Path = SPEC, **params) -> nn.Module:
    spec = xdsl.parse(text if isinstance(text, Path) else text)
    return xdsl.compile(spec, memory_format="contiguous", **{"drop_rate": 0.0, **params})


@pytest.fixture(scope="module")
def eval_bench():
    reference = torchvision_model(aux=False)
    gen = torch.Generator().manual_seed(1)
    calibrate(reference, [torch.randn(BATCH, 3, 299, 299, generator=gen) for _ in range(3)])
    x1, x2 = (torch.randn(BATCH, 3, 299, 299, generator=gen) for _ in range(2))
    with torch.no_grad():
        y1, y2 = reference(x1), reference(x2)
    spread = (y1 - y2).abs().max().item()
    assert spread > 1e-2, f"calibration failed: the output barely moves ({spread:.3g})"
    return reference, x1, y1, spread


@torch.no_grad()
def delta(model: nn.Module, reference: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    copy_weights(model, reference)
    return (model.eval()(x) - y).abs().max().item()


def test_mapping_by_position_agrees_with_the_names() -> None:
    pairs = mapping(compiled(aux=True), torchvision_model(aux=True))
    for theirs, ours in PINNED.items():
        assert pairs[theirs] == ours


def test_compiled_equals_torchvision_and_a_wrong_pooling_does_not(eval_bench) -> None:
    reference, x, y, spread = eval_bench
    tolerance = 1e-4 * spread
    assert delta(compiled(), reference, x, y) <= tolerance
    text = SPEC.read_text()
    pooling = "branch: avgpool 3x3 stride=1 pad=1; conv pool 1x1"
    assert text.count(pooling) == 1
    wrong = text.replace(pooling, pooling.replace("pad=1;", "pad=1 include_pad=false;"))
    assert delta(compiled(wrong), reference, x, y) > 10 * tolerance


def test_aux_logits_equal_in_training_mode() -> None:
    reference = torchvision_model(aux=True)
    ours = compiled(aux=True)
    copy_weights(ours, reference)
    gen = torch.Generator().manual_seed(2)
    x1, x2 = (torch.randn(BATCH, 3, 299, 299, generator=gen) for _ in range(2))
    ours.train(), reference.train()
    with torch.no_grad():
        theirs1, theirs2 = reference(x1), reference(x2)
        logits, aux = ours(x1)
    spread = (theirs1.aux_logits - theirs2.aux_logits).abs().max().item()
    assert spread > 1e-2
    assert (aux - theirs1.aux_logits).abs().max().item() <= 1e-4 * spread
    main_spread = (theirs1.logits - theirs2.logits).abs().max().item()
    assert (logits - theirs1.logits).abs().max().item() <= 1e-4 * main_spread
