"""Studies trained end to end: the runs, a stop and its continuation, submitit's executors and
the dealing of runs to GPUs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from xdsl.cli import main
from xdsl.study import plan, run
from xdsl.study.plan import Point, Run, StudyError
from xdsl.train import checkpoint, loop

TINY = ["mini_xception", "--set", "width=8", "--sweep", "middle_repeats=1,2",
        "--sweep", "drop_rate=0,0.2", "--seeds", "2", "--shapes-train", "48", "--shapes-val",
        "32", "--batch-size", "16", "--epochs", "2", "--lr", "0.05", "--threads", "1",
        "--executor", "inline"]
"""4 points x 2 seeds: 3 steps per epoch, 6 per run."""

TIMING = ("images_per_s", "wall_s")


def study_cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["study", *args])


def without_timing(results: dict[str, Any]) -> dict[str, Any]:
    """results.json without what depends on the machine's speed."""
    out = json.loads(json.dumps(results))
    for p in out["points"]:
        for r in p["runs"]:
            for k in TIMING:
                r.pop(k)
        for part in ("mean", "std", "ratio"):
            for k in TIMING:
                p[part].pop(k)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study, never interrupted."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("reference") / "study"
    result = study_cli(*TINY, "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_a_study_of_four_points_and_two_seeds_runs_end_to_end(reference: Path) -> None:
    results = json.loads((reference / "results.json").read_text())
    assert results["study"] == "mini_xception-middle_repeats-drop_rate"
    assert results["baseline"] == "middle_repeats=1,drop_rate=0"
    assert [p["label"] for p in results["points"]] == [
        "middle_repeats=1,drop_rate=0", "middle_repeats=1,drop_rate=0.2",
        "middle_repeats=2,drop_rate=0", "middle_repeats=2,drop_rate=0.2"]
    for p in results["points"]:
        assert [r["seed"] for r in p["runs"]] == [0, 1]
        for r in p["runs"]:
            folder = reference / r["run_dir"]
            rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text()
                    .splitlines()]
            assert [row["epoch"] for row in rows] == [1, 2]
            assert r["final_top1"] == rows[-1]["val_top1"]
            assert r["best_top1"] == max(row["val_top1"] for row in rows)
            assert r["wall_s"] > 0 and r["images_per_s"] > 0
            summary = json.loads((folder / "summary.json").read_text())
            assert summary["status"] == "completed" and summary["steps"] == 6
            assert summary["params"]["middle_repeats"] == int(p["params"]["middle_repeats"])
            assert checkpoint.load(folder)["config"]["seed"] == r["seed"]
    # an ordinary run folder: `xdsl evaluate` reads it
    first = results["points"][0]["runs"][1]
    evaluated = CliRunner().invoke(main, ["evaluate", "--checkpoint",
                                          str(reference / first["run_dir"]), "--format", "json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["top1"] == pytest.approx(first["final_top1"])
    # the stored table files, and --table re-prints the study without training
    table = study_cli("--table", str(reference), "--format", "md")
    assert table.exit_code == 0
    assert table.output.strip() == (reference / "results.md").read_text().strip()
    assert "| middle_repeats=2,drop_rate=0.2 |" in table.output


def test_a_study_killed_mid_run_continues_to_the_same_table(
        tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "study"
    calls: list[str] = []
    real = loop.train

    def interrupted(config: Any, changed: Any = None, on_step: Any = None, log: Any = None
                    ) -> Any:
        where = config.run_dir or config.resume
        calls.append(str(Path(where).relative_to(out)))

        def hook(step: int, loss: float) -> None:
            if where.endswith("middle_repeats=2,drop_rate=0/seed0") and step == 4:
                os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, inside the 3rd run

        return real(config, changed, hook, log)

    monkeypatch.setattr(loop, "train", interrupted)
    stopped = study_cli(*TINY, "--out", str(out), "--quiet")
    assert stopped.exit_code == 130, stopped.output
    assert f"continue the study with `xdsl study --resume {out}`" in stopped.output
    study = plan.load(out)
    runs = study.runs()
    assert [run.state(out, r) for r in runs] == ["done", "done", "partial"] + ["new"] * 5
    assert checkpoint.load(out / runs[2].path)["step"] == 5  # stopped inside epoch 2
    assert len(json.loads((out / "results.json").read_text())["points"][0]["runs"]) == 1

    calls.clear()
    resumed = study_cli("--resume", str(out), "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert calls == [r.path for r in runs[2:]]  # finished runs skipped
    ours = json.loads((out / "results.json").read_text())
    theirs = json.loads((reference / "results.json").read_text())
    assert without_timing(ours) == without_timing(theirs)
    a, b = checkpoint.load(out / runs[2].path), checkpoint.load(reference / runs[2].path)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    sessions = (out / runs[2].path / run.SESSIONS).read_text().splitlines()
    assert [json.loads(s)["status"] for s in sessions] == ["interrupted", "completed"]
    assert [json.loads(s)["to_step"] for s in sessions] == [3, 6]
    # once finished, the same command trains nothing
    calls.clear()
    again = study_cli(*TINY, "--out", str(out), "--quiet")
    assert again.exit_code == 0 and calls == []
    other = study_cli(*TINY, "--out", str(out), "--epochs", "3")
    assert other.exit_code == 1 and "holds another study" in other.output


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path: Path) -> None:
    """A kill between an epoch's metrics row and its checkpoint leaves rows and no last.pt."""
    study = plan.make("s", [Point("p", "mini_xception", {"width": "8"})], [0],
                      {"shapes_train": 32, "shapes_val": 16},
                      recipe_fields={"epochs": 1, "batch_size": 16}, train={"threads": 1})
    plan.settle(tmp_path, study)
    folder = run.run_dir(tmp_path, Run("p", 0))
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "step": 2, "val_top1": 0.5}\n')
    assert run.state(tmp_path, Run("p", 0)) == "new"
    run.run_study(tmp_path, study, log=lambda _: None)
    rows = (folder / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1 and json.loads(rows[0])["val_top1"] != 0.5


@pytest.mark.parametrize("executor", ["debug", "local"])
def test_submitit_executors_train_the_same_runs(tmp_path: Path, reference: Path,
                                                executor: str) -> None:
    """Through submitit (its debug executor in the command's process, its local executor in
    job processes): the same runs as in this process, bit for bit. The command runs as its own
    process, as users run it: inside the test session, submitit's job handling closed the
    session's captured streams once Keras had been imported (tests/backends/pytorch/
    test_keras_equivalence.py before this file)."""
    out = tmp_path / executor
    args = list(TINY)
    args[args.index("--executor") + 1] = executor
    args[args.index("--seeds") + 1] = "1"
    args[args.index("drop_rate=0,0.2")] = "drop_rate=0.2"
    done = subprocess.run([sys.executable, "-m", "xdsl", "study", *args, "--jobs", "2", "--out",
                           str(out), "--timeout-min", "10", "--name",
                           "mini_xception-middle_repeats-drop_rate"], capture_output=True,
                          text=True, timeout=600, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    ours = json.loads((out / "results.json").read_text())
    theirs = json.loads((reference / "results.json").read_text())
    mine = {p["label"]: without_timing({"points": [p]})["points"][0]["runs"]
            for p in ours["points"]}
    assert list(mine) == ["middle_repeats=1,drop_rate=0.2", "middle_repeats=2,drop_rate=0.2"]
    for p in theirs["points"]:
        if p["label"] in mine:
            assert mine[p["label"]] == without_timing({"points": [p]})["points"][0]["runs"][:1]
    if executor == "local":
        assert len(list((out / "submitit").glob("*_log.out"))) == 2  # one job per lane


def test_runs_are_dealt_to_gpus_in_turn() -> None:
    runs = plan.make("s", [Point(f"p{i}", "m") for i in range(5)], [0, 1], {}).runs()
    lanes = run.assign(runs, [0, 1, 2, 3])
    assert [(gpu, [(r.label, r.seed) for r in rs]) for gpu, rs in lanes] == [
        (0, [("p0", 0), ("p4", 0), ("p3", 1)]),
        (1, [("p1", 0), ("p0", 1), ("p4", 1)]),
        (2, [("p2", 0), ("p1", 1)]),
        (3, [("p3", 0), ("p2", 1)])]
    dealt = [r for _, rs in lanes for r in rs]
    assert len(dealt) == len(runs) and set(dealt) == set(runs)  # each run exactly once
    assert run.assign(runs[:2], ["a", "b", "c"]) == [("a", [runs[0]]), ("b", [runs[1]])]
    with pytest.raises(StudyError, match="no device"):
        run.assign(runs, [])


def test_the_gpus_are_those_this_process_sees() -> None:
    assert run.visible_gpus(None, 3) == [0, 1, 2]
    assert run.visible_gpus("4,6", 2) == [4, 6]  # children are given the parent's numbering
    assert run.visible_gpus("4,6,7", 2) == [4, 6]
    assert run.visible_gpus("", 0) == []
    with pytest.raises(StudyError, match="only GPU indices"):
        run.visible_gpus("GPU-8a1b,GPU-77c0", 2)
    assert run.choose_executor("auto", 4, "auto") == "local"
    assert run.choose_executor("auto", 4, "cpu") == "inline"
    assert run.choose_executor("auto", 1, "cuda") == "inline"
    assert run.choose_executor("slurm", 0, "cuda") == "slurm"


def test_each_gpu_gets_one_local_job_with_that_gpu_visible(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 2-GPU machine (as torch would count it; CUDA_VISIBLE_DEVICES=5,7): one job of
    submitit's LocalExecutor per GPU, with only that GPU visible, running its runs in turn."""
    import submitit

    submitted: list[tuple[dict[str, Any], Any, tuple[Any, ...]]] = []

    class Job:
        job_id = "1"

        def result(self) -> list[str]:
            return []

    class Recorder:
        def __init__(self, folder: Path) -> None:
            self.params: dict[str, Any] = {}

        def update_parameters(self, **params: Any) -> None:
            self.params = params

        def submit(self, fn: Any, *args: Any) -> Job:
            submitted.append((dict(self.params), fn, args))
            return Job()

    monkeypatch.setattr(submitit, "LocalExecutor", Recorder)
    monkeypatch.setattr(run, "_gpu_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    study = plan.make("s", [Point(p, "m") for p in "abc"], [0, 1], {})
    run._submit(tmp_path, study.runs(), "local", None, {"timeout_min": 30}, lambda _: None)
    assert [(p["visible_gpus"], p["gpus_per_node"], p["timeout_min"], fn, args)
            for p, fn, args in submitted] == [
        ((5,), 1, 30, run.run_lane, (str(tmp_path), [("a", 0), ("c", 0), ("b", 1)])),
        ((7,), 1, 30, run.run_lane, (str(tmp_path), [("b", 0), ("a", 1), ("c", 1)]))]
    submitted.clear()
    run._submit(tmp_path, study.runs(), "local", 1, {}, lambda _: None)
    assert [p["visible_gpus"] for p, _, _ in submitted] == [(5,)]
    assert len(submitted[0][2][1]) == 6


def test_submitit_logs_to_the_standard_streams_of_the_moment(
        capsys: pytest.CaptureFixture[str]) -> None:
    """submitit binds its log handlers to the streams current when it is imported; a command
    run by click's test runner closes those afterwards, and a later log line failed (it took
    the whole test session's stderr with it)."""
    import io
    import logging
    import sys

    from xdsl.study.run import _import_submitit

    logger = logging.getLogger("submitit")
    temporary, before = io.StringIO(), sys.stderr
    bound = logging.StreamHandler(temporary)  # as submitit's logging config binds one
    sys.stderr = temporary
    try:
        logger.addHandler(bound)
        _import_submitit()
    finally:
        sys.stderr = before
    temporary.close()
    logger.warning("logged after the runner closed its stream")
    assert bound not in logger.handlers
    assert "logged after the runner closed its stream" in capsys.readouterr().err
