"""Every zoo entry (``specs/zoo/*.x``) equals its torchvision model (issue 13).

For each entry: the spec's trainable and non-trainable counts equal torchvision's, the multiset
of parameter shapes equals torchvision's, the MACs equal those measured by hooks on torchvision's
model, and with torchvision's weights transplanted by xdsl's own mapping
(:func:`xdsl.backends.pytorch.transplant`) and its BN statistics calibrated, the eval outputs
agree in float64 within 1e-9 of the output's spread between two inputs; replacing one layer's
weights moves them by more than 1e-3 of it (shared/reference.md, "Testing equivalence
honestly"). The spec's own audit figures (torchvision's, at the default input size) are checked
by ``xdsl audit``, and the full-size MACs by hooks in the slow test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from equivalence import calibrate, hooked_macs
from torch import nn
from xdsl.backends.pytorch import transplant
from xdsl.backends.pytorch.weights import KINDS
from zoo import Entry, entries

import xdsl
from xdsl.api import summarize

ROOT = Path(__file__).resolve().parents[3]
ZOO = ENTRIES = entries()
NAMES = sorted(ZOO)


pytestmark = pytest.mark.usefixtures("one_thread")


def reference(entry: Entry) -> nn.Module:
    torch.manual_seed(0)
    return getattr(torchvision.models, entry.builder)(weights=None, **entry.kwargs)


def shapes(model: nn.Module) -> list[tuple[int, ...]]:
    """The state's shapes, sorted; a module's own parameter without its 1s (torchvision's
    ConvNeXt ``layer_scale`` of C x 1 x 1 is xdsl's C, see weights.py)."""
    return sorted(tuple(v.shape) if k.rsplit(".", 1)[-1] in KINDS else
                  tuple(n for n in v.shape if n != 1) for k, v in state(model).items())


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def test_every_zoo_spec_has_a_reference_and_every_reference_a_spec() -> None:
    assert {p.stem for p in (ROOT / "specs" / "zoo").glob("*.x")} == set(ZOO)
    assert len(ZOO) >= 1


@pytest.mark.parametrize("name", NAMES)
def test_counts_shapes_and_audit_equal_torchvision(name: str) -> None:
    entry = ZOO[name]
    ref = reference(entry)
    spec = xdsl.parse(f"zoo/{name}")
    s = summarize(spec.graph())
    assert s.trainable == sum(p.numel() for p in ref.parameters())
    assert s.non_trainable == sum(v.numel() for k, v in state(ref).items()
                                  if k not in dict(ref.named_parameters()))
    report = xdsl.audit(spec)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert {c.metric for c in report.checks} >= {"trainable", "non_trainable", "macs"}


@pytest.mark.parametrize("name", NAMES)
@torch.no_grad()
def test_outputs_equal_torchvision_with_its_weights_in_float64(name: str) -> None:
    entry = ZOO[name]
    ref = reference(entry).double()
    gen = torch.Generator().manual_seed(1)

    def noise(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float64)

    for m in ref.modules():  # non-trivial BN and LN affine parameters: a misplaced one shows
        if isinstance(m, nn.BatchNorm2d | nn.LayerNorm) and m.weight is not None:
            m.weight.copy_(1 + 0.2 * noise(m.weight.shape))
            m.bias.copy_(0.2 * noise(m.bias.shape))
    for key, p in ref.named_parameters():  # ConvNeXt's layer scales: 1e-6 would hide the blocks
        if key.rsplit(".", 1)[-1] not in KINDS:
            p.copy_(1 + 0.2 * noise(p.shape))
    size = (3, entry.size, entry.size)
    calibrate(ref, [noise((4, *size)) for _ in range(2)])
    ours = xdsl.compile(f"zoo/{name}", image_size=entry.size, memory_format="contiguous",
                        **entry.params).double().eval()
    assert shapes(ours) == shapes(ref)
    moved = transplant(ours, ref)
    assert moved.tensors == len(ref.state_dict())
    x1, x2 = noise((2, *size)), noise((2, *size))
    y1, y2 = ref(x1), ref(x2)
    spread = (y1 - y2).abs().max().item()
    assert spread > 1e-2, f"calibration failed: the output barely moves ({spread:.3g})"
    assert (ours(x1) - y1).abs().max().item() <= 1e-9 * spread
    assert hooked_macs(ref, x1[:1]) == summarize(ours.graph).macs
    convs = [m for m in ours.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    layer = convs[len(convs) // 2]  # one layer in the middle, given other weights
    layer.weight.copy_(noise(layer.weight.shape) * layer.weight.std())
    assert (ours(x1) - y1).abs().max().item() > 1e-3 * spread


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@torch.no_grad()
def test_full_size_macs_equal_hooks_on_torchvision(name: str) -> None:
    ref = reference(ZOO[name]).eval()
    g = xdsl.parse(f"zoo/{name}").graph()
    shape = g.nodes[g.graph["input"]]["node"].shape
    assert hooked_macs(ref, torch.zeros(1, *shape)) == summarize(g).macs
