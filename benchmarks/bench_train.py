"""Training images/s: compiled Xception and Inception V3 against timm and torchvision.

Each pair trains in the same process on the same batches from xdsl's own data pipeline
(synthetic shapes through ``xdsl.train.data``'s sampler and loader), alternating step by step so
drifts in machine load hit both alike; a figure is the median over rounds after warm-up. Every
model takes the same step: forward, cross-entropy, backward, SGD with momentum 0.9 (the ImageNet
recipe's optimizer). Peers run as users run them (NCHW) and also converted to channels_last,
the layout xdsl picks on CPUs, so the ratio shows what the layout and what the code is worth.

    python benchmarks/bench_train.py [--batch 4] [--size 149] [--rounds 5] [--threads N]
    python benchmarks/bench_train.py --loop  # also the full `xdsl train` loop (EMA, checks)
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

import timm
import torch
import torchvision
from torch import nn

import xdsl
from xdsl.train import DataConfig, TrainConfig, recipe, train
from xdsl.train.data import EpochSampler, loader, open_data

CLASSES = 10
TIMM_LIKE = {"pool_pad": "symmetric", "bn_eps": 1e-5}  # timm's legacy_xception conventions


def models(size: int) -> dict[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module]]]:
    """network → (xdsl builder, peer builder)."""
    return {
        "xception": (
            lambda: xdsl.compile("xception", **TIMM_LIKE, classes=CLASSES, image_size=size),
            lambda: timm.create_model("legacy_xception", pretrained=False,
                                      num_classes=CLASSES)),
        "inception_v3": (
            lambda: xdsl.compile("inception_v3", classes=CLASSES),
            lambda: torchvision.models.inception_v3(weights=None, aux_logits=False,
                                                    init_weights=False,
                                                    num_classes=CLASSES)),
    }


def batches(size: int, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shapes batches, the way `xdsl train` loads them."""
    cfg = DataConfig(shapes_classes=CLASSES, shapes_train=batch * 64, shapes_val=1)
    data = open_data(cfg, (size, size), ("train",))
    for epoch in itertools.count():
        yield from loader(data.train, EpochSampler(len(data.train), 1, 0, 0, epoch), batch, cfg,
                          pin=False, train=True)


def stepper(model: nn.Module, data: Iterator[tuple[torch.Tensor, torch.Tensor]],
            fmt: torch.memory_format) -> Callable[[], float]:
    """One timed training step; returns its seconds. The batch is fetched before the clock
    starts; converting it to ``fmt`` is timed (xdsl's modules convert inside ``forward``)."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> float:
        x, y = next(data)
        start = time.perf_counter()
        x = x.contiguous(memory_format=fmt)
        opt.zero_grad(set_to_none=True)
        out = model(x)
        nn.functional.cross_entropy(out[0] if isinstance(out, tuple) else out, y).backward()
        opt.step()
        return time.perf_counter() - start

    return step


def alternate(steps: list[Callable[[], float]], rounds: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        for s in steps:
            s()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(rounds):
        for t, s in zip(times, steps, strict=True):
            t.append(s())
    return [statistics.median(t) for t in times]


def full_loop(size: int, batch: int, steps: int) -> float:
    """Images/s of `xdsl train` itself on Xception (data loading, EMA, NaN checks, metrics) in
    its second epoch, so the first steps' warm-up is not counted."""
    with tempfile.TemporaryDirectory() as run_dir:
        config = TrainConfig(spec="xception", params={**TIMM_LIKE, "image_size": size},
                             data=DataConfig(shapes_classes=CLASSES, shapes_train=batch * steps,
                                             shapes_val=batch),
                             recipe=recipe("imagenet", epochs=2, batch_size=batch, lr=0.01),
                             run_dir=run_dir, progress=False)
        return train(config, log=lambda _: None).last["img_per_s"]  # the second epoch's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=149)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", choices=["xception", "inception_v3"])
    parser.add_argument("--loop", action="store_true", help="Also time the full xdsl train loop.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, timm {timm.__version__}, torchvision "
          f"{torchvision.__version__}, {torch.get_num_threads()} threads; batch {args.batch} x 3 "
          f"x {args.size} x {args.size} shapes; median of {args.rounds} alternating steps after "
          f"{args.warmup} warm-up; ratio = xdsl img/s / peer img/s\n", flush=True)
    results = []
    for name, (ours, peer) in models(args.size).items():
        if args.only and name != args.only:
            continue
        data = batches(args.size, args.batch)
        a, b = ours(), peer()
        fmt = getattr(a, "memory_format", torch.contiguous_format)
        c = peer().to(memory_format=torch.channels_last)
        t = alternate([stepper(a, data, torch.contiguous_format),
                       stepper(b, data, torch.contiguous_format),
                       stepper(c, data, torch.channels_last)], args.rounds, args.warmup)
        ips = [args.batch / s for s in t]
        row = {"network": name, "xdsl": ips[0], "peer_nchw": ips[1], "peer_channels_last": ips[2],
               "xdsl_layout": "channels_last" if fmt == torch.channels_last else "contiguous"}
        results.append(row)
        peer_name = "timm legacy_xception" if name == "xception" else "torchvision inception_v3"
        print(f"{name:13s} xdsl {ips[0]:6.2f} img/s ({row['xdsl_layout']})  |  {peer_name} "
              f"{ips[1]:6.2f} img/s NCHW ({ips[0] / ips[1]:.2f}x), {ips[2]:6.2f} img/s "
              f"channels_last ({ips[0] / ips[2]:.2f}x)", flush=True)
        del a, b, c
    if args.loop:
        ips = full_loop(args.size, args.batch, 4 * args.rounds)
        results.append({"network": "xception", "xdsl_train_loop": ips})
        print(f"xdsl train loop (xception; data loading, EMA and checks included): "
              f"{ips:6.2f} img/s")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
