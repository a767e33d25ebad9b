"""Training runs on the synthetic shapes: learning, exact resumption, stops and evaluation."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from xdsl.cli import main
from xdsl.train import DataConfig, TrainConfig, TrainError, checkpoint, recipe, train
from xdsl.train.metrics import read
from xdsl.train.network import build


def quiet(_: str) -> None:
    pass


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_training_learns_the_shapes(tmp_path: Path) -> None:
    """300 steps of mini_xception: the loss falls and validation is far above chance (0.1)."""
    losses: list[float] = []
    config = TrainConfig(spec="mini_xception", data=DataConfig(shapes_train=1600, shapes_val=400),
                         recipe=recipe("imagenet", epochs=6, lr=0.05, drop_rate=0.0),
                         run_dir=str(tmp_path / "run"), progress=False)
    summary = train(config, on_step=lambda step, loss: losses.append(loss), log=quiet)
    assert summary.status == "completed" and summary.steps == len(losses) == 300
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert first > 2.0 and last < 0.6 * first, (first, last)
    assert summary.last["val_top1"] > 0.6 and summary.best_top1 >= summary.last["val_top1"]
    assert summary.last["weights"] == "ema"
    rows = read(tmp_path / "run")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {"train_loss", "val_top1", "val_top5", "img_per_s", "lr"} <= set(rows[0])
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["lr"] == pytest.approx(0.05 * 0.94 ** 2)  # epoch 6's steps: 2 decays
    csv_lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,step,train_loss") and len(csv_lines) == 7
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 300
    state = checkpoint.load(tmp_path / "run" / "best.pt")
    assert state["epoch"] == summary.best_epoch


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, small_config: Any
              ) -> tuple[list[float], Path]:
    """Per-step losses and folder of a 2-epoch run that is never interrupted."""
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("reference")
    losses: list[float] = []
    train(small_config(run_dir), on_step=lambda s, loss: losses.append(loss), log=quiet)
    return losses, run_dir


@pytest.mark.parametrize("stop_at", [27, 20])  # inside epoch 2; at the end of epoch 1
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(
        tmp_path: Path, small_config: Any, reference: tuple[list[float], Path],
        stop_at: int) -> None:
    losses, reference_dir = reference
    first = train(small_config(tmp_path, max_steps=stop_at), log=quiet)
    assert (first.status, first.steps) == ("max_steps", stop_at)
    resumed: list[tuple[int, float]] = []
    train(TrainConfig(resume=str(tmp_path), progress=False),
          on_step=lambda s, loss: resumed.append((s, loss)), log=quiet)
    assert resumed[0] == (stop_at + 1, losses[stop_at])  # the very next step, bit for bit
    assert [loss for _, loss in resumed] == losses[stop_at:]
    a, b = checkpoint.load(reference_dir), checkpoint.load(tmp_path)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
        assert torch.equal(a["ema"]["module"][key], b["ema"]["module"][key]), key
    assert read(tmp_path)[-1] | {"img_per_s": 0, "time_s": 0} == \
        read(reference_dir)[-1] | {"img_per_s": 0, "time_s": 0}


def test_ctrl_c_stops_after_the_step_with_a_resumable_checkpoint(
        tmp_path: Path, reference: tuple[list[float], Path]) -> None:
    losses, _ = reference

    def interrupt(step: int, loss: float) -> None:
        if step == 23:  # after step 23: processes agree on it during step 24, which completes
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would

    from xdsl.train import loop

    real = loop.train
    try:
        loop.train = lambda config, changed=None, on_step=None, log=None: real(  # type: ignore[assignment]
            config, changed, interrupt, log)
        result = run_cli("train", "mini_xception", "--set", "width=8", "--shapes-train", "320",
                         "--shapes-val", "64", "--epochs", "2", "--lr", "0.05",
                         "--batch-size", "16", "--drop-rate", "0.2", "--decay-every", "7 steps",
                         "--run-dir", str(tmp_path), "--no-progress")
    finally:
        loop.train = real  # type: ignore[assignment]
    assert result.exit_code == 130, result.output
    assert "interrupted: stopped at step 24" in result.output and "Traceback" not in result.output
    state = checkpoint.load(tmp_path)
    assert (state["epoch"], state["batch"], state["step"]) == (1, 4, 24)
    resumed: list[float] = []
    real(TrainConfig(resume=str(tmp_path), progress=False, max_steps=25),
         on_step=lambda s, loss: resumed.append(loss), log=quiet)
    assert resumed == [losses[24]]


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, small_config: Any) -> None:
    train(small_config(tmp_path, epochs=1), log=quiet)
    before = checkpoint.load(tmp_path)
    result = run_cli("train", "--resume", str(tmp_path), "--lr", "1e30", "--epochs", "2")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "training stopped: the loss became" in result.output
    assert "the last good checkpoint is kept" in result.output
    after = checkpoint.load(tmp_path)
    assert after["step"] == before["step"] == 20
    assert all(torch.isfinite(v).all() for v in after["model"].values() if v.is_floating_point())


def test_evaluate_reports_top1_and_top5(tmp_path: Path, small_config: Any) -> None:
    train(small_config(tmp_path, epochs=1), log=quiet)
    result = run_cli("evaluate", "--checkpoint", str(tmp_path / "last.pt"), "--format", "json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["weights"] == "ema" and scores["images"] == 64
    assert 0 <= scores["top1"] <= scores["top5"] <= 1
    state = checkpoint.load(tmp_path)
    assert scores["top1"] == pytest.approx(state["metrics"]["val_top1"])
    raw = run_cli("evaluate", "mini_xception", "--checkpoint", str(tmp_path), "--weights", "raw",
                  "--shapes-val", "32")
    assert raw.exit_code == 0 and "raw weights" in raw.output and "(32 images)" in raw.output
    wrong = run_cli("evaluate", "mini_xception", "--checkpoint", str(tmp_path), "--set",
                    "width=16")
    assert wrong.exit_code == 1 and "do not fit mini_xception" in wrong.output


def test_a_run_folder_is_not_overwritten(tmp_path: Path, small_config: Any) -> None:
    train(small_config(tmp_path, epochs=1, max_steps=2), log=quiet)
    with pytest.raises(TrainError, match="already holds a run"):
        train(small_config(tmp_path, epochs=1), log=quiet)


def test_side_heads_add_to_the_loss(tmp_path: Path) -> None:
    spec = ("network tiny_aux(classes: int = 10):\n"
            "    input image: 3 x 16 x 16\n"
            "    flow main:\n"
            "        conv 8 3x3 pad=same; relu\n"
            "        output side:\n"
            "            global avgpool; linear classes\n"
            "        conv 8 3x3 pad=same; relu\n"
            "        global avgpool; linear classes\n")
    losses: dict[float, list[float]] = {}
    for weight in (0.0, 1.0):
        losses[weight] = []
        train(TrainConfig(spec=spec, data=DataConfig(shapes_classes=4, shapes_train=32,
                                                     shapes_val=8),
                          recipe=recipe("imagenet", epochs=1, batch_size=16, aux_weight=weight),
                          run_dir=str(tmp_path / str(weight)), progress=False),
              on_step=lambda s, loss, w=weight: losses[w].append(loss), log=quiet)
    assert losses[1.0][0] == pytest.approx(2 * losses[0.0][0], rel=0.05)  # two heads near log 4
    assert losses[0.0][0] == pytest.approx(math.log(4), rel=0.05)


def test_the_spec_takes_classes_size_and_dropout_from_data_and_recipe() -> None:
    net = build("xception", {}, 4, DataConfig(image_size=71), recipe("imagenet"))
    assert (net.params["classes"], net.params["image_size"], net.params["drop_rate"]) == \
        (4, 71, 0.5)
    assert net.size == (71, 71) and not net.notes
    mine = build("xception", {"classes": "6", "drop_rate": "0.1"}, 4, DataConfig(), recipe("jft"))
    assert (mine.params["classes"], mine.params["drop_rate"], mine.size) == (6, 0.1, (299, 299))
    assert "outputs 6 scores for 4 classes" in mine.notes[0]
    jft = build("inception_v3", {}, 10, DataConfig(image_size=149), recipe("jft"))
    assert jft.params["drop_rate"] == 0.0 and jft.size == (149, 149)
    assert "no image_size parameter" in jft.notes[0]
    with pytest.raises(TrainError, match="disagrees"):
        build("xception", {"image_size": "99"}, 4, DataConfig(image_size=71), None)
    fixed = "network fixed:\n    input image: 3 x 16 x 16\n    global avgpool; linear 5\n"
    with pytest.raises(TrainError, match="outputs 5 but the data has 10 classes"):
        build(fixed, {}, 10, DataConfig(), None)
    assert "no drop_rate parameter" in build(fixed, {}, 5, DataConfig(), recipe("imagenet")
                                             ).notes[0]


def test_folder_data_with_worker_processes_resume_exactly(tmp_path: Path,
                                                          image_folder: Path) -> None:
    """Random crops and flips drawn in two worker processes: the same after a resume."""
    def config(run: str, **changes: Any) -> TrainConfig:
        return TrainConfig(spec="mini_xception", params={"width": "8"},
                           data=DataConfig(source=str(image_folder), workers=2),
                           recipe=recipe("imagenet", epochs=2, batch_size=4),
                           run_dir=str(tmp_path / run), progress=False, **changes)

    whole: list[float] = []
    summary = train(config("whole"), on_step=lambda s, loss: whole.append(loss), log=quiet)
    assert summary.params["classes"] == 2 and summary.steps == 8
    assert summary.last["val_top5"] == 1.0  # top-5 of two classes is top-2
    train(config("parts", max_steps=6), log=quiet)
    rest: list[float] = []
    train(TrainConfig(resume=str(tmp_path / "parts"), progress=False),
          on_step=lambda s, loss: rest.append(loss), log=quiet)
    assert rest == whole[6:]
    result = run_cli("evaluate", "--checkpoint", str(tmp_path / "whole"), "--data",
                     str(image_folder), "--workers", "0")
    assert result.exit_code == 0 and "(8 images)" in result.output
