"""What a run tells its reader: the summary's figures, the epoch lines, status, threads."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from xdsl import progress
from xdsl.cli import main
from xdsl.train import recipe, train
from xdsl.train.devices import select_precision
from xdsl.train.metrics import read

ROOT = Path(__file__).resolve().parents[2]
SMALL_RUN = ("mini_xception", "--set", "width=8", "--shapes-train", "320", "--shapes-val", "64",
             "--batch-size", "16", "--lr", "0.05", "--drop-rate", "0.2")


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def quiet(_: str) -> None:
    pass


def test_the_summary_reports_the_whole_runs_images_per_second(tmp_path: Path,
                                                               small_config: Any) -> None:
    """Images over the run's time beside that time, and the training steps' own rate, both
    recomputed here from the metrics file (per epoch: images / img_per_s = seconds of steps)."""
    summary = train(small_config(tmp_path, epochs=2), log=quiet)
    rows = read(tmp_path)
    per_epoch = [r["step"] - p["step"] for p, r in zip([{"step": 0}, *rows], rows)]
    images = sum(per_epoch) * 16
    step_seconds = sum(n * 16 / r["img_per_s"] for n, r in zip(per_epoch, rows, strict=True))
    assert summary.images == images == 640
    assert summary.elapsed_s >= rows[-1]["time_s"]
    assert summary.img_per_s == pytest.approx(images / summary.elapsed_s, rel=1e-12)
    assert summary.train_img_per_s == pytest.approx(images / step_seconds, rel=1e-9)
    assert summary.img_per_s < summary.train_img_per_s  # validation and checkpoints take time
    text = str(summary)
    assert text.splitlines()[0] == (
        f"mini_xception: completed after 2 epochs, 40 steps in {summary.elapsed_s:,.1f} s "
        f"({images:,} images, {summary.img_per_s:,.1f} img/s overall)")
    assert f"training steps alone: {summary.train_img_per_s:,.1f} img/s" in text
    stored = json.loads((tmp_path / "summary.json").read_text())
    assert stored["img_per_s"] == summary.img_per_s and stored["images"] == images


def test_a_resumed_run_reports_the_time_and_images_of_its_own_session(
        tmp_path: Path, small_config: Any) -> None:
    train(small_config(tmp_path, epochs=2, max_steps=25), log=quiet)
    from xdsl.train import TrainConfig

    summary = train(TrainConfig(resume=str(tmp_path), progress=False), log=quiet)
    assert (summary.steps, summary.images) == (40, 15 * 16)
    assert summary.img_per_s == pytest.approx(summary.images / summary.elapsed_s, rel=1e-12)
    assert str(summary).startswith("mini_xception: completed after 2 epochs, 40 steps (15 in "
                                   "this session) in ")


def test_the_lr_of_an_epoch_is_the_one_its_steps_used(tmp_path: Path,
                                                      small_config: Any) -> None:
    """A decay after every epoch (20 steps): epoch e trained at lr * 0.94 ** (e - 1)."""
    r = recipe("imagenet", epochs=3, lr=0.05, batch_size=16, decay_every="1 epoch")
    lines: list[str] = []
    train(small_config(tmp_path, recipe=r), log=lines.append)
    rows = read(tmp_path)
    for row in rows:  # the factor of the epoch's last step, step - 1 counting from 0
        assert row["lr"] == pytest.approx(r.lr * r.lr_factor(row["step"] - 1, 20), rel=1e-12)
    assert [round(row["lr"], 6) for row in rows] == [0.05, 0.047, 0.04418]
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert [f"lr {row['lr']:.4g}" in line for row, line in zip(rows, epoch_lines)] == [True] * 3


def test_a_piped_run_prints_a_header_then_a_line_per_epoch_as_it_goes(tmp_path: Path) -> None:
    """Standard output to a pipe (as to a log file): block-buffered unless flushed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["OMP_NUM_THREADS"] = "1"
    run_dir = tmp_path / "run"
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "xdsl", "train", *SMALL_RUN, "--epochs",
                                 "3", "--run-dir", str(run_dir)], stdout=subprocess.PIPE,
                                stderr=err, env=env, cwd=ROOT, text=True)
        assert proc.stdout is not None
        lines: list[tuple[str, bool, int]] = []  # line, still running, epochs in metrics
        for line in proc.stdout:
            lines.append((line.rstrip("\n"), proc.poll() is None, len(read(run_dir))))
        assert proc.wait(timeout=300) == 0
        err.seek(0)
        assert err.read() == ""  # not a terminal: no bar, no status lines
    texts = [line for line, _, _ in lines]
    assert texts[0].startswith("mini_xception: 320 training and 64 validation images, 10 "
                               "classes, 32x32; imagenet recipe (sgd, lr 0.05")
    assert "1 torch thread" in texts[0]
    epochs = [(i, line) for i, (line, _, _) in enumerate(lines) if line.startswith("epoch ")]
    assert [line[:10] for _, line in epochs] == ["epoch 1/3:", "epoch 2/3:", "epoch 3/3:"]
    first, _ = epochs[0]
    assert lines[first][1] and lines[first][2] == 1  # read while epoch 2 was still to come
    rows = read(run_dir)
    for (_, line), row in zip(epochs, rows, strict=True):
        assert f"train loss {row['train_loss']:.4f}" in line
        assert f"val top-1 {row['val_top1']:.4f}" in line
        assert f"lr {row['lr']:.4g}" in line and f"{row['img_per_s']:,.1f} img/s" in line
        assert line.endswith(f"s (total {row['time_s']:,.1f} s)")
    assert texts[-1].startswith("  checkpoint: ")
    mine = [_shape(line.replace(str(run_dir), "runs/xception-N-N")) for line in texts]
    assert mine == [_shape(line) for line in readme_train_output()]


