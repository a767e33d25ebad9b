"""Shared set-up of the training tests: one thread per process, a small fast run.

The machine running the tests may be shared: two torch threads on two busy cores can wait on
each other for milliseconds per operation (a 20 ms step became 2.5 s), so every test process
computes on one thread. Results do not depend on it; only the time does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from xdsl.train import DataConfig, TrainConfig, recipe

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(run_dir: Path | str, epochs: int = 2, **changes: Any) -> TrainConfig:
    """mini_xception at 32x32 on 320 shapes, batch 16: 20 steps per epoch, about 25 ms each."""
    fields: dict[str, Any] = {"spec": "mini_xception", "params": {"width": "8"},
                              "data": DataConfig(shapes_train=320, shapes_val=64),
                              "recipe": recipe("imagenet", epochs=epochs, lr=0.05, batch_size=16,
                                               drop_rate=0.2, decay_every="7 steps"),
                              "run_dir": str(run_dir), "progress": False}
    fields.update(changes)
    return TrainConfig(**fields)


@pytest.fixture(scope="session")
def small_config() -> Any:
    return small
