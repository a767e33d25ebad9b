"""The paper's training recipes as named presets (no torch here: ``xdsl check`` loads this).

Xception (Chollet, 2017), section 4.3: ImageNet — SGD, momentum 0.9, learning rate 0.045
decayed by 0.94 every 2 epochs; JFT — RMSProp, momentum 0.9, learning rate 0.001 decayed by 0.9
every 3,000,000 samples. Weight decay 1e-5 for Xception and 4e-5 for Inception V3; dropout 0.5
before the classifier on ImageNet and none on JFT; Polyak averaging of the weights for
evaluation. The paper gives neither the batch size nor the number of epochs: those defaults are
xdsl's. Every field can be overridden (``xdsl train --lr ...``, ``dataclasses.replace``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from .errors import TrainError

Optimizer = Literal["sgd", "rmsprop"]
Unit = Literal["epochs", "samples", "steps"]


@dataclass(frozen=True)
class Interval:
    """How often the learning rate decays: ``2 epochs``, ``3000000 samples``, ``500 steps``."""

    every: float
    unit: Unit

    def __str__(self) -> str:
        return f"{self.every:g} {self.unit}"

    def steps(self, steps_per_epoch: int, global_batch: int) -> float:
        """The interval in optimizer steps (samples count every process's batch)."""
        per = {"epochs": steps_per_epoch, "samples": 1 / global_batch, "steps": 1}[self.unit]
        return self.every * per


def parse_interval(text: str) -> Interval:
    """``"2 epochs"``, ``"3e6 samples"``, ``"500steps"`` → :class:`Interval`."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*(epochs?|samples?|steps?)\s*", text,
                     re.I)
    if not m or not 0 < float(m.group(1)) < float("inf"):
        raise TrainError(f"expected a decay interval such as '2 epochs', '3000000 samples' or "
                         f"'500 steps', got {text!r}")
    unit = m.group(2).lower().rstrip("s") + "s"
    return Interval(float(m.group(1)), unit)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Recipe:
    """Optimizer, schedule and regularisation of a training run.

    ``weight_decay=None`` picks the paper's value for the network (:func:`weight_decay_for`);
    ``drop_rate=None`` leaves the spec's own ``drop_rate`` alone. ``ema_decay=0`` turns Polyak
    averaging off. RMSProp's ``rmsprop_alpha`` (decay) 0.9 and ``rmsprop_eps`` 1.0 are the values
    of TensorFlow's slim training script, which trained Inception; the paper does not give them.
    """

    name: str = "imagenet"
    optimizer: Optimizer = "sgd"
    lr: float = 0.045
    momentum: float = 0.9
    weight_decay: float | None = None
    lr_decay: float = 0.94
    decay_every: Interval = Interval(2, "epochs")
    drop_rate: float | None = 0.5
    ema_decay: float = 0.9999
    rmsprop_alpha: float = 0.9
    rmsprop_eps: float = 1.0
    label_smoothing: float = 0.0
    aux_weight: float = 0.4
    batch_size: int = 32
    epochs: int = 100

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["decay_every"] = str(self.decay_every)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("decay_every"), str):
            values["decay_every"] = parse_interval(values["decay_every"])
        return cls(**values)

    def lr_factor(self, step: int, interval_steps: float) -> float:
        """Staircase decay: ``lr_decay ** floor(step / interval)``."""
        return self.lr_decay ** math.floor(step / interval_steps + 1e-9)


RECIPES: dict[str, Recipe] = {
    "imagenet": Recipe(),
    "jft": Recipe(name="jft", optimizer="rmsprop", lr=0.001, momentum=0.9, lr_decay=0.9,
                  decay_every=Interval(3_000_000, "samples"), drop_rate=0.0),
}

WEIGHT_DECAY = {"xception": 1e-5, "inception": 4e-5}
"""The paper's L2 rates, by the network's family (a name containing the key)."""


def weight_decay_for(network: str) -> float:
    """Inception-family networks take 4e-5; everything else Xception's 1e-5."""
    return WEIGHT_DECAY["inception"] if "inception" in network.lower() else WEIGHT_DECAY["xception"]


def recipe(name: str, **overrides: Any) -> Recipe:
    """A preset with some fields replaced (``None`` values are ignored)."""
    if name not in RECIPES:
        raise TrainError(f"no recipe named {name!r}; recipes: {', '.join(RECIPES)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(given.get("decay_every"), str):
        given["decay_every"] = parse_interval(given["decay_every"])
    return replace(RECIPES[name], **given)
