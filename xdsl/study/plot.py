"""``xdsl plot``: training profiles of runs and studies, and a study's accuracy against its cost.

Two figures, each one column of a two-column paper wide (3.3 in, 7-8 pt text):

* profiles: validation top-1 and validation loss against training steps or epochs, one line
  per run folder (its ``metrics.jsonl``, one row per epoch) and one per point of a study folder
  (its ``results.json``): the mean over the point's seeds, with a band spanning their range
  (lowest to highest), like Figures 6-10 of the Xception paper;
* pareto: a study's accuracy (best or final top-1 or top-5, mean over seeds, bars spanning their
  range) against multiply-accumulates and against trainable parameters, the Pareto front (the
  points no other point beats with fewer MACs or parameters) drawn as a dashed staircase, its
  points filled and the others hollow.

Colours come from the Okabe-Ito palette (safe for colour-blind readers), then repeat with
another line style and marker; a point has the same colour in both figures. The output is
reproducible: no dates or versions in the files and fixed SVG ids, so the same inputs give the
same bytes. matplotlib is imported when a figure is drawn, never by ``xdsl check``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from xdsl.options import FiniteFloat

FORMATS = ("png", "svg", "pdf")
KINDS = ("profiles", "pareto")
X_AXES = ("steps", "epochs")
METRICS = ("best_top1", "final_top1", "best_top5", "final_top5")

# Okabe & Ito (2008), yellow last: it is the hardest to see on white
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
NICE = (1, 2, 2.5, 5, 10)
"""Tick spacings (times a power of ten)."""
MARKED = 8
"""Most markers on a profile's line (one at every row of a shorter one)."""

STYLE: dict[str, Any] = {
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7,
    "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "xtick.major.size": 2.5, "ytick.major.size": 2.5, "lines.linewidth": 1.2,
    "lines.markersize": 3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.linewidth": 0.4, "grid.alpha": 0.5, "legend.frameon": False,
    "svg.fonttype": "none", "svg.hashsalt": "xdsl-plot", "pdf.fonttype": 42,
    "path.simplify": False, "figure.dpi": 100,
}
"""Paper style: text stays text in SVG (searchable, editable; DejaVu Sans, which matplotlib
ships, or the viewer's sans-serif) and TrueType in PDF."""

METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": "xdsl plot"},
    "svg": {"Date": None, "Creator": "xdsl plot"},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "xdsl plot", "Producer": None},
}
"""No dates or library versions: the same figure gives the same bytes."""


class PlotError(Exception):
    """An input that cannot be plotted; the message says which and why."""


@dataclass
class Series:
    """One line of the profiles: x and the validation top-1 (a fraction) and loss; ``lo`` and
    ``hi`` bound a band (a study point's range over its seeds) or are None."""

    label: str
    x: list[float]
    top1: list[float]
    loss: list[float]
    top1_range: tuple[list[float], list[float]] | None = None
    loss_range: tuple[list[float], list[float]] | None = None
    runs: int = 1


@dataclass
class Point:
    """A study point in the Pareto plot: cost and accuracy (mean, lowest and highest over
    seeds, fractions)."""

    label: str
    macs: int
    trainable: int
    mean: float
    lo: float
    hi: float


@dataclass
class Study:
    """A study folder's points (as ``results.json`` holds them)."""

    name: str
    path: Path
    baseline: str | None
    points: list[dict[str, Any]]
    planned: bool = False
    """No ``results.json`` yet: the points and runs of its plan, without results."""


# ---------------------------------------------------------------------------- reading inputs


def kind_of(path: Path) -> str:
    """``run`` (a folder with ``metrics.jsonl`` or ``summary.json``, or that file), ``study`` (a
    folder with ``results.json`` or, still running, ``study.json``; or that file)."""
    if path.is_file():
        if path.name in ("results.json", "study.json"):
            return "study"
        if path.name in ("metrics.jsonl", "summary.json"):
            return "run"
    elif path.is_dir():
        if (path / "results.json").is_file() or (path / "study.json").is_file():
            return "study"
        if (path / "metrics.jsonl").is_file() or (path / "summary.json").is_file():
            return "run"
    raise PlotError(f"{path} is neither a run folder (metrics.jsonl, written by `xdsl train "
                    f"--run-dir`) nor a study folder (results.json, written by `xdsl study`)")


