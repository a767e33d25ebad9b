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
from PIL import Image

from xdsl.train import DataConfig, TrainConfig, recipe
from xdsl.train.shapes import Shapes

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One thread here, and for commands run in this process (``xdsl train`` takes
    OMP_NUM_THREADS as its default; losses compared with a reference depend on the count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
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
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ImageNet-style folder: train/ and val/ with two classes of small PNGs."""
    root = tmp_path_factory.mktemp("imagenet")
    shapes = Shapes(24, 2, (48, 40))
    for split, indices in (("train", range(16)), ("val", range(16, 24))):
        for i in indices:
            image, label = shapes[i]
            pixels = ((image + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
            path = root / split / shapes.classes[label] / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
    return root


@pytest.fixture(scope="session")
def small_config() -> Any:
    return small
