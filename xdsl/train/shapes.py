"""A synthetic, learnable image dataset: coloured geometric shapes on coloured backgrounds.

Every image is a pure function of (seed, split, index), drawn with its own generator, so the
data is identical on every machine, in every worker process and after a resume, and needs no
download. The label is ``index % classes`` (balanced classes); position, size, colours and
noise vary, so a network has to learn the shapes rather than a colour or a location.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

Mask = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SHAPES: dict[str, Mask] = {  # u, v: coordinates relative to the centre, in radii
    "circle": lambda u, v: u * u + v * v <= 1,
    "square": lambda u, v: torch.maximum(u.abs(), v.abs()) <= 0.8,
    "triangle": lambda u, v: (v <= 0.7) & (v >= 2 * u.abs() - 0.9),
    "plus": lambda u, v: ((u.abs() <= 0.28) & (v.abs() <= 1)) | ((v.abs() <= 0.28)
                                                                  & (u.abs() <= 1)),
    "ring": lambda u, v: ((u * u + v * v) <= 1) & ((u * u + v * v) >= 0.4),
    "diamond": lambda u, v: u.abs() + v.abs() <= 1,
    "hbar": lambda u, v: (v.abs() <= 0.3) & (u.abs() <= 1),
    "vbar": lambda u, v: (u.abs() <= 0.3) & (v.abs() <= 1),
    "cross": lambda u, v: (((u - v).abs() <= 0.4) | ((u + v).abs() <= 0.4))
    & (torch.maximum(u.abs(), v.abs()) <= 0.85),
    "frame": lambda u, v: (torch.maximum(u.abs(), v.abs()) <= 0.9)
    & (torch.maximum(u.abs(), v.abs()) >= 0.55),
}

SPLITS = {"train": 1, "val": 2}


def mix(*values: int) -> int:
    """A 63-bit seed from several integers (splitmix64 steps), so nearby inputs decorrelate."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


def render(kind: str, size: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    """One 3×H×W image in [-1, 1] (the Inception/Xception input range)."""
    h, w = size
    side = min(h, w)
    r = side * (0.18 + 0.14 * torch.rand((), generator=g).item())
    cy = r + (h - 2 * r) * torch.rand((), generator=g).item()
    cx = r + (w - 2 * r) * torch.rand((), generator=g).item()
    v = (torch.arange(h, dtype=torch.float32).view(-1, 1) + 0.5 - cy) / r
    u = (torch.arange(w, dtype=torch.float32).view(1, -1) + 0.5 - cx) / r
    mask = SHAPES[kind](u, v).to(torch.float32)
    fg = 0.55 + 0.45 * torch.rand(3, 1, 1, generator=g)
    bg = 0.4 * torch.rand(3, 1, 1, generator=g)
    if torch.rand((), generator=g).item() < 0.5:  # dark shapes on light grounds too
        fg, bg = 1 - fg, 1 - bg
    image = bg + (fg - bg) * mask + 0.06 * torch.randn(3, h, w, generator=g)
    return image.clamp_(0, 1).mul_(2).sub_(1)


class Shapes(Dataset):
    """``count`` images of ``classes`` shapes at ``size`` (H, W), generated on access.

    Items may be fetched by index or by ``(index, sample_seed)`` (what xdsl's samplers yield);
    the sample seed is ignored: the images carry no random augmentation.
    """

    def __init__(self, count: int, classes: int, size: tuple[int, int], seed: int = 0,
                 split: str = "train") -> None:
        if not 2 <= classes <= len(SHAPES):
            raise ValueError(f"shapes has 2 to {len(SHAPES)} classes, got {classes}")
        self.count, self.size, self.seed, self.split = count, size, seed, split
        self.classes = list(SHAPES)[:classes]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index = item[0] if isinstance(item, tuple) else item
        if not 0 <= index < self.count:
            raise IndexError(index)
        label = index % len(self.classes)
        g = torch.Generator().manual_seed(mix(self.seed, SPLITS[self.split], index))
        return render(self.classes[label], self.size, g), label
