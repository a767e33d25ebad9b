"""What a finished or stopped run reports (also written to the run folder's summary.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainSummary:
    """What a finished (or stopped) run reports; also written to ``summary.json``."""

    run_dir: str
    network: str
    params: dict[str, Any]
    status: str  # completed | max_steps
    epochs: int
    steps: int
    elapsed_s: float
    img_per_s: float
    device: str
    precision: str
    world: int
    best_top1: float | None = None
    best_epoch: int | None = None
    last: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    best_checkpoint: str | None = None
    checksums: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        last = self.last
        lines = [f"{self.network}: {self.status} after {self.epochs} epochs, {self.steps:,} steps "
                 f"in {self.elapsed_s:,.1f} s ({self.img_per_s:,.1f} img/s on {self.world} x "
                 f"{self.device}, {self.precision})"]
        if last.get("val_top1") is not None:
            lines.append(f"  last epoch: train loss {last['train_loss']:.4f}, val top-1 "
                         f"{last['val_top1']:.4f}, top-5 {last['val_top5']:.4f} "
                         f"({last['weights']} weights)")
        if self.best_top1 is not None:
            lines.append(f"  best val top-1 {self.best_top1:.4f} at epoch {self.best_epoch}: "
                         f"{self.best_checkpoint}")
        lines.append(f"  checkpoint: {self.checkpoint}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
