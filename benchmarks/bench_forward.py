"""Compiled Xception vs timm's ``legacy_xception``: eval forward, training step, memory, build.

Both models run in the same process, alternating round by round, so drifts in machine load hit
both alike; each figure is the minimum over rounds after warm-up (as timeit reports: other
load on the machine only ever adds time, so the minimum is the least disturbed figure; the
median is printed too). Ratios are throughputs
(timm's time / ours): above 1 means xdsl is faster. timm runs as users run it (NCHW).
The spec is compiled with timm's conventions (``pool_pad=symmetric bn_eps=1e-5``) so both
compute the same function. Peak memory is the growth of the peak resident set of a fresh
process that builds one model and runs a few steps.

    python benchmarks/bench_forward.py [--batch 4] [--size 299] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import timm
import torch
from torch import nn

import xdsl

TIMM_LIKE = {"pool_pad": "symmetric", "bn_eps": 1e-5}
VARIANTS = {  # name: keyword arguments of xdsl.compile
    "same layout (NCHW)": {"memory_format": "contiguous"},
    "default (channels_last)": {},
    "optimize": {"optimize": True},
}


def build_timm() -> nn.Module:
    return timm.create_model("legacy_xception", pretrained=False)


def build_xdsl(size: int, **options: object) -> nn.Module:
    return xdsl.compile("xception", **TIMM_LIKE, image_size=size, **options)


CLOCK: Callable[[], float] = time.perf_counter


def elapsed(fn: Callable[[], object]) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def alternate(a: Callable[[], object], b: Callable[[], object], rounds: int,
              warmup: int) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(elapsed(a))
        tb.append(elapsed(b))
    return ta, tb


def report(what: str, ta: list[float], tb: list[float], peer: str = "timm") -> None:
    a, b = min(ta), min(tb)
    median = statistics.median(ta) / statistics.median(tb)
    print(f"{what:46s} {peer} {a:6.3f} s  xdsl {b:6.3f} s  ratio {a / b:5.2f}  "
          f"(of medians {median:4.2f})", flush=True)


def eval_step(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    model.eval()

    def step() -> object:
        with torch.inference_mode():
            return model(x)

    return step


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], object]:
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> object:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def peak_memory(which: str, mode: str, batch: int, size: int) -> float:
    """MiB of peak RSS growth in a fresh process (build + 3 steps)."""
    out = subprocess.run([sys.executable, __file__, "--memory-of", which, mode, "--batch",
                          str(batch), "--size", str(size)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["mib"]


def _peak_kib() -> int:
    """Peak resident set of this process in KiB. Linux's VmHWM belongs to the address space,
    so it starts afresh in a new process; ru_maxrss is inherited from the parent."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _memory_child(which: str, mode: str, batch: int, size: int) -> None:
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))
    base = _peak_kib()
    model = build_timm() if which == "timm" else build_xdsl(size, **VARIANTS[which])
    step = eval_step(model, x) if mode == "eval" else train_step(model, x, y)
    for _ in range(3):
        step()
    grown = _peak_kib() - base
    print(json.dumps({"mib": grown / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's).")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: process CPU time, steadier on a shared machine (use with "
                             "--threads 1, where no thread waits for another).")
    parser.add_argument("--no-memory", action="store_true", help="Skip the memory runs.")
    parser.add_argument("--memory-of", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        _memory_child(*args.memory_of, args.batch, args.size)
        return
    global CLOCK
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu":
        CLOCK = time.process_time
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 1000, (args.batch,))
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} "
          f"threads; batch {args.batch} x 3 x {args.size} x {args.size}; best of "
          f"{args.rounds} alternating rounds, {args.clock} clock; ratio = timm time / xdsl "
          "time (min; median)\n")

    ta, tb = alternate(build_timm, lambda: build_xdsl(args.size), 5, 1)
    report("build (spec -> initialised module)", ta, tb)

    reference = build_timm()
    for name, options in VARIANTS.items():
        ours = build_xdsl(args.size, **options)
        ta, tb = alternate(eval_step(reference, x), eval_step(ours, x), args.rounds, 2)
        report(f"eval forward, {name}", ta, tb)
    for name, options in VARIANTS.items():
        if options.get("optimize"):
            continue  # an inference-only module
        ours = build_xdsl(args.size, **options)
        ta, tb = alternate(train_step(reference, x, y), train_step(ours, x, y), args.rounds, 1)
        report(f"training step (SGD), {name}", ta, tb)
    if args.no_memory:
        return
    print("\npeak memory (RSS growth of a fresh process: build + 3 steps)")
    for mode in ("eval", "train"):
        base = peak_memory("timm", mode, args.batch, args.size)
        line = [f"  {mode:5s} timm {base:7.0f} MiB"]
        for name, options in VARIANTS.items():
            if mode == "train" and options.get("optimize"):
                continue
            mib = peak_memory(name, mode, args.batch, args.size)
            line.append(f"{name.split(' (')[0]} {mib:7.0f} MiB ({mib / base:4.2f}x)")
        print(";  ".join(line), flush=True)


if __name__ == "__main__":
    main()