def readme_train_output() -> list[str]:
    """The output of the training demo the README shows."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    begin, end = "<!-- readme:train-output -->\n```\n", "\n```\n<!-- /readme:train-output -->"
    return text[text.index(begin) + len(begin):text.index(end)].splitlines()


def _shape(line: str) -> str:
    """A line with its numbers, network name and precision (``--amp auto`` follows the CPU)
    made alike."""
    line = re.sub(r"\b(bfloat16 autocast|float32)\b", "PRECISION", line)
    return re.sub(r"\d[\d,]*(\.\d+)?(e-?\d+)?", "N", line.replace("mini_xception", "xception"))


@pytest.fixture
def restore_threads() -> Any:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_threads_option_takes_effect_and_is_reported(tmp_path: Path,
                                                         restore_threads: None) -> None:
    torch.set_num_threads(2)
    result = run_cli("train", *SMALL_RUN, "--epochs", "1", "--max-steps", "3", "--run-dir",
                     str(tmp_path), "--threads", "1")
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1
    assert json.loads((tmp_path / "summary.json").read_text())["threads"] == 1
    # float32, or bfloat16 autocast where the CPU computes it natively (--amp auto)
    assert f"on 1 x cpu, {select_precision('cpu', 'auto')}, 1 torch thread" in result.stdout
    torch.set_num_threads(2)
    evaluated = run_cli("evaluate", "--checkpoint", str(tmp_path), "--threads", "1",
                        "--format", "json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["threads"] == 1 == torch.get_num_threads()


def test_status_and_bar_on_a_terminal_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    args = ("train", *SMALL_RUN, "--epochs", "1", "--threads", "1")
    plain = run_cli(*args, "--run-dir", str(tmp_path / "plain"))
    assert plain.exit_code == 0 and plain.stderr == ""
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    shown = run_cli(*args, "--run-dir", str(tmp_path / "shown"))
    assert shown.exit_code == 0, shown.output
    for stage in ("reading the data", "building mini_xception", "validating on 64 images",
                  "writing the checkpoint"):
        assert f"{stage}…" in shown.stderr, stage
    assert "epoch 1/1" in shown.stderr and "img/s" in shown.stderr  # tqdm's bar
    assert "\r" not in shown.stdout and shown.stdout.count("\n") == plain.stdout.count("\n")
    hushed = run_cli(*args, "--run-dir", str(tmp_path / "hushed"), "--quiet")
    assert hushed.exit_code == 0 and hushed.stderr == ""
    evaluated = run_cli("evaluate", "--checkpoint", str(tmp_path / "shown"), "--threads", "1")
    assert "evaluating on 64 images…" in evaluated.stderr
    assert run_cli("evaluate", "--checkpoint", str(tmp_path / "shown"), "--threads", "1",
                   "-q").stderr == ""


def test_an_epoch_line_gives_its_time(tmp_path: Path, small_config: Any) -> None:
    lines: list[str] = []
    start = time.perf_counter()
    train(small_config(tmp_path, epochs=1), log=lines.append)
    took = time.perf_counter() - start
    line = next(line for line in lines if line.startswith("epoch 1/1"))
    epoch_s = float(line.rsplit("| ", 1)[1].split(" s ")[0])
    assert 0 < epoch_s <= math.ceil(took * 10) / 10
