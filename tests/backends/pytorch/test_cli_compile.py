"""``xdsl compile``: summary, checks against the IR, files written, internal-error exit."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
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
    assert "trainable parameters: graph IR 11,592, module 11,602" in result.output


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


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_safetensors_files_get_the_mode_torch_save_gives(tmp_path: Path, umask: int) -> None:
    """Readable as the umask allows (0o644 under the usual 022), not by the owner only."""
    st, pt = tmp_path / "m.safetensors", tmp_path / "m.pt"
    old = os.umask(umask)
    try:
        assert run("compile", TINY, "-o", str(st)).exit_code == 0
        assert run("compile", TINY, "-o", str(pt)).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(st.stat().st_mode) == 0o666 & ~umask == stat.S_IMODE(pt.stat().st_mode)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_option_and_default(restore_threads: None, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(2)
    result = run("compile", TINY, "--threads", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["threads"] == 1 == torch.get_num_threads()
    from xdsl import threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(threads, "CGROUP_V2", tmp_path / "none")
    monkeypatch.setattr(threads, "CGROUP_V1", (tmp_path / "none", tmp_path / "none"))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    result = run("compile", TINY, "--format", "json")
    assert json.loads(result.stdout)["threads"] == 3 == torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert json.loads(run("compile", TINY, "--format", "json").stdout)["threads"] == 1


def test_compile_shows_its_stages_on_a_terminal_only(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("compile", TINY, "--optimize", "-o", str(tmp_path / "m.pt"), "--export-py",
            str(tmp_path / "m.py"))
    plain = run(*args)
    assert plain.exit_code == 0 and plain.stderr == ""  # not a terminal: no status at all
    from xdsl import progress

    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    shown = run(*args)
    assert shown.exit_code == 0, shown.output
    for stage in ("loading PyTorch", "building the module", "verifying against the graph IR",
                  "folding batch norms and checking the outputs", "writing the state_dict",
                  "writing the PyTorch source"):
        assert f"{stage}…" in shown.stderr, stage
    assert shown.stderr.endswith(progress.CLEAR)  # the status line is erased at the end
    assert shown.stdout == plain.stdout  # what the command prints is unchanged
    quiet = run(*args, "--quiet")
    assert quiet.stderr == "" and quiet.stdout == plain.stdout


def test_compile_on_a_real_terminal(tmp_path: Path) -> None:
    """Standard error on a pseudo-terminal: the stages appear there, standard output is the
    same as without one."""
    leader, follower = os.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "xdsl", "compile", TINY], stdout=subprocess.PIPE,
                            stderr=follower, env=env)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the pty closes when the process ends
            break
        if not chunk:
            break
        seen += chunk
    stdout = proc.communicate(timeout=120)[0].decode()
    os.close(leader)
    text = seen.decode()
    assert proc.returncode == 0, text[-2000:]
    assert "building the module…" in text and "verifying against the graph IR…" in text
    assert stdout == run("compile", TINY).stdout


def test_compile_block_rows_follow_the_network_order(tmp_path: Path) -> None:
    """A flow's own layers before and after its block calls are rows of their own, as in
    `xdsl audit` (issue 11): the same rows, with the parameters counted in the module."""
    from test_block_order import DENSE

    spec = tmp_path / "densish.x"
    spec.write_text(DENSE)
    result = run("compile", str(spec), "--format", "json")
    assert result.exit_code == 0, result.output
    blocks = json.loads(result.output)["blocks"]
    assert [(b["name"], b["layers"], b["output"], b["params"], b["macs"]) for b in blocks] == [
        ("features", 2, [8, 8, 8], 1_184, 301_056),
        ("features.dense1", 5, [12, 8, 8], 308, 18_432),
        ("features.dense2", 5, [16, 8, 8], 460, 27_648),
        ("features.transition1", 2, [8, 4, 4], 136, 8_192),
        ("features", 4, [10], 106, 80),
    ]
    audit = json.loads(run("audit", str(spec), "--format", "json").output)["blocks"]
    assert [(b["name"], b["layers"], b["params"]) for b in blocks] == \
        [(b["name"], b["layers"], b["params"]) for b in audit]
    table = run("compile", str(spec)).output.split("\n\n")[1].splitlines()
    assert [line.split()[:2] for line in table[2:]] == [
        ["features", "2"], ["features.dense1", "5"], ["features.dense2", "5"],
        ["features.transition1", "2"], ["features", "4"]]


@pytest.mark.parametrize(("body", "args"), [
    ("    relu(\n", []),  # a syntax error
    ("    relu\n    relu\n", ["--max-layers", "2"]),  # over a limit of the graph
], ids=["syntax-error", "over-a-limit"])
def test_compile_reads_and_checks_the_spec_before_loading_pytorch(
        tmp_path: Path, body: str, args: list[str]) -> None:
    """A spec that fails does not pay for importing torch (seconds) before its error."""
    spec = tmp_path / "bad.x"
    spec.write_text("network bad:\n    input image: 3 x 8 x 8\n" + body)
    assert not imports_torch("from xdsl.cli import main\n"
                             f"try: main(['compile', {str(spec)!r}, *{args!r}])\n"
                             "except SystemExit as e: assert e.code == 1, e.code\n")
