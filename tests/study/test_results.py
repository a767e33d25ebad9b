"""A study's table from its run folders: metrics, means, spreads, ratios and the formats."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from isolation import imports_torch

from xdsl.cli import main
from xdsl.study import plan, results
from xdsl.study.plan import Point
from xdsl.study.run import SESSIONS

NET = ("network net(width: int = 4, classes: int = 10):\n"
       "    input image: 3 x 8 x 8\n"
       "    conv width 3x3; relu\n"
       "    global avgpool; linear classes\n")

RUNS: dict[tuple[str, int], dict[str, Any]] = {  # rows: (val_top1, val_top5, img_per_s)
    ("narrow", 0): {"rows": [(0.5, 0.9, 100.0), (0.7, 1.0, 200.0), (0.6, 0.95, 300.0)],
                    "walls": [10.0, 5.0]},
    ("narrow", 1): {"rows": [(0.4, 0.8, 120.0), (0.8, 0.9, 180.0)], "walls": [12.0]},
    ("wide", 0): {"rows": [(0.6, 0.9, 50.0), (0.9, 1.0, 70.0)], "walls": [30.0]},
    ("wide", 1): {"rows": [(0.7, 1.0, 40.0)], "walls": None},  # trained outside a study
}


def make_study(root: Path) -> Path:
    """Two points x two seeds of finished runs, and one unfinished run of a third point."""
    (root / "net.x").write_text(NET)
    spec = str(root / "net.x")
    study = plan.make("toy", [Point("narrow", spec, {"width": "4"}),
                              Point("wide", spec, {"width": "8"}),
                              Point("unfinished", spec, {"width": "2"})], [0, 1],
                      {"shapes_train": 100}, recipe_fields={"epochs": 3, "lr": 0.1})
    out = root / "study"
    plan.settle(out, study)
    for (label, seed), run in RUNS.items():
        folder = out / "points" / label / f"seed{seed}"
        folder.mkdir(parents=True)
        rows = [{"epoch": i + 1, "step": 10 * (i + 1), "val_top1": t1, "val_top5": t5,
                 "img_per_s": ips, "val_loss": 1.0} for i, (t1, t5, ips) in enumerate(run["rows"])]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        width = int(study.point(label).params["width"])
        (folder / "summary.json").write_text(json.dumps(
            {"status": "completed", "params": {"width": width, "classes": 10},
             "elapsed_s": 99.0}))
        if run["walls"] is not None:
            (folder / SESSIONS).write_text("".join(json.dumps({"wall_s": w}) + "\n"
                                                   for w in run["walls"]))
    unfinished = out / "points" / "unfinished" / "seed0"
    unfinished.mkdir(parents=True)
    (unfinished / "summary.json").write_text(json.dumps({"status": "max_steps", "params": {}}))
    (unfinished / "metrics.jsonl").write_text(json.dumps(
        {"epoch": 1, "step": 10, "val_top1": 1.0, "val_top5": 1.0, "img_per_s": 1.0}) + "\n")
    return out


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return make_study(tmp_path)


def test_results_hold_each_run_and_the_mean_spread_and_ratio(toy: Path) -> None:
    r = results.collect(toy)
    assert (r["study"], r["baseline"], r["seeds"]) == ("toy", "narrow", [0, 1])
    narrow, wide, unfinished = r["points"]
    # conv 3->4 3x3 (108 weights + 4 biases) and linear 4->10 (40 + 10); at 8x8 -> 6x6
    assert (narrow["trainable"], narrow["macs"]) == (162, 36 * 27 * 4 + 40)
    assert (wide["trainable"], wide["macs"]) == (3 * 9 * 8 + 8 + 90, 36 * 27 * 8 + 80)
    assert narrow["runs"][0] == {"seed": 0, "run_dir": "points/narrow/seed0", "best_top1": 0.7,
                                 "final_top1": 0.6, "best_top5": 1.0, "final_top5": 0.95,
                                 "images_per_s": 200.0, "wall_s": 15.0}
    assert wide["runs"][1]["wall_s"] == 99.0  # summary.json's elapsed_s without sessions
    assert narrow["mean"]["best_top1"] == pytest.approx(0.75)
    assert narrow["std"]["best_top1"] == pytest.approx(math.sqrt(2 * 0.05 ** 2))
    assert narrow["mean"]["images_per_s"] == pytest.approx(175.0)
    assert wide["mean"]["final_top1"] == pytest.approx(0.8)
    assert wide["ratio"]["final_top1"] == pytest.approx(0.8 / 0.7)
    assert wide["ratio"]["wall_s"] == pytest.approx((30 + 99) / 2 / 13.5)
    assert wide["ratio"]["macs"] == pytest.approx(wide["macs"] / narrow["macs"])
    assert narrow["ratio"]["best_top5"] == 1.0
    assert unfinished["runs"] == [] and unfinished["mean"]["best_top1"] is None
    assert unfinished["trainable"] is None and unfinished["ratio"]["best_top1"] is None
    other = results.collect(toy, plan.load(toy).__class__(**{
        **plan.load(toy).__dict__, "baseline": "wide"}))
    assert other["points"][0]["ratio"]["final_top1"] == pytest.approx(0.7 / 0.8)


@pytest.mark.parametrize("fmt,ext", [("table", "txt"), ("markdown", "md"), ("latex", "tex"),
                                     ("csv", "csv")])
def test_the_table_formats(toy: Path, golden: Any, fmt: str, ext: str) -> None:
    text = results.render(results.collect(toy), fmt)
    golden(f"study/table.{ext}", text.replace(str(toy.parent), "TMP") + "\n")


def test_latex_is_a_booktabs_tabular_and_csv_parses(toy: Path) -> None:
    r = results.collect(toy)
    latex = results.render(r, "latex")
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert r"75.0 $\pm$ 7.1" in latex and r"314 (1.94$\times$)" in latex
    rows = list(csv.DictReader(io.StringIO(results.render(r, "csv"))))
    assert [row["label"] for row in rows] == ["narrow", "wide", "unfinished"]
    assert float(rows[1]["final_top1_ratio"]) == pytest.approx(0.8 / 0.7)
    assert rows[2]["best_top1_mean"] == "" and rows[0]["seeds"] == "2"
    assert json.loads(results.render(r, "json")) == json.loads(json.dumps(r))


def test_the_table_command_reads_a_study_without_torch(toy: Path) -> None:
    result = CliRunner().invoke(main, ["study", "--table", str(toy), "--format", "md",
                                       "--baseline", "wide"])
    assert result.exit_code == 0, result.output
    assert "(×) ratio to wide" in result.output
    assert "| narrow | 162 (0.52×) |" in result.output
    code = ("from xdsl.cli import main\n"
            "try:\n"
            f"    main(['study', '--table', {str(toy)!r}])\n"
            "except SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\n")
    assert not imports_torch(code)


def test_study_usage_errors(tmp_path: Path) -> None:
    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["study", *args])

    assert "give a SPEC" in run("--out", str(tmp_path / "a")).output
    bad = run("mini_xception", "--sweep", "colour=1,2", "--out", str(tmp_path / "b"))
    assert bad.exit_code == 2 and "has no parameter `colour`" in bad.output
    assert "Traceback" not in bad.output
    assert not (tmp_path / "b").exists()  # checked before the study folder is made
    (tmp_path / "s.toml").write_text('spec = "mini_xception"\n')
    both = run("mini_xception", "--file", str(tmp_path / "s.toml"))
    assert both.exit_code == 2 and "not both" in both.output
    base = run("mini_xception", "--sweep", "width=8,16", "--baseline", "width=4",
               "--out", str(tmp_path / "c"))
    assert base.exit_code == 1 and "--baseline 'width=4' is not a point" in base.output
    assert run("--table", str(tmp_path)).exit_code == 1
