"""What a finished or stopped run reports (also written to the run folder's summary.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainSummary:
    """What a finished (or stopped) run reports; also written to ``summary.json``.

    ``epochs`` and ``steps`` count the whole run; ``elapsed_s`` and ``images`` (training images,
    all processes) only this session, from the call to its summary, set-up and validation
    included, so ``img_per_s`` is ``images / elapsed_s``. ``train_img_per_s`` is the rate of the
    training steps alone (data loading included, validation and checkpoints not), as each
    epoch's ``img_per_s`` in the metrics is.
    """

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
    images: int = 0
    session_steps: int = 0
    train_img_per_s: float = 0.0
    threads: int = 1
    best_top1: float | None = None
    best_epoch: int | None = None
    last: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    best_checkpoint: str | None = None
    checksums: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        last = self.last
        resumed = (f" ({self.session_steps:,} in this session)"
                   if self.session_steps != self.steps else "")
        threads = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        lines = [f"{self.network}: {self.status} after {self.epochs} epochs, {self.steps:,} steps"
                 f"{resumed} in {self.elapsed_s:,.1f} s ({self.images:,} images, "
                 f"{self.img_per_s:,.1f} img/s overall)",
                 f"  training steps alone: {self.train_img_per_s:,.1f} img/s on {self.world} x "
                 f"{self.device}, {self.precision}, {threads}"]
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