def folder(path: Path) -> Path:
    return path.parent if path.is_file() else path


def read_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The validation rows of a run's ``metrics.jsonl`` in step order: one per epoch with a
    whole ``epoch``, ``step``, ``val_top1`` and ``val_loss``. A line a kill left half-written
    is skipped; a step written twice keeps its last row (as a resumed run's log does)."""
    path = run_dir / "metrics.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise PlotError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    rows: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict) or not _whole(row):
            continue
        rows[int(row["step"])] = row
    return [rows[step] for step in sorted(rows)]


def _whole(row: dict[str, Any]) -> bool:
    def number(key: str) -> bool:
        value = row.get(key)
        return isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value)

    return all(number(k) for k in ("epoch", "step", "val_top1")) and "val_loss" in row \
        and (row["val_loss"] is None or number("val_loss"))


def run_series(run_dir: Path, label: str, x_axis: str) -> Series:
    rows = read_rows(run_dir)
    if not rows:
        raise PlotError(f"{run_dir} has no metrics yet: metrics.jsonl gets its first row at the "
                        f"end of the first epoch")
    key = "step" if x_axis == "steps" else "epoch"
    return Series(label, [float(r[key]) for r in rows], [float(r["val_top1"]) for r in rows],
                  [_float(r["val_loss"]) for r in rows])


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def read_study(path: Path) -> Study:
    """A study folder's ``results.json``, checked enough to plot it; for a study whose first
    run has not finished yet, its plan (``study.json``): its points and run folders, without
    their costs."""
    study_dir = folder(path)
    file = study_dir / "results.json"
    if not file.is_file():
        return _planned(study_dir)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PlotError(f"cannot read {file}: {getattr(e, 'strerror', None) or e}") from None
    points = data.get("points") if isinstance(data, dict) else None
    if not isinstance(points, list) or not all(
            isinstance(p, dict) and isinstance(p.get("label"), str)
            and isinstance(p.get("runs"), list) for p in points):
        raise PlotError(f"{file} is not a study's results: it needs a list of points, each with "
                        f"a label and its runs")
    if not points:
        raise PlotError(f"{file} has no points yet")
    name = data.get("study")
    return Study(name if isinstance(name, str) and name else study_dir.name, study_dir,
                 data.get("baseline"), points)


def _planned(study_dir: Path) -> Study:
    from xdsl.study.plan import StudyError, load

    try:
        plan = load(study_dir)
    except StudyError as e:
        raise PlotError(str(e)) from None
    runs = plan.runs()
    points = [{"label": p.label, "runs": [{"seed": r.seed, "run_dir": r.path} for r in runs
                                          if r.label == p.label]} for p in plan.points]
    return Study(plan.name, study_dir, plan.baseline, points, planned=True)


def point_series(study: Study, point: dict[str, Any], label: str, x_axis: str) -> Series | None:
    """The mean over a point's runs at the x values they all reached, the band their range;
    None for a point with no run to show yet (of a study still running: no validated
    epoch)."""
    curves = []
    for run in point["runs"]:
        run_dir = study.path / str(run.get("run_dir", "")) if isinstance(run, dict) else None
        if run_dir is None or not run.get("run_dir"):
            raise PlotError(f"{study.path / 'results.json'}: a run of point {point['label']!r} "
                            f"has no run_dir")
        if study.planned and not read_rows(run_dir):
            continue
        curves.append(run_series(run_dir, label, x_axis))
    if not curves:
        return None
    common = sorted(set.intersection(*(set(c.x) for c in curves)))
    if not common:
        raise PlotError(f"the runs of point {point['label']!r} of {study.path} share no "
                        f"{x_axis[:-1]} with metrics")
    top1s = [[dict(zip(c.x, c.top1, strict=True))[x] for c in curves] for x in common]
    losses = [[dict(zip(c.x, c.loss, strict=True))[x] for c in curves] for x in common]
    band = len(curves) > 1
    return Series(label, common, [_mean(v) for v in top1s], [_mean(v) for v in losses],
                  ([min(v) for v in top1s], [max(v) for v in top1s]) if band else None,
                  ([min(v) for v in losses], [max(v) for v in losses]) if band else None,
                  runs=len(curves))


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def study_points(study: Study, metric: str, notes: list[str] | None = None) -> list[Point]:
    """The points of a study with their cost and their runs' ``metric``; a point with no
    finished run yet is left out (with a note)."""
    out = []
    for p in study.points:
        values = [r.get(metric) for r in p["runs"] if isinstance(r, dict)]
        values = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
        macs, trainable = p.get("macs"), p.get("trainable")
        if not values or not isinstance(macs, int) or not isinstance(trainable, int):
            _left_out(notes, study, p)
            continue
        out.append(Point(p["label"], macs, trainable, _mean(values), min(values), max(values)))
    return out


