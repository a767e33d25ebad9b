"""Paper material: the architecture table, the audit table and a citable fingerprint.

``xdsl export SPEC --format latex|markdown`` prints them.  The architecture table has one row
per block (consecutive identical blocks, such as Xception's eight middle-flow modules, become
one row marked ×8) or, with ``layers=True``, one row per layer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from xdsl.backends.labels import label, shape

from xdsl.api import Spec
from xdsl.audit import Report, audit, flow_names, scope_runs
from xdsl.evaluate import describe_settings
from xdsl.graph import LayerNode, layers
from xdsl.layergraph import GraphIR
from xdsl.printer import fingerprint
from xdsl.report import TABLES

#: Ops a paper's architecture table lists; BN, activations and joins are implied.
LISTED = frozenset({"conv", "gconv", "sepconv", "dwconv", "maxpool", "avgpool", "linear",
                    "dropout", "flatten"})


def _summary(nodes: list[LayerNode]) -> str:
    """``SeparableConv 728, 3×3 (×3)``: the listed layers, repeats of a label counted."""
    out: list[list[Any]] = []
    for n in nodes:
        if n.op in LISTED:
            text = label(n)
            if out and out[-1][0] == text:
                out[-1][1] += 1
            else:
                out.append([text, 1])
    return "; ".join(f"{t} (×{k})" if k > 1 else t for t, k in out) or "—"


def block_rows(g: GraphIR, flows: Collection[str]) -> list[list[str]]:
    """One row per run of a flow's own layers or per block call, in the network's order
    (``flows`` names the network's flows; see :func:`xdsl.audit.scope_runs`)."""
    rows: list[list[Any]] = []
    for scope, nodes in scope_runs(g, flows):
        in_flow = bool(scope) and scope[0] in flows
        stage, call = (scope[0], scope[1:]) if in_flow else ("", scope)
        block = call[0] if call else ""
        kind = block.rstrip("0123456789")
        row = [stage, kind or "", _summary(nodes), shape(nodes[-1].shape),
               sum(n.params for n in nodes), 1]
        last = rows[-1] if rows else None
        if last and last[0] == stage and last[1] == row[1] and last[2:5] == row[2:5] and kind:
            last[5] += 1
        else:
            rows.append(row)
    return [[stage, block + (f" ×{k}" if k > 1 else ""), summary, size, f"{params * k:,}"]
            for stage, block, summary, size, params, k in rows]


def layer_rows(g: GraphIR, flows: Collection[str]) -> list[list[str]]:
    """One row per listed layer; its stage is its flow (none outside flows)."""
    return [[n.scope[0] if n.scope[:1] and n.scope[0] in flows else "", label(n),
             shape(n.shape), f"{n.params:,}"]
            for n in layers(g) if n.op in LISTED]


def _audit_rows(report: Report) -> list[list[str]]:
    rows = [["Trainable parameters", f"{report.trainable:,}", ""],
            ["Non-trainable (BN statistics)", f"{report.non_trainable:,}", ""],
            ["Multiply-accumulates", f"{report.macs:,}", ""],
            ["Depth (convolutional layers)", str(report.depth), ""]]
    for c in report.checks:
        status = "ok" if c.matches else ("note" if not c.required else "FAIL")
        expected = f"{c.expected:,}" if isinstance(c.expected, int) else shape(c.expected)
        rows.append([f"{c.metric} ({status})", expected, c.source])
    return rows


def export(spec: Spec, params: Mapping[str, Any] | None = None, fmt: str = "latex",
           per_layer: bool = False) -> str:
    """Architecture table, audit table and fingerprint of ``spec`` at ``params``."""
    report = audit(spec, params)
    g = spec.build(**(params or {}))
    table = TABLES[fmt]
    print_ = fingerprint(spec.network, report.params)
    flows = flow_names(spec.network)
    arch = (table(["Stage", "Layer", "Output size", "Parameters"], layer_rows(g, flows), {3})
            if per_layer else
            table(["Stage", "Block", "Layers", "Output size", "Parameters"],
                  block_rows(g, flows), {4}))
    counts = table(["Figure", "Value", "Source"], _audit_rows(report), {1})
    settings = describe_settings(report.params)
    settings = f"parameters: {settings}" if settings else "no parameters"
    if fmt == "latex":
        head = [f"% {spec.name} — xdsl fingerprint {print_}", f"% {settings}"]
        return "\n".join([*head, arch, "", counts]) + "\n"
    head = [f"## {spec.name}", "", f"Fingerprint `xdsl:{spec.name}@{print_}` ({settings})."]
    return "\n".join([*head, "", arch, "", counts]) + "\n"
