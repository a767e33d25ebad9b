"""What a training checkpoint must hold, as pydantic models.

:func:`xdsl.train.checkpoint.load` validates a checkpoint against :class:`Checkpoint` before
anything reads it, so a damaged or hand-edited file is an error naming its field and never a
``TypeError`` or ``KeyError`` deep in the run. Numbers are checked with the same bounds as the
command-line options (finite, in range); the run's configuration with :class:`RunFields`, whose
fields are exactly :class:`~xdsl.train.config.TrainConfig`'s (a test keeps them in step).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from . import config as bounds
from .config import TrainConfig
from .errors import TrainError
from .recipes import parse_interval

__all__ = ["Checkpoint", "DataFields", "RecipeFields", "RunFields", "check_config", "problems"]


def _number(**bounds: float) -> Any:
    return Annotated[float, Field(allow_inf_nan=False, **bounds)]


def _count(low: int, high: int | None = None) -> Any:
    return Annotated[int, Field(ge=low, le=high)]


Finite = _number()
Fraction = _number(ge=0, le=1)
Seed = _count(0, bounds.MAX_SEED)
Scalar = bool | int | float | str | tuple[int, ...] | None


def _interval(text: str) -> str:
    try:
        parse_interval(text)
    except TrainError as e:
        raise ValueError(str(e)) from None
    return text


class _Strict(BaseModel):
    """Types as stored, no conversions (``"3"`` is not an int); keys added by later versions
    of the same format are ignored."""

    model_config = ConfigDict(strict=True, arbitrary_types_allowed=True, extra="ignore")


class DataFields(_Strict):
    source: str
    image_size: _count(8, bounds.MAX_IMAGE_SIZE) | None
    shapes_classes: _count(2, 10)
    shapes_train: _count(1, bounds.MAX_IMAGES)
    shapes_val: _count(1, bounds.MAX_IMAGES)
    shapes_seed: Seed
    workers: _count(0, bounds.MAX_WORKERS) | None


class RecipeFields(_Strict):
    name: str
    optimizer: Literal["sgd", "rmsprop"]
    lr: _number(gt=0)
    momentum: Fraction
    weight_decay: _number(ge=0) | None
    lr_decay: _number(gt=0, le=1)
    decay_every: Annotated[str, AfterValidator(_interval)]
    drop_rate: _number(ge=0, lt=1) | None
    ema_decay: _number(ge=0, lt=1)
    rmsprop_alpha: Fraction
    rmsprop_eps: _number(gt=0)
    label_smoothing: _number(ge=0, lt=1)
    aux_weight: _number(ge=0)
    batch_size: _count(1, bounds.MAX_BATCH)
    epochs: _count(1, bounds.MAX_EPOCHS)


class RunFields(_Strict):
    spec: str
    params: dict[str, Scalar]
    data: DataFields
    recipe: RecipeFields
    run_dir: str | None
    seed: Seed
    device: Literal["auto", "cpu", "cuda"]
    amp: Literal["auto", "bf16", "fp16", "off"]
    memory_format: Literal["auto", "channels_last", "contiguous"]
    compile: bool
    eval_weights: Literal["ema", "raw"]
    max_steps: _count(1, bounds.MAX_STEPS) | None
    progress: bool | None
    tensorboard: bool | None
    resume: str | None
    threads: _count(1) | Literal["auto"] | None


# -- the checkpoint ----------------------------------------------------------------------------


def _tensor(dtype: torch.dtype, length: int | None = None, low: int | None = None,
            high: int | None = None) -> Any:
    """A 1-D tensor of ``dtype`` (of ``length`` values in [low, high], when given)."""

    def check(t: torch.Tensor) -> torch.Tensor:
        if t.dtype != dtype or t.dim() != 1 or (length is not None and t.numel() != length):
            size = f"{length} values" if length is not None else "values"
            raise ValueError(f"expected a 1-D tensor of {size} of {dtype}, got "
                             f"{tuple(t.shape)} of {t.dtype}")
        if low is not None and high is not None and t.numel() and \
                not low <= t.min().item() <= t.max().item() <= high:
            raise ValueError(f"values must lie in [{low}, {high}]")
        return t

    return Annotated[torch.Tensor, AfterValidator(check)]


Word = (0, 2**32 - 1)


class Rng(_Strict):
    python: _tensor(torch.int64, 625, *Word)
    python_version: int
    python_gauss: Finite | None
    torch: _tensor(torch.uint8)
    numpy: _tensor(torch.int64, 624, *Word) | None = None
    numpy_extra: Annotated[list[Finite], Field(min_length=3, max_length=3)] | None = None
    cuda: _tensor(torch.uint8) | None = None

    @model_validator(mode="after")
    def _position(self) -> Rng:
        if self.python[-1].item() > 624:
            raise ValueError("python: the last word is a position, at most 624")
        return self


class RankState(_Strict):
    rng: Rng
    partial: Annotated[list[_number(ge=0)], Field(min_length=4, max_length=4)]


class ParamGroup(_Strict):
    model_config = ConfigDict(strict=True, extra="allow")
    params: list[_count(0)]
    lr: _number(ge=0)


class OptimizerState(_Strict):
    state: dict[int, dict[str, torch.Tensor | Finite | None]]
    param_groups: Annotated[list[ParamGroup], Field(min_length=1)]


class SchedulerState(_Strict):
    base_lrs: list[_number(ge=0)]
    last_epoch: _count(-1)


class EmaState(_Strict):
    module: dict[str, torch.Tensor]
    updates: _count(0)
    decay: _number(gt=0, lt=1)


class SpecFields(_Strict):
    text: str
    name: str
    source: str
    params: dict[str, Scalar]


class Checkpoint(_Strict):
    format: Literal["xdsl-train-checkpoint"]
    version: _count(1)
    checksum: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None
    model: dict[str, torch.Tensor]
    optimizer: OptimizerState
    scheduler: SchedulerState
    scaler: dict[str, int | Finite]
    ema: EmaState | None
    epoch: _count(0, bounds.MAX_EPOCHS)
    batch: _count(0)
    step: _count(0)
    per_rank: Annotated[list[RankState], Field(min_length=1)]
    best_top1: Fraction | None
    best_epoch: _count(1, bounds.MAX_EPOCHS) | None
    metrics: dict[str, int | Finite | str | None]
    classes: Annotated[list[str], Field(min_length=1)]
    spec: SpecFields
    config: RunFields

    @model_validator(mode="after")
    def _consistent(self) -> Checkpoint:
        if self.batch > self.step:
            raise ValueError(f"batch: {self.batch} steps into the epoch, but only "
                             f"{self.step} in all")
        if (self.best_top1 is None) != (self.best_epoch is None):
            raise ValueError("best_top1 and best_epoch: one is missing")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes: a class is named twice")
        return self


def problems(error: pydantic.ValidationError, limit: int = 3) -> str:
    """``field.path: what is wrong (got ...)`` for the first ``limit`` errors."""
    out = []
    for e in error.errors()[:limit]:
        loc = ".".join(str(part) for part in e["loc"] if not _union_tag(part))
        msg = e["msg"].removeprefix("Value error, ")
        msg = msg[:1].lower() + msg[1:]
        got = e.get("input")
        shown = f" (got {got!r:.40})" if isinstance(got, str | int | float) and \
            e["type"] != "missing" else ""
        out.append(f"{loc}: {msg}{shown}" if loc else f"{msg}{shown}")
    more = len(error.errors()) - limit
    return "; ".join(out) + (f"; and {more} more" if more > 0 else "")


def _union_tag(part: Any) -> bool:
    """pydantic names the member of a union an error came from (``int``, ``literal['auto']``,
    ``function-after[...]``); the field's path is what the user needs."""
    return isinstance(part, str) and (part in {"int", "float", "str", "bool", "none"}
                                      or part.endswith("]") or part.startswith("constrained-"))


def check_config(config: TrainConfig) -> None:
    """A run's configuration within the bounds the options take: a :class:`TrainError` naming
    the field (``recipe.ema_decay: input should be a finite number``) otherwise."""
    try:
        RunFields.model_validate(config.to_dict())
    except pydantic.ValidationError as e:
        raise TrainError(f"invalid training configuration: {problems(e)}") from None