def _left_out(notes: list[str] | None, study: Study, point: dict[str, Any]) -> None:
    if notes is not None:
        what = "validated epoch" if study.planned else "finished run"
        notes.append(f"point {point['label']!r} of {study.path} has no {what} yet; left out")


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """The indices of the points no other point matches or beats at a lower or equal cost
    (for equal points, the first), in increasing cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -scores[i], i))
    front: list[int] = []
    for i in order:
        if not front or scores[i] > scores[front[-1]]:
            front.append(i)
    return front


def labels_for(paths: Sequence[Path], labels: Sequence[str]) -> list[str]:
    """The legend name of each input: ``--label`` or the folder's name (with its parent's when
    two inputs share a name)."""
    if labels and len(labels) != len(paths):
        raise click.BadParameter(f"give one --label per RUN_OR_STUDY ({len(paths)}), or none; "
                                 f"got {len(labels)}", param_hint="--label")
    if labels:
        return list(labels)
    names = [folder(p).resolve().name or str(p) for p in paths]
    return [f"{folder(p).resolve().parent.name}/{n}" if names.count(n) > 1 else n
            for p, n in zip(paths, names, strict=True)]


def profiles(paths: Sequence[Path], labels: Sequence[str], x_axis: str,
             notes: list[str] | None = None) -> list[Series]:
    """The lines of the profiles figure: each run, and each study's points (named
    ``study: point`` when there are several inputs) that have a finished run."""
    out: list[Series] = []
    for path, label in zip(paths, labels_for(paths, labels), strict=True):
        if kind_of(path) == "run":
            out.append(run_series(folder(path), label, x_axis))
            continue
        study = read_study(path)
        for point in study.points:
            name = point["label"] if len(paths) == 1 else f"{label}: {point['label']}"
            series = point_series(study, point, name, x_axis)
            if series is None:
                _left_out(notes, study, point)
            else:
                out.append(series)
    if not out:
        raise PlotError("nothing to plot yet: no run has finished an epoch")
    return out


def pareto_inputs(paths: Sequence[Path], labels: Sequence[str], metric: str,
                  notes: list[str] | None = None) -> list[tuple[str, list[Point]]]:
    """Each study's name and its points that have a finished run."""
    out = []
    for path, label in zip(paths, labels_for(paths, labels), strict=True):
        if kind_of(path) != "study":
            raise PlotError(f"{path} is a run: the Pareto plot needs study folders "
                            f"(results.json, with each point's MACs and parameters)")
        study = read_study(path)
        if study.planned:
            raise PlotError(f"{study.path} has no results.json yet: `xdsl study` writes it, "
                            f"with each point's MACs and parameters, as its runs finish")
        points = study_points(study, metric, notes)
        if points:
            out.append((label, points))
    if not out:
        raise PlotError("nothing to plot yet: no point of the studies has a finished run")
    return out


# ---------------------------------------------------------------------------- drawing


def _look(index: int) -> dict[str, Any]:
    turn = index // len(PALETTE)
    return {"color": PALETTE[index % len(PALETTE)],
            "linestyle": LINESTYLES[turn % len(LINESTYLES)],
            "marker": MARKERS[(index + turn) % len(MARKERS)]}


def _counter(top: float) -> Any:
    """Tick labels of steps up to ``top``, one unit for the axis: 500 and 2,000; 15k and 50k;
    1.2M and 3M."""
    factor, suffix = (1e6, "M") if top >= 1e6 else (1e3, "k") if top >= 1e4 else (1.0, "")

    def label(value: float, _pos: Any = None) -> str:
        if not suffix:
            return f"{value:,.0f}" if value == int(value) else f"{value:g}"
        return f"{value / factor:g}{suffix}" if value else "0"

    return label


