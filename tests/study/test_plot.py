"""``xdsl plot``: run folders and study folders drawn to PNG, SVG and PDF (issue 16, plots).

The run folders here are written in the training loop's format (``metrics.jsonl``, one row per
epoch; one test checks that format against a real tiny run) and the study folders as
``xdsl study`` writes ``results.json``. The figures are checked by reading them back: the PNG's
pixels, the SVG's XML (text, one path per line, colours), the PDF's header, and the SVGs'
structure against golden text files (``pytest --update-golden`` rewrites them).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xdsl.cli import main
from xdsl.study import plot
from xdsl.study.plot import PALETTE, pareto_front, read_rows, render

SVG = "{http://www.w3.org/2000/svg}"
IDS = re.compile(r"(top1|loss|macs|params)-(line|band|point|front)-\d+")


def row(epoch: int, step: int, top1: float, loss: float) -> dict[str, Any]:
    """One row as ``xdsl.train.loop`` writes it at the end of an epoch."""
    return {"epoch": epoch, "step": step, "train_loss": loss + 0.25, "train_top1": top1 / 2,
            "val_loss": loss, "val_top1": top1, "val_top5": min(1.0, top1 + 0.25),
            "img_per_s": 100.0, "lr": 0.045, "time_s": 2.0 * epoch, "weights": "ema",
            "precision": "float32"}


def write_run(folder: Path, top1: list[float], loss: list[float], steps: int = 20) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metrics.jsonl", "w", encoding="utf-8") as f:
        for e, (a, b) in enumerate(zip(top1, loss, strict=True), 1):
            f.write(json.dumps(row(e, e * steps, a, b)) + "\n")
    return folder


# point label → MACs, trainable parameters, per seed (top-1 per epoch, loss per epoch)
POINTS: dict[str, tuple[int, int, list[tuple[list[float], list[float]]]]] = {
    "segments=1": (1_000_000, 20_000, [([0.2, 0.4, 0.5], [2.0, 1.5, 1.25]),
                                       ([0.3, 0.5, 0.6], [1.75, 1.25, 1.0])]),
    "segments=2": (2_000_000, 30_000, [([0.25, 0.5, 0.625], [1.9, 1.4, 1.1]),
                                       ([0.25, 0.5, 0.575], [1.9, 1.4, 1.1])]),
    "segments=4": (3_000_000, 40_000, [([0.2, 0.45, 0.55], [2.0, 1.5, 1.2]),
                                       ([0.3, 0.45, 0.55], [1.8, 1.5, 1.2])]),
    "segments=none": (4_000_000, 50_000, [([0.3, 0.55, 0.7], [1.7, 1.2, 0.9]),
                                          ([0.3, 0.6, 0.7], [1.7, 1.1, 0.9])]),
}


def write_study(folder: Path, points: dict[str, Any] = POINTS,
                unfinished: tuple[str, ...] = ()) -> Path:
    """A study folder: one run folder per point and seed, and ``results.json``."""
    entries = []
    for label, (macs, trainable, seeds) in points.items():
        runs = []
        for seed, (top1, loss) in enumerate(seeds):
            run_dir = f"runs/{label.replace('=', '-')}/seed{seed}"
            write_run(folder / run_dir, top1, loss)
            runs.append({"seed": seed, "run_dir": run_dir, "best_top1": max(top1),
                         "final_top1": top1[-1], "best_top5": max(top1) + 0.25,
                         "final_top5": top1[-1] + 0.25, "images_per_s": 100.0, "wall_s": 6.0})
        if label in unfinished:
            runs = []
        keys = ("best_top1", "final_top1", "best_top5", "final_top5", "images_per_s", "wall_s")
        mean = {k: sum(r[k] for r in runs) / len(runs) if runs else None for k in keys}
        entries.append({"label": label, "spec": "mini_xception", "params": {},
                        "trainable": trainable if runs else None, "macs": macs if runs else None,
                        "runs": runs, "mean": mean, "std": dict.fromkeys(keys, 0.0)})
    (folder / "results.json").write_text(json.dumps({"study": "spectrum",
                                                     "baseline": "segments=1",
                                                     "points": entries}), encoding="utf-8")
    return folder


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_study(tmp_path / "spectrum")


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [write_run(tmp_path / "xception", [0.3, 0.5, 0.6, 0.65], [1.8, 1.3, 1.1, 1.0]),
            write_run(tmp_path / "inception", [0.25, 0.45, 0.55, 0.6], [1.9, 1.4, 1.2, 1.1])]


def svg_groups(svg: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g") if IDS.fullmatch(g.get("id", ""))}


def style(element: ET.Element, key: str) -> str:
    found = re.search(rf"(?:^|;)\s*{key}:\s*([^;]+)", element.get("style", ""))
    return found.group(1).strip() if found else ""


def fill(element: ET.Element) -> str:
    """The fill colour, ``none`` for a transparent one (a hollow marker)."""
    return "none" if style(element, "fill-opacity") == "0" else style(element, "fill")


def vertices(path: ET.Element) -> int:
    return len(re.findall(r"[ML]", path.get("d", "")))


def structure(svg: bytes) -> str:
    """What the golden files hold: the size, every text, and each data element's paths,
    vertices and colours."""
    root = ET.fromstring(svg)
    lines = [f"size {root.get('width')} x {root.get('height')}"]
    lines += [f"text {t.text}" for t in root.iter(f"{SVG}text")]
    for gid, g in svg_groups(svg).items():
        uses = list(g.iter(f"{SVG}use"))  # a band's area, or a marker at each point
        if "-band-" in gid:
            (area,), (use,) = g.findall(f"{SVG}defs/{SVG}path"), uses
            lines.append(f"{gid}: area of {vertices(area)} vertices, fill {style(use, 'fill')} "
                         f"{style(use, 'fill-opacity')}")
            continue
        parts = [f"line of {vertices(p)} vertices, stroke {style(p, 'stroke')}"
                 for p in g.findall(f"{SVG}path")]
        if uses:
            parts.append(f"{len(uses)} markers, fill {fill(uses[0])}")
        lines.append(f"{gid}: {'; '.join(parts)}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- the run folder format


def test_the_synthetic_rows_are_the_loops_rows(tmp_path: Path) -> None:
    """A real tiny run (2 epochs of 4 steps): its rows have every key the synthetic ones have,
    with the same types, and plot like them."""
    import torch

    from xdsl.train import DataConfig, TrainConfig, recipe, train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(spec="mini_xception", params={"width": "8"},
                          data=DataConfig(shapes_train=64, shapes_val=32),
                          recipe=recipe("imagenet", epochs=2, batch_size=16),
                          run_dir=str(tmp_path / "real"), progress=False, threads=1))
    finally:
        torch.set_num_threads(threads)
    real = read_rows(tmp_path / "real")
    assert [(r["epoch"], r["step"]) for r in real] == [(1, 4), (2, 8)]
    synthetic = row(1, 4, 0.5, 1.0)
    for key, value in synthetic.items():
        assert type(real[0][key]) is type(value), key
    assert set(real[0]) == set(synthetic)
    out = tmp_path / "real.svg"
    render([tmp_path / "real"], out, x_axis="epochs")
    groups = svg_groups(out.read_bytes())
    assert sorted(groups) == ["loss-line-0", "top1-line-0"]
    assert vertices(groups["top1-line-0"].find(f"{SVG}path")) == 2


def test_read_rows_skips_a_torn_line_and_keeps_a_steps_last_row(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [0.1, 0.2], [2.0, 1.5])
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row(2, 40, 0.3, 1.25)) + "\n" + '{"epoch": 3, "step": 6')
    rows = read_rows(run)
    assert [(r["step"], r["val_top1"]) for r in rows] == [(20, 0.1), (40, 0.3)]


# ------------------------------------------------------------------------- the data of the lines


def test_a_study_point_is_the_mean_of_its_seeds_with_their_range(study: Path) -> None:
    series = plot.profiles([study], [], "epochs")
    assert [s.label for s in series] == list(POINTS)
    first = series[0]
    assert first.x == [1.0, 2.0, 3.0]
    assert first.top1 == pytest.approx([0.25, 0.45, 0.55])
    assert first.loss == pytest.approx([1.875, 1.375, 1.125])
    assert first.top1_range == ([0.2, 0.4, 0.5], [0.3, 0.5, 0.6])
    assert first.loss_range == ([1.75, 1.25, 1.0], [2.0, 1.5, 1.25])
    assert [s.x for s in plot.profiles([study], [], "steps")][0] == [20.0, 40.0, 60.0]


def test_seeds_are_averaged_only_where_all_reached(tmp_path: Path) -> None:
    points = {"a": (1, 1, [([0.2, 0.4, 0.5], [2.0, 1.5, 1.25]), ([0.4], [1.0])])}
    (s,) = plot.profiles([write_study(tmp_path / "s", points)], [], "steps")
    assert (s.x, s.top1, s.runs) == ([20.0], [pytest.approx(0.3)], 2)


def test_a_point_without_finished_runs_is_left_out_with_a_note(tmp_path: Path) -> None:
    study = write_study(tmp_path / "s", unfinished=("segments=4",))
    notes: list[str] = []
    series = plot.profiles([study], [], "steps", notes)
    assert [s.label for s in series] == ["segments=1", "segments=2", "segments=none"]
    assert notes == [f"point 'segments=4' of {study} has no finished run yet; left out"]
    (_, points), = plot.pareto_inputs([study], [], "best_top1")
    assert [p.label for p in points] == ["segments=1", "segments=2", "segments=none"]


def test_pareto_front() -> None:
    assert pareto_front([1, 2, 3, 4], [50, 60, 55, 70]) == [0, 1, 3]
    assert pareto_front([4, 3, 2, 1], [1, 2, 3, 4]) == [3]          # the cheapest is best
    assert pareto_front([1, 1, 2], [5, 6, 6]) == [1]                # equal cost: the better one
    assert pareto_front([1, 2, 2], [5, 6, 6]) == [0, 1]             # equal points: the first
    assert pareto_front([], []) == []


def test_pareto_points_average_the_chosen_metric(study: Path) -> None:
    (name, points), = plot.pareto_inputs([study], [], "final_top1")
    assert name == "spectrum"
    assert [(p.macs, p.trainable) for p in points] == [(v[0], v[1]) for v in POINTS.values()]
    assert [(p.mean, p.lo, p.hi) for p in points][1] == (pytest.approx(0.6), 0.575, 0.625)


# ------------------------------------------------------------------------- the files


def test_profiles_png_is_a_column_wide_image_with_the_lines(runs: list[Path],
                                                            tmp_path: Path) -> None:
    from matplotlib import image

    out = tmp_path / "profiles.png"
    render(runs, out, dpi=200)
    pixels = image.imread(out)
    assert pixels.shape[1] == round(3.3 * 200) and pixels.shape[2] == 4
    assert 2.5 * 200 < pixels.shape[0] < 5 * 200
    rgb = (pixels[..., :3] * 255).round().astype(int)
    for colour in PALETTE[:2]:   # both lines are drawn, in the palette's first colours
        want = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert (abs(rgb - want).sum(axis=-1) <= 6).sum() > 100, colour


def test_profiles_svg_has_the_labels_and_one_path_per_line(runs: list[Path], study: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "profiles.svg"
    render([*runs, study], out, x_axis="epochs")
    svg = out.read_bytes()
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    for label in ("Validation top-1 (%)", "Validation loss (nats)", "Epochs", "xception",
                  "inception", "spectrum: segments=1", "spectrum: segments=none"):
        assert label in texts
    groups = svg_groups(svg)
    lines = [g for gid, g in groups.items() if "-line-" in gid]
    assert len(lines) == 2 * (2 + len(POINTS))   # top-1 and loss of each run and point
    assert all(len(g.findall(f"{SVG}path")) == 1 for g in lines)
    strokes = [style(groups[f"top1-line-{i}"].find(f"{SVG}path"), "stroke") for i in range(6)]
    assert strokes == [c.lower() for c in PALETTE[:6]]
    # the points' bands (two seeds each); none for the single runs
    assert sorted(gid for gid in groups if "-band-" in gid) == \
        sorted(f"{k}-band-{i}" for k in ("top1", "loss") for i in range(2, 6))
    assert ET.fromstring(svg).get("width") == "237.6pt"   # 3.3 in


def test_pareto_svg_marks_the_front(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "pareto.svg"
    render([study], out, kind="pareto")
    svg = out.read_bytes()
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert {"Multiply-accumulates (millions)", "Trainable parameters (thousands)",
            "Best val. top-1 (%)", "Pareto front"} <= set(texts)
    groups = svg_groups(svg)
    # best top-1 means: 0.55, 0.6, 0.55, 0.7 at increasing cost: the front is points 0, 1, 3
    for panel in ("macs", "params"):
        front = groups[f"{panel}-front-0"].find(f"{SVG}path")
        assert front is not None and vertices(front) == 5   # a staircase through 3 points
        fills = [fill(next(groups[f"{panel}-point-{i}"].iter(f"{SVG}use")))
                 for i in range(4)]   # the marker drawn: filled on the front, else hollow
        assert fills == [PALETTE[0].lower(), PALETTE[1].lower(), "#ffffff", PALETTE[3].lower()]


def test_the_front_runs_on_to_the_dearest_point(tmp_path: Path) -> None:
    points = {"small": (1_000_000, 10_000, [([0.7], [1.0])]),
              "large": (3_000_000, 30_000, [([0.6], [1.0])])}
    out = tmp_path / "pareto.svg"
    render([write_study(tmp_path / "s", points)], out, kind="pareto")
    groups = svg_groups(out.read_bytes())
    front = groups["macs-front-0"].find(f"{SVG}path")
    # level from the small point to the large one's cost (the step's corner drawn twice)
    assert front is not None and vertices(front) == 3
    assert [fill(next(groups[f"macs-point-{i}"].iter(f"{SVG}use"))) for i in (0, 1)] == \
        [PALETTE[0].lower(), "#ffffff"]


def test_pdf_has_a_header_and_no_date(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "profiles.pdf"
    render([study], out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    assert b"CreationDate" not in data and b"/Creator (xdsl plot)" in data


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_the_same_inputs_give_the_same_bytes(study: Path, tmp_path: Path, suffix: str) -> None:
    first, second = tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}"
    render([study], first, kind="pareto")
    render([study], second, kind="pareto")
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("kind", ["profiles", "pareto"])
def test_golden_structure(study: Path, tmp_path: Path, golden: Any, kind: str) -> None:
    out = tmp_path / f"{kind}.svg"
    render([study], out, kind=kind)
    golden(f"plot/spectrum_{kind}.txt", structure(out.read_bytes()))


# ------------------------------------------------------------------------- the command


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(main, ["plot", *map(str, args)])


def test_the_command_writes_both_figures(study: Path, tmp_path: Path) -> None:
    done = invoke(study, "-o", tmp_path / "p.svg", "--pareto-output", tmp_path / "q.pdf",
                  "--x", "epochs")
    assert done.exit_code == 0, done.output
    assert f"wrote {tmp_path / 'p.svg'}" in done.output
    assert (tmp_path / "q.pdf").read_bytes().startswith(b"%PDF-")
    groups = svg_groups((tmp_path / "p.svg").read_bytes())
    assert len([g for g in groups if g.startswith("top1-line-")]) == len(POINTS)


def test_the_command_takes_labels_and_the_results_file(runs: list[Path], study: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "p.svg"
    done = invoke(runs[0], study / "results.json", "--label", "Xception", "--label", "sweep",
                  "-o", out)
    assert done.exit_code == 0, done.output
    texts = {t.text for t in ET.fromstring(out.read_bytes()).iter(f"{SVG}text")}
    assert {"Xception", "sweep: segments=2", "Training steps"} <= texts


@pytest.mark.parametrize(("make", "args", "code", "message"), [
    (lambda p: p.mkdir(), [], 2, "is neither a run folder (metrics.jsonl"),
    (lambda p: (p.mkdir(), (p / "summary.json").write_text("{}")), [], 1,
     "has no metrics yet"),
    (lambda p: write_run(p, [0.5], [1.0]), ["--kind", "pareto"], 1,
     "the Pareto plot needs study folders"),
    (lambda p: write_run(p, [0.5], [1.0]), ["--label", "a", "--label", "b"], 2,
     "give one --label per RUN_OR_STUDY (1), or none; got 2"),
    (lambda p: write_study(p, unfinished=tuple(POINTS)), [], 1,
     "nothing to plot yet: no run has finished an epoch"),
])
def test_clear_errors(tmp_path: Path, make: Any, args: list[str], code: int,
                      message: str) -> None:
    make(tmp_path / "in")
    done = invoke(tmp_path / "in", "-o", tmp_path / "out.svg", *args)
    assert done.exit_code == code, done.output
    assert message in done.output
    assert not (tmp_path / "out.svg").exists()


def test_unknown_suffix_and_missing_folder(runs: list[Path], tmp_path: Path) -> None:
    done = invoke(runs[0], "-o", tmp_path / "out.jpg")
    assert done.exit_code == 2 and "cannot tell the format from 'out.jpg'" in done.output
    done = invoke(runs[0], "-o", tmp_path / "nowhere" / "out.png")
    assert done.exit_code == 2 and "does not exist" in done.output
    done = invoke(runs[0], "-o", tmp_path / "a.png", "--pareto-output", tmp_path / "b.gif")
    assert done.exit_code == 2 and "cannot tell the format from 'b.gif'" in done.output


def test_loading_the_command_imports_neither_matplotlib_nor_torch(study: Path,
                                                                  tmp_path: Path) -> None:
    code = ("import sys\nfrom xdsl.cli import main\nfrom xdsl.study import plot\n"
            "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))\n"
            "from pathlib import Path\n"
            f"plot.render([Path({str(study)!r})], Path({str(tmp_path / 'p.png')!r}))\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False"]
    assert (tmp_path / "p.png").stat().st_size > 10_000


# ------------------------------------------------------------------------- the legend


def test_a_sweeps_legend_names_the_parameters_once() -> None:
    title, labels, looks = plot.key(["segments=1,mid_act=none", "segments=1,mid_act=relu",
                                     "segments=2,mid_act=none"])
    assert (title, labels) == ("segments, mid_act", ["1, none", "1, relu", "2, none"])
    # the first parameter picks the colour, the second the line style and the marker
    assert [(k["color"], k["linestyle"], k["marker"]) for k in looks] == [
        (PALETTE[0], "-", "o"), (PALETTE[0], "--", "s"), (PALETTE[1], "-", "o")]
    title, labels, looks = plot.key(["segments=1", "segments=none"])
    assert (title, labels) == ("segments", ["1", "none"])
    assert [k["color"] for k in looks] == list(PALETTE[:2])


@pytest.mark.parametrize("labels", [["xception", "inception"], ["a=1,b=2", "a=1"],
                                    ["segments=1"], ["x=1", "y=2"]])
def test_other_labels_stay_as_given(labels: list[str]) -> None:
    title, shown, looks = plot.key(labels)
    assert (title, shown) == (None, labels)
    assert [k["color"] for k in looks] == list(PALETTE[:len(labels)])


def test_more_lines_than_colours_change_style(tmp_path: Path) -> None:
    looks = plot.key([f"run {i}" for i in range(10)])[2]
    assert len({(k["color"], k["linestyle"]) for k in looks}) == 10
    assert looks[8]["color"] == looks[0]["color"] and looks[8]["linestyle"] != "-"


def test_a_long_profile_has_at_most_eight_markers(tmp_path: Path) -> None:
    run = write_run(tmp_path / "long", [i / 40 for i in range(20)], [2 - i / 20 for i in range(20)])
    out = tmp_path / "long.svg"
    render([run], out)
    line = svg_groups(out.read_bytes())["top1-line-0"]
    assert vertices(line.find(f"{SVG}path")) == 20
    assert len(list(line.iter(f"{SVG}use"))) == 7   # rows 1, 4, ..., 19


def test_a_study_without_results_yet_shows_its_validated_runs(tmp_path: Path) -> None:
    """Before its first run finishes a study folder holds only its plan (study.json); the
    profiles show the runs that have validated an epoch, the Pareto plot waits."""
    from xdsl.study.plan import grid, make, save

    plan = make("early", grid(["mini_xception"], [("width", ["8", "16"])]), [0, 1], {})
    save(tmp_path / "early", plan)
    first = plan.runs()[0]
    write_run(tmp_path / "early" / first.path, [0.2, 0.4], [2.0, 1.5])
    (tmp_path / "early" / plan.runs()[2].path).mkdir(parents=True)   # seed 1: started
    notes: list[str] = []
    (series,) = plot.profiles([tmp_path / "early"], [], "epochs", notes)
    assert (series.label, series.x, series.runs) == ("width=8", [1.0, 2.0], 1)
    assert notes == [f"point 'width=16' of {tmp_path / 'early'} has no validated epoch yet; "
                     f"left out"]
    done = invoke(tmp_path / "early", "-o", tmp_path / "p.svg", "--kind", "pareto")
    assert done.exit_code == 1 and "has no results.json yet" in done.output
