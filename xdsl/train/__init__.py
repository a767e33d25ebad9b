"""Training and evaluation of compiled specs: ``xdsl train`` / ``xdsl evaluate`` and their API.

    from xdsl.train import TrainConfig, DataConfig, recipe, train
    summary = train(TrainConfig(spec="mini_xception", data=DataConfig("shapes"),
                                recipe=recipe("imagenet", epochs=3, lr=0.01)))

Modules: ``recipes`` (the paper's presets), ``config`` (what a run is asked to do), ``shapes``
and ``data`` (datasets, samplers, loaders), ``network`` (spec parameters from data and recipe),
``optim`` (optimizer, schedule, EMA), ``checkpoint`` (atomic, weights-only), ``distributed``
(torchrun, DDP), ``devices`` (device and mixed-precision choices), ``loop`` (the run),
``stop`` (Ctrl-C), ``evaluation``, ``metrics``, ``summary``, ``command`` (the CLI). The config,
recipes, errors, devices and the command load without torch, so ``import xdsl.train`` and
``xdsl check`` stay light; the rest load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import DataConfig, TrainConfig
from .errors import CheckpointError, Interrupted, NonFiniteLoss, TrainError
from .recipes import RECIPES, Recipe, recipe

_LAZY = {"train": ("loop", "train"), "TrainSummary": ("summary", "TrainSummary"),
         "evaluate": ("evaluation", "evaluate"), "Scores": ("evaluation", "Scores"),
         "Shapes": ("shapes", "Shapes")}

__all__ = ["RECIPES", "CheckpointError", "DataConfig", "Interrupted", "NonFiniteLoss", "Recipe",
           "TrainConfig", "TrainError", "recipe", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
