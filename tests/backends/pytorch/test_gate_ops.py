"""Issue 12's gates and ShuffleNet ops compiled to PyTorch, in float64 against torchvision's own
modules (SqueezeExcitation, ShuffleNetV2's InvertedResidual, StochasticDepth) and hand-written
torch code, each with a one-change variant that must be caught; --export-py and ONNX."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from equivalence import check_onnx, load_file
from torch import nn
from torchvision.models.shufflenetv2 import InvertedResidual
from torchvision.ops import SqueezeExcitation, StochasticDepth
from xdsl.backends.pytorch.build import export_python

import xdsl


def spec_of(body: str, shape: str = "32 x 8 x 8") -> str:
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return f"network one():\n    input image: {shape}\n    flow f:\n{lines}"


def sample(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def randomize(*models: nn.Module) -> None:
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for model in models:
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def transplant(src: nn.Module, dst: nn.Module) -> None:
    """``src``'s state into ``dst``, pairing entries by order (checked for shape)."""
    a, b = src.state_dict(), dst.state_dict()
    assert len(a) == len(b)
    for (ka, va), (kb, vb) in zip(a.items(), b.items()):
        assert va.shape == vb.shape, (ka, kb)
    dst.load_state_dict(dict(zip(b, a.values())))


def spread_and_error(ours: nn.Module, ref: nn.Module, shape: tuple[int, ...]
                     ) -> tuple[float, float]:
    """The reference's output spread between two inputs, and ours' largest difference from it."""
    x1, x2 = sample(shape, 1), sample(shape, 2)
    with torch.no_grad():
        want = ref(x1)
        spread = (ref(x2) - want).abs().max().item()
        return spread, (ours(x1) - want).abs().max().item()


def compiled(text: str) -> nn.Module:
    return xdsl.compile(text, seed=3, memory_format="contiguous").double().eval()


# ---- squeeze-and-excitation and a spatial gate ---------------------------------------------------

SE = "adaptive_avgpool 1x1; conv 8 1x1; relu; conv 32 1x1; sigmoid; {op}(image)"


@pytest.mark.parametrize("op", ["mul", "add"])
def test_se_gate_equals_torchvisions_squeeze_excitation(op: str) -> None:
    ref = SqueezeExcitation(32, 8).double().eval()
    randomize(ref)
    model = compiled(spec_of(SE.format(op=op)))
    transplant(ref, model)
    spread, err = spread_and_error(model, ref, (2, 32, 8, 8))
    assert spread > 0.5
    if op == "mul":
        assert err <= 1e-12 * spread
    else:  # adding the gate instead of multiplying by it is caught
        assert err > 0.1 * spread


def test_spatial_gate_equals_hand_written_torch() -> None:
    model = compiled(spec_of("conv 1 7x7 pad=3; sigmoid; mul(image)"))
    randomize(model)
    w, b = model.f.conv1.weight, model.f.conv1.bias
    x = sample((2, 32, 8, 8))
    with torch.no_grad():
        want = x * torch.sigmoid(F.conv2d(x, w, b, padding=3))
        assert (model(x) - want).abs().max() <= 1e-12 * want.abs().max()
    wrong = compiled(spec_of("conv 1 7x7 pad=3; sigmoid; add(image)"))
    wrong.load_state_dict(model.state_dict())
    with torch.no_grad():  # adding the gate instead of multiplying by it is caught
        assert (wrong(x) - want).abs().max() > 0.1 * want.abs().max()


def test_broadcast_add_accumulates_in_place_only_into_the_full_sized_input() -> None:
    """The pooled (small) tensor is the sum's only-read input: it must not be the target."""
    text = spec_of("conv 32 1x1; relu as feat\nconv 32 1x1 from image; avgpool 8x8\nadd(feat)")
    model = xdsl.compile(text, seed=3)
    source = type(model).forward_source
    assert "+=" not in source and ".add_(" not in source
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    model.train()(x).sum().backward()
    assert x.grad is not None


# ---- ShuffleNetV2 ------------------------------------------------------------------------------

UNIT = ("split 2 as a, b\n"
        "conv 16 1x1 bias=false from b; bn; relu; dwconv 3x3 pad=1 bias=false; bn\n"
        "conv 16 1x1 bias=false; bn; relu as y\n"
        "concat(y) from a\nshuffle {groups}")


def calibrated(model: nn.Module, ref: nn.Module) -> None:
    """Non-trivial BN statistics in both (train-mode passes on random batches), then eval."""
    for m in (*model.modules(), *ref.modules()):
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        for seed in range(3):
            batch = sample((8, 32, 8, 8), 10 + seed)
            model.train()(batch)
            ref.train()(batch)
    model.eval()
    ref.eval()


