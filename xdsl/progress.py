"""What a long command is doing, shown to a person at a terminal and to nobody else.

``compile``, ``evaluate`` and ``train`` spend seconds to minutes in stages that print nothing
(importing torch, building, verifying, exporting ONNX, validating). On a terminal, standard
error shows the current stage with a spinner and its elapsed time, on one line that is erased
when the stage ends, so what the command prints on standard output looks as it always does.
When standard error is not a terminal (a log file, a pipe, a test) or with ``--quiet``, nothing
is written at all.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

FRAMES = "|/-\\"
CLEAR = "\r\x1b[K"
TICK_S = 0.1


def stderr_is_terminal() -> bool:
    """Whether standard error is a terminal (the one place the decision is made)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class Status:
    """Stage lines on standard error: ``with status.stage("building the module"): ...``.

    ``enabled=None`` shows them when standard error is a terminal.
    """

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.enabled = stderr_is_terminal() if enabled is None else enabled
        self.stream = stream or sys.stderr
        self._text = ""
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, text: str) -> Iterator[None]:
        """Show ``text…`` with a spinner and the seconds spent until the block ends."""
        if not self.enabled:
            yield
            return
        start, done = time.perf_counter(), threading.Event()
        self._text = text

        def spin() -> None:
            frame = 0
            while True:
                self._draw(f"{FRAMES[frame % len(FRAMES)]} {self._text}… "
                           f"{time.perf_counter() - start:.1f} s")
                frame += 1
                if done.wait(TICK_S):
                    return

        spinner = threading.Thread(target=spin, name="xdsl-status", daemon=True)
        spinner.start()
        try:
            yield
        finally:
            done.set()
            spinner.join()
            self._draw("")

    def update(self, text: str) -> None:
        """Change the current stage's text (a count that advances, say)."""
        self._text = text

    def _draw(self, line: str) -> None:
        with self._lock:
            try:
                self.stream.write(CLEAR + line)
                self.stream.flush()
            except (OSError, ValueError):  # the terminal went away
                self.enabled = False


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-q/--quiet``: no progress or status lines."""
    return click.option("-q", "--quiet", is_flag=True,
                        help="Show no progress or status lines on standard error (they appear "
                             "only when it is a terminal).")(f)
