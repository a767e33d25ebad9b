"""What a training run is asked to do, as plain data (stored in checkpoints; no torch here)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from .errors import TrainError
from .recipes import Recipe

Device = Literal["auto", "cpu", "cuda"]
Amp = Literal["auto", "bf16", "fp16", "off"]
MemoryFormat = Literal["auto", "channels_last", "contiguous"]
Weights = Literal["ema", "raw"]

# Bounds of the integer options: what torch, NumPy and the data pipeline accept, and far
# beyond any real run; a value outside is a usage error (the CLI) or a bad checkpoint field.
MAX_SEED = 2**63 - 1
"""Seeds are 0 ... 2**63 - 1: torch's generators take 64 bits, NumPy's two 32-bit words."""
MAX_IMAGES = 10_000_000
"""Images of a synthetic split (an epoch's shuffled order is a list of them in memory)."""
MAX_BATCH = 1 << 20
MAX_EPOCHS = 1_000_000
MAX_STEPS = 10**12
MAX_WORKERS = 256
MAX_IMAGE_SIZE = 65536


@dataclass(frozen=True)
class DataConfig:
    """``source``: ``shapes`` (synthetic, generated from ``shapes_seed``), a folder holding
    ``train/`` and ``val/`` with one sub-folder per class, or ``cifar10:PATH`` /
    ``cifar100:PATH`` (the Python version's folder; ``image_size`` then defaults to 32).

    ``image_size`` overrides the spec's input size (and sets its ``image_size`` parameter when it
    has one). ``workers=None``: none for shapes (generated in microseconds), up to 8 for folders.
    """

    source: str = "shapes"
    image_size: int | None = None
    shapes_classes: int = 10
    shapes_train: int = 2000
    shapes_val: int = 500
    shapes_seed: int = 0
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.image_size is None and self.source.partition(":")[0] in ("cifar10", "cifar100"):
            object.__setattr__(self, "image_size", 32)  # CIFAR's images: the spec's size too

    @property
    def synthetic(self) -> bool:
        return self.source == "shapes"

    @property
    def loader_workers(self) -> int:
        """``workers``, or its default: none for shapes, up to 8 for folders (never more than
        the CPUs this process may use)."""
        if self.workers is not None:
            return self.workers
        from xdsl.threads import available_cpus

        return 0 if self.synthetic else min(8, available_cpus())


@dataclass(frozen=True)
class TrainConfig:
    """A run: spec and parameters, data, recipe and how to execute it.

    ``spec`` is a path, a shipped spec's name or spec text; ``params`` are ``--set`` values,
    which win over what the data and the recipe would set (``classes``, ``image_size``,
    ``drop_rate``). ``run_dir=None`` makes ``runs/<network>-<time>``. ``max_steps`` stops (with
    a checkpoint, as Ctrl-C does) after that many optimizer steps in total. ``threads``: torch
    threads per process; ``auto`` picks them from the CPUs available (see :mod:`xdsl.threads`),
    ``None`` leaves torch's setting alone.
    """

    spec: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    recipe: Recipe = field(default_factory=Recipe)
    run_dir: str | None = None
    seed: int = 0
    device: Device = "auto"
    amp: Amp = "auto"
    memory_format: MemoryFormat = "auto"
    compile: bool = False
    eval_weights: Weights = "ema"
    max_steps: int | None = None
    progress: bool | None = None
    tensorboard: bool | None = None
    resume: str | None = None
    threads: int | Literal["auto"] | None = None

    def __post_init__(self) -> None:
        for name in ("run_dir", "resume"):  # paths are stored as text (checkpoints hold text)
            if isinstance(getattr(self, name), os.PathLike):
                object.__setattr__(self, name, os.fspath(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["data"] = {f.name: getattr(self.data, f.name) for f in fields(self.data)}
        out["recipe"] = self.recipe.to_dict()
        out["params"] = dict(self.params)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["data"] = DataConfig(**{k: v for k, v in data.get("data", {}).items()
                                       if k in {f.name for f in fields(DataConfig)}})
        values["recipe"] = Recipe.from_dict(data.get("recipe", {}))
        return cls(**values)


RUNTIME_FIELDS = ("device", "amp", "memory_format", "compile", "eval_weights", "max_steps",
                  "progress", "tensorboard", "resume", "threads")
"""How to execute, not what to compute: a resumed run takes these from the new invocation."""

FIXED = ("spec", "params", "data", "seed", "recipe.batch_size", "recipe.optimizer",
         "recipe.drop_rate")
"""What a resumed run keeps from its checkpoint: the network (dropout is one of its
parameters), the order of the data, the optimizer's kind (its state would not fit another)."""


def merge_resume(stored: TrainConfig, given: TrainConfig, changed: set[str]) -> TrainConfig:
    """The stored run's config, with this invocation's runtime settings and the recipe fields
    (``recipe.lr``, ``recipe.epochs``...) or ``data.workers`` named in ``changed``.

    Asking to change what fixes the network or the data order is an error.
    """
    fixed = [k for k in changed if k in FIXED or k.split(".")[0] in FIXED]
    differ = [k for k in fixed if _get(stored, k) != _get(given, k) and k != "data.workers"]
    if differ:
        raise TrainError(f"a resumed run keeps its {', '.join(sorted(differ))}: they fix the "
                         "network and the order of the data (start a new run to change them)")
    out = replace(stored, **{k: getattr(given, k) for k in RUNTIME_FIELDS})
    recipe_changes = {k.split(".", 1)[1]: _get(given, k) for k in changed
                      if k.startswith("recipe.")}
    if recipe_changes:
        out = replace(out, recipe=replace(out.recipe, **recipe_changes))
    if "data.workers" in changed:
        out = replace(out, data=replace(out.data, workers=given.data.workers))
    return out


def _get(config: TrainConfig, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value
