"""Two processes under torchrun with gloo on the CPU: DDP trains, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from xdsl.train import checkpoint
from xdsl.train.command import _argv, train_command
from xdsl.train.distributed import checksum, torchrun_command


def test_torchrun_with_two_processes_trains_and_writes_one_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = torchrun_command(2, ["train", "mini_xception", "--set", "width=8", "--shapes-train",
                               "320", "--shapes-val", "50", "--batch-size", "16", "--epochs", "2",
                               "--lr", "0.05", "--run-dir", str(run), "--no-progress",
                               "--no-tensorboard"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("completed after 2 epochs, 20 steps") == 1  # rank 0 only speaks
    assert "2 x cpu" in done.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world"] == 2 and summary["steps"] == 20  # 320 images / (2 x 16) per step
    rank0, rank1 = summary["checksums"]
    assert rank0 == rank1  # DDP kept the weights (and rank 0's BN statistics) equal
    state = checkpoint.load(run)
    assert checksum(state["model"]) == rank0  # ... and that is what the checkpoint holds
    assert len(state["per_rank"]) == 2
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "metrics.csv",
                                                     "metrics.jsonl", "summary.json"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["val_top1"] >= 0


def test_nproc_relaunches_the_same_command_line_under_torchrun() -> None:
    args = ["xception", "--set", "width=64", "--set", "classes=4", "--epochs", "3",
            "--no-progress", "--compile", "--nproc", "4"]
    with click.Context(train_command) as ctx:
        train_command.parse_args(ctx, list(args))
        words = _argv(ctx, skip={"nproc"})
    assert words == ["xception", "--set", "width=64", "--set", "classes=4", "--epochs", "3",
                     "--compile", "--no-progress"]
    cmd = torchrun_command(4, ["train", *words])
    assert cmd[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       "--nproc-per-node=4"]
    assert cmd[5:8] == ["-m", "xdsl", "train"]
