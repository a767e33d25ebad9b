"""The paper's recipes as presets, overrides, decay intervals and what a resume may change."""

from __future__ import annotations

import math

import pytest
from isolation import imports_torch

from xdsl.train import RECIPES, DataConfig, TrainConfig, TrainError, recipe
from xdsl.train.config import merge_resume
from xdsl.train.recipes import Interval, parse_interval, weight_decay_for


def test_presets_are_the_papers() -> None:
    imagenet, jft = RECIPES["imagenet"], RECIPES["jft"]
    assert (imagenet.optimizer, imagenet.lr, imagenet.momentum) == ("sgd", 0.045, 0.9)
    assert (imagenet.lr_decay, imagenet.decay_every) == (0.94, Interval(2, "epochs"))
    assert imagenet.drop_rate == 0.5 and imagenet.ema_decay > 0
    assert (jft.optimizer, jft.lr, jft.momentum) == ("rmsprop", 0.001, 0.9)
    assert (jft.lr_decay, jft.decay_every) == (0.9, Interval(3_000_000, "samples"))
    assert jft.drop_rate == 0.0


@pytest.mark.parametrize(("network", "decay"), [("xception", 1e-5), ("inception_v3", 4e-5),
                                                ("inception_v3_keras1", 4e-5),
                                                ("mini_xception", 1e-5)])
def test_weight_decay_follows_the_network(network: str, decay: float) -> None:
    assert weight_decay_for(network) == decay


def test_overrides_replace_fields_and_ignore_none() -> None:
    r = recipe("jft", lr=0.01, epochs=None, decay_every="500 steps")
    assert (r.name, r.lr, r.optimizer, r.epochs) == ("jft", 0.01, "rmsprop", 100)
    assert r.decay_every == Interval(500, "steps")
    with pytest.raises(TrainError, match="no recipe named"):
        recipe("cifar")


@pytest.mark.parametrize(("text", "interval"), [("2 epochs", Interval(2, "epochs")),
                                                ("3e6 samples", Interval(3e6, "samples")),
                                                ("500steps", Interval(500, "steps")),
                                                ("1 epoch", Interval(1, "epochs"))])
def test_decay_intervals_parse(text: str, interval: Interval) -> None:
    assert parse_interval(text) == interval


@pytest.mark.parametrize("text", ["2", "every 2 epochs", "0 steps", "2 weeks"])
def test_bad_decay_intervals_say_what_is_expected(text: str) -> None:
    with pytest.raises(TrainError, match="2 epochs"):
        parse_interval(text)


def test_decay_is_a_staircase_in_steps() -> None:
    imagenet, jft = RECIPES["imagenet"], RECIPES["jft"]
    per_epoch = imagenet.decay_every.steps(steps_per_epoch=100, global_batch=32)
    assert per_epoch == 200
    assert imagenet.lr_factor(199, per_epoch) == 1.0
    assert imagenet.lr_factor(200, per_epoch) == pytest.approx(0.94)
    assert imagenet.lr_factor(650, per_epoch) == pytest.approx(0.94 ** 3)
    samples = jft.decay_every.steps(steps_per_epoch=10, global_batch=64)  # 3e6 samples
    assert samples == pytest.approx(46875)
    assert jft.lr_factor(46874, samples) == 1.0 and jft.lr_factor(46875, samples) == 0.9
    assert math.isclose(jft.lr_factor(2 * 46875, samples), 0.81)


def test_config_round_trips_through_plain_data() -> None:
    config = TrainConfig(spec="xception", params={"width": "64"}, data=DataConfig(image_size=71),
                         recipe=recipe("jft", lr=0.01), seed=3, max_steps=5)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_a_resume_changes_runtime_and_recipe_settings_only() -> None:
    stored = TrainConfig(spec="xception", params={"width": "64"}, recipe=recipe("imagenet"),
                         max_steps=10)
    given = TrainConfig(recipe=recipe("imagenet", lr=0.01, epochs=7), device="cpu",
                        resume="runs/x")
    merged = merge_resume(stored, given, {"recipe.lr", "recipe.epochs"})
    assert (merged.recipe.lr, merged.recipe.epochs) == (0.01, 7)
    assert merged.spec == "xception" and merged.params == {"width": "64"}
    assert merged.max_steps is None and merged.device == "cpu" and merged.resume == "runs/x"
    with pytest.raises(TrainError, match="batch_size"):
        merge_resume(stored, TrainConfig(recipe=recipe("imagenet", batch_size=8)),
                     {"recipe.batch_size"})
    with pytest.raises(TrainError, match="params"):
        merge_resume(stored, TrainConfig(params={"width": "32"}), {"params"})
    with pytest.raises(TrainError, match="drop_rate"):
        merge_resume(stored, TrainConfig(recipe=recipe("imagenet", drop_rate=0.0)),
                     {"recipe.drop_rate"})


def test_the_commands_load_without_torch() -> None:
    assert not imports_torch("from xdsl.cli import main\n"
                             "import xdsl.train, xdsl.train.command\n"
                             "try: main(['train', '--help'])\n"
                             "except SystemExit as e: assert e.code in (0, None), e.code\n")
