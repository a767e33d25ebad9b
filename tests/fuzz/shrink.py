"""Delta debugging: the smallest text that still shows one failure class.

Chunks of lines, then of bytes, are removed while the oracle still reports a failure with the
same signature; the chunk size halves until single lines and bytes have been tried or the
time budget is spent. Works on bytes, so reproducers that are not UTF-8 shrink too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from fuzz.mutate import Case
from fuzz.oracle import Workspace, run


def keeps(signature: str, workspace: Workspace) -> Callable[[Case], bool]:
    def test(case: Case) -> bool:
        return any(f.signature == signature for f in run(case, workspace).failures)

    return test


def _pass(parts: list[bytes], joiner: bytes, case: Case, test: Callable[[Case], bool],
          deadline: float) -> list[bytes]:
    size = max(1, len(parts) // 2)
    while size >= 1 and time.monotonic() < deadline:
        i = 0
        while i < len(parts) and time.monotonic() < deadline:
            trial = parts[:i] + parts[i + size:]
            if trial and test(replace(case, data=joiner.join(trial))):
                parts = trial
            else:
                i += size
        size //= 2
    return parts


def shrink(case: Case, test: Callable[[Case], bool], seconds: float = 30.0) -> Case:
    """A smaller case for which ``test`` still holds (``test(case)`` must hold)."""
    deadline = time.monotonic() + seconds
    lines = _pass(case.data.split(b"\n"), b"\n", case, test, deadline)
    case = replace(case, data=b"\n".join(lines))
    chars = _pass([bytes([b]) for b in case.data], b"", case, test, deadline)
    return replace(case, data=b"".join(chars), recipe=f"{case.recipe} | shrunk")
