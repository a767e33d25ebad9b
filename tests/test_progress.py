"""Status lines: shown on a terminal's standard error, erased after, absent elsewhere."""

from __future__ import annotations

import io
import os
import re
import sys
import time

import pytest

from xdsl import progress
from xdsl.progress import CLEAR, Status


def test_a_stage_shows_its_text_and_time_then_erases_its_line() -> None:
    out = io.StringIO()
    status = Status(enabled=True, stream=out)
    with status.stage("building the module"):
        time.sleep(0.25)
        status.update("verifying against the graph IR")
        time.sleep(0.25)
    text = out.getvalue()
    assert text.startswith(f"{CLEAR}| building the module… 0.")  # drawn at once
    later = [float(s) for s in re.findall(r"verifying against the graph IR… (\d+\.\d) s", text)]
    assert later and min(later) >= 0.2  # the new text, with the time since the stage began
    assert text.endswith(CLEAR)  # the last write erases the line


def test_a_disabled_status_writes_nothing() -> None:
    out = io.StringIO()
    with Status(enabled=False, stream=out).stage("building the module"):
        time.sleep(0.15)
    assert out.getvalue() == ""


def test_the_stage_is_erased_when_its_block_raises() -> None:
    out = io.StringIO()
    with pytest.raises(KeyError), Status(enabled=True, stream=out).stage("exporting ONNX"):
        raise KeyError("x")
    assert out.getvalue().endswith(CLEAR)


def test_only_a_terminal_counts_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            monkeypatch.setattr(sys, "stderr", tty)
            assert progress.stderr_is_terminal() and Status().enabled
        monkeypatch.setattr(sys, "stderr", io.StringIO())
        assert not progress.stderr_is_terminal() and not Status().enabled
    finally:
        os.close(leader)
        os.close(follower)
