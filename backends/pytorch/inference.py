"""Inference optimisation: batch norm folded into the convolution before it, channels_last.

Folding uses the running statistics, so the result is for evaluation only; train the original
module. Outputs equal the original's in eval mode up to float rounding (tested).

Also the check that a module's bfloat16 autocast outputs agree with its float32 outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from xdsl.backends.pytorch.build import CompiledNetwork, instantiate
from xdsl.backends.pytorch.codegen import module_path
from xdsl.backends.pytorch.lowering import fold_batch_norms, lowering_of


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (computed in float64)."""
    var, mean = bn.running_var.double(), bn.running_mean.double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    weight = conv.weight.double() * scale.reshape(-1, 1, 1, 1)
    return weight.to(conv.weight.dtype), bias.to(conv.weight.dtype)


@torch.no_grad()
def optimize(model: CompiledNetwork,
             memory_format: torch.memory_format = torch.channels_last) -> CompiledNetwork:
    """An eval-mode copy of ``model`` with every foldable batch norm folded away.

    A folded convolution keeps its state_dict key and gains a ``bias``; the folded batch norms'
    keys disappear. ``model`` itself is left unchanged.
    """
    plan = fold_batch_norms(model.plan)
    new_folds = plan.folded[len(model.plan.folded):]
    device = next(model.parameters(), torch.empty(0)).device
    fresh = instantiate(plan, model.graph, memory_format, device, model.inplace)
    state = model.state_dict()
    target = fresh.state_dict()
    for key in target:
        if key in state:
            target[key].copy_(state[key])
    ops = {s.name: s.node.op for s in plan.steps}
    nodes = {s.name: s.node for s in plan.steps}
    for conv_name, bn_name in new_folds:
        where = lowering_of(ops[conv_name]).fold(nodes[conv_name])
        path = module_path(conv_name) + (f".{where}" if where else "")
        conv = model.get_submodule(path)
        weight, bias = _fold(conv, model.get_submodule(module_path(bn_name)))
        target[f"{path}.weight"].copy_(weight)
        target[f"{path}.bias"].copy_(bias)
    if memory_format == torch.channels_last and device.type == "cuda":
        fresh = fresh.to(memory_format=memory_format)  # see build.compile_network
    return fresh.eval()


# bfloat16 keeps 8 significant bits (a relative rounding of 2^-9 per value); through a deep
# network these add up, to 1-5 % of the outputs' standard deviation for the zoo's networks at
# their initial weights (Xception 2 %, Inception V3 5 %, EfficientNet 4 %). A tenth of the
# standard deviation leaves room for that and still catches a layer that breaks in bfloat16.
BF16_TOLERANCE = 0.1


@dataclass(frozen=True)
class Agreement:
    """How far ``dtype`` autocast outputs are from float32's on the same input (eval mode).

    ``relative`` = ``max_abs_diff`` / ``spread``, the standard deviation of float32's outputs.
    """

    dtype: str
    max_abs_diff: float
    spread: float
    tolerance: float = BF16_TOLERANCE

    @property
    def relative(self) -> float:
        return self.max_abs_diff / self.spread if self.spread > 0 else float(self.max_abs_diff > 0)

    @property
    def ok(self) -> bool:
        return self.relative <= self.tolerance


@torch.no_grad()
def autocast_agreement(model: nn.Module, input_shape: tuple[int, ...], dtype: str = "bfloat16",
                       batch: int = 1, seed: int = 0) -> Agreement:
    """Run ``model`` (in eval mode) on one random batch in float32 and under ``dtype`` autocast
    and compare the main outputs (see :class:`Agreement`)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed)).to(device)
    try:
        want = model(x)
        with torch.autocast(device.type, dtype=getattr(torch, dtype)):
            got = model(x)
    finally:
        model.train(was_training)
    want = (want[0] if isinstance(want, tuple) else want).float()
    got = (got[0] if isinstance(got, tuple) else got).float()
    return Agreement(dtype, (want - got).abs().max().item(), want.std().item())
