"""A study's results: one table of its points, from the run folders (no torch here).

Per run, from its own files: best and final validation top-1 and top-5 (the ``val_top1`` and
``val_top5`` of ``metrics.jsonl``, the loop's per-epoch rows), training images/s (the mean of the
epochs' ``img_per_s``) and wall time (the sum of the study's sessions of the run, recorded in
``study_sessions.jsonl``; ``summary.json``'s ``elapsed_s`` for a run trained outside a study).
Per point: parameters and MACs (from the spec, as the run set it up), the mean and the sample
standard deviation of each metric over its finished seeds, and the ratio of each mean to the
baseline point's. Only finished runs count.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

from xdsl.report import latex_table, markdown_table, text_table

from .plan import RESULTS, Study, load
from .run import SESSIONS, run_dir, state

METRICS = ("best_top1", "final_top1", "best_top5", "final_top5", "images_per_s", "wall_s")
COUNTS = ("trainable", "macs")
FORMATS = ("table", "markdown", "md", "latex", "json", "csv")


def run_result(study_dir: str | os.PathLike[str], folder: Path) -> dict[str, float] | None:
    """A finished run's metrics, or ``None`` when it has no validated epoch."""
    from xdsl.train.metrics import read

    rows = [r for r in read(folder) if r.get("val_top1") is not None]
    if not rows:
        return None
    sessions = folder / SESSIONS
    if sessions.is_file():
        lines = [json.loads(line) for line in sessions.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        wall = sum(float(line["wall_s"]) for line in lines)
    else:
        wall = float(json.loads((folder / "summary.json").read_text(encoding="utf-8"))
                     ["elapsed_s"])
    return {"best_top1": max(float(r["val_top1"]) for r in rows),
            "final_top1": float(rows[-1]["val_top1"]),
            "best_top5": max(float(r["val_top5"]) for r in rows),
            "final_top5": float(rows[-1]["val_top5"]),
            "images_per_s": statistics.fmean(float(r["img_per_s"]) for r in rows),
            "wall_s": wall}


def counts(spec: str, params: dict[str, Any]) -> dict[str, int]:
    """Trainable parameters and MACs of ``spec`` with the run's resolved parameters."""
    from xdsl.api import parse, summarize

    s = summarize(parse(spec).build(None, **params))
    return {"trainable": s.trainable, "macs": s.macs}


def collect(study_dir: str | os.PathLike[str], study: Study | None = None) -> dict[str, Any]:
    """The results of ``study_dir`` as ``results.json`` holds them (see the module's doc)."""
    study = study or load(study_dir)
    points = []
    for point in study.points:
        runs: list[dict[str, Any]] = []
        sizes: dict[str, int | None] = {"trainable": None, "macs": None}
        for run in study.runs():
            if run.label != point.label or state(study_dir, run) != "done":
                continue
            folder = run_dir(study_dir, run)
            result = run_result(study_dir, folder)
            if result is None:
                continue
            if sizes["trainable"] is None:
                summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
                sizes.update(counts(point.spec, summary["params"]))
            runs.append({"seed": run.seed, "run_dir": run.path, **result})
        mean = {m: (statistics.fmean(r[m] for r in runs) if runs else None) for m in METRICS}
        std = {m: (statistics.stdev(r[m] for r in runs) if len(runs) > 1 else
                   (0.0 if runs else None)) for m in METRICS}
        points.append({"label": point.label, "spec": point.spec, "params": dict(point.params),
                       **sizes, "runs": runs, "mean": mean, "std": std})
    base = next(p for p in points if p["label"] == study.baseline_label)
    for p in points:
        p["ratio"] = {k: _ratio(p.get(k) if k in COUNTS else p["mean"][k],
                                base.get(k) if k in COUNTS else base["mean"][k])
                      for k in (*COUNTS, *METRICS)}
    return {"study": study.name, "baseline": study.baseline_label, "seeds": list(study.seeds),
            "data": study.to_dict()["data"], "recipe": study.recipe.to_dict(), "points": points}


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0:
        return None
    return value / base


def write(study_dir: str | os.PathLike[str], study: Study | None = None) -> dict[str, Any]:
    """Collect and store ``results.json`` in the study folder (atomically); return it."""
    from xdsl.train.checkpoint import write_atomic

    results = collect(study_dir, study)
    write_atomic(Path(study_dir) / RESULTS, (json.dumps(results, indent=2) + "\n").encode())
    return results


# -- rendering ---------------------------------------------------------------------------------

HEADERS = ["point", "parameters", "MACs", "best top-1 (%)", "final top-1 (%)", "best top-5 (%)",
           "final top-5 (%)", "images/s", "wall (s)", "seeds"]


def caption(results: dict[str, Any]) -> str:
    data, r = results["data"], results["recipe"]
    if data["source"] == "shapes":
        what = f"shapes ({data['shapes_train']:,} training, {data['shapes_val']:,} validation " \
               f"images, {data['shapes_classes']} classes)"
    else:
        what = data["source"]
    seeds = len(results["seeds"])
    spread = "; mean ± standard deviation over seeds" if seeds > 1 else ""
    return (f"Study {results['study']}: {len(results['points'])} points × {seeds} seed"
            f"{'s' if seeds != 1 else ''} on {what}, {r['name']} recipe ({r['optimizer']}, "
            f"lr {r['lr']:g}, batch {r['batch_size']}, {r['epochs']} epochs); validation "
            f"accuracy of the {'EMA' if r['ema_decay'] > 0 else 'trained'} weights; "
            f"(×) ratio to {results['baseline']}{spread}.")


def rows(results: dict[str, Any]) -> list[list[str]]:
    """One row of cells per point: values, ``± spread`` over seeds and ``(ratio×)``."""
    out = []
    for p in results["points"]:
        base = p["label"] == results["baseline"]
        out.append([p["label"], _cell(p, "trainable", 1, 0, base), _cell(p, "macs", 1, 0, base),
                    *(_cell(p, m, 100, 1, base) for m in METRICS[:4]),
                    _cell(p, "images_per_s", 1, 0, base), _cell(p, "wall_s", 1, 1, base),
                    str(len(p["runs"]))])
    return out


def _cell(p: dict[str, Any], key: str, scale: float, digits: int, base: bool) -> str:
    if key in COUNTS:
        value, spread = p[key], None
    else:
        value, spread = p["mean"][key], p["std"][key]
    if value is None:
        return "—"
    text = f"{value * scale:,.{digits}f}"
    if spread is not None and len(p["runs"]) > 1:
        text += f" ± {spread * scale:,.{digits}f}"
    ratio = p["ratio"][key]
    if not base and ratio is not None:
        text += f" ({_fmt_ratio(ratio)}×)"
    return text


def _fmt_ratio(r: float) -> str:
    return f"{r:.2f}" if r < 10 else f"{r:.1f}"


def render(results: dict[str, Any], fmt: str = "table") -> str:
    """``table`` (text), ``markdown`` (or ``md``), ``latex`` (a booktabs tabular, as
    ``xdsl export`` writes), ``json`` (``results.json``) or ``csv`` (one row per point)."""
    if fmt == "json":
        return json.dumps(results, indent=2)
    if fmt == "csv":
        return _csv(results)
    headers = HEADERS
    body = rows(results)
    right = set(range(1, len(headers)))
    if fmt == "latex":
        tabular = latex_table(headers, body, right).replace("±", r"$\pm$")
        return f"% {caption(results)}\n{tabular}"
    if fmt in ("markdown", "md"):
        return f"{caption(results)}\n\n{markdown_table(headers, body, right)}"
    return f"{caption(results)}\n\n{text_table(headers, body, right)}"


def _csv(results: dict[str, Any]) -> str:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    header = ["label", "spec", "params", "seeds", "trainable", "trainable_ratio", "macs",
              "macs_ratio"]
    for m in METRICS:
        header += [f"{m}_mean", f"{m}_std", f"{m}_ratio"]
    out.writerow(header)
    for p in results["points"]:
        row = [p["label"], p["spec"], json.dumps(p["params"]), len(p["runs"]),
               _num(p["trainable"]), _num(p["ratio"]["trainable"]), _num(p["macs"]),
               _num(p["ratio"]["macs"])]
        for m in METRICS:
            row += [_num(p["mean"][m]), _num(p["std"][m]), _num(p["ratio"][m])]
        out.writerow(row)
    return buffer.getvalue().rstrip("\n")


def _num(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)
