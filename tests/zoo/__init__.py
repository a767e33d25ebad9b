"""The zoo's references: which torchvision model each ``specs/zoo/NAME.x`` equals.

Each family's module here (``tests/zoo/resnet.py`` ...) defines ``ENTRIES``: zoo name →
:class:`Entry`. ``tests/backends/pytorch/test_zoo.py`` runs one test over all of them, as
timm's ``tests/test_models.py`` runs over every registered model.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Entry:
    builder: str
    """``torchvision.models.<builder>``, called with ``weights=None`` and :attr:`kwargs`."""
    size: int = 64
    """Input size of the float64 check (set through the spec's ``image_size``): small where
    the architecture allows, so that the whole zoo fits in CI."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    """Spec settings of the float64 check besides ``image_size`` (e.g. aux heads off)."""


def entries() -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, entry in module.ENTRIES.items():
            assert name not in found, f"zoo entry {name} is listed twice"
            found[name] = entry
    return found
