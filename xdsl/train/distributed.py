"""Processes and their agreement: torchrun's environment, the process group, collectives.

``torchrun`` (or ``--nproc``, which launches it) starts one process per GPU or CPU share and
sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them a run is a single process and
nothing here communicates. Decisions that end a step (a NaN, Ctrl-C) are agreed by all processes
before anyone acts, so no process is left waiting in a collective its peers have abandoned.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .devices import dist_backend, select_device


@dataclass(frozen=True)
class Context:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def main(self) -> bool:
        """Logging, metrics and checkpoints happen in the main process only."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def from_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) otherwise."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def setup(device: str) -> Context:
    """Pick this process's device and join the process group (NCCL on GPUs, gloo on CPUs)."""
    rank, world, local = from_env()
    name = select_device(device, torch.cuda.is_available(), local)
    dev = torch.device(name)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(dist_backend(name),
                                device_id=dev if dev.type == "cuda" else None)
        owns = True
    return Context(rank, world, local, dev, owns)


def teardown(ctx: Context) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def agree(ctx: Context, *flags: bool) -> list[bool]:
    """Each flag, true if it is true in any process."""
    if not ctx.distributed:
        return list(flags)
    t = torch.tensor([float(f) for f in flags], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def total(ctx: Context, values: list[float]) -> list[float]:
    """Sums over all processes (evaluation counts, epoch statistics)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_buffers(ctx: Context, module: nn.Module) -> None:
    """Give every process rank 0's batch-norm statistics: DDP keeps the weights equal, but each
    process updates its running statistics on its own batches after the last broadcast."""
    if ctx.distributed:
        for b in module.buffers():
            dist.broadcast(b, src=0)


def gather(ctx: Context, obj: object) -> list[object]:
    if not ctx.distributed:
        return [obj]
    out: list[object] = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def checksum(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state_dict's keys and values in order (independent of memory layout)."""
    h = hashlib.sha256()
    for key, value in state.items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc-per-node N -m xdsl ARGS``."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "xdsl", *args]
