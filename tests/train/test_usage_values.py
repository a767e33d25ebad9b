"""Values a user gives are usage errors, never internal errors (issue 11, item 16): bounded
integers, finite floats, outputs that cannot be written; ``--seed`` seeds every generator; a
resumed run does not duplicate the metrics rows of the epoch it repeats."""

from __future__ import annotations

import csv
import errno
import math
import random
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from xdsl.cli import EXIT_USAGE, main
from xdsl.train import TrainConfig, TrainError, checkpoint, metrics, recipe, train

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "golden" / "pytorch" / "tiny.x")
BIG = str(10**19)


def quiet(_: str) -> None:
    pass


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


# -- integers out of range ---------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("train", "--seed", str(2**63)), ("train", "--seed", "-1"), ("train", "--seed", BIG),
    ("compile", TINY, "--seed", str(2**63)), ("train", "--shapes-seed", BIG),
    ("train", "--shapes-train", BIG), ("train", "--shapes-val", BIG),
    ("train", "--batch-size", BIG), ("train", "--epochs", BIG), ("train", "--max-steps", BIG),
    ("train", "--workers", BIG), ("train", "--image-size", BIG), ("train", "--threads", BIG),
    ("compile", TINY, "--threads", BIG), ("evaluate", "--checkpoint", "x", "--batch-size", BIG),
    ("evaluate", "--checkpoint", "x", "--shapes-train", BIG),
], ids=lambda a: " ".join(a[:1] + a[-2:-1]))
def test_an_integer_out_of_range_is_a_usage_error(args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"Invalid value for '{args[-2]}'" in result.output and "is not in the range" in \
        result.output


# -- floats: NaN and infinities ----------------------------------------------------------------


def _float_options() -> list[tuple[str, str]]:
    found = []
    ctx = click.Context(main)
    for name in main.list_commands(ctx):  # the lazily imported commands too
        command = main.get_command(ctx, name)
        assert command is not None
        for p in command.params:
            if isinstance(p, click.Option) and isinstance(p.type, click.types.FloatParamType):
                found.append((name, p.opts[0]))
    return found


FLOAT_OPTIONS = _float_options()


def test_the_float_options_are_found() -> None:
    assert {("train", "--lr"), ("train", "--ema-decay"), ("train", "--momentum"),
            ("train", "--aux-weight")} <= set(FLOAT_OPTIONS)


@pytest.mark.parametrize("value", ["nan", "-nan", "inf", "-inf"])
@pytest.mark.parametrize(("command", "option"), FLOAT_OPTIONS)
def test_every_float_option_refuses_nan_and_infinities(command: str, option: str,
                                                       value: str) -> None:
    required = {"compile": [TINY], "evaluate": ["--checkpoint", "x"],
                "plot": [".", "-o", "x.png"]}.get(command, [])
    result = invoke(command, *required, option, value)
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"Invalid value for '{option}'" in result.output and "finite" in result.output


def test_a_nan_in_a_python_config_is_refused(tmp_path: Path, small_config: Any) -> None:
    """The API takes the same bounds: --ema-decay nan used to turn Polyak averaging off."""
    bad = recipe("imagenet", epochs=1, batch_size=16, ema_decay=math.nan)
    with pytest.raises(TrainError, match=r"recipe\.ema_decay: input should be a finite number"):
        train(small_config(tmp_path, recipe=bad), log=quiet)


# -- outputs that cannot be written ------------------------------------------------------------


@pytest.mark.parametrize("option", ["-o", "--export-py"])
def test_compile_to_a_full_disk_is_a_clear_error(option: str) -> None:
    result = invoke("compile", TINY, "-q", option, "/dev/full")
    assert result.exit_code == 1, result.output
    assert "Error: cannot write /dev/full: No space left on device" in result.output
    assert "internal error" not in result.output


@pytest.mark.parametrize("args", [("check", TINY), ("audit", TINY), ("compile", TINY, "-q")])
def test_standard_output_on_a_full_disk_is_a_clear_error(args: tuple[str, ...]) -> None:
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "xdsl", *args], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ("Error: cannot write to standard output: No space left on "
                           "device\n")


