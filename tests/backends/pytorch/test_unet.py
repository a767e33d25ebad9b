"""specs/unet.x == a hand-written torch U-Net (Ronneberger et al., 2015; padded), weight for weight
and output for output in float64 (issues 12 and 13; torchvision has no U-Net).

The reference below is written from the paper's Figure 1, as a reader would write it: double 3x3
convolutions with ReLU (optionally conv without bias, BN, ReLU), 2x2 max pooling down, a 2x2
transposed convolution halving the channels up, the skip concatenated before the upsampled
tensor. Weights are transplanted by position, each pair checked for kind and shape; the tolerance
is relative to how far the output moves between two inputs (shared/reference.md), and a spec with
one line changed must fail the same comparison.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from equivalence import calibrate
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import xdsl

SPEC = Path(__file__).resolve().parents[3] / "specs" / "unet.x"
SIZE = 64  # four poolings: 64 -> 4 at the bottom
BASE = 16  # outputs are compared at a quarter of the width: the same layers, 1/16 of the work


class Double(nn.Sequential):
    def __init__(self, cin: int, c: int, bn: bool) -> None:
        layers: list[nn.Module] = []
        for i in range(2):
            layers.append(nn.Conv2d(cin if i == 0 else c, c, 3, padding=1, bias=not bn))
            layers += [nn.BatchNorm2d(c)] if bn else []
            layers.append(nn.ReLU())
        super().__init__(*layers)


class Up(nn.Module):
    def __init__(self, c: int, bn: bool, skip_first: bool = True) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.convs = Double(2 * c, c, bn)
        self.skip_first = skip_first

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.deconv(x)
        return self.convs(torch.cat([skip, x] if self.skip_first else [x, skip], dim=1))


class UNet(nn.Module):
    def __init__(self, cin: int = 3, classes: int = 2, base: int = 64, bn: bool = False,
                 skip_first: bool = True) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(5)]
        self.down = nn.ModuleList(Double(a, b, bn) for a, b in zip([cin, *widths], widths))
        self.up = nn.ModuleList(Up(c, bn, skip_first) for c in reversed(widths[:4]))
        self.head = nn.Conv2d(base, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, double in enumerate(self.down):
            x = double(x)
            if i < 4:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for up, skip in zip(self.up, reversed(skips)):
            x = up(x, skip)
        return self.head(x)


def counts(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for n, b in model.named_buffers() if "running_" in n)
    return trainable, running


def compiled(text: str, **params) -> nn.Module:
    return xdsl.compile(xdsl.parse(text), memory_format="contiguous", image_size=SIZE, **params)


def copy_weights(ours: nn.Module, theirs: nn.Module) -> dict[str, str]:
    """Reference key -> xdsl key, by position, each pair checked for kind and shape."""
    a, b = ours.state_dict(), theirs.state_dict()
    a = {k: v for k, v in a.items() if not k.endswith("num_batches_tracked")}
    b = {k: v for k, v in b.items() if not k.endswith("num_batches_tracked")}
    assert len(a) == len(b)
    pairs = dict(zip(b, a))
    for t_key, o_key in pairs.items():
        assert t_key.rsplit(".", 1)[1] == o_key.rsplit(".", 1)[1], (t_key, o_key)
        assert b[t_key].shape == a[o_key].shape, (t_key, o_key)
    ours.load_state_dict({pairs[k]: v for k, v in b.items()}, strict=False)
    return pairs


@torch.no_grad()
def bench(reference: nn.Module) -> tuple[nn.Module, torch.Tensor, torch.Tensor, float]:
    """Kaiming-scaled weights, random biases and BN affines, calibrated BN statistics; the
    reference's output on a batch and its spread between two inputs."""
    reference = reference.double()
    gen = torch.Generator().manual_seed(1)
    for m in reference.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * 4
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=torch.float64)
                           * (2 / fan_in) ** 0.5)
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen, dtype=torch.float64) * 3 + 0.5)
        if getattr(m, "bias", None) is not None:
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen, dtype=torch.float64))
    cin = reference.down[0][0].in_channels
    def batch() -> torch.Tensor:
        return torch.randn(2, cin, SIZE, SIZE, generator=gen, dtype=torch.float64)
    if any(isinstance(m, nn.BatchNorm2d) for m in reference.modules()):
        calibrate(reference, [batch() for _ in range(2)])
    x = batch()
    y = reference(x)
    spread = (y[0] - y[1]).abs().max().item()
    assert spread > 1e-2, f"the output barely moves ({spread:.3g})"
    return reference, x, y, spread


