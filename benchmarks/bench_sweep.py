"""The spectrum sweep of issue 5: `xdsl audit xception --sweep segments=1,2,4,8`.

Measures the command's wall time (start-up included; it must stay under a second and never
import torch) and, as the peer in the same run, what the same table costs by building each
PyTorch model and counting its parameters.

    python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import xdsl
from xdsl.audit import sweep

VALUES = ["1", "2", "4", "8"]


def main() -> None:
    argv = [sys.executable, "-m", "xdsl", "audit", "xception", "--sweep",
            "segments=" + ",".join(VALUES)]
    walls = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    wall = statistics.median(walls)
    spec = xdsl.parse("xception")
    start = time.perf_counter()
    rows = sweep(spec, "segments", VALUES)
    in_process = time.perf_counter() - start
    print(f"`xdsl audit xception --sweep segments=1,2,4,8`: {wall * 1e3:.0f} ms wall "
          f"(median of 5, start-up included); {in_process * 1e3:.1f} ms in process")

    start = time.perf_counter()
    counts = []
    for value in VALUES:
        model = xdsl.compile(spec, segments=int(value))
        counts.append(sum(p.numel() for p in model.parameters()))
    torch_time = time.perf_counter() - start
    assert counts == [r.report.trainable for r in rows], (counts, rows)
    print(f"peer: building the 4 PyTorch models and counting: {torch_time:.1f} s "
          f"(the audit is {torch_time / in_process:.0f}x faster in process, "
          f"{torch_time / wall:.1f}x counting its start-up)")


if __name__ == "__main__":
    main()
