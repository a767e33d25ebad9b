"""Study plans: points from sweeps, specs and study files; the stored plan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from xdsl.study import plan
from xdsl.study.plan import Point, Run, StudyError
from xdsl.train import DataConfig


def test_two_sweeps_make_a_grid_labelled_by_what_varies() -> None:
    points = plan.grid(["mini_xception"], [("width", ["8", "16"]), ("middle_repeats", ["1", "2"])],
                       {"drop_rate": "0.1"})
    assert [p.label for p in points] == ["width=8,middle_repeats=1", "width=8,middle_repeats=2",
                                         "width=16,middle_repeats=1", "width=16,middle_repeats=2"]
    assert points[1].params == {"drop_rate": "0.1", "width": "8", "middle_repeats": "2"}
    assert {p.spec for p in points} == {"mini_xception"}


def test_several_specs_are_named_by_their_names() -> None:
    points = plan.grid(["xception", "specs/variants/xception_s4.x"], [])
    assert [p.label for p in points] == ["xception", "xception_s4"]
    both = plan.grid(["a.x", "b.x"], [("width", ["1", "2"])])
    assert [p.label for p in both] == ["a,width=1", "a,width=2", "b,width=1", "b,width=2"]


def test_sweep_words_are_checked() -> None:
    assert plan.parse_sweep("segments=1, 2,none") == ("segments", ["1", "2", "none"])
    for bad in ("segments", "=1,2", "segments=1,,2", "segments=1,1"):
        with pytest.raises(StudyError):
            plan.parse_sweep(bad)
    with pytest.raises(StudyError, match="both swept and --set"):
        plan.grid(["x"], [("width", ["1"])], {"width": "2"})
    with pytest.raises(StudyError, match="twice"):
        plan.grid(["x"], [("width", ["1"]), ("width", ["2"])])


def test_runs_come_seed_by_seed_in_folders_named_by_label() -> None:
    study = plan.make("s", plan.grid(["m"], [("mid_act", ["none", "relu"])]), [3, 4], {})
    assert study.runs() == [Run("mid_act=none", 3), Run("mid_act=relu", 3),
                            Run("mid_act=none", 4), Run("mid_act=relu", 4)]
    assert study.runs()[1].path == "points/mid_act=relu/seed3"
    assert plan.folder_name("a b/c:d") == "a_b_c_d" and plan.folder_name("..") == "_"
    assert study.baseline_label == "mid_act=none"


def test_a_plan_refuses_clashes_and_unknown_baselines() -> None:
    with pytest.raises(StudyError, match="share the folder"):
        plan.make("s", [Point("a/b", "m"), Point("a_b", "m")], [0], {})
    with pytest.raises(StudyError, match="share the folder"):
        plan.make("s", [Point("a", "m"), Point("a", "m", {"width": "2"})], [0], {})
    with pytest.raises(StudyError, match="is not a point"):
        plan.make("s", [Point("a", "m")], [0], {}, baseline="b")
    with pytest.raises(StudyError, match="distinct seeds"):
        plan.make("s", [Point("a", "m")], [1, 1], {})
    with pytest.raises(StudyError, match="data: "):
        plan.make("s", [Point("a", "m")], [0], {"colour": 1})


def test_a_study_file_names_points_data_recipe_and_seeds(tmp_path: Path) -> None:
    (tmp_path / "net.x").write_text("network net(width: int = 4):\n    input image: 3 x 8 x 8\n"
                                    "    conv width 3x3; global avgpool; linear 10\n")
    path = tmp_path / "spectrum.toml"
    path.write_text('spec = "net.x"\nseeds = 2\nbaseline = "width=4"\n'
                    '[params]\nextra = true\n'
                    '[sweep]\nwidth = [4, 8]\n'
                    '[[points]]\nlabel = "wide"\nparams = { width = 32 }\n'
                    '[[points]]\nspec = "mini_xception"\n'
                    '[data]\nshapes_train = 64\n'
                    '[recipe]\nname = "jft"\nepochs = 3\n'
                    '[train]\ndevice = "cpu"\n')
    kw = plan.read_file(path)
    spec = str((tmp_path / "net.x").resolve())
    assert kw["points"] == [Point("width=4", spec, {"extra": "true", "width": "4"}),
                            Point("width=8", spec, {"extra": "true", "width": "8"}),
                            Point("wide", spec, {"extra": "true", "width": "32"}),
                            Point("mini_xception", "mini_xception", {"extra": "true"})]
    assert kw["name"] == "spectrum" and kw["seeds"] == [0, 1] and kw["baseline"] == "width=4"
    study = plan.make(kw["name"], kw["points"], kw["seeds"], kw["data"], kw["recipe_name"],
                      kw["recipe"], kw["baseline"], kw["train"])
    assert study.data == DataConfig(shapes_train=64)
    assert (study.recipe.name, study.recipe.optimizer, study.recipe.epochs) == ("jft", "rmsprop", 3)
    assert study.train == {"device": "cpu"}
    path.write_text('spec = "net.x"\ncolour = 1\n')
    with pytest.raises(StudyError, match="unknown key colour"):
        plan.read_file(path)
    path.write_text('spec = "net.x\n')
    with pytest.raises(StudyError, match="not a valid TOML"):
        plan.read_file(path)


def test_a_study_folder_holds_one_study(tmp_path: Path) -> None:
    study = plan.make("s", plan.grid(["m"], [("width", ["8", "16"])]), [0, 1],
                      {"shapes_train": 32}, recipe_fields={"epochs": 2}, train={"device": "cpu"})
    assert plan.settle(tmp_path, study) == study
    assert plan.load(tmp_path) == study
    # how to run may change (device, threads...), and the baseline
    again = replace(study, train={"device": "cuda", "threads": 2}, baseline="width=16")
    assert plan.settle(tmp_path, again).train == {"device": "cuda", "threads": 2}
    assert plan.load(tmp_path).baseline == "width=16"
    for other in (replace(study, seeds=(0, 1, 2)),
                  replace(study, data=DataConfig(shapes_train=64)),
                  replace(study, points=study.points[:1])):
        with pytest.raises(StudyError, match="holds another study"):
            plan.settle(tmp_path, other)
    (tmp_path / "study.json").write_text("{}")
    with pytest.raises(StudyError, match="damaged study plan|not an xdsl study"):
        plan.load(tmp_path)
    with pytest.raises(StudyError, match="not a study folder"):
        plan.load(tmp_path / "nowhere")
