"""bfloat16 autocast on compiled modules: outputs agree with float32 within
``BF16_TOLERANCE`` of the output spread, ``--optimize`` (BN folding) composes with it, and
``xdsl compile --amp`` checks and reports it.

Autocast to bfloat16 runs on any CPU (emulated where the hardware lacks it), so these tests run
everywhere; the ``--amp`` decision is tested both ways by monkeypatching the hardware query.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from equivalence import randomize_state
from torch import nn
from xdsl.backends.pytorch.inference import BF16_TOLERANCE, autocast_agreement, optimize

import xdsl
from xdsl.cli import main
from xdsl.train import devices

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "tests" / "golden" / "pytorch" / "tiny.x")


def randomize(model: nn.Module) -> None:
    randomize_state(model, 0.3)




def network(name: str, **params: object) -> xdsl.CompiledNetwork:
    torch.manual_seed(0)
    return xdsl.compile(name, **params)


CASES = {  # name: compile parameters, small enough for a test
    "mini_xception": {"width": 8, "image_size": 32},
    "xception": {"image_size": 71, "classes": 10},
    "inception_v3": {"classes": 10},  # 299 x 299: the spec has no image size
}


SLOW = pytest.mark.slow  # full-size networks: tens of seconds on a shared core


@pytest.mark.parametrize("name", ["mini_xception", pytest.param("xception", marks=SLOW),
                                  pytest.param("inception_v3", marks=SLOW)])
def test_bf16_outputs_agree_with_float32(name: str) -> None:
    model = network(name, **CASES[name])
    for weights in ("initial", "randomized"):
        if weights == "randomized":
            randomize(model)
        a = autocast_agreement(model, _shape(model), batch=2)
        assert a.max_abs_diff > 0, "autocast did not change the arithmetic"  # bf16 really ran
        assert a.ok, (weights, a)
        assert a.relative < BF16_TOLERANCE


def _shape(model: xdsl.CompiledNetwork) -> tuple[int, ...]:
    g = model.graph
    return tuple(g.nodes[g.graph["input"]]["node"].shape)


@pytest.mark.parametrize("name", ["mini_xception", pytest.param("xception", marks=SLOW)])
def test_optimize_composes_with_bf16(name: str) -> None:
    """BN folded into the convolutions, then bf16 autocast: within the tolerance of the
    unoptimised float32 module, and of the optimised float32 module."""
    model = network(name, **CASES[name])
    randomize(model)
    fast = optimize(model)
    shape = _shape(model)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        want = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = fast(x)
    assert got.dtype == torch.bfloat16
    delta = (want - got.float()).abs().max().item()
    assert 0 < delta <= BF16_TOLERANCE * want.std().item(), (delta, want.std().item())
    assert autocast_agreement(fast, shape, batch=2).ok
    assert {p.dtype for p in fast.parameters()} == {torch.float32}  # autocast casts per op


def test_a_network_that_breaks_in_bf16_fails_the_check() -> None:
    """bfloat16 spaces its values 8 apart near 1000: outputs of 1000 ± 0.01 lose their
    spread entirely, which the check must catch."""
    layer = nn.Linear(16, 8)
    with torch.no_grad():
        layer.weight.mul_(0.01)
        layer.bias.fill_(1000.0)
    a = autocast_agreement(layer, (16,), batch=4)
    assert not a.ok and a.relative > 10 * BF16_TOLERANCE


# -- xdsl compile --amp -------------------------------------------------------------------------

def compile_json(*args: str) -> dict:
    result = CliRunner().invoke(main, ["compile", TINY, "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_compile_checks_and_reports_bf16(native: None) -> None:
    report = compile_json("--amp", "bf16")
    assert report["precision"] == "bfloat16 autocast"
    check = report["amp_check"]
    assert check["ok"] and check["tolerance"] == BF16_TOLERANCE
    assert 0 < check["relative"] == pytest.approx(check["max_abs_diff"] / check["spread"])
    assert any(n.startswith("--amp: bfloat16 autocast outputs within") for n in report["notes"])
    table = CliRunner().invoke(main, ["compile", TINY, "--amp", "bf16"]).output
    assert "precision: bfloat16 autocast" in table


def test_compile_with_optimize_and_bf16(native: None) -> None:
    report = compile_json("--optimize", "--amp", "auto")
    assert report["precision"] == "bfloat16 autocast" and report["amp_check"]["ok"]
    assert [n.split(":")[0] for n in report["notes"]] == ["--optimize", "--amp"]


def test_compile_off_and_auto_without_native_bf16_run_float32(emulated: None) -> None:
    for args in (["--amp", "off"], ["--amp", "auto"]):
        report = compile_json(*args)
        assert (report["precision"], report["amp_check"]) == ("float32", None)


def test_compile_checks_float32_only_unless_asked(native: None) -> None:
    """compile builds a float32 module: its bfloat16 check runs when --amp asks for it."""
    report = compile_json()
    assert (report["precision"], report["amp_check"]) == ("float32", None)


def test_compile_refuses_forced_bf16_without_it(emulated: None) -> None:
    result = CliRunner().invoke(main, ["compile", TINY, "--amp", "bf16"])
    assert result.exit_code == 2
    assert "--amp" in result.output and "does not compute bfloat16 natively" in result.output


def test_compile_auto_follows_this_cpu() -> None:
    want = "bfloat16 autocast" if devices.cpu_bf16_supported() else "float32"
    assert compile_json("--amp", "auto")["precision"] == want
