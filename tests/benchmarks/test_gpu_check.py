"""benchmarks/gpu_check.py cannot rot: its CPU smoke run passes every part, and the code paths
that run on a GPU alone (fp16 autocast with a gradient scaler) run here on a small model."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cpu_smoke_run_reports_every_part(tmp_path: Path) -> None:
    g = gpu_check()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--cpu-smoke"],
                          capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in g.PARTS:  # progress is printed part by part, as it goes
        assert f"== {name} (budget" in done.stdout
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["mode"] == "cpu-smoke"
    assert list(report["parts"]) == list(g.PARTS)
    for name, part in report["parts"].items():
        assert part["status"] == "ok", (name, part.get("reason"), part.get("output"))
        assert part["checks"] and all(part["checks"].values()), (name, part["checks"])
        assert part["seconds"] <= part["budget_s"]
    parts = report["parts"]
    assert parts["env"]["data"]["torch"] == torch.__version__
    for net in ("xception", "inception_v3"):
        row = parts["equivalence"]["data"][net]
        assert row["float32 contiguous max|diff|"] <= row["tolerance"] == 1e-4 * row["spread"]
    cases = parts["eager"]["data"]["cases"]
    assert len(cases) == 24
    for case in cases:  # measured, or fp16, which a CPU has no fast path for
        if case["precision"] == "fp16":
            assert (case["status"], case["reason"]) == ("skipped", g.NO_CPU_FP16)
        else:
            assert case["status"] == "ok" and case["images_per_s"] > 0, case
    seen = {field: {c[field] for c in cases}
            for field in ("net", "impl", "mode", "precision", "layout", "batch")}
    assert seen == {"net": {"xception", "inception_v3"}, "impl": {"xdsl", "peer"},
                    "mode": {"eval", "train"}, "precision": {"float32", "bf16", "fp16"},
                    "layout": {"contiguous", "channels_last"}, "batch": {2, 3}}
    train = parts["train"]["data"]
    assert train["first"]["steps"] == 8 and train["resumed"]["steps"] == 16
    assert train["resumed"]["session_steps"] == 8
    assert parts["torchrun"]["data"]["worker"]["backend"] == "gloo"
    [compiled] = parts["compile"]["data"]["cases"]
    assert compiled["compiled"] and compiled["status"] == "ok"
    markdown = (tmp_path / "gpu_check.md").read_text()
    for name in g.PARTS:
        assert f"## {name}: ok" in markdown
    assert "| xception | eval | float32 | contiguous | 2 |" in markdown


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def test_fp16_training_step_with_a_grad_scaler_runs_and_learns() -> None:
    g = gpu_check()
    model = small_net()
    before = [p.detach().clone() for p in model.parameters()]
    case = g.Case("small", "xdsl", "train", "fp16", "channels_last", 4, False)
    step = g.stepper(model, model, case, "cpu", classes=3, size=8)
    step()
    step()
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert all(changed)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast, not .half()
    eval_case = g.Case("small", "xdsl", "eval", "fp16", "contiguous", 2, False)
    g.stepper(model, model, eval_case, "cpu", classes=3, size=8)()
    assert not model.training


def test_the_table_pairs_xdsl_with_its_peer() -> None:
    g = gpu_check()
    common = {"net": "xception", "mode": "eval", "precision": "bf16", "layout": "contiguous",
              "batch": 32, "status": "ok", "first_call_s": 1.0}
    cases = [{**common, "impl": "xdsl", "images_per_s": 300.0, "peak_mib": 10},
             {**common, "impl": "peer", "images_per_s": 200.0, "peak_mib": 12}]
    lines = list(g.throughput_table(cases))
    assert lines[2] == "| xception | eval | bf16 | contiguous | 32 | 300 | 200 | 1.50 | 10 | 12 " \
                       "| 1 | 1 |"
