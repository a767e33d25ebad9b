"""Shared by the PyTorch backend tests: peer equivalence (shared/reference.md, "Testing
equivalence honestly"), weight mapping by position, ONNX and export checks, MACs by hooks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch
from torch import nn


@torch.no_grad()
def calibrate(model: nn.Module, batches: list[torch.Tensor]) -> None:
    """Running statistics = the exact average over ``batches`` (momentum=None), then eval."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for x in batches:
        model(x)
    model.eval()


def mapping(ours: nn.Module, theirs: nn.Module) -> dict[str, str]:
    """Reference key -> xdsl key, pairing the state entries by position, each pair checked for
    its kind (the last part of the key: weight, bias, running_mean, ...) and its shape."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert len(a) == len(b), (len(a), len(b))
    pairs = dict(zip(b, a))
    for t_key, o_key in pairs.items():
        assert t_key.rsplit(".", 1)[-1] == o_key.rsplit(".", 1)[-1], (t_key, o_key)
        assert b[t_key].shape == a[o_key].shape, (t_key, o_key)
    return pairs


def copy_weights(ours: nn.Module, theirs: nn.Module) -> dict[str, str]:
    """The reference's whole state (weights and BN statistics) into ``ours``, by :func:`mapping`."""
    pairs = mapping(ours, theirs)
    ours.load_state_dict({pairs[k]: v for k, v in theirs.state_dict().items()}, strict=True)
    return pairs


def check_onnx(text: str, folder: Path, op_types: set[str], scale: float = 1e-3) -> None:
    """``xdsl compile --onnx`` of the spec ``text``: the file passes onnx's checker, holds
    ``op_types``, and onnx's reference evaluator gives the compiled module's outputs (which
    reach at least ``scale``, so that agreement is not between two near-zero tensors)."""
    import numpy as np
    import onnx
    from click.testing import CliRunner
    from onnx.reference import ReferenceEvaluator

    import xdsl
    from xdsl.cli import main

    spec, path = folder / "net.x", folder / "net.onnx"
    spec.write_text(text)
    result = CliRunner().invoke(main, ["compile", str(spec), "--seed", "4", "--onnx", str(path)])
    assert result.exit_code == 0, result.output
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert op_types <= {n.op_type for n in model.graph.node}
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16), dtype=np.float32)
    [got] = ReferenceEvaluator(model).run(None, {"image": x})
    with torch.no_grad():
        want = xdsl.compile(text, seed=4).eval()(torch.from_numpy(x)).numpy()
    assert np.abs(want).max() > scale
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


def load_file(path: Path) -> ModuleType:
    """An exported Python file, imported as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomize(model: nn.Module) -> None:
    """Every parameter drawn from N(0, 1) by a fixed generator (nothing left at its init)."""
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def randomize_state(model: nn.Module, scale: float) -> None:
    """Weights N(0, scale²) and running variances in [0.5, 1.5), far from their initial values
    (as after training), so that folding and precision changes are really tested."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                value = torch.rand(t.shape, generator=gen) + 0.5 if "running_var" in name \
                    else torch.randn(t.shape, generator=gen) * scale
                t.copy_(value)


def hooked_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of convolutions (transposed ones too) and linear layers, measured in a forward."""
    total = 0

    def conv(m: nn.Conv2d, _i: object, out: torch.Tensor) -> None:
        nonlocal total
        total += out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]

    def deconv(m: nn.ConvTranspose2d, i: tuple[torch.Tensor], _o: object) -> None:
        nonlocal total
        total += i[0][0].numel() * m.out_channels // m.groups * m.kernel_size[0] * \
            m.kernel_size[1]

    def linear(m: nn.Linear, i: tuple[torch.Tensor], _o: object) -> None:
        nonlocal total
        total += i[0][0].numel() * m.out_features  # every position of a map

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv)
        elif isinstance(m, nn.ConvTranspose2d):
            m.register_forward_hook(deconv)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear)
    with torch.no_grad():
        model(x)
    return total
