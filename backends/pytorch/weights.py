"""Weights from another implementation of the same network (torchvision's, timm's, a saved
state_dict) into a compiled module.

The mapping is derived, not written by hand: both state_dicts list their tensors in the order
their modules run (xdsl's in spec order; torchvision's in registration order, which the zoo
specs follow), so the k-th tensor of one is the k-th of the other. Every pair is verified before
anything is loaded: the same kind (the last part of the key: ``weight``, ``bias``,
``running_mean``, ...) and the same shape. A spec whose layers are written in another order than
the reference registers them fails here, at the first pair that differs, and nothing is changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


class WeightsError(ValueError):
    """The weights do not fit the network; nothing was loaded."""


@dataclass(frozen=True)
class Transplant:
    pairs: dict[str, str]
    """Reference key → xdsl key, in order."""
    tensors: int
    values: int
    """Numbers copied (parameters and buffers)."""


def read_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state_dict from a file: ``.safetensors``, or a ``torch.save`` file read with
    ``weights_only=True`` (never unpickling code). A checkpoint holding the state_dict under
    ``state_dict`` or ``model`` (as training scripts write them) is opened too."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError or ValueError
        raise WeightsError(f"{path} is not a state_dict file torch can read safely: "
                           f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    for key in ("state_dict", "model"):
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor)
                                                for v in data.values()):
        raise WeightsError(f"{path} holds no state_dict (a mapping of names to tensors)")
    return dict(data)


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) or "scalar"


def derive(ours: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]
           ) -> dict[str, str]:
    """Reference key → xdsl key, by position, each pair checked for its kind and shape."""
    a, b = list(ours.items()), list(theirs.items())
    for k, ((t_key, t_val), (o_key, o_val)) in enumerate(zip(b, a)):
        kind_t, kind_o = t_key.rsplit(".", 1)[-1], o_key.rsplit(".", 1)[-1]
        if kind_t != kind_o or t_val.shape != o_val.shape:
            raise WeightsError(
                f"tensor {k + 1} differs: the weights' `{t_key}` ({_shape(t_val)}) against "
                f"the network's `{o_key}` ({_shape(o_val)}); the spec and the weights describe "
                "different networks, or list their layers in another order")
    if len(a) != len(b):
        longer, which = (b, "weights") if len(b) > len(a) else (a, "network")
        extra = longer[min(len(a), len(b))][0]
        raise WeightsError(f"the weights hold {len(b)} tensors and the network {len(a)}; the "
                           f"{which}' first unmatched one is `{extra}`")
    return {t_key: o_key for (t_key, _), (o_key, _) in zip(b, a)}


def transplant(model: nn.Module, source: nn.Module | Mapping[str, torch.Tensor] | str
               | os.PathLike[str]) -> Transplant:
    """Load ``source`` (a module, a state_dict or a file) into ``model`` by :func:`derive`;
    raises :class:`WeightsError` before changing anything when they do not fit."""
    if isinstance(source, nn.Module):
        theirs = source.state_dict()
    elif isinstance(source, Mapping):
        theirs = dict(source)
    else:
        theirs = read_state(source)
    ours = model.state_dict()
    pairs = derive(ours, theirs)
    new = {pairs[k]: v.to(ours[pairs[k]].dtype) if v.is_floating_point() else v
           for k, v in theirs.items()}
    model.load_state_dict(new, strict=True)
    return Transplant(pairs, len(pairs), sum(v.numel() for v in theirs.values()))
