"""CIFAR-10 and CIFAR-100 from a local folder in the standard Python format.

``--data cifar10:PATH`` reads ``PATH/cifar-10-batches-py/`` (or ``PATH`` itself when it holds
the batches): ``data_batch_1`` ... ``data_batch_5``, ``test_batch`` and ``batches.meta``, the
folder ``torchvision.datasets.CIFAR10(PATH, download=False)`` reads. ``cifar100:PATH`` reads
``cifar-100-python/`` (``train``, ``test``, ``meta``; the 100 fine labels). Nothing is
downloaded.

The files are pickles; they are read with an unpickler that accepts only what the format
holds (dicts, lists, strings, numbers and NumPy's uint8 arrays), so a crafted file cannot run
code. Training uses the usual augmentation — 4-pixel zero padding with a random 32×32 crop,
and a horizontal flip — drawn per sample from the seeded generators of
:class:`xdsl.train.data.SeededItems`, so a resumed run sees the same crops; validation uses
the images as they are. The spec's ``image_size`` is 32 unless ``--image-size`` says otherwise
(the images are then resized).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TrainError

KINDS = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                     ["test_batch"], "batches.meta", "label_names", b"labels"),
         "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_label_names",
                      b"fine_labels")}
SIZE = 32


@dataclass(frozen=True)
class Source:
    kind: str  # cifar10 | cifar100
    folder: Path

    @property
    def layout(self) -> tuple[str, list[str], list[str], str, str, bytes]:
        return KINDS[self.kind]  # type: ignore[return-value]


def is_cifar(source: str) -> bool:
    return source.partition(":")[0] in KINDS and ":" in source


def parse(source: str) -> Source:
    """``cifar10:PATH`` → its batches' folder (checked to hold the format's files)."""
    kind, _, path = source.partition(":")
    if kind not in KINDS or not path:
        raise TrainError(f"--data {source}: expected cifar10:PATH or cifar100:PATH")
    sub, train, test, meta, _, _ = KINDS[kind]
    root = Path(path)
    folder = root / sub if (root / sub).is_dir() else root
    missing = [n for n in (*train, *test, meta) if not (folder / n).is_file()]
    if missing:
        raise TrainError(f"--data {source}: {folder} lacks {', '.join(missing)} (expected the "
                         f"{kind} Python version: {sub}/ with {', '.join((*train, *test, meta))})")
    return Source(kind, folder)


class _Unpickler(pickle.Unpickler):
    """Only the globals a CIFAR pickle names: NumPy's array reconstruction."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
               ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a CIFAR file")


def _load(path: Path) -> dict[Any, Any]:
    try:
        with open(path, "rb") as f:
            data = _Unpickler(f, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError) as e:
        raise TrainError(f"{path}: not a CIFAR batch ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise TrainError(f"{path}: not a CIFAR batch (a {type(data).__name__}, not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def class_names(source: str) -> list[str]:
    src = parse(source)
    _, _, _, meta, key, _ = src.layout
    names = _load(src.folder / meta).get(key)
    if not isinstance(names, list) or not names:
        raise TrainError(f"{src.folder / meta}: no {key}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def arrays(source: str, split: str) -> tuple[Any, list[int]]:
    """The split's images (N × 32 × 32 × 3 uint8, NumPy) and labels."""
    import numpy as np

    src = parse(source)
    _, train, test, _, _, label_key = src.layout
    images, labels = [], []
    for name in (train if split == "train" else test):
        batch = _load(src.folder / name)
        data, targets = batch.get("data"), batch.get(label_key.decode())
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3 * SIZE * SIZE or not isinstance(targets, list) \
                or len(targets) != data.shape[0]:
            raise TrainError(f"{src.folder / name}: not a CIFAR batch (expected uint8 data "
                             f"of N x 3072 and {label_key.decode()} of N)")
        images.append(data.reshape(-1, 3, SIZE, SIZE).transpose(0, 2, 3, 1))
        labels += [int(t) for t in targets]
    return np.concatenate(images), labels


class Cifar:
    """One split as a dataset of (3 × H × W float tensor in [-1, 1], label)."""

    def __init__(self, source: str, split: str, size: tuple[int, int], train: bool) -> None:
        self.images, self.labels = arrays(source, split)
        classes = len(class_names(source))
        if any(not 0 <= t < classes for t in self.labels):
            raise TrainError(f"--data {source}: a {split} label is outside 0..{classes - 1}")
        self.transform = transforms(size, train)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        import torch

        image = torch.from_numpy(self.images[index]).permute(2, 0, 1)  # uint8, 3 x 32 x 32
        return self.transform(image), self.labels[index]


def transforms(size: tuple[int, int], train: bool) -> Any:
    """Pad 4 and crop at random, flip (training); the image as it is (evaluation); scaled to
    [-1, 1] like the other data, resized first when ``size`` is not 32 × 32."""
    import torch
    from torchvision.transforms import v2

    from .data import MEAN, STD

    steps: list[Any] = []
    if size != (SIZE, SIZE):
        steps.append(v2.Resize(size, antialias=True))
    if train:
        pad = max(1, round(4 * size[0] / SIZE))
        steps += [v2.RandomCrop(size, padding=pad), v2.RandomHorizontalFlip()]
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
