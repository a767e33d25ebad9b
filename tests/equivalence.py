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


def mapping(ours: nn.Module, theirs: nn.Module) -> dict[str, str]:
    """Reference key -> xdsl key, pairing the state entries by position, each pair checked for
    its kind (the last part of the key: weight, bias, running_mean, ...) and its shape."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert len(a) == len(b), (len(a), len(b))
    pairs = dict(zip(b, a))
    for t_key, o_key in pairs.items():
        assert t_key.rsplit(".", 1)[-1] == o_key.rsplit(".", 1)[-1], (t_key, o_key)
        assert b[t_key].shape == a[o_key].shape, (t_key, o_key)
    return pairs


def copy_weights(ours: nn.Module, theirs: nn.Module) -> dict[str, str]:
    """The reference's whole state (weights and BN statistics) into ``ours``, by :func:`mapping`."""
    pairs = mapping(ours, theirs)
    ours.load_state_dict({pairs[k]: v for k, v in theirs.state_dict().items()}, strict=True)
    return pairs
