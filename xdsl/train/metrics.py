"""What a run reports: a progress bar per epoch and one metrics row per epoch.

Rows are appended to ``metrics.jsonl`` and ``metrics.csv`` in the run folder (a resumed run
appends to the same files, after dropping the rows of steps past its checkpoint: a run killed
between an epoch's row and its checkpoint repeats that epoch, and its row is written once) and,
when the ``tensorboard`` package is installed, to TensorBoard event files under ``tb/`` (whose
events past the checkpoint are purged the same way). The bar uses tqdm when it is installed
and the output is a terminal.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import TrainError

COLUMNS = ("epoch", "step", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5",
           "img_per_s", "lr", "time_s", "weights", "precision")


class MetricsLog:
    """``resumed_at``: the step of the checkpoint a resumed run starts from; rows of later
    steps are dropped."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool | None,
                 resumed_at: int | None = None) -> None:
        self.run_dir, self.enabled = run_dir, enabled
        self.writer: Any = None
        if enabled and resumed_at is not None:
            truncate(run_dir, resumed_at)
        if enabled and tensorboard is not False:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                if tensorboard:
                    print("xdsl: --tensorboard needs `pip install tensorboard`; "
                          "writing metrics.jsonl and metrics.csv only", file=sys.stderr)
            else:
                purge = {} if resumed_at is None else {"purge_step": resumed_at + 1}
                self.writer = SummaryWriter(str(run_dir / "tb"), **purge)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        path = self.run_dir / "metrics.jsonl"
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            path = self.run_dir / "metrics.csv"
            new = not path.exists()
            with open(path, "a", encoding="utf-8", newline="") as f:
                out = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
                if new:
                    out.writeheader()
                out.writerow(row)
        except OSError as e:  # a full disk...
            raise TrainError(f"cannot write {path}: {e.strerror or e}") from None
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, int | float) and key not in ("epoch", "step"):
                    self.writer.add_scalar(key, value, row["step"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def truncate(run_dir: Path, step: int) -> None:
    """Drop the rows of steps after ``step`` (and lines a kill left half-written) from both
    files, each replaced atomically."""
    path = run_dir / "metrics.jsonl"
    if path.exists():
        kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                if _step(_json(line)) <= step]
        _replace(path, "".join(line + "\n" for line in kept))
    path = run_dir / "metrics.csv"
    if path.exists():
        with open(path, encoding="utf-8", newline="") as f:
            rows = [r for r in csv.DictReader(f) if _step(r) <= step]
        with open(path.with_name(".metrics.csv.tmp"), "w", encoding="utf-8", newline="") as f:
            out = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            out.writeheader()
            out.writerows(rows)
        os.replace(path.with_name(".metrics.csv.tmp"), path)


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _step(row: Any) -> float:
    """A row's step; ``inf`` (dropped) for what is not a whole row."""
    try:
        return int(row["step"])
    except (TypeError, KeyError, ValueError):
        return float("inf")


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl``."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class Progress:
    """A bar over one epoch's steps showing loss, accuracy and images/s (or nothing)."""

    def __init__(self, total: int, initial: int, label: str, enabled: bool | None) -> None:
        self.bar: Any = None
        if enabled is None:
            from xdsl.progress import stderr_is_terminal

            enabled = stderr_is_terminal()
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, initial=initial, desc=label, unit="step",
                            dynamic_ncols=True, leave=False)

    def update(self, loss: float, top1: float, img_per_s: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f} acc {top1:.3f} {img_per_s:,.0f} img/s",
                                     refresh=False)
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
