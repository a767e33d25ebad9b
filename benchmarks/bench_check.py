"""Time parse + validate + graph build of every shipped spec, and `xdsl check` start-up.

Peers in the same run: building timm's ``legacy_xception`` (what a hand-written model costs
just to construct) and ``python -c "import torch"`` (the start-up `xdsl check` avoids).

    python benchmarks/bench_check.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import xdsl
from xdsl.api import read_source, shipped_specs
from xdsl.parser import parse_source
from xdsl.validate import validate


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def command_time(argv: list[str], repeat: int) -> float:
    return statistics.median(
        best_of(lambda: subprocess.run(argv, check=True, capture_output=True), 1)
        for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    print(f"{'spec':32} {'parse+validate':>15} {'graph':>10} {'layers':>7}")
    for name, path in sorted(shipped_specs().items()):
        source = read_source(path)
        t_parse = best_of(lambda src=source: validate(parse_source(src), src), args.repeat)
        spec = xdsl.parse(path)
        t_graph = best_of(spec.graph, args.repeat)
        print(f"{name:32} {t_parse * 1e3:12.2f} ms {t_graph * 1e3:7.2f} ms "
              f"{spec.graph().number_of_nodes():7}")

    xception = xdsl.parse("xception")
    t_check = best_of(xception.graph, args.repeat)
    try:
        import timm
        import torch  # noqa: F401

        t_timm = best_of(lambda: timm.create_model("legacy_xception", pretrained=False), 3)
        print(f"\nxception graph build {t_check * 1e3:.1f} ms vs timm create_model "
              f"{t_timm * 1e3:.0f} ms: checking is {t_timm / t_check:.0f}x faster than building")
    except ImportError:
        print("\n(timm not installed: no model-construction peer)")

    cli = command_time([sys.executable, "-m", "xdsl", "check", "xception"], 5)
    torch_import = command_time([sys.executable, "-c", "import torch"], 5)
    print(f"`xdsl check xception` wall time {cli * 1e3:.0f} ms; `import torch` alone "
          f"{torch_import * 1e3:.0f} ms (ratio {torch_import / cli:.1f}x)")


if __name__ == "__main__":
    main()
