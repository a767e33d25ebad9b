"""Checkpoints: atomic writes that survive a kill, weights-only loading, clear errors."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from xdsl.cli import main
from xdsl.train import CheckpointError, TrainConfig, checkpoint, recipe, train


def quiet(_: str) -> None:
    pass


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    checkpoint.write_atomic(target, b"old")
    checkpoint.write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_checkpoint_holds_only_what_weights_only_loading_accepts(tmp_path: Path,
                                                                   small_config: Any) -> None:
    train(small_config(tmp_path, epochs=1), log=quiet)
    state = torch.load(tmp_path / "last.pt", map_location="cpu", weights_only=True)
    assert state["format"] == "xdsl-train-checkpoint" and state["epoch"] == 1
    assert state["spec"]["text"].startswith("# A slim Xception")
    assert state["spec"]["params"]["width"] == 8 and state["classes"][0] == "circle"
    assert isinstance(state["per_rank"][0]["rng"]["torch"], torch.Tensor)
    assert {"model", "optimizer", "scheduler", "scaler", "ema"} <= set(state)
    assert (tmp_path / "best.pt").read_bytes() == (tmp_path / "last.pt").read_bytes()


KILLED_WHILE_SAVING = """
import os, signal, sys, torch
torch.set_num_threads(1)
from xdsl.train import DataConfig, TrainConfig, checkpoint, recipe, train

def die(fd):  # kill the process with its temporary file half written, before the rename
    os.ftruncate(fd, os.fstat(fd).st_size // 2)
    os.kill(os.getpid(), signal.SIGKILL)

run = sys.argv[1]
train(TrainConfig(spec="mini_xception", params={"width": "8"},
                  data=DataConfig(shapes_train=64, shapes_val=16),
                  recipe=recipe("imagenet", epochs=1, batch_size=16), run_dir=run,
                  progress=False), log=print)
checkpoint.os.fsync = die
train(TrainConfig(resume=run, recipe=recipe("imagenet", epochs=2, batch_size=16)),
      {"recipe.epochs"}, log=print)
"""


def test_a_process_killed_while_saving_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_WHILE_SAVING, str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert "epoch 2/2" in done.stdout  # it died saving epoch 2
    (temporary,) = tmp_path.glob(".last.pt.tmp-*")
    assert 0 < temporary.stat().st_size < (tmp_path / "last.pt").stat().st_size
    state = checkpoint.load(tmp_path)  # the epoch-1 checkpoint, intact
    assert (state["epoch"], state["step"]) == (1, 4)
    summary = train(TrainConfig(resume=str(tmp_path), progress=False,
                                recipe=recipe("imagenet", epochs=2, batch_size=16)),
                    {"recipe.epochs"}, log=quiet)
    assert (summary.epochs, summary.steps) == (2, 8)
    assert any("killed while writing" in note for note in summary.notes)
    assert not list(tmp_path.glob(".last.pt.tmp-*"))
    assert checkpoint.load(tmp_path)["epoch"] == 2


@pytest.mark.parametrize(("damage", "message"), [
    ("truncate", "cannot be read as a checkpoint"),
    ("garbage", "cannot be read as a checkpoint"),
    ("foreign", "not an xdsl training checkpoint"),
    ("pickle", "cannot be read as a checkpoint"),
])
def test_a_damaged_checkpoint_is_a_clear_error(tmp_path: Path, small_config: Any, damage: str,
                                               message: str) -> None:
    run = tmp_path / "run"
    train(small_config(run, epochs=1, max_steps=2), log=quiet)
    path = run / "last.pt"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 100)
    elif damage == "foreign":
        torch.save({"state_dict": {}}, path)
    else:  # a pickled object: weights_only refuses to run its code
        torch.save({"format": "xdsl-train-checkpoint", "obj": Path("x")}, path)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path)
    for args in (["evaluate", "--checkpoint", str(path)], ["train", "--resume", str(run)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output


def test_a_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="holds no last.pt"):
        checkpoint.load(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", "--checkpoint", str(tmp_path / "x.pt")])
    assert result.exit_code == 1 and "no checkpoint at" in result.output
