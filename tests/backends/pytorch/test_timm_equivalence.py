"""Compiled Xception == timm's ``legacy_xception`` with the same weights (public timm API only).

Honest comparison (shared/reference.md, "Testing equivalence honestly"): a randomly initialised
Xception in eval mode hardly depends on its input, so the BN running statistics are first
calibrated on random batches, and the tolerance is relative to how much the output moves between
two inputs. A deliberately wrong variant (TensorFlow-style asymmetric max-pool padding at
74 → 37, the spec's default) must fail the same comparison.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest
import timm
import torch
from equivalence import calibrate
from torch import nn
from xdsl.backends.pytorch.build import export_python
from xdsl.backends.pytorch.inference import optimize

import xdsl

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "specs" / "xception.x"
TIMM_LIKE = {"pool_pad": "symmetric", "bn_eps": 1e-5}  # timm pads symmetrically, BN eps 1e-5
WRONG = {"bn_eps": 1e-5}  # TF "same" max pooling: (0, 1) padding at 74 -> 37
BATCH, CALIBRATION_BATCHES = 2, 3
pytestmark = pytest.mark.slow

_TOP = {"conv1": "entry.conv1", "bn1": "entry.bn1", "conv2": "entry.conv2", "bn2": "entry.bn2",
        "conv3": "exit.sepconv1", "bn3": "exit.bn1", "conv4": "exit.sepconv2",
        "bn4": "exit.bn2", "fc": "exit.linear1"}


def _block(k: int) -> str:
    """timm ``block1``…``block12`` → the spec's scopes."""
    if k <= 3:
        return f"entry.down{k}"
    return f"middle.residual{k - 3}" if k <= 11 else "exit.down1"


def timm_to_xdsl(model: nn.Module) -> dict[str, str]:
    """timm state_dict key → xdsl key, from the module structure.

    Stem and exit layers map by name (``_TOP``). In ``block{k}``: ``skip``/``skipbn`` are the
    shortcut's ``conv1``/``bn1``; inside ``rep``, the i-th separable conv is ``sepconv{i}``
    (timm's ``conv1`` is our ``depthwise``) and the i-th batch norm is ``bn{i}``.
    """
    mapping: dict[str, str] = {}

    def add(prefix: str, module: nn.Module, ours: str) -> None:
        for key in module.state_dict():
            sub = key.replace("conv1.", "depthwise.") if hasattr(module, "pointwise") else key
            mapping[f"{prefix}.{key}"] = f"{ours}.{sub}"

    for name, child in model.named_children():
        if name in _TOP:
            add(name, child, _TOP[name])
        elif name.startswith("block"):
            scope = _block(int(name[5:]))
            if hasattr(child, "skip") and child.skip is not None:
                add(f"{name}.skip", child.skip, f"{scope}.shortcut.conv1")
                add(f"{name}.skipbn", child.skipbn, f"{scope}.shortcut.bn1")
            counts = {"sep": 0, "bn": 0}
            for index, layer in child.rep.named_children():
                if hasattr(layer, "pointwise"):
                    counts["sep"] += 1
                    add(f"{name}.rep.{index}", layer, f"{scope}.sepconv{counts['sep']}")
                elif isinstance(layer, nn.BatchNorm2d):
                    counts["bn"] += 1
                    add(f"{name}.rep.{index}", layer, f"{scope}.bn{counts['bn']}")
    return mapping


def load_from_timm(target: nn.Module, source: nn.Module) -> None:
    mapping = timm_to_xdsl(source)
    state = {mapping[k]: v for k, v in source.state_dict().items()}
    assert sorted(state) == sorted(target.state_dict()), "the mapping must cover every key"
    target.load_state_dict(state, strict=True)


@dataclass
class Bench:
    timm: nn.Module
    x1: torch.Tensor
    x2: torch.Tensor
    y1: torch.Tensor
    spread: float

    @property
    def tolerance(self) -> float:
        return 1e-4 * self.spread

    @torch.no_grad()
    def delta(self, model: nn.Module) -> float:
        return (model.eval()(self.x1) - self.y1).abs().max().item()


@pytest.fixture(scope="module")
def bench() -> Bench:
    torch.manual_seed(0)
    reference = timm.create_model("legacy_xception", pretrained=False)
    gen = torch.Generator().manual_seed(1)
    calibrate(reference, [torch.randn(BATCH, 3, 299, 299, generator=gen)
                          for _ in range(CALIBRATION_BATCHES)])
    x1, x2 = (torch.randn(BATCH, 3, 299, 299, generator=gen) for _ in range(2))
    with torch.no_grad():
        y1, y2 = reference(x1), reference(x2)
    spread = (y1 - y2).abs().max().item()
    assert spread > 1e-2, f"calibration failed: the output barely moves ({spread:.3g})"
    return Bench(reference, x1, x2, y1, spread)


def test_mapping_is_one_to_one(bench: Bench) -> None:
    mapping = timm_to_xdsl(bench.timm)
    ours = xdsl.load(SPEC, **TIMM_LIKE).state_dict()
    assert len(set(mapping.values())) == len(mapping) == len(ours)
    shapes = bench.timm.state_dict()
    assert all(shapes[k].shape == ours[v].shape for k, v in mapping.items())


def test_compiled_equals_timm_and_wrong_padding_does_not(bench: Bench) -> None:
    model = xdsl.load(SPEC, **TIMM_LIKE)
    load_from_timm(model, bench.timm)
    wrong = xdsl.load(SPEC, **WRONG)
    load_from_timm(wrong, bench.timm)
    good, bad = bench.delta(model), bench.delta(wrong)
    print(f"spread {bench.spread:.3g}, tolerance {bench.tolerance:.3g}, "
          f"compiled Δ {good:.3g}, wrong-padding Δ {bad:.3g}")
    assert good <= bench.tolerance
    assert bad > bench.tolerance, "the comparison cannot tell a wrong padding apart"


def test_contiguous_layout_equals_timm(bench: Bench) -> None:
    model = xdsl.compile(SPEC, memory_format="contiguous", **TIMM_LIKE)
    load_from_timm(model, bench.timm)
    assert bench.delta(model) <= bench.tolerance


def test_optimized_equals_timm(bench: Bench) -> None:
    model = xdsl.load(SPEC, **TIMM_LIKE)
    load_from_timm(model, bench.timm)
    fast = optimize(model)
    assert not any(k.endswith("running_mean") for k in fast.state_dict())  # all BN folded
    assert bench.delta(fast) <= bench.tolerance


def test_exported_file_equals_timm(bench: Bench, tmp_path: Path) -> None:
    path = tmp_path / "xception_export.py"
    path.write_text(export_python(SPEC, params=TIMM_LIKE), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("xception_export", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not any(name.startswith("xdsl") for name in vars(module))
    model = module.Xception(seed=None)
    load_from_timm(model, bench.timm)
    assert bench.delta(model) <= bench.tolerance
    imports = [line for line in path.read_text().splitlines()
               if line.startswith(("import ", "from "))]
    assert imports and not any("xdsl" in line for line in imports)
