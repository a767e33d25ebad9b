"""Compiled MobileNetV2 and ShuffleNetV2 x1.0 == torchvision's, weight for weight and output for
output, in float64 (issue 12).

The weights are transplanted by position: torchvision registers its layers in the order of the
data flow (in ShuffleNetV2's downsampling unit, ``branch1`` before ``branch2``), and so do
``specs/mobilenet_v2.x`` and ``specs/shufflenet_v2.x``; every pair is checked for kind and shape,
and a few pairs are pinned by name. The comparison is the honest one of shared/reference.md:
BN affine parameters randomised (torchvision's 1 and 0 would hide a swapped scale and shift, and
keep ReLU6 from ever clipping; shifts within ±0.5 leave no channel dead during calibration, whose
zero variance would amplify that channel 300-fold later) and BN statistics calibrated, the
tolerance relative to how far the output moves between two inputs, and a deliberately wrong
variant of one line must fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision
from equivalence import calibrate, copy_weights, mapping
from torch import nn

import xdsl

ROOT = Path(__file__).resolve().parents[3]
MOBILENET = ROOT / "specs" / "mobilenet_v2.x"
SHUFFLENET = ROOT / "specs" / "shufflenet_v2.x"
SIZE = 64  # both networks divide it by 32 down to 2 x 2; keeps the test fast
BATCH = 4
pytestmark = pytest.mark.slow

Bench = tuple[nn.Module, torch.Tensor, torch.Tensor, float]


def torchvision_mobilenet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.mobilenet_v2(weights=None)


def torchvision_shufflenet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.shufflenet_v2_x1_0(weights=None)


def compiled(text: str, **params) -> nn.Module:
    return xdsl.compile(xdsl.parse(text), memory_format="contiguous", image_size=SIZE, **params)


def counts(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for n, b in model.named_buffers() if "running_" in n)
    return trainable, running


def shapes(model: nn.Module) -> Counter[tuple[int, ...]]:
    return Counter(tuple(p.shape) for p in model.parameters())


@torch.no_grad()
def bench(make: Callable[[], nn.Module]) -> Bench:
    """The reference with random BN affine parameters, its BN statistics calibrated (in float32:
    torch's float64 depthwise convolution is a slow loop over channels; the statistics are then
    the same numbers in both models), two float64 outputs and their spread."""
    reference = make()
    gen = torch.Generator().manual_seed(1)
    for m in reference.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 3 + 0.5)
            m.bias.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)
    def batch() -> torch.Tensor:
        return torch.randn(BATCH, 3, SIZE, SIZE, generator=gen, dtype=torch.float64)
    calibrate(reference, [batch().float() for _ in range(3)])
    reference = reference.double()
    x1, x2 = batch(), batch()
    y1, y2 = reference(x1), reference(x2)
    spread = (y1 - y2).abs().max().item()
    assert spread > 1e-2, f"calibration failed: the output barely moves ({spread:.3g})"
    return reference, x1, y1, spread


@torch.no_grad()
def delta(model: nn.Module, reference: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model = model.double()
    copy_weights(model, reference)
    return (model.eval()(x) - y).abs().max().item()


def wrong(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


# ---- MobileNetV2 -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mobilenet_bench() -> Bench:
    return bench(torchvision_mobilenet)


def test_mobilenet_counts_and_shapes_equal_torchvision() -> None:
    ours, theirs = compiled(MOBILENET.read_text()), torchvision_mobilenet()
    assert counts(ours) == counts(theirs) == (3_504_872, 34_112)
    assert shapes(ours) == shapes(theirs)
    pairs = mapping(ours, theirs)
    assert pairs["features.1.conv.0.0.weight"] == "features.bottleneck1.inverted1.dwconv1.weight"
    assert pairs["features.3.conv.2.weight"] == "features.bottleneck2.inverted2.conv2.weight"
    assert pairs["features.18.1.running_var"] == "features.bn2.running_var"
    assert pairs["classifier.1.weight"] == "classifier.linear1.weight"


@pytest.mark.parametrize("width_mult", [0.5, 0.75, 1.4])
def test_mobilenet_width_mult_counts_equal_torchvision(width_mult: float) -> None:
    ours = compiled(MOBILENET.read_text(), width_mult=width_mult)
    theirs = torchvision.models.mobilenet_v2(weights=None, width_mult=width_mult)
    assert counts(ours) == counts(theirs)
    assert shapes(ours) == shapes(theirs)


def test_mobilenet_equals_torchvision_and_relu_for_relu6_does_not(mobilenet_bench) -> None:
    reference, x, y, spread = mobilenet_bench
    tolerance = 1e-9 * spread
    assert delta(compiled(MOBILENET.read_text()), reference, x, y) <= tolerance
    # one layer: the last 1x1 convolution's ReLU6 becomes a ReLU
    text = wrong(MOBILENET, "round_nearest) 1x1; relu6", "round_nearest) 1x1; relu")
    assert delta(compiled(text), reference, x, y) > 0.01 * spread


def test_mobilenet_without_one_shortcut_is_caught(mobilenet_bench) -> None:
    """The residual's condition (stride 1 and equal channels) matters: without it no block
    adds its input, and the comparison sees it."""
    reference, x, y, spread = mobilenet_bench
    text = wrong(MOBILENET, "residual if s == 1 and channels == c:", "residual if false:")
    assert delta(compiled(text), reference, x, y) > 0.01 * spread


# ---- ShuffleNetV2 x1.0 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shufflenet_bench() -> Bench:
    return bench(torchvision_shufflenet)


def test_shufflenet_counts_and_shapes_equal_torchvision() -> None:
    ours, theirs = compiled(SHUFFLENET.read_text()), torchvision_shufflenet()
    assert counts(ours) == counts(theirs) == (2_278_604, 16_180)
    assert shapes(ours) == shapes(theirs)
    pairs = mapping(ours, theirs)
    prefix = "stage2.stage1.down1.concat1"
    assert pairs["stage2.0.branch1.0.weight"] == f"{prefix}.branch1.dwconv1.weight"
    assert pairs["stage2.0.branch2.3.weight"] == f"{prefix}.branch2.dwconv1.weight"
    assert pairs["stage4.3.branch2.6.bias"] == "stage4.stage1.unit3.bn3.bias"
    assert pairs["conv5.0.weight"] == "conv5.conv1.weight"
    assert pairs["fc.bias"] == "classifier.linear1.bias"


@pytest.mark.parametrize("width", ["x0_5", "x1_5", "x2_0"])
def test_shufflenet_widths_count_as_torchvision(width: str) -> None:
    ours = compiled(SHUFFLENET.read_text(), width=width)
    theirs = getattr(torchvision.models, f"shufflenet_v2_{width}")(weights=None)
    assert counts(ours) == counts(theirs)
    assert shapes(ours) == shapes(theirs)


@pytest.mark.parametrize("old, new", [
    ("concat(a, y); shuffle 2", "concat(a, y); shuffle 4"),  # the basic unit's shuffle
    ("concat(a, y); shuffle 2", "concat(y, a); shuffle 2"),  # the halves joined the other way
], ids=["shuffle-groups", "concat-order"])
def test_shufflenet_equals_torchvision_and_one_changed_line_does_not(
        shufflenet_bench, old: str, new: str) -> None:
    reference, x, y, spread = shufflenet_bench
    tolerance = 1e-9 * spread
    assert delta(compiled(SHUFFLENET.read_text()), reference, x, y) <= tolerance
    assert delta(compiled(wrong(SHUFFLENET, old, new)), reference, x, y) > 0.01 * spread
