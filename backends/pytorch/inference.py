"""Inference optimisation: batch norm folded into the convolution before it, channels_last.

Folding uses the running statistics, so the result is for evaluation only; train the original
module. Outputs equal the original's in eval mode up to float rounding (tested).
"""

from __future__ import annotations

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
