"""Datasets and loaders: synthetic shapes or an ImageNet-style folder, sharded across processes.

Exact resumption rests on two facts. The training order of an epoch is a function of
(seed, epoch) alone (``DistributedSampler``'s epoch-seeded shuffle), so a run resumed in the
middle of an epoch skips the batches it has already seen and gets the same ones after. And every
sample's random augmentation is drawn from a generator seeded by (seed, epoch, index), so it does
not depend on which worker process loads it or on what that worker loaded before.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from . import cifar
from .checkpoint import seed_all
from .config import DataConfig
from .errors import TrainError
from .shapes import SHAPES, Shapes, mix

MEAN = STD = (0.5, 0.5, 0.5)
"""Inputs in [-1, 1], as TensorFlow's Inception and Xception preprocessing scales them."""

CROP_FRACTION = 0.875
"""Evaluation resizes to size / 0.875 and takes the central crop (Inception's protocol)."""


def class_names(cfg: DataConfig) -> list[str]:
    """The classes, known before the network is built (its ``classes`` parameter needs them)."""
    if cifar.is_cifar(cfg.source):
        return cifar.class_names(cfg.source)
    if cfg.synthetic:
        if not 2 <= cfg.shapes_classes <= len(SHAPES):
            raise TrainError(f"--shapes-classes: the shapes data has 2 to {len(SHAPES)} classes, "
                             f"got {cfg.shapes_classes}")
        return list(SHAPES)[:cfg.shapes_classes]
    train, val = _folders(cfg.source)
    names = sorted(e.name for e in os.scandir(train) if e.is_dir())
    val_names = sorted(e.name for e in os.scandir(val) if e.is_dir())
    if not names:
        raise TrainError(f"--data {cfg.source}: {train} has no class sub-folders")
    if val_names != names:
        missing = sorted(set(names) ^ set(val_names))[:5]
        raise TrainError(f"--data {cfg.source}: train/ and val/ have different classes "
                         f"(for example {', '.join(missing)})")
    return names


def _folders(source: str) -> tuple[Path, Path]:
    root = Path(source)
    if not root.is_dir():
        raise TrainError(f"--data {source}: not `shapes` and not a folder")
    train, val = root / "train", root / "val"
    if not (train.is_dir() and val.is_dir()):
        raise TrainError(f"--data {source}: expected {train} and {val}, each with one "
                         "sub-folder of images per class (the ImageNet layout)")
    return train, val


def transforms(size: tuple[int, int], train: bool) -> Any:
    """Random-resized crop and flip for training; resize and central crop for evaluation."""
    from torchvision.transforms import v2

    if train:
        steps = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        steps = [v2.Resize(tuple(round(s / CROP_FRACTION) for s in size), antialias=True),
                 v2.CenterCrop(size)]
    return v2.Compose([*steps, v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(MEAN, STD)])


class SeededItems(Dataset):
    """Fetches ``(index, seed)`` items with torch's, Python's and NumPy's generators seeded by
    ``seed`` for the transform (which may draw from any of them), restoring the caller's states
    afterwards (the training loop's dropout draws from torch's)."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        index, seed = item
        python, numpy = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                seed_all(seed)
                return self.inner[index]
        finally:
            random.setstate(python)
            np.random.set_state(numpy)


@dataclass
class Data:
    train: Dataset
    val: Dataset
    classes: list[str]
    size: tuple[int, int]


def open_data(cfg: DataConfig, size: tuple[int, int], splits: tuple[str, ...] = ("train", "val")
              ) -> Data:
    """The train and validation sets at ``size`` (H, W)."""
    names = class_names(cfg)
    if cfg.synthetic:
        counts = {"train": cfg.shapes_train, "val": cfg.shapes_val}
        sets = {s: Shapes(counts[s], len(names), size, cfg.shapes_seed, s) for s in splits}
    elif cifar.is_cifar(cfg.source):
        sets = {s: SeededItems(cifar.Cifar(cfg.source, s, size, s == "train")) for s in splits}
    else:
        try:
            from torchvision.datasets import ImageFolder
        except ImportError:
            raise TrainError("image folders are read with torchvision, which is not "
                             "installed: pip install 'xdsl-nets[train]'") from None

        folders = dict(zip(("train", "val"), _folders(cfg.source), strict=True))
        sets = {s: SeededItems(ImageFolder(str(folders[s]), transforms(size, s == "train")))
                for s in splits}
    for split, ds in sets.items():
        if len(ds) == 0:  # type: ignore[arg-type]
            raise TrainError(f"--data {cfg.source}: the {split} split holds no images")
    empty = Shapes(1, 2, size)
    return Data(sets.get("train", empty), sets.get("val", empty), names, size)


class EpochSampler(Sampler):
    """This process's share of an epoch as ``(index, sample_seed)``, from ``start`` on.

    Shuffling and sharding are ``DistributedSampler``'s (seeded by seed + epoch; padded so every
    process gets as many samples); ``start`` skips samples already trained on before a resume.
    """

    def __init__(self, size: int, world: int, rank: int, seed: int, epoch: int,
                 start: int = 0) -> None:
        self.inner = DistributedSampler(range(size), num_replicas=world, rank=rank,  # type: ignore[arg-type]
                                        shuffle=True, seed=seed)
        self.inner.set_epoch(epoch)
        self.seed, self.epoch, self.start = seed, epoch, start

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i, index in enumerate(self.inner):
            if i >= self.start:
                yield index, mix(self.seed, self.epoch, index)


class ShardSampler(Sampler):
    """Every ``world``-th sample from ``rank``, in order: evaluation sees each sample once."""

    def __init__(self, size: int, world: int, rank: int) -> None:
        self.indices = range(rank, size, world)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((i, mix(i)) for i in self.indices)


def steps_per_epoch(data: Data, batch: int, world: int) -> int:
    per_rank = -(-len(data.train) // world)  # type: ignore[arg-type]
    return per_rank // batch


def loader(dataset: Dataset, sampler: Sampler, batch: int, cfg: DataConfig, pin: bool,
           train: bool) -> DataLoader:
    """A loader that leaves the global RNG alone (its own generator) and, for training, drops
    the last partial batch so every step has a full batch (batch norm needs more than one)."""
    return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=cfg.loader_workers,
                      pin_memory=pin, drop_last=train, generator=torch.Generator(),
                      persistent_workers=False)
