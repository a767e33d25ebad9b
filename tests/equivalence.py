"""Shared by the peer-equivalence tests (shared/reference.md, "Testing equivalence honestly")."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def calibrate(model: nn.Module, batches: list[torch.Tensor]) -> None:
    """Running statistics = the exact average over ``batches`` (momentum=None), then eval."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for x in batches:
        model(x)
    model.eval()
