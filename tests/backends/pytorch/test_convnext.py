"""``specs/convnext.x`` == torchvision's ``convnext_*`` (issue 12).

Counts and stochastic depth rates are compared at every size (torchvision's models built on
the meta device, so even ConvNeXt-L costs nothing); parameter shapes, and outputs in float64
with torchvision's weights transplanted by position, for ConvNeXt-T. Two details of the
transplant are torchvision's, not the spec's: a CNBlock registers its ``layer_scale`` before
its layers (the spec writes ``layerscale`` after them, where it acts) and shapes it (C, 1, 1)
for broadcasting over a map, where ``layerscale``'s gamma is (C,). Every other pair must agree
in kind and shape exactly. ConvNeXt has no batch norm, so nothing needs calibrating; instead
every parameter is drawn at random (layer scales too, which torchvision starts at 1e-6), so
that every block moves the output, and a one-layer change must be caught.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import StochasticDepth

import xdsl

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "specs" / "convnext.x"
SIZES = ["tiny", "small", "base", "large"]
SIZE = 64  # ConvNeXt-T at 64x64: 2x2 maps in its last stage
pytestmark = pytest.mark.slow


def torchvision_model(size: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return getattr(torchvision.models, f"convnext_{size}")(weights=None, **kwargs)


def torchvision_macs(model: nn.Module, image: int = 224) -> int:
    """Conv and linear MACs by forward hooks (the rule of the spec's audit)."""
    total = 0

    def hook(module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        per_output = module.weight[0].numel()  # in/groups × k × k, or in_features
        total += out.numel() // out.shape[0] * per_output

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.empty(1, 3, image, image, device="meta"))
    for handle in handles:
        handle.remove()
    return total


def drop_rates(g) -> list[float]:
    return [data["node"].attrs.p for _, data in g.nodes(data=True)
            if data["node"].op == "drop_path"]


@pytest.mark.parametrize("size", SIZES)
def test_counts_equal_torchvisions(size: str) -> None:
    theirs = torchvision_model(size)
    summary = xdsl.check(SPEC, size=size)
    assert summary.trainable == sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    assert summary.non_trainable == sum(b.numel() for b in theirs.buffers()) == 0
    assert summary.macs == torchvision_macs(theirs)
    assert summary.output == (1000,)


def test_tiny_figures_are_the_audited_ones() -> None:
    summary = xdsl.check("convnext")
    assert (summary.trainable, summary.non_trainable, summary.macs) == (
        28_589_128, 0, 4_455_531_264)
    assert xdsl.audit("convnext").ok


def test_parameter_shapes_equal_torchvisions() -> None:
    with torch.device("meta"):
        ours = Counter(tuple(p.shape) for p in xdsl.compile(SPEC).parameters())
    theirs = Counter(tuple(p.squeeze().shape) if name.endswith("layer_scale") else tuple(p.shape)
                     for name, p in torchvision_model("tiny").named_parameters())
    assert ours == theirs
    assert theirs[(96,)] > 0 and theirs[(768, 1, 7, 7)] == 3


@pytest.mark.parametrize("size", SIZES)
def test_stochastic_depth_rates_equal_torchvisions_block_by_block(size: str) -> None:
    theirs = [m.p for m in torchvision_model(size).modules() if isinstance(m, StochasticDepth)]
    assert drop_rates(xdsl.graph(SPEC, size=size)) == theirs
    assert len(theirs) == (18 if size == "tiny" else 36) and theirs[0] == 0.0


def test_a_given_stochastic_depth_prob_overrides_the_sizes() -> None:
    theirs = [m.p for m in torchvision_model("tiny", stochastic_depth_prob=0.3).modules()
              if isinstance(m, StochasticDepth)]
    ours = drop_rates(xdsl.graph(SPEC, stochastic_depth_prob=0.3))
    assert ours == theirs and ours[-1] == 0.3


# ---- outputs with torchvision's weights ---------------------------------------------------------

def in_spec_order(state: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """torchvision's entries in the spec's order: each ``layer_scale`` after its block's layers."""
    keys = [k for k in state if not k.endswith(".layer_scale")]
    for key in (k for k in state if k.endswith(".layer_scale")):
        prefix = key.removesuffix("layer_scale")
        keys.insert(max(i for i, k in enumerate(keys) if k.startswith(prefix)) + 1, key)
    return [(k, state[k]) for k in keys]


KINDS = {"weight": "weight", "bias": "bias", "layer_scale": "gamma"}


def mapping(ours: nn.Module, theirs: nn.Module) -> dict[str, str]:
    """torchvision key → xdsl key, by position in the spec's order, each pair checked."""
    a = ours.state_dict()
    b = in_spec_order(theirs.state_dict())
    assert len(a) == len(b)
    pairs = {}
    for (t_key, t_value), (o_key, o_value) in zip(b, a.items()):
        kind = t_key.rsplit(".", 1)[1]
        assert KINDS[kind] == o_key.rsplit(".", 1)[1], (t_key, o_key)
        shape = t_value.squeeze().shape if kind == "layer_scale" else t_value.shape
        assert shape == o_value.shape, (t_key, o_key)
        pairs[t_key] = o_key
    return pairs


PINNED = {
    "features.0.0.weight": "features.body1.conv1.weight",
    "features.1.0.layer_scale": "features.body1.stage1.cnblock1.layerscale1.gamma",
    "features.1.0.block.3.weight": "features.body1.stage1.cnblock1.pwlinear1.weight",
    "features.6.1.weight": "features.body1.stage4.conv1.weight",
    "features.7.2.block.5.bias": "features.body1.stage4.cnblock3.pwlinear2.bias",
    "classifier.0.weight": "classifier.layernorm1.weight",
    "classifier.2.bias": "classifier.linear1.bias",
}


def compiled(text: str | Path = SPEC) -> nn.Module:
    spec = xdsl.parse(text if isinstance(text, Path) else text)
    return xdsl.compile(spec, image_size=SIZE, memory_format="contiguous").double().eval()


@torch.no_grad()
def transplant(theirs: nn.Module, ours: nn.Module) -> None:
    pairs = mapping(ours, theirs)
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    ours.load_state_dict({pairs[k]: v.reshape(shapes[pairs[k]])
                          for k, v in theirs.state_dict().items()}, strict=True)


@pytest.fixture(scope="module")
def bench() -> tuple[nn.Module, torch.Tensor, torch.Tensor, float]:
    reference = torchvision_model("tiny").to_empty(device="cpu").double().eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # unit-gain weights; every norm, bias and layer scale random
        for name, p in reference.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if p.dim() > 1 and p.shape[1:] != (1, 1):
                p.copy_(r * p[0].numel() ** -0.5)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            elif name.endswith("layer_scale"):
                p.copy_(0.5 * r)
            else:
                p.copy_(1 + 0.2 * r)
    x1, x2 = (torch.randn(1, 3, SIZE, SIZE, generator=gen, dtype=torch.float64)
              for _ in range(2))
    with torch.no_grad():
        y1 = reference(x1)
        spread = (reference(x2) - y1).abs().max().item()
    assert spread > 1.0, f"the reference output barely moves ({spread:.3g})"
    return reference, x1, y1, spread


@torch.no_grad()
def delta(model: nn.Module, bench) -> float:
    reference, x, y, _ = bench
    transplant(reference, model)
    return (model(x) - y).abs().max().item()


def test_mapping_by_position_agrees_with_the_names(bench) -> None:
    pairs = mapping(compiled(), bench[0])
    for theirs, ours in PINNED.items():
        assert pairs[theirs] == ours


def test_outputs_equal_torchvisions_in_float64(bench) -> None:
    tolerance = 1e-9 * bench[3]
    assert delta(compiled(), bench) <= tolerance
    # as small a change as GELU's tanh approximation (in every block) is far above the tolerance
    text = SPEC.read_text()
    exact = "pwlinear 4 * c; gelu;"
    assert text.count(exact) == 1
    tanh = text.replace(exact, "pwlinear 4 * c; gelu approximate=tanh;")
    assert delta(compiled(tanh), bench) > 1e4 * tolerance


def test_a_one_layer_change_is_caught(bench) -> None:
    """The classifier's norm moved before the pooling: the same parameters, a different net."""
    text = SPEC.read_text()
    head = "global avgpool; layernorm; linear classes"
    assert text.count(head) == 1
    moved = text.replace(head, "layernorm; global avgpool; linear classes")
    assert delta(compiled(moved), bench) > 0.01 * bench[3]
