"""What a run reports: a progress bar per epoch and one metrics row per epoch.

Rows are appended to ``metrics.jsonl`` and ``metrics.csv`` in the run folder (a resumed run
appends to the same files) and, when the ``tensorboard`` package is installed, to TensorBoard
event files under ``tb/``. The bar uses tqdm when it is installed and the output is a terminal.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = ("epoch", "step", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5",
           "img_per_s", "lr", "time_s", "weights")


class MetricsLog:
    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool | None) -> None:
        self.run_dir, self.enabled = run_dir, enabled
        self.writer: Any = None
        if enabled and tensorboard is not False:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                if tensorboard:
                    print("xdsl: --tensorboard needs `pip install tensorboard`; "
                          "writing metrics.jsonl and metrics.csv only", file=sys.stderr)
            else:
                self.writer = SummaryWriter(str(run_dir / "tb"))

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        path = self.run_dir / "metrics.csv"
        new = not path.exists()
        with open(path, "a", encoding="utf-8", newline="") as f:
            out = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            if new:
                out.writeheader()
            out.writerow(row)
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, int | float) and key not in ("epoch", "step"):
                    self.writer.add_scalar(key, value, row["step"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


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
