"""Rendering of audits, comparisons and sweeps: terminal table, Markdown, LaTeX or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .audit import Check, Report, Row
from .evaluate import describe, describe_settings

FORMATS = ("table", "json", "markdown", "latex")


def _shape(v: Any) -> str:
    return " x ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return describe(v)
    if isinstance(v, int):
        return f"{v:,}"
    return _shape(v)


def _settings(s: dict[str, Any]) -> str:
    return describe_settings(s) or "defaults"


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
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text).replace("×", r"$\times$")
    return out.replace(" x ", r" $\times$ ").replace(",", "{,}") if out[:1].isdigit() else out


def latex_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    cols = "".join("r" if i in right else "l" for i in range(len(headers)))
    body = [" & ".join(latex_escape(c) for c in r) + r" \\" for r in rows]
    return "\n".join([rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
                      " & ".join(latex_escape(h) for h in headers) + r" \\", r"\midrule",
                      *body, r"\bottomrule", r"\end{tabular}"])


TABLES = {"table": text_table, "markdown": markdown_table, "latex": latex_table}


def _check_rows(checks: Sequence[Check]) -> list[list[str]]:
    rows = []
    for c in checks:
        delta = "" if c.delta in (None, 0) else f"{c.delta:+,}"
        status = "ok" if c.matches else ("note" if not c.required else "FAIL")
        rows.append([status, c.metric, _settings(c.settings), _value(c.expected),
                     _value(c.actual), delta, c.source])
    return rows


def render(report: Report, fmt: str = "table", per_layer: bool = True) -> str:
    """A single audit: per-layer and per-block tables, totals, and the spec's checks."""
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2)
    table = TABLES[fmt]
    out: list[str] = []
    title = f"{report.network}: {_shape(report.input)} -> {_shape(report.output)}"
    out.append({"markdown": f"## {title}", "latex": f"% {title}"}.get(fmt, title))
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
        ["depth (convolutional layers on the longest path)", str(report.depth)],
    ]
    out += ["", table(["total", "value"], totals, {1})]
    if report.checks or report.skipped:
        out += ["", table(["check", "figure", "at", "expected", "actual", "delta", "source"],
                          _check_rows(report.checks), {3, 4, 5})]
        for s in report.skipped:
            out.append(f"skipped: audit on line {s.line} ({_settings(s.settings)}): {s.reason}")
        required = [c for c in report.checks if c.required]
        failed = sum(not c.ok for c in required)
        plural = "s" if len(required) != 1 else ""
        verdict = (f"{len(required)} check{plural} passed" if not failed
                   else f"{failed} of {len(required)} check{plural} FAILED")
        if not required:
            verdict = "no checks apply at these parameters"
        out += ["", verdict]
    return "\n".join(out)


def render_rows(rows: Sequence[Row], fmt: str = "table", title: str = "") -> str:
    """Several networks or settings side by side, with ratios to the first row."""
    if fmt == "json":
        return json.dumps([{**r.report.as_dict(), "label": r.label, "baseline": r.baseline}
                           for r in rows], indent=2)
    base = next((r for r in rows if r.baseline), rows[0]).report
    body = []
    for r in rows:
        rep = r.report
        body.append([r.label + (" (baseline)" if r.baseline and len(rows) > 1 else ""),
                     f"{rep.trainable:,}", f"{rep.trainable / base.trainable:.3f}",
                     f"{rep.macs:,}", f"{rep.macs / base.macs:.3f}" if base.macs else "-",
                     str(rep.depth), _shape(rep.output)])
    headers = ["network", "trainable params", "ratio", "MACs", "ratio", "depth", "output"]
    text = TABLES[fmt](headers, body, {1, 2, 3, 4, 5})
    return f"{title}\n\n{text}" if title else text
