"""Start-up of the torch-free commands against ``python -c "import torch"``, in one run.

    python benchmarks/bench_start.py [--rounds 7]

Each round runs, one after another, ``xdsl check specs/xception.x``, ``xdsl --help`` and
``python -c "import torch"`` as whole processes, and records each one's wall time and CPU time
(user + system of the child, which a busy machine inflates less than the wall time). Medians and
the ratios to ``import torch`` are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the `xdsl` command pip installed beside this interpreter (what users run), else `python -m`
_SCRIPT = Path(sys.executable).with_name("xdsl")
XDSL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "xdsl"]
COMMANDS = {
    "xdsl check specs/xception.x": [*XDSL, "check", str(ROOT / "specs" / "xception.x")],
    "xdsl --help": [*XDSL, "--help"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}
# Python writes no bytecode cache where PYTHONDONTWRITEBYTECODE is set (some sandboxes): every
# start would compile xdsl's modules again, as no installed package ever does
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the file cache
        run(argv)
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            times[name].append(run(argv))
    torch_wall = statistics.median(w for w, _ in times["python -c 'import torch'"])
    torch_cpu = statistics.median(c for _, c in times["python -c 'import torch'"])
    print(f"{'command':32} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}")
    for name, rows in times.items():
        wall = statistics.median(w for w, _ in rows)
        cpu = statistics.median(c for _, c in rows)
        print(f"{name:32} {wall:7.3f}s {wall / torch_wall:6.2f} {cpu:7.3f}s "
              f"{cpu / torch_cpu:6.2f}")


if __name__ == "__main__":
    main()
