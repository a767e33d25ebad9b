"""``specs/efficientnet.x`` == torchvision's ``efficientnet_b0`` (issue 12).

Counts and parameter shapes equal torchvision's; the stochastic depth rates equal torchvision's
block by block (at B0 and at B3's depth, where the stages' rounded-up repeats shift the global
block index); and with torchvision's weights transplanted (paired by position, each pair checked
for its kind and shape) and its BN statistics calibrated, the eval outputs agree in float64
within 1e-9 of the output's spread between two inputs, while a spec with one layer changed does
not (shared/reference.md, "Testing equivalence honestly").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from equivalence import calibrate, copy_weights
from torch import nn
from torchvision.models.efficientnet import MBConv

import xdsl
from xdsl.graph import layers

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "specs" / "efficientnet.x"
SIZE = 64  # the network takes any size; 64 x 64 keeps the float64 passes fast (2 x 2 last)
B3 = {"width_mult": 1.2, "depth_mult": 1.4, "dropout": 0.3, "image_size": 300}


pytestmark = pytest.mark.usefixtures("one_thread")


def reference(name: str = "efficientnet_b0") -> nn.Module:
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None)


def compiled(text: str | None = None, **params) -> nn.Module:
    spec = xdsl.parse(SPEC if text is None else text)
    return xdsl.compile(spec, memory_format="contiguous", seed=0, **params)


def entries(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def drop_rates(**params) -> list[float]:
    graph = xdsl.graph(xdsl.parse(SPEC), **params)
    return [n.attrs.p for n in layers(graph) if n.op == "drop_path"]


def torchvision_rates(model: nn.Module) -> list[float]:
    """The rates of the blocks whose StochasticDepth runs (those with a shortcut)."""
    return [m.stochastic_depth.p for m in model.modules()
            if isinstance(m, MBConv) and m.use_res_connect]


def test_counts_and_parameter_shapes_equal_torchvision() -> None:
    ours, theirs = entries(compiled()), entries(reference())
    trainable = sum(p.numel() for p in reference().parameters())
    assert trainable == 5_288_548
    assert sum(v.numel() for k, v in ours.items() if "running" not in k) == trainable
    assert sum(v.numel() for k, v in ours.items() if "running" in k) == 42_016
    assert sorted(tuple(v.shape) for v in ours.values()) == \
        sorted(tuple(v.shape) for v in theirs.values())


@pytest.mark.parametrize(("name", "params", "count"), [
    ("efficientnet_b0", {}, 9),
    ("efficientnet_b3", B3, 19),
])
def test_stochastic_depth_rates_equal_torchvision_block_by_block(
        name: str, params: dict, count: int) -> None:
    want = torchvision_rates(reference(name))
    assert len(want) == count and want[-1] > 0.15
    assert drop_rates(**params) == want  # exactly: 0.2 * index / blocks, as torchvision computes


@pytest.fixture(scope="module")
def bench():
    ref = reference().double()
    gen = torch.Generator().manual_seed(1)

    def noise(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float64)

    with torch.no_grad():  # non-trivial BN affine parameters, so that a misplaced one shows
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * noise(m.weight.shape))
                m.bias.copy_(0.2 * noise(m.bias.shape))
    calibrate(ref, [noise((8, 3, SIZE, SIZE)) for _ in range(3)])
    x1, x2 = noise((2, 3, SIZE, SIZE)), noise((2, 3, SIZE, SIZE))
    with torch.no_grad():
        y1, y2 = ref(x1), ref(x2)
    spread = (y1 - y2).abs().max().item()
    assert spread > 1e-2, f"calibration failed: the output barely moves ({spread:.3g})"
    return ref, x1, y1, spread


@torch.no_grad()
def delta(text: str | None, bench) -> float:
    ref, x, y, _ = bench
    model = compiled(text).double()
    copy_weights(model, ref)
    return (model.eval()(x) - y).abs().max().item()


def test_eval_outputs_equal_torchvision_in_float64(bench) -> None:
    assert delta(None, bench) <= 1e-9 * bench[3]


@pytest.mark.parametrize(("old", "new"), [
    ("bias=false; bn; silu\n\n", "bias=false; bn; relu\n\n"),  # the head's activation
    ("sigmoid; mul(feat)", "hardsigmoid; mul(feat)"),  # the gate of squeeze-and-excitation
])
def test_a_one_layer_change_is_caught(bench, old: str, new: str) -> None:
    text = SPEC.read_text()
    assert text.count(old) == 1
    assert delta(text.replace(old, new), bench) > 0.01 * bench[3]