@torch.no_grad()
def delta(model: nn.Module, reference: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model = model.double()
    copy_weights(model, reference)
    return (model.eval()(x) - y).abs().max().item()


def wrong(old: str, new: str) -> str:
    text = SPEC.read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.fixture(scope="module")
def default_bench() -> tuple[nn.Module, torch.Tensor, torch.Tensor, float]:
    return bench(UNet(base=BASE))


def test_counts_and_pairs_equal_the_hand_written_unet_and_the_derivation() -> None:
    ours, reference = compiled(SPEC.read_text()), UNet()
    assert counts(ours) == counts(reference) == (31_031_810, 0)
    pairs = copy_weights(ours, reference)  # by position, in the order of the data flow
    assert pairs["down.0.0.weight"] == "encoder.double1.conv1.weight"
    assert pairs["down.4.2.bias"] == "encoder.double5.conv2.bias"
    assert pairs["up.0.deconv.weight"] == "decoder.up1.deconv1.weight"
    assert pairs["up.3.convs.2.weight"] == "decoder.up4.double1.conv2.weight"
    assert pairs["head.bias"] == "decoder.conv1.bias"
    assert counts(compiled(SPEC.read_text(), batchnorm=True)) == counts(UNet(bn=True)) \
        == (31_037_698, 11_776)
    one_in = compiled(SPEC.read_text(), in_channels=1, classes=5, base=BASE)
    assert counts(one_in) == counts(UNet(cin=1, classes=5, base=BASE))


def test_graph_counts_macs_and_output_shape() -> None:
    """The MACs of the graph IR equal torch's flop counter on the reference (on the meta device,
    so nothing is computed), at the spec's default 512 x 512."""
    report = xdsl.audit(str(SPEC))
    assert report.ok
    assert report.trainable == 31_031_810
    assert xdsl.check(str(SPEC)).output == (2, 512, 512)
    with torch.device("meta"):
        reference, x = UNet(), torch.empty(1, 3, 512, 512)
    with FlopCounterMode(display=False) as flops:
        assert reference(x).shape == (1, 2, 512, 512)
    assert report.macs == flops.get_total_flops() // 2 == 192_686_325_760


def test_equals_the_hand_written_unet(default_bench) -> None:
    reference, x, y, spread = default_bench
    assert delta(compiled(SPEC.read_text(), base=BASE), reference, x, y) <= 1e-9 * spread


@pytest.mark.parametrize(("old", "new"), [
    ("concat(skip, upsampled)", "concat(upsampled, skip)"),  # the skip joined after
    ("double(base * 2) as e2; maxpool", "double(base * 2) as e2; avgpool"),  # one pooling
], ids=["concat-order", "avgpool"])
def test_one_changed_line_is_caught(default_bench, old: str, new: str) -> None:
    reference, x, y, spread = default_bench
    assert delta(compiled(wrong(old, new), base=BASE), reference, x, y) > 0.01 * spread


def test_batchnorm_form_equals_the_hand_written_unet() -> None:
    reference, x, y, spread = bench(UNet(base=BASE, bn=True))
    ours = compiled(SPEC.read_text(), base=BASE, batchnorm=True)
    assert delta(ours, reference, x, y) <= 1e-9 * spread
    # one layer: BN dropped from the double convolution (its biases come back)
    text = wrong("bn if batchnorm", "bn if false")
    assert counts(compiled(text, base=BASE, batchnorm=True)) != counts(reference)


def test_depth_counts_the_transposed_convolutions() -> None:
    # the paper's 23 convolutional layers: 18 in the double convolutions, 4 up-convolutions and
    # the final 1x1 (a depth without the transposed convolutions would be 19)
    assert xdsl.audit(SPEC).depth == 23
