"""``xdsl compile``: summary, checks against the IR, files written, internal-error exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from isolation import imports_torch
from xdsl.backends.pytorch import lowering
from xdsl.backends.pytorch.lowering import LOWERINGS, Call

from xdsl.cli import EXIT_INTERNAL, main

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "tests" / "golden" / "pytorch" / "tiny.x")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_compile_prints_blocks_and_checks() -> None:
    result = run("compile", TINY, "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("tiny: 3 x 32 x 32 -> 10   (PyTorch on cpu, channels_last, seed 0)")
    assert "stem.down1" in out and "trainable parameters" in out
    assert "MISMATCH" not in out


def test_compile_json_and_per_layer() -> None:
    result = run("compile", TINY, "--format", "json", "--layers", "--set", "classes=4")
    data = json.loads(result.output)
    assert data["output"] == [4] and all(c["ok"] for c in data["checks"])
    assert [r["name"] for r in data["layers"]][:2] == ["stem.conv1", "stem.bn1"]
    assert data["trainable"] == sum(r["params"] for r in data["layers"])


def test_compile_writes_state_dict_export_and_safetensors(tmp_path: Path) -> None:
    pt, st, py = tmp_path / "m.pt", tmp_path / "m.safetensors", tmp_path / "m.py"
    result = run("compile", TINY, "-o", str(pt), "--export-py", str(py), "--seed", "3")
    assert result.exit_code == 0, result.output
    state = torch.load(pt)
    assert "stem.down1.sepconv1.depthwise.weight" in state
    assert "class Tiny(nn.Module):" in py.read_text()
    assert run("compile", TINY, "-o", str(st), "--seed", "3").exit_code == 0
    from safetensors.torch import load_file

    other = load_file(str(st))
    assert all(torch.equal(state[k], other[k]) for k in state)


def test_compile_optimize_reports_the_folding(tmp_path: Path) -> None:
    pt = tmp_path / "fast.pt"
    result = run("compile", TINY, "--optimize", "-o", str(pt))
    assert result.exit_code == 0, result.output
    assert "batch norms folded" in result.output
    assert "stem.conv1.bias" in torch.load(pt)


def test_a_module_that_disagrees_with_the_ir_is_an_internal_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend bug: the linear layer's module ignores ``bias=false``."""

    def buggy_linear(node, ins):  # type: ignore[no-untyped-def]
        return Call("nn.Linear", (ins[0][0], node.attrs.units))

    monkeypatch.setitem(LOWERINGS, "linear",
                        lowering.Lowering(LOWERINGS["linear"].forward, buggy_linear))
    result = CliRunner().invoke(main, ["compile", TINY])
    assert result.exit_code == EXIT_INTERNAL
    assert "MISMATCH" in result.output
    assert "disagrees with the graph IR" in result.output
    assert "trainable parameters: graph IR 6,104, module 6,114" in result.output


def test_cuda_when_absent_is_a_usage_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert run("compile", TINY, "--device", "cuda").exit_code == 2


def test_check_and_the_compile_command_module_do_not_import_torch() -> None:
    assert not imports_torch("from xdsl.cli import main\nimport xdsl.backends.pytorch.command\n"
                             "try:\n    main(['check', 'xception'])\nexcept SystemExit:\n"
                             "    pass\n")


@pytest.mark.slow
def test_onnx_export_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    result = run("compile", TINY, "--onnx", str(path))
    assert result.exit_code == 0, result.output
    import onnx

    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["image"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert {n.op_type for n in graph.node} >= {"Conv", "MaxPool", "Concat"}