def _scale(values: Sequence[float]) -> tuple[float, str]:
    top = max(values)
    for factor, word in ((1e9, "billions"), (1e6, "millions"), (1e3, "thousands")):
        if top >= factor:
            return factor, word
    return 1.0, ""


def _grid(labels: Sequence[str]) -> tuple[list[str], list[list[str]]] | None:
    """The names and values of labels that all read ``NAME=VALUE,NAME=VALUE...`` with the same
    names (as ``xdsl study --sweep`` names its points), else None."""
    names: list[str] | None = None
    values = []
    for label in labels:
        pairs = [part.partition("=") for part in label.split(",")]
        if not all(sep and name.strip() for name, sep, _ in pairs):
            return None
        these = [name.strip() for name, _, _ in pairs]
        if names is not None and these != names:
            return None
        names = these
        values.append([value.strip() for _, _, value in pairs])
    return (names, values) if names is not None else None


def key(labels: Sequence[str]) -> tuple[str | None, list[str], list[dict[str, Any]]]:
    """The legend's title, its entries and each line's colour, line style and marker.

    Points of a sweep are named by their values under a title naming the swept parameters
    (``segments, mid_act`` over ``4, relu``); in a sweep of two parameters, the first picks the
    colour and the second the line style and marker (as Figure 10 of the paper pairs them).
    Anything else: the labels as given, colours in turn."""
    grid = _grid(labels) if len(labels) > 1 else None
    if grid is None:
        return None, list(labels), [_look(i) for i in range(len(labels))]
    names, values = grid
    short = [", ".join(v) for v in values]
    if len(names) == 2:
        first = list(dict.fromkeys(v[0] for v in values))
        second = list(dict.fromkeys(v[1] for v in values))
        if len(first) <= len(PALETTE) and len(second) <= len(LINESTYLES):
            return ", ".join(names), short, [
                {"color": PALETTE[first.index(a)], "linestyle": LINESTYLES[second.index(b)],
                 "marker": MARKERS[second.index(b)]} for a, b in values]
    return ", ".join(names), short, [_look(i) for i in range(len(labels))]


def _columns(labels: Sequence[str]) -> int:
    longest = max(len(s) for s in labels)
    return min(len(labels), 3 if longest <= 10 else 2 if longest <= 22 else 1)


def _legend_rows(title: str | None, labels: Sequence[str]) -> int:
    return -(-len(labels) // _columns(labels)) + (title is not None)


def _legend(fig: Any, handles: list[Any], title: str | None, labels: list[str]) -> None:
    fig.legend(handles, labels, loc="outside lower center", ncols=_columns(labels),
               title=title, title_fontsize=7, handlelength=2.2, columnspacing=1.2,
               borderaxespad=0.2)


def _figure(width: float, height: float) -> Any:
    """A figure on the Agg canvas, outside pyplot: no global state, no window."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def profiles_figure(series: Sequence[Series], x_axis: str, width: float = 3.3) -> Any:
    """Validation top-1 (%) above validation loss, against steps or epochs, one line each."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    title, labels, looks = key([s.label for s in series])
    fig = _figure(width, 3.2 + 0.14 * _legend_rows(title, labels) + 0.1)
    top, bottom = fig.subplots(2, 1, sharex=True)
    handles = []
    for i, (s, look) in enumerate(zip(series, looks, strict=True)):
        every = -(-len(s.x) // MARKED)   # at most MARKED markers a line, staggered
        for ax, name, values, band, scale in (
                (top, "top1", s.top1, s.top1_range, 100.0),
                (bottom, "loss", s.loss, s.loss_range, 1.0)):
            if band is not None:
                ax.fill_between(s.x, [v * scale for v in band[0]], [v * scale for v in band[1]],
                                color=look["color"], alpha=0.18, linewidth=0,
                                gid=f"{name}-band-{i}")
            (line,) = ax.plot(s.x, [v * scale for v in values], color=look["color"],
                              linestyle=look["linestyle"], marker=look["marker"],
                              markevery=(i % every, every), gid=f"{name}-line-{i}")
            if name == "top1":
                handles.append(line)
    top.set_ylabel("Validation top-1 (%)")
    bottom.set_ylabel("Validation loss (nats)")
    bottom.set_xlabel("Training steps" if x_axis == "steps" else "Epochs")
    bottom.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=NICE))
    bottom.xaxis.set_major_formatter(FuncFormatter(_counter(max(max(s.x) for s in series))))
    for ax in (top, bottom):
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=NICE))
    fig.align_ylabels((top, bottom))
    _legend(fig, handles, title, labels)
    return fig


