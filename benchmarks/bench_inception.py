"""Compiled Inception V3 vs torchvision's ``inception_v3``, and Xception vs Inception V3.

Both Inception models run in the same process, alternating round by round (the harness of
``bench_forward.py``); ratios are throughputs, torchvision's time / ours, so above 1 means xdsl
is faster. torchvision runs as users run it (NCHW). The last line sets the compiled Xception /
Inception V3 training-step throughput ratio beside the paper's (28 / 31 steps per second on 60
K80 GPUs = 0.90).

    python benchmarks/bench_inception.py [--batch 4] [--size 299] [--rounds 5] [--threads N]
"""

from __future__ import annotations

import argparse

import torch
import torchvision
from bench_forward import alternate, eval_step, report, train_step
from torch import nn

import xdsl

PAPER_STEPS_PER_S = {"xception": 28, "inception_v3": 31}
TV = "torchvision"


def torchvision_model() -> nn.Module:
    return torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)


def compiled(name: str, size: int, **options: object) -> nn.Module:
    sizes = {"image_size": size} if name == "xception" else {}
    return xdsl.compile(name, **sizes, **options)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=299, help="Xception input (Inception: 299)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 299, 299)
    y = torch.randint(0, 1000, (args.batch,))
    print(f"batch {args.batch} x 3 x 299 x 299, {torch.get_num_threads()} threads, "
          f"best of {args.rounds} rounds")
    peer = torchvision_model()
    for label, options in [("same layout (NCHW)", {"memory_format": "contiguous"}),
                           ("default (channels_last on CPU)", {})]:
        ours = compiled("inception_v3", 299, **options)
        report(f"eval, {label}",
               *alternate(eval_step(peer, x), eval_step(ours, x), args.rounds, 1), TV)
        report(f"train step, {label}",
               *alternate(train_step(peer, x, y), train_step(ours, x, y), args.rounds, 1), TV)
    ours = compiled("inception_v3", 299, optimize=True)
    report("eval, --optimize",
           *alternate(eval_step(peer, x), eval_step(ours, x), args.rounds, 1), TV)

    xs = torch.randn(args.batch, 3, args.size, args.size)
    t_inc, t_xc = alternate(train_step(compiled("inception_v3", 299), x, y),
                            train_step(compiled("xception", args.size), xs, y), args.rounds, 1)
    ratio = min(t_inc) / min(t_xc)
    paper = PAPER_STEPS_PER_S["xception"] / PAPER_STEPS_PER_S["inception_v3"]
    print(f"training steps/s, Xception / Inception V3: {ratio:.2f} here "
          f"(CPU, {1 / min(t_xc):.2f} vs {1 / min(t_inc):.2f} steps/s); paper {paper:.2f} "
          "(28 / 31 steps/s, 60 K80 GPUs)")


if __name__ == "__main__":
    main()
