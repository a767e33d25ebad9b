"""Errors a training run reports to its user (no torch here)."""

from __future__ import annotations


class TrainError(Exception):
    """A problem the user can fix: a bad option, unusable data or checkpoint, a diverged run.

    The commands print it as ``Error: message`` and exit 1, without a traceback."""


class CheckpointError(TrainError):
    """A checkpoint that cannot be read, or does not fit the network it is loaded into."""


class NonFiniteLoss(TrainError):
    """The loss became NaN or infinite; the last good checkpoint is left in place."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped the run after a checkpoint was written (exit 130)."""

    def __init__(self, message: str, checkpoint: str | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