def pareto_figure(studies: Sequence[tuple[str, list[Point]]], metric: str,
                  width: float = 3.3) -> Any:
    """Accuracy against MACs (above) and against trainable parameters (below); each study's
    front a dashed staircase, its points filled (and drawn over the others, hollow); bars span
    the seeds."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    several = len(studies) > 1
    title, labels, looks = key([f"{name}: {p.label}" if several else p.label
                                for name, points in studies for p in points])
    labels.append("Pareto front")
    fig = _figure(width, 3.3 + 0.14 * _legend_rows(title, labels) + 0.1)
    axes = fig.subplots(2, 1)
    every = [p for _, points in studies for p in points]
    handles: list[Any] = []
    for ax, name, cost in ((axes[0], "macs", "macs"), (axes[1], "params", "trainable")):
        factor, word = _scale([float(getattr(p, cost)) for p in every])
        values = [getattr(p, cost) for p in every]
        if min(values) > 0 and max(values) / min(values) > 30:
            ax.set_xscale("log")
        index = 0
        for s, (_, points) in enumerate(studies):
            xs = [getattr(p, cost) / factor for p in points]
            ys = [p.mean * 100 for p in points]
            front = pareto_front(xs, ys)
            if len(points) > 1:   # a staircase, on to the dearest point's cost
                stairs = [(xs[i], ys[i]) for i in front]
                if max(xs) > stairs[-1][0]:
                    stairs.append((max(xs), stairs[-1][1]))
                ax.plot(*zip(*stairs, strict=True), drawstyle="steps-post", color="0.45",
                        linestyle="--", linewidth=0.8, marker=None, zorder=1,
                        gid=f"{name}-front-{s}")
            for j, p in enumerate(points):
                look = looks[index]
                on = j in front
                bar = ax.errorbar(xs[j], ys[j], yerr=[[ys[j] - p.lo * 100],
                                                      [p.hi * 100 - ys[j]]],
                                  color=look["color"], marker=look["marker"], markersize=4.5,
                                  markerfacecolor=look["color"] if on else "white",
                                  markeredgewidth=0.9, elinewidth=0.7, capsize=1.5,
                                  linestyle="none", zorder=4 if on else 3)
                marker_line, caps, bars = bar.lines
                marker_line.set_gid(f"{name}-point-{index}")
                for c, cap in enumerate(caps):
                    cap.set_gid(f"{name}-cap-{index}-{c}")
                for bar_lines in bars:
                    bar_lines.set_gid(f"{name}-range-{index}")
                if name == "macs":
                    handles.append(Line2D([], [], color=look["color"], marker=look["marker"],
                                          markersize=4.5, linestyle="none"))
                index += 1
        what = "Multiply-accumulates" if cost == "macs" else "Trainable parameters"
        ax.set_xlabel(f"{what} ({word})" if word else what)
        top = "Best" if metric.startswith("best") else "Final"
        k = metric[-1]
        ax.set_ylabel(f"{top} val. top-{k} (%)")
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=NICE))
    handles.append(Line2D([], [], color="0.45", linestyle="--", linewidth=0.8, marker="o",
                          markersize=3.5))   # its points filled
    fig.align_ylabels(axes)
    _legend(fig, handles, title, labels)
    return fig


def save(fig: Any, path: Path, dpi: int = 300) -> bytes:
    """The figure in the format of ``path``'s suffix, reproducibly; written to ``path``."""
    fmt = path.suffix.lstrip(".").lower()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, metadata=METADATA[fmt])
    data = buffer.getvalue()
    from xdsl.options import write_bytes

    write_bytes(path, data)
    return data