@pytest.mark.parametrize("groups", [2, 4])
def test_shufflenet_v2_unit_equals_torchvisions(groups: int) -> None:
    text = spec_of(UNIT.format(groups=groups))
    ref = InvertedResidual(32, 32, 1).double()
    randomize(ref)
    model = compiled(text)
    transplant(ref, model)
    calibrated(model, ref)
    spread, err = spread_and_error(model, ref, (2, 32, 8, 8))
    assert spread > 0.5
    if groups == 2:
        assert err <= 1e-12 * spread
    else:  # shuffling in 4 groups instead of 2 is caught
        assert err > 0.1 * spread


def test_shuffle_moves_channels_as_shufflenet_does() -> None:
    model = compiled(spec_of("shuffle 4", "8 x 1 x 1"))
    x = torch.arange(8, dtype=torch.float64).reshape(1, 8, 1, 1)
    assert model(x).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_split_with_sizes_slices_the_channels() -> None:
    model = compiled(spec_of("split(2, 5, 1) as a, b, c\nconcat(a) from c", "8 x 1 x 1"))
    x = torch.arange(8, dtype=torch.float64).reshape(1, 8, 1, 1)
    assert model(x).flatten().tolist() == [7, 0, 1]


# ---- stochastic depth --------------------------------------------------------------------------


def test_drop_path_in_eval_is_the_identity() -> None:
    model = compiled(spec_of("residual: conv 32 1x1; drop_path 0.5"))
    randomize(model)
    x = sample((4, 32, 8, 8))
    with torch.no_grad():
        assert torch.equal(model.f.residual1.drop_path1(x), x)
        want = F.conv2d(x, model.f.residual1.conv1.weight, model.f.residual1.conv1.bias) + x
        assert (model(x) - want).abs().max() <= 1e-12 * want.abs().max()


def test_drop_path_in_training_equals_torchvisions_row_mode_exactly() -> None:
    model = xdsl.compile(spec_of("drop_path 0.3", "4 x 2 x 2"), seed=0,
                         memory_format="contiguous").double().train()
    ref = StochasticDepth(0.3, "row")
    x = sample((4000, 4, 2, 2))
    torch.manual_seed(5)
    ours = model(x)
    torch.manual_seed(5)
    assert torch.equal(ours, ref(x))
    dropped = (ours == 0).flatten(1).all(1)
    assert (ours == 0).flatten(1).any(1).equal(dropped)  # whole rows, never parts of one
    assert abs(dropped.double().mean().item() - 0.3) < 0.03
    assert torch.allclose(ours[~dropped], x[~dropped] / 0.7, rtol=1e-15, atol=0)
    torch.manual_seed(5)
    other = StochasticDepth(0.3, "batch")(x)  # batch mode is a different function
    assert not torch.equal(ours, other)


# ---- --export-py and ONNX ------------------------------------------------------------------------

NET = """\
network gates():
    input image: 3 x 16 x 16
    flow f:
        conv 32 3x3 pad=1 as feat
        adaptive_avgpool 1x1; conv 8 1x1; relu; conv 32 1x1; sigmoid
        mul(feat)
        split 2 as a, b
        conv 16 1x1 from b; drop_path 0.2 as y
        concat(y) from a
        shuffle 4
        residual: relu; conv 32 1x1; drop_path 0.1
        mul:
            branch: identity
            branch: avgpool 16x16
        add:
            branch: conv 32 1x1
            branch: conv 1 1x1
        global avgpool; linear 10
"""


def test_export_py_runs_the_same_forward(tmp_path: Path) -> None:
    model = xdsl.compile(NET, seed=2).eval()
    source = export_python(model)
    for code in ("class StochasticDepth", "StochasticDepth(0.2)", "[:, 16:32]",
                 ".unflatten(1, (4, -1)).transpose(1, 2).flatten(1, 2)", " * "):
        assert code in source, code
    path = tmp_path / "gates.py"
    path.write_text(source)
    exported = load_file(path).Gates(seed=2)
    assert list(exported.state_dict()) == list(model.state_dict())
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(exported.double().eval()(x), model.double()(x), rtol=0, atol=1e-12)
    torch.manual_seed(0)
    a = exported.train()(x)
    torch.manual_seed(0)
    assert torch.equal(a, model.train()(x))  # the same masks from the same generator state


@pytest.mark.slow
def test_onnx_export_passes_the_checker_and_computes_the_same(tmp_path: Path) -> None:
    """The checked ONNX file, run by onnx's reference evaluator, gives the module's outputs."""
    check_onnx(NET, tmp_path, {"Mul", "Slice", "Transpose", "Concat"})
