"""Rendering of audit reports: a terminal table, Markdown, or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .audit import Check, Report
from .evaluate import describe


def _shape(v: Any) -> str:
    return " x ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return describe(v)
    if isinstance(v, int):
        return f"{v:,}"
    return _shape(v)


def _settings(s: dict[str, Any]) -> str:
    return ", ".join(f"{k}={describe(v).strip('`')}" for k, v in s.items()) or "defaults"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    align = ["---:" if i in right else ":---" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _check_rows(checks: Sequence[Check]) -> list[list[str]]:
    rows = []
    for c in checks:
        delta = "" if c.delta in (None, 0) else f"{c.delta:+,}"
        rows.append(["ok" if c.ok else "FAIL", c.metric, _settings(c.settings),
                     _value(c.expected), _value(c.actual), delta, c.source])
    return rows


def render(report: Report, fmt: str = "table", per_layer: bool = True) -> str:
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2)
    table = markdown_table if fmt == "markdown" else text_table
    out: list[str] = []
    title = f"{report.network}: {_shape(report.input)} -> {_shape(report.output)}"
    out.append(f"## {title}" if fmt == "markdown" else title)
    if per_layer:
        rows = [[r["name"], r["op"], _shape(r["output"]), f"{r['params']:,}",
                 f"{r['macs']:,}"] for r in report.layers]
        out += ["", table(["layer", "op", "output", "params", "MACs"], rows, {3, 4})]
    rows = [[r["name"], str(r["layers"]), _shape(r["output"]), f"{r['params']:,}",
             f"{r['non_trainable']:,}", f"{r['macs']:,}"] for r in report.blocks]
    out += ["", table(["block", "layers", "output", "params", "non-trainable", "MACs"], rows,
                      {1, 3, 4, 5})]
    totals = [
        ["trainable parameters", f"{report.trainable:,}"],
        ["non-trainable (BN running statistics)", f"{report.non_trainable:,}"],
        ["total", f"{report.trainable + report.non_trainable:,}"],
        ["multiply-accumulates (MACs)", f"{report.macs:,}"],
        ["FLOPs (2 x MACs)", f"{2 * report.macs:,}"],
    ]
    out += ["", table(["total", "value"], totals, {1})]
    if report.checks or report.skipped:
        out += ["", table(["check", "figure", "at", "expected", "actual", "delta", "source"],
                          _check_rows(report.checks), {3, 4, 5})]
        for s in report.skipped:
            out.append(f"skipped: audit on line {s.line} ({_settings(s.settings)}): {s.reason}")
        failed = sum(not c.ok for c in report.checks)
        verdict = (f"{len(report.checks)} checks passed" if not failed
                   else f"{failed} of {len(report.checks)} checks FAILED")
        out += ["", verdict]
    return "\n".join(out)
