"""bfloat16 on the CPU: xdsl bf16 / float32 against timm and torchvision, eval and training.

For Xception (timm ``legacy_xception``) and Inception V3 (torchvision), four models run in the
same process, alternating round by round so drifts in machine load hit all alike; a figure is
the median over rounds after warm-up:

- xdsl bf16: the compiled module as ``xdsl train`` runs it by default on a CPU with native
  bfloat16 (channels_last, bfloat16 autocast);
- xdsl float32: the same module with ``--amp off``;
- peer as users run it: float32, NCHW;
- peer with the same precision and layout as xdsl: bfloat16 autocast, channels_last.

Eval is a forward pass under ``torch.no_grad`` in eval mode; a training step is forward,
cross-entropy (on float32 logits), backward and SGD with momentum 0.9, batches from xdsl's own
shapes pipeline. Ratios are throughputs against the xdsl bf16 column (above 1: xdsl faster).
Last, images/s of the whole ``xdsl train`` loop (data loading, EMA, checks) with ``--amp bf16``
and ``--amp off``, in its second epoch.

    python benchmarks/bench_amp.py [--batch 2] [--size 299] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator

import timm
import torch
import torchvision
from bench_train import CLASSES, TIMM_LIKE, alternate, batches  # a sibling script
from torch import nn

import xdsl
from xdsl.train import DataConfig, TrainConfig, recipe, train
from xdsl.train.devices import cpu_bf16_features

COLUMNS = ("xdsl bf16", "xdsl float32", "peer float32 NCHW", "peer bf16 channels_last")


def models(size: int) -> dict[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module], str]]:
    """network → (xdsl builder, peer builder, peer name)."""
    return {
        "xception": (
            lambda: xdsl.compile("xception", **TIMM_LIKE, classes=CLASSES, image_size=size),
            lambda: timm.create_model("legacy_xception", pretrained=False, num_classes=CLASSES),
            "timm legacy_xception"),
        "inception_v3": (
            lambda: xdsl.compile("inception_v3", classes=CLASSES),
            lambda: torchvision.models.inception_v3(weights=None, aux_logits=False,
                                                    init_weights=False, num_classes=CLASSES),
            "torchvision inception_v3"),
    }


def autocast(bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def timed(model: nn.Module, data: Iterator[tuple[torch.Tensor, torch.Tensor]],
          fmt: torch.memory_format, bf16: bool, training: bool) -> Callable[[], float]:
    """One timed eval forward or training step; returns its seconds. The batch is fetched
    before the clock starts; converting it to ``fmt`` is timed (xdsl converts in forward)."""
    model.train(training)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> float:
        x, y = next(data)
        start = time.perf_counter()
        x = x.contiguous(memory_format=fmt)
        if training:
            opt.zero_grad(set_to_none=True)
            with autocast(bf16):
                out = model(x)
            out = out[0] if isinstance(out, tuple) else out
            nn.functional.cross_entropy(out.float(), y).backward()
            opt.step()
        else:
            with torch.no_grad(), autocast(bf16):
                model(x)
        return time.perf_counter() - start

    return step


def full_loop(size: int, batch: int, steps: int, amp: str) -> float:
    """Images/s of `xdsl train` on Xception in its second epoch (the first warms up)."""
    with tempfile.TemporaryDirectory() as run_dir:
        config = TrainConfig(spec="xception", params={**TIMM_LIKE, "image_size": size},
                             data=DataConfig(shapes_classes=CLASSES, shapes_train=batch * steps,
                                             shapes_val=batch),
                             recipe=recipe("imagenet", epochs=2, batch_size=batch, lr=0.01),
                             run_dir=run_dir, progress=False, amp=amp)  # type: ignore[arg-type]
        return train(config, log=lambda _: None).last["img_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--only", choices=["xception", "inception_v3"])
    parser.add_argument("--loop-steps", type=int, default=6,
                        help="Steps per epoch of the `xdsl train` loop (0: skip it).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    features = cpu_bf16_features()
    print(f"torch {torch.__version__}, timm {timm.__version__}, torchvision "
          f"{torchvision.__version__}, {torch.get_num_threads()} thread(s); native bf16: "
          f"{', '.join(features) or 'none (bf16 is emulated: expect it slower)'}; batch "
          f"{args.batch} x 3 x {args.size} x {args.size}; median of {args.rounds} alternating "
          f"rounds after {args.warmup} warm-up; ratio = xdsl bf16 img/s / column img/s\n",
          flush=True)
    results = []
    cl, nchw = torch.channels_last, torch.contiguous_format
    for name, (ours, peer, peer_name) in models(args.size).items():
        if args.only and name != args.only:
            continue
        data = batches(args.size, args.batch)
        a, b = ours(), peer()
        c = peer().to(memory_format=cl)
        b.load_state_dict(c.state_dict())
        for mode in ("eval", "train"):
            training = mode == "train"
            t = alternate([timed(a, data, nchw, True, training),
                           timed(a, data, nchw, False, training),
                           timed(b, data, nchw, False, training),
                           timed(c, data, cl, True, training)], args.rounds, args.warmup)
            ips = [args.batch / s for s in t]
            row = {"network": name, "mode": mode, "peer": peer_name,
                   **dict(zip(COLUMNS, ips, strict=True))}
            results.append(row)
            cells = [f"{col} {v:6.2f} img/s" + (f" ({ips[0] / v:.2f}x)" if i else "")
                     for i, (col, v) in enumerate(zip(COLUMNS, ips, strict=True))]
            print(f"{name:13s} {mode:5s} | " + " | ".join(cells), flush=True)
        del a, b, c
    if args.loop_steps:
        loop = {amp: full_loop(args.size, args.batch, args.loop_steps, amp)
                for amp in ("bf16", "off")}
        results.append({"network": "xception", "mode": "xdsl train loop", **loop})
        print(f"xdsl train loop (xception, data loading, EMA and checks included): --amp bf16 "
              f"{loop['bf16']:6.2f} img/s, --amp off {loop['off']:6.2f} img/s "
              f"({loop['bf16'] / loop['off']:.2f}x)", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