def render(paths: Sequence[Path], output: Path, kind: str = "profiles", x_axis: str = "steps",
           metric: str = "best_top1", labels: Sequence[str] = (), width: float = 3.3,
           dpi: int = 300) -> list[str]:
    """Draw ``kind`` of the runs and studies at ``paths`` into ``output`` (.png .svg .pdf);
    return the notes on what was left out."""
    import matplotlib

    notes: list[str] = []
    if kind == "profiles":
        data: Any = profiles(paths, labels, x_axis, notes)
    else:
        data = pareto_inputs(paths, labels, metric, notes)
    with matplotlib.rc_context(STYLE):
        fig = profiles_figure(data, x_axis, width) if kind == "profiles" else \
            pareto_figure(data, metric, width)
        save(fig, output, dpi)
    return notes


def _format(path: Path, option: str) -> None:
    if path.suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"cannot tell the format from {path.name!r}; use a name "
                                 f"ending in {', '.join('.' + f for f in FORMATS)}",
                                 param_hint=option)
    from xdsl.options import check_output

    check_output(path, option)


def _handle_errors(f: Any) -> Any:
    """``xdsl.cli.handle_errors``, looked up when the command runs."""
    import functools

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from xdsl.cli import handle_errors

        return handle_errors(f)(*args, **kwargs)

    return wrapper


@click.command(short_help="Plot training profiles of runs or studies (PNG, SVG, PDF).")
@click.argument("inputs", metavar="RUN_OR_STUDY...", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write; the suffix picks the format (.png .svg .pdf).")
@click.option("--kind", type=click.Choice(KINDS), default="profiles", show_default=True,
              help="profiles: validation top-1 and loss against training, one line per run "
                   "and per study point (the mean over its seeds, their range as a band); "
                   "pareto: each study's accuracy against MACs and against parameters, with "
                   "its Pareto front.")
@click.option("--x", "x_axis", type=click.Choice(X_AXES), default="steps", show_default=True,
              help="Horizontal axis of the profiles.")
@click.option("--metric", type=click.Choice(METRICS), default="best_top1", show_default=True,
              help="Accuracy of the Pareto plot (of each run, averaged over seeds).")
@click.option("--pareto-output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the Pareto plot of the studies to this file "
                   "(with --kind profiles).")
@click.option("--label", "labels", multiple=True, metavar="TEXT",
              help="Legend name of each RUN_OR_STUDY, in order (repeat it once per input; "
                   "default: the folder's name).")
@click.option("--width", type=FiniteFloat(1.0, 20.0), default=3.3, show_default=True,
              help="Figure width in inches (3.3: one column of a two-column paper).")
@click.option("--dpi", type=click.IntRange(50, 1200), default=300, show_default=True,
              help="Resolution of PNG output.")
@_handle_errors
def plot_command(inputs: tuple[Path, ...], output: Path, kind: str, x_axis: str, metric: str,
                 pareto_output: Path | None, labels: tuple[str, ...], width: float,
                 dpi: int) -> None:
    """Plot the runs and studies RUN_OR_STUDY (run folders of `xdsl train --run-dir`, study
    folders of `xdsl study`) into a figure one paper column wide: their training profiles
    (validation top-1 and loss), or with --kind pareto each study's accuracy against MACs and
    parameters with its Pareto front.

    \b
      xdsl plot runs/xception runs/inception -o profiles.pdf --x epochs
      xdsl plot studies/spectrum -o profiles.svg --pareto-output pareto.svg
    """
    _format(output, "-o")
    if pareto_output is not None:
        if kind == "pareto":
            raise click.BadParameter("--kind pareto already writes the Pareto plot to -o",
                                     param_hint="--pareto-output")
        _format(pareto_output, "--pareto-output")
    try:
        for path in inputs:
            try:
                kind_of(path)
            except PlotError as e:
                raise click.BadParameter(str(e), param_hint="RUN_OR_STUDY") from None
        labels_for(inputs, labels)
        for note in render(inputs, output, kind, x_axis, metric, labels, width, dpi):
            click.echo(f"note: {note}", err=True)
        click.echo(f"wrote {output}", err=True)
        if pareto_output is not None:
            render(inputs, pareto_output, "pareto", x_axis, metric, labels, width, dpi)
            click.echo(f"wrote {pareto_output}", err=True)
    except PlotError as e:
        raise click.ClickException(str(e)) from None


__all__ = ["PlotError", "Point", "Series", "pareto_figure", "pareto_front", "plot_command",
           "profiles", "profiles_figure", "read_rows", "render"]
