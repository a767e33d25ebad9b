"""Top-1 / top-5 accuracy of a network on a dataset, and ``xdsl evaluate``'s checkpoint path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import nn

from xdsl.progress import Status
from xdsl.threads import apply, choose_threads

from . import checkpoint
from .config import DataConfig
from .data import ShardSampler, class_names, loader, open_data
from .devices import Precision, select_device, select_precision
from .errors import CheckpointError


@dataclass(frozen=True)
class Scores:
    loss: float
    top1: float
    top5: float
    images: int
    k: int = 5
    precision: str = "float32"  # of the forward passes: "float32" or "bfloat16 autocast"...

    def __str__(self) -> str:
        return (f"top-1 {self.top1:.4f}  top-{self.k} {self.top5:.4f}  loss {self.loss:.4f}  "
                f"({self.images:,} images)")


def main_output(out: Any) -> torch.Tensor:
    """The network's first output (a spec with side heads returns a tuple)."""
    return out[0] if isinstance(out, tuple) else out


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """Autocast to ``precision``'s dtype on ``device`` (nothing for float32)."""
    if not precision.enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, precision.dtype or "float32"))


@torch.no_grad()
def sums(module: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
         device: torch.device, precision: Precision, fmt: torch.memory_format,
         k: int = 5) -> list[float]:
    """[loss sum, top-1 hits, top-k hits, images] over ``batches`` (sums add across processes).
    """
    was_training = module.training
    module.eval()
    loss = hits1 = hitsk = n = 0.0
    try:
        for images, labels in batches:
            images = images.to(device, non_blocking=True).contiguous(memory_format=fmt)
            labels = labels.to(device, non_blocking=True)
            with autocast(device, precision):
                logits = main_output(module(images)).float()
            loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
            top = logits.topk(min(k, logits.shape[1]), dim=1).indices
            hit = top == labels[:, None]
            hits1 += hit[:, 0].sum().item()
            hitsk += hit.any(dim=1).sum().item()
            n += labels.numel()
    finally:
        module.train(was_training)
    return [loss, hits1, hitsk, n]


def scores(totals: list[float], k: int = 5) -> Scores:
    loss, hits1, hitsk, n = totals
    n = max(n, 1)
    return Scores(loss / n, hits1 / n, hitsk / n, int(totals[3]), k)


def evaluate(spec: str | None, checkpoint_path: str, data: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, weights: str = "auto", batch_size: int = 64,
             device: str = "auto", amp: str = "auto", split: str = "val",
             threads: int | Literal["auto"] | None = None, progress: bool | None = False
             ) -> tuple[Scores, str]:
    """Accuracy of a checkpoint's weights (EMA when it has them and ``weights`` is auto).

    ``spec=None`` uses the spec text stored in the checkpoint; its parameters are the
    checkpoint's, updated by ``params``. ``data`` holds :class:`DataConfig` fields to change:
    none evaluates on the run's own data, a new ``source`` starts from the defaults.
    ``threads`` as :class:`~xdsl.train.config.TrainConfig`'s; ``progress`` shows what it is
    doing on standard error (``None``: when that is a terminal).
    Returns the scores and which weights were used (``ema`` or ``raw``).
    """
    from xdsl.backends.pytorch.build import compile_network

    from .config import TrainConfig
    from .network import build

    status = Status(progress)
    with status.stage("reading the checkpoint"):
        state = checkpoint.load(checkpoint_path)
    stored = TrainConfig.from_dict(state["config"]).data
    data_cfg = replace(DataConfig() if "source" in (data or {}) else stored, **(data or {}))
    names = list(state.get("classes", []))
    user = {**state["spec"]["params"], **(params or {})}
    if data_cfg.image_size is not None:
        user.pop("image_size", None)
    if threads is not None:
        apply(choose_threads(None if threads == "auto" else threads, data_cfg.loader_workers))
    net = build(spec or state["spec"]["text"], user, len(names), data_cfg, None)
    use = weights
    if weights == "auto":
        use = "ema" if state.get("ema") else "raw"
    if use == "ema" and not state.get("ema"):
        raise CheckpointError(f"{checkpoint_path} holds no EMA weights (the run had "
                              "--ema-decay 0); use --weights raw")
    dev = torch.device(select_device(device, torch.cuda.is_available()))
    precision = select_precision(str(dev), amp)
    with status.stage(f"building {net.name}"):
        model = compile_network(net.graph, device=dev)
    weights_state = state["ema"]["module"] if use == "ema" else state["model"]
    try:
        model.load_state_dict(weights_state)
    except RuntimeError as e:
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:4])
        raise CheckpointError(f"the checkpoint's weights do not fit {net.name} at these "
                              f"parameters: {detail}") from None
    if class_names(data_cfg) != names:
        raise CheckpointError(f"--data {data_cfg.source}: its classes differ from the "
                              f"{len(names)} the checkpoint was trained on")
    ds = open_data(data_cfg, net.size, (split,))
    dataset = ds.train if split == "train" else ds.val
    batches = loader(dataset, ShardSampler(len(dataset), 1, 0), batch_size, data_cfg,  # type: ignore[arg-type]
                     dev.type == "cuda", train=False)
    k = min(5, len(names))
    with status.stage(f"evaluating on {len(dataset):,} images"):  # type: ignore[arg-type]
        result = scores(sums(model, batches, dev, precision, model.memory_format, k), k)
    return replace(result, precision=str(precision)), use
