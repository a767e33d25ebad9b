"""A recipe → optimizer, learning-rate schedule and Polyak (exponential moving) average."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .recipes import Recipe


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only: TensorFlow's models, which the
    paper trained, regularise kernels, not batch-norm scales or biases."""
    decay, plain = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else plain).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": plain, "weight_decay": 0.0}]


def optimizer(model: nn.Module, r: Recipe, weight_decay: float) -> torch.optim.Optimizer:
    groups = param_groups(model, weight_decay)
    if r.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum)
    return torch.optim.RMSprop(groups, lr=r.lr, momentum=r.momentum, alpha=r.rmsprop_alpha,
                               eps=r.rmsprop_eps)


def scheduler(opt: torch.optim.Optimizer, r: Recipe,
              interval_steps: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per optimizer step, so a decay every N samples lands where N falls."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: r.lr_factor(step, interval_steps))


class EMA:
    """Polyak averaging of every parameter and batch-norm statistic, as TensorFlow's
    ``ExponentialMovingAverage`` does for the paper's evaluation.

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates (TensorFlow's
    ``num_updates``), so short runs average over their recent past instead of their random
    initialisation. ``module`` is a full copy of the network, ready for evaluation.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0
        self._cache: tuple[int, Any] | None = None

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor],
                                                list[tuple[torch.Tensor, torch.Tensor]]]:
        """Averaged and source tensors, listed once: loading a state copies into the same
        tensors, so the lists stay valid for the run."""
        if self._cache is not None and self._cache[0] == id(model):
            return self._cache[1]
        mine, theirs, exact = [], [], []
        for (_, a), (_, b) in zip(self.module.state_dict().items(),
                                  model.state_dict().items(), strict=True):
            if a.is_floating_point():
                mine.append(a)
                theirs.append(b.detach())
            else:
                exact.append((a, b))
        self._cache = (id(model), (mine, theirs, exact))
        return mine, theirs, exact

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        mine, theirs, exact = self._pairs(model)
        torch._foreach_lerp_(mine, theirs, 1.0 - decay)
        for a, b in exact:
            a.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates,
                "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
