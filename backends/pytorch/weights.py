"""Weights from another implementation of the same network (torchvision's, timm's, a saved
state_dict) into a compiled module.

The mapping is derived, not written by hand: both state_dicts list their tensors in the order
their modules run (xdsl's in spec order; torchvision's in registration order, which the zoo
specs follow), so the k-th tensor of one is the k-th of the other. torch lists a module's own
parameters before its children's; a layer's own tensor such as ConvNeXt's ``layer_scale``
applies after its children run, so on both sides a module's own tensors are taken after its
children's. Every pair is verified before anything is loaded: the same kind (the last part of
the key: ``weight``, ``bias``, ``running_mean``, ...; any other name, a module's own parameter,
pairs with any other such name) and the same shape (for such parameters, the same shape without
its 1s: torchvision's (C, 1, 1) layer scale is xdsl's (C,)). A spec whose layers are written in
another order than the reference registers them fails here, at the first pair that differs, and
nothing is changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


KINDS = frozenset({"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
"""The tensors of torch's layers; a tensor of another name is a module's own parameter."""


def _kind(key: str) -> str:
    kind = key.rsplit(".", 1)[-1]
    return kind if kind in KINDS else "own"


def _fits(t_key: str, t_val: torch.Tensor, o_key: str, o_val: torch.Tensor) -> bool:
    if _kind(t_key) != _kind(o_key):
        return False
    if _kind(t_key) != "own":
        return t_val.shape == o_val.shape
    return [n for n in t_val.shape if n != 1] == [n for n in o_val.shape if n != 1]


def run_order(keys: list[str]) -> list[str]:
    """``keys`` with each module's own tensors after its children's (otherwise in order)."""
    tree: dict[str, Any] = {}
    for key in keys:
        *path, _ = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault("." + part, {})  # "." keeps module names apart from ""
        node.setdefault("", []).append(key)

    def walk(node: dict[str, Any]) -> list[str]:
        out = [k for name, child in node.items() if name for k in walk(child)]
        return out + node.get("", [])

    return walk(tree)


def derive(ours: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]
           ) -> dict[str, str]:
    """Reference key → xdsl key, by position in :func:`run_order`, each pair checked for its
    kind and shape."""
    a = [(k, ours[k]) for k in run_order(list(ours))]
    b = [(k, theirs[k]) for k in run_order(list(theirs))]
    for k, ((t_key, t_val), (o_key, o_val)) in enumerate(zip(b, a)):
        if not _fits(t_key, t_val, o_key, o_val):
            raise WeightsError(
                f"tensor {k + 1} differs: the weights' `{t_key}` ({_shape(t_val)}) against "
                f"the network's `{o_key}` ({_shape(o_val)}); the spec and the weights describe "
                "different networks, or list their layers in another order")
    if len(a) != len(b):
        longer, which = (b, "weights") if len(b) > len(a) else (a, "network")
        extra = longer[min(len(a), len(b))][0]
        raise WeightsError(f"the weights hold {len(b)} tensors and the network {len(a)}; the "
                           f"first one of the {which} left unmatched is `{extra}`")
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
    new = {pairs[k]: (v.to(ours[pairs[k]].dtype) if v.is_floating_point() else v)
           .reshape(ours[pairs[k]].shape) for k, v in theirs.items()}
    model.load_state_dict(new, strict=True)
    return Transplant(pairs, len(pairs), sum(v.numel() for v in theirs.values()))
