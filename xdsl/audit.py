"""Audits: the counts of a network, per layer and per block, and the spec's own expectations.

An ``audit`` section states figures that hold at the defaults overridden by its settings
(``audit (aux=true): ...``).  Without ``--set`` every section is checked at its own setting;
with ``--set`` only the sections whose setting equals the requested one apply, the others are
reported as skipped.  ``note`` items are reported with their delta but never fail.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import tree as t
from .api import Spec, summarize
from .diagnostics import Diagnostic, SpecError
from .evaluate import EvalError, evaluate
from .graph import LayerNode, Limits, layers
from .layergraph import GraphIR
from .params import ParamError, resolve_params

#: Ops counted by ``depth``: the convolutional layers (the Xception paper's "36 layers").
DEPTH_OPS = frozenset({"conv", "gconv", "sepconv", "dwconv", "deconv"})


@dataclass(frozen=True)
class Check:
    metric: str
    expected: Any
    actual: Any
    source: str
    settings: dict[str, Any]
    line: int
    required: bool = True

    @property
    def matches(self) -> bool:
        return self.expected == self.actual

    @property
    def ok(self) -> bool:
        return self.matches or not self.required

    @property
    def delta(self) -> int | None:
        if isinstance(self.expected, int) and isinstance(self.actual, int):
            return self.actual - self.expected
        return None


@dataclass(frozen=True)
class Skipped:
    settings: dict[str, Any]
    line: int
    reason: str


@dataclass
class Report:
    network: str
    params: dict[str, Any]
    input: tuple[int, ...]
    output: tuple[int, ...]
    trainable: int
    non_trainable: int
    macs: int
    depth: int
    layers: list[dict[str, Any]]
    blocks: list[dict[str, Any]]
    checks: list[Check] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "settings": self.params,
            "input": list(self.input),
            "output": list(self.output),
            "params": {"trainable": self.trainable, "non_trainable": self.non_trainable,
                       "total": self.trainable + self.non_trainable},
            "macs": self.macs,
            "flops": 2 * self.macs,
            "depth": self.depth,
            "layers": self.layers,
            "blocks": self.blocks,
            "checks": [{"metric": c.metric, "expected": _jsonable(c.expected),
                        "actual": _jsonable(c.actual), "ok": c.ok, "required": c.required,
                        "delta": c.delta, "source": c.source, "settings": c.settings,
                        "line": c.line}
                       for c in self.checks],
            "skipped_checks": [{"settings": s.settings, "line": s.line, "reason": s.reason}
                               for s in self.skipped],
            "ok": self.ok,
        }


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def depth(g: GraphIR) -> int:
    """Convolutional layers on the longest input → output path."""
    best: dict[str, int] = {}
    for node in layers(g):
        here = int(node.op in DEPTH_OPS)
        best[node.name] = here + max((best[i] for i in node.inputs), default=0)
    return best.get(g.graph["output"], 0)


def metrics(g: GraphIR) -> dict[str, Any]:
    s = summarize(g)
    return {"trainable": s.trainable, "non_trainable": s.non_trainable,
            "params": s.trainable + s.non_trainable, "macs": s.macs, "flops": 2 * s.macs,
            "input": s.input, "output": s.output, "depth": depth(g)}


def layer_rows(g: GraphIR) -> list[dict[str, Any]]:
    return [{"name": n.name, "op": n.op, "output": list(n.shape), "params": n.params,
             "non_trainable": n.state, "macs": n.macs}
            for n in layers(g) if n.op != "input"]


def flow_names(net: t.Network) -> frozenset[str]:
    return frozenset(s.name for s in net.body if isinstance(s, t.Flow))


def scope_runs(g: GraphIR, flows: Collection[str]
               ) -> list[tuple[tuple[str, ...], list[LayerNode]]]:
    """Layers in network order, cut where their flow or block call changes.

    A row's scope is the flow and the block call in it, or the block call alone outside
    flows (``flows`` names the network's flows).  A flow's own layers before, between and
    after its block calls are separate runs, so a DenseNet-like flow ``conv; maxpool; dense;
    dense; bn; linear`` gives the runs [conv, maxpool], dense1, dense2, [bn, linear].
    """
    runs: list[tuple[tuple[str, ...], list[LayerNode]]] = []
    for n in layers(g):
        if n.op == "input":
            continue
        scope = n.scope[:2] if n.scope[:1] and n.scope[0] in flows else n.scope[:1]
        if runs and runs[-1][0] == scope:
            runs[-1][1].append(n)
        else:
            runs.append((scope, [n]))
    return runs


def block_table(g: GraphIR, flows: Collection[str]) -> list[dict[str, Any]]:
    """The audit's block table: one row per run of :func:`scope_runs`, in network order."""
    return [{"name": ".".join(scope) or "(network)", "first": nodes[0].name,
             "last": nodes[-1].name, "layers": len(nodes), "output": list(nodes[-1].shape),
             "params": sum(n.params for n in nodes),
             "non_trainable": sum(n.state for n in nodes), "macs": sum(n.macs for n in nodes)}
            for scope, nodes in scope_runs(g, flows)]


def block_rows(g: GraphIR, levels: int = 2) -> list[dict[str, Any]]:
    """Totals per scope prefix of ``levels`` levels, one entry per name (what ``xdsl diff``
    matches between two networks); the table in network order is :func:`block_table`."""
    rows: dict[str, dict[str, Any]] = {}
    for n in layers(g):
        if n.op == "input":
            continue
        key = ".".join(n.scope[:levels]) or "(network)"
        row = rows.setdefault(key, {"name": key, "layers": 0, "output": None, "params": 0,
                                    "non_trainable": 0, "macs": 0})
        row["layers"] += 1
        row["output"] = list(n.shape)
        row["params"] += n.params
        row["non_trainable"] += n.state
        row["macs"] += n.macs
    return list(rows.values())


def _value(spec: Spec, expr: t.Expr, env: Mapping[str, Any]) -> Any:
    try:
        return evaluate(expr, env)
    except EvalError as e:
        raise SpecError([Diagnostic(str(e), e.span, hint=e.hint or "audit figures and "
                                    "settings are numbers, sizes or parameter values")],
                        spec.audit_source or spec.source) from None


def _expected(spec: Spec, item: t.AuditItem, env: Mapping[str, Any]) -> Any:
    value = _value(spec, item.value, env)
    if item.metric == "output" and isinstance(value, int):
        return (value,)
    return value


def audit(spec: Spec, overrides: Mapping[str, Any] | None = None,
          limits: Limits | None = None) -> Report:
    overrides = dict(overrides or {})
    net = spec.network
    current = resolve_params(net, overrides, spec.source)
    g = spec.build(limits, **overrides)
    found = metrics(g)
    report = Report(net.name, current, found["input"], found["output"], found["trainable"],
                    found["non_trainable"], found["macs"], found["depth"], layer_rows(g),
                    block_table(g, flow_names(net)))
    defaults = resolve_params(net, {}, spec.source)
    for section in net.audits:
        settings = {a.name: _value(spec, a.value, defaults) for a in section.settings if a.name}
        try:
            wanted = resolve_params(net, settings, spec.source)
        except ParamError as e:  # the spec's own audit section is wrong, not the command line
            raise SpecError([Diagnostic(f"audit settings: {e}", section.span,
                                        hint="give each setting a value of its parameter's "
                                             "type")], spec.audit_source or spec.source) \
                from None
        if overrides and wanted != current:
            differ = sorted(k for k in wanted if wanted[k] != current[k])
            report.skipped.append(Skipped(settings, section.span.line,
                                          "parameters differ: " + ", ".join(differ)))
            continue
        there = found if wanted == current else metrics(spec.build(limits, **settings))
        for item in section.items:
            report.checks.append(Check(item.metric, _expected(spec, item, wanted),
                                       there[item.metric],
                                       item.source, settings, item.span.line, item.required))
    return report


@dataclass(frozen=True)
class Row:
    """One network at one setting, for comparisons and sweeps; ratios are to the baseline."""

    label: str
    report: Report
    baseline: bool = False


def compare(entries: Sequence[tuple[Spec, Mapping[str, Any]]],
            limits: Limits | None = None) -> list[Row]:
    """Audit each (spec, settings) pair: the paper's Table 3 is two such rows."""
    rows = []
    for i, (spec, settings) in enumerate(entries):
        label = spec.name + "".join(f" {k}={v}" for k, v in settings.items())
        rows.append(Row(label, audit(spec, settings, limits), baseline=i == 0))
    return rows


def sweep(spec: Spec, name: str, values: Sequence[str], base: Mapping[str, Any] | None = None,
          limits: Limits | None = None) -> list[Row]:
    """Audit ``spec`` once per value of parameter ``name`` (on top of ``base`` overrides).

    The baseline for ratios is the row at the parameter's default (the first row if the sweep
    does not include the default).
    """
    default = resolve_params(spec.network, base, spec.source)
    reports = [audit(spec, {**(base or {}), name: value}, limits) for value in values]
    at_default = [r.params == default for r in reports]
    first = at_default.index(True) if any(at_default) else 0
    return [Row(f"{name}={value}", r, baseline=i == first)
            for i, (value, r) in enumerate(zip(values, reports))]
