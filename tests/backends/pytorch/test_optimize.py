"""``--optimize``: batch norm folded into convolutions gives the same eval outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from equivalence import randomize_state
from torch import nn
from xdsl.backends.pytorch.inference import optimize
from xdsl.backends.pytorch.lowering import fold_batch_norms

import xdsl

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "tests" / "golden" / "pytorch" / "tiny.x"
SPECTRUM = """network spectrum():
    input image: 3 x 17 x 17
    flow f:
        conv 16 3x3 stride=2 pad=same bias=false; bn
        sepconv 16 3x3 pad=same stride=2; bn scale=false
        sepconv 32 3x3 pad=same segments=4 mid_act=relu bias=false; bn center=false
        sepconv 32 3x3 pad=same group_width=8; bn
        relu; global avgpool; linear 3
"""


def randomize(model: nn.Module) -> None:
    randomize_state(model, 0.5)


@pytest.mark.parametrize("spec", [TINY, SPECTRUM], ids=["tiny", "spectrum"])
def test_optimized_outputs_equal_unoptimized(spec: object) -> None:
    model = xdsl.compile(spec, memory_format="contiguous")
    randomize(model)
    fast = optimize(model)
    x = torch.randn(4, *model.plan.input.shape)
    with torch.no_grad():
        want, got = model.eval()(x), fast(x)
    assert not fast.training and fast.memory_format == torch.channels_last
    scale = want.abs().max().item()
    assert (want - got).abs().max().item() <= 1e-5 * max(scale, 1.0)


def test_what_folds() -> None:
    plan = fold_batch_norms(xdsl.compile(TINY).plan)
    folded = dict(plan.folded)
    assert folded["stem.conv1"] == "stem.bn1"
    assert folded["stem.down1.sepconv1"] == "stem.down1.bn1"
    assert folded["stem.dwconv1"] == "stem.bn2"  # scale=false
    assert folded["stem.gconv1"] == "stem.bn3"  # center=false
    assert "mix.bn2" not in folded.values()  # reads an add, not a convolution
    assert "head.bn1" not in folded.values()  # a vector after linear


def test_optimized_state_dict_keys() -> None:
    fast = xdsl.compile(TINY, optimize=True)
    keys = set(fast.state_dict())
    assert {"stem.conv1.bias", "stem.down1.sepconv1.pointwise.bias"} <= keys
    assert not any(k.startswith("stem.bn1.") for k in keys)
    assert "mix.bn2.running_mean" in keys


def test_optimize_is_idempotent() -> None:
    fast = xdsl.compile(TINY, optimize=True)
    again = optimize(fast)
    assert list(again.state_dict()) == list(fast.state_dict())
