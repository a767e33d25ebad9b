"""Click parameter types and checks the commands share: finite floats, seeds, output paths.

A value a user types is a usage error (exit 2) when it is out of range, NaN or infinite, or
names an output under a file: never an internal error deep in a run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from .train.config import MAX_SEED


class FiniteFloat(click.FloatRange):
    """A float range that refuses ``nan`` and infinities (click's ranges let NaN through:
    every comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


SEED = click.IntRange(0, MAX_SEED)


def check_output(path: Path | str, option: str, folder: bool = False) -> None:
    """Refuse an output path that cannot be created, before any slow work: one under a file,
    a folder that is not one, or (``folder=False``) a file whose folder does not exist."""
    p = Path(path)
    if folder and p.exists() and not p.is_dir():
        raise click.BadParameter(f"{p} is not a folder", param_hint=option)
    parent = p.parent if not folder else p
    for above in (parent, *parent.parents):
        if above.exists():
            if not above.is_dir():
                raise click.BadParameter(f"{above} is a file, not a folder", param_hint=option)
            break
    if not folder and not parent.resolve().is_dir():
        raise click.BadParameter(f"the folder {parent} does not exist", param_hint=option)


def write_bytes(path: Path, data: bytes) -> None:
    """Write an output file; a full disk or a read-only folder is ``Error: cannot write``."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise click.ClickException(f"cannot write {path}: {e.strerror or e}") from None