def test_an_output_under_a_file_is_a_usage_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    result = invoke("compile", TINY, "-q", "-o", str(afile / "m.pt"))
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{afile} is a file, not a folder" in result.output
    result = invoke("train", TINY, "--run-dir", str(afile / "run"))
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{afile} is a file, not a folder" in result.output
    result = invoke("train", TINY, "--run-dir", "/dev/full")
    assert result.exit_code == EXIT_USAGE, result.output
    assert "/dev/full is not a folder" in result.output


def test_a_checkpoint_on_a_full_disk_is_a_clear_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", full)
    result = invoke("train", "mini_xception", "--set", "width=8", "--shapes-train", "32",
                    "--shapes-val", "16", "--batch-size", "16", "--epochs", "1", "-q",
                    "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 1, result.output
    assert f"Error: cannot write {tmp_path / 'run' / 'last.pt'}: No space left on device" in \
        result.output
    assert not list((tmp_path / "run").glob(".*tmp*"))


# -- seeds -------------------------------------------------------------------------------------


def _draws(tmp_path: Path, small_config: Any, seed: int, name: str) -> list[tuple[float, ...]]:
    """What Python's, NumPy's and torch's global generators give at each step of a run."""
    random.seed(12345)  # whatever came before the run must not matter
    np.random.seed(678)
    seen: list[tuple[float, ...]] = []
    train(small_config(tmp_path / name, epochs=1, max_steps=3, seed=seed), log=quiet,
          on_step=lambda step, loss: seen.append((random.random(), float(np.random.rand()),
                                                  torch.rand(1).item())))
    return seen


def test_the_seed_seeds_python_numpy_and_torch(tmp_path: Path, small_config: Any) -> None:
    first = _draws(tmp_path, small_config, 1, "a")
    assert len(first) == 3
    assert _draws(tmp_path, small_config, 1, "b") == first
    other = _draws(tmp_path, small_config, 2, "c")
    assert all(a != b for x, y in zip(first, other, strict=True) for a, b in zip(x, y))


def test_each_sample_draws_python_numpy_and_torch_numbers_from_its_seed() -> None:
    """Augmentation of a folder's images may use any of the three generators: each sample
    draws from its own seed, in whichever process loads it, and leaves the caller's alone."""
    from torch.utils.data import Dataset

    from xdsl.train.data import SeededItems

    class Draws(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, index: int) -> tuple[float, ...]:
            return random.random(), float(np.random.rand()), torch.rand(1).item()

    items = SeededItems(Draws())
    random.seed(1)
    np.random.seed(1)
    before = random.random(), float(np.random.rand())
    random.seed(1)
    np.random.seed(1)
    first = items[(0, 77)]
    assert (random.random(), float(np.random.rand())) == before  # the caller's state is kept
    random.seed(99)
    np.random.seed(99)
    assert items[(0, 77)] == first  # the same seed gives the same draws, whatever came before
    assert all(a != b for a, b in zip(first, items[(0, 78)], strict=True))


# -- metrics after a kill ----------------------------------------------------------------------


class Killed(BaseException):
    pass


def test_a_resumed_run_does_not_duplicate_metrics_rows(tmp_path: Path, small_config: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after epoch 2's metrics row was written and before its checkpoint: the resumed
    run repeats epoch 2 and replaces its row instead of adding a second one."""
    train(small_config(tmp_path, epochs=1), log=quiet)
    again = TrainConfig(resume=str(tmp_path), progress=False,
                        recipe=recipe("imagenet", epochs=2))

    def killed(*args: Any, **kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(checkpoint, "save", killed)
    with pytest.raises(Killed):
        train(again, {"recipe.epochs"}, log=quiet)
    monkeypatch.undo()
    assert [r["epoch"] for r in metrics.read(tmp_path)] == [1, 2]  # the orphaned row
    summary = train(again, {"recipe.epochs"}, log=quiet)
    rows = metrics.read(tmp_path)
    assert [(r["epoch"], r["step"]) for r in rows] == [(1, 20), (2, 40)]
    assert rows[1] == summary.last
    with open(tmp_path / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["epoch"], r["step"]) for r in table] == [("1", "20"), ("2", "40")]
    assert float(table[1]["val_top1"]) == rows[1]["val_top1"]
