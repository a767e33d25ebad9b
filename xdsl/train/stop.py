"""Stopping on request: Ctrl-C and SIGTERM end the run cleanly at a step boundary."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class StopRequest:
    """Ctrl-C and SIGTERM ask the run to stop after the current step, with a checkpoint; a second
    Ctrl-C aborts at once (the previous checkpoint is intact: writes are atomic)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.requested, self.log = False, log

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.log("stopping after this step and saving a checkpoint (Ctrl-C again to abort)")

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
