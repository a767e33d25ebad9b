"""The compiled module measured against the graph IR: counts, output shape, per-block rows.

The IR predicts every count; the module is built independently by torch. If the two disagree
the backend has a bug, which ``xdsl compile`` reports as an internal error.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from xdsl.backends.pytorch.codegen import module_path

from xdsl.audit import scope_runs
from xdsl.graph import layers, totals
from xdsl.layergraph import GraphIR


@dataclass(frozen=True)
class Check:
    what: str
    expected: Any  # from the graph IR
    actual: Any  # from the module

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def running_stats(model: nn.Module) -> int:
    return sum(b.numel() for name, b in model.named_buffers()
               if name.rsplit(".", 1)[-1] in ("running_mean", "running_var"))


@torch.no_grad()
def output_shape(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape (without batch) of the output for a zeros batch of 1, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters(), torch.empty(0)).device
        out = model(torch.zeros(1, *input_shape, device=device))
        main = out[0] if isinstance(out, tuple) else out  # side heads follow the main output
        return tuple(main.shape[1:])
    finally:
        model.train(was_training)


def verify(model: nn.Module, g: GraphIR) -> list[Check]:
    counts = totals(g)
    nodes = g.nodes
    return [
        Check("trainable parameters", counts["trainable"], trainable(model)),
        Check("BN running statistics", counts["non_trainable"], running_stats(model)),
        Check("output shape", nodes[g.graph["output"]]["node"].shape,
              output_shape(model, nodes[g.graph["input"]]["node"].shape)),
    ]


def _params_of(model: nn.Module, name: str) -> int:
    try:
        sub = model.get_submodule(module_path(name))
    except AttributeError:
        return 0
    return sum(p.numel() for p in sub.parameters())


def layer_rows(model: nn.Module, g: GraphIR) -> list[dict[str, Any]]:
    """One row per layer: IR shape and MACs, parameters counted in the module."""
    return [{"name": n.name, "op": n.op, "output": list(n.shape),
             "params": _params_of(model, n.name), "macs": n.macs}
            for n in layers(g) if n.op != "input"]


def block_rows(rows: list[dict[str, Any]], g: GraphIR, flows: Collection[str]
               ) -> list[dict[str, Any]]:
    """Layer rows summed per run of :func:`xdsl.audit.scope_runs`, in network order: a flow's
    own layers before, between and after its block calls are rows of their own, as in the
    audit's table (``flows`` names the network's flows)."""
    by_name = {row["name"]: row for row in rows}
    out = []
    for scope, nodes in scope_runs(g, flows):
        run = [by_name[n.name] for n in nodes]
        out.append({"name": ".".join(scope) or "(network)", "layers": len(run),
                    "output": run[-1]["output"], "params": sum(r["params"] for r in run),
                    "macs": sum(r["macs"] for r in run)})
    return out
