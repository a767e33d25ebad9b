"""A plugin's op through the PyTorch stages: compile (counts checked against the module), MACs
measured by hooks, outputs equal to the network written by hand in float64, ``--export-py``,
ONNX, ``--optimize`` and ``xdsl train`` (the example plugin examples/plugins/xdsl-cbam)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from equivalence import calibrate, check_onnx, hooked_macs, load_file, randomize
from plugin_specs import CBAM_NET
from torch import nn
from xdsl.backends.pytorch import export_python, transplant

import xdsl
from xdsl.api import summarize

NET = CBAM_NET


def by_hand(act: type[nn.Module] = nn.ReLU) -> nn.Module:
    from xdsl_cbam.modules import CBAM

    class Pool(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3))

    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         CBAM(32, 8, 7), nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), act(),
                         CBAM(64, 16, 3), Pool(), nn.Linear(64, 10))


def test_counts_and_macs_equal_the_module(cbam_plugin: Path) -> None:
    model = xdsl.compile(NET)
    s = summarize(model.graph)
    assert s.trainable == sum(p.numel() for p in model.parameters()) == 21_226
    assert s.non_trainable == sum(b.numel() for n, b in model.named_buffers()
                                  if "running" in n) == 196
    assert hooked_macs(model, torch.zeros(1, 3, 32, 32)) == s.macs


@torch.no_grad()
def test_outputs_equal_the_network_written_by_hand_in_float64(cbam_plugin: Path) -> None:
    gen = torch.Generator().manual_seed(1)
    ref = by_hand().double()
    randomize(ref)
    batches = [torch.randn(4, 3, 32, 32, generator=gen, dtype=torch.float64) for _ in range(2)]
    calibrate(ref, batches)
    x1, x2 = (torch.randn(2, 3, 32, 32, generator=gen, dtype=torch.float64) for _ in range(2))
    spread = (ref(x1) - ref(x2)).abs().max().item()
    assert spread > 1e-2
    ours = xdsl.compile(NET, memory_format="contiguous").double().eval()
    transplant(ours, ref)
    assert (ours(x1) - ref(x1)).abs().max().item() <= 1e-9 * spread
    changed = by_hand(nn.ReLU6).double().eval()  # one layer changed: caught
    changed.load_state_dict(ref.state_dict())
    assert (ours(x1 * 10) - changed(x1 * 10)).abs().max().item() > 1e-3 * spread


def test_export_py_and_optimize_agree_with_the_compiled_module(cbam_plugin: Path,
                                                               tmp_path: Path) -> None:
    model = xdsl.compile(NET, seed=3).eval()
    path = tmp_path / "tiny_cbam.py"
    path.write_text(export_python(model))
    assert "import xdsl_cbam.modules" in path.read_text()
    exported = load_file(path).Tiny()
    exported.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(x)
        assert torch.equal(exported.eval()(x), want)
        fast = xdsl.compile(NET, seed=3, optimize=True)
        assert len(fast.plan.folded) == 2
        assert torch.allclose(fast(x), want, rtol=1e-4, atol=1e-5)


def test_onnx_export_of_a_plugin_op(cbam_plugin: Path, tmp_path: Path) -> None:
    # the pooled features, not the logits of a freshly initialised linear layer (near 0)
    check_onnx(NET.replace("; linear classes", ""), tmp_path, {"Sigmoid", "ReduceMax", "Gemm"})


def test_train_a_spec_with_a_plugin_op_and_resume(cbam_plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "net.x").write_text(NET)
    args = [sys.executable, "-m", "xdsl", "train", "net.x", "--shapes-train", "64",
            "--shapes-val", "32", "--batch-size", "16", "--no-progress", "--run-dir", "run"]
    done = subprocess.run([*args, "--epochs", "1"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "run" / "last.pt").is_file()
    done = subprocess.run([sys.executable, "-m", "xdsl", "train", "--resume", "run",
                           "--epochs", "2", "--no-progress"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "epoch 2" in done.stdout + done.stderr


def test_without_the_plugin_the_spec_does_not_compile() -> None:
    with pytest.raises(xdsl.SpecError, match="no plugin `cbam` is installed"):
        xdsl.compile(NET)


def test_a_plugin_module_that_fails_is_the_plugins_error(cbam_plugin: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import xdsl_cbam.modules
    from click.testing import CliRunner

    from xdsl.cli import main

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("no CUDA kernel for this")

    monkeypatch.setattr(xdsl_cbam.modules, "CBAM", broken)
    (tmp_path / "net.x").write_text(NET)
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "net.x")])
    assert result.exit_code == 1, result.output
    assert "Error: the module of plugin op `cbam` could not be built: xdsl_cbam.modules.CBAM(32, " \
           "reduction=8, kernel=7) raised ValueError: no CUDA kernel for this" in result.output
    assert "internal error" not in result.output
