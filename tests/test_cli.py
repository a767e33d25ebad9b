"""The check and audit commands: output, exit status, JSON, and no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from isolation import imports_torch

from xdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
XCEPTION = str(ROOT / "specs" / "xception.x")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_check_prints_one_line_summary() -> None:
    result = run("check", XCEPTION)
    assert result.exit_code == 0
    assert result.output == ("xception: 3 x 299 x 299 -> 1000, 22,855,952 trainable parameters "
                             "(54,528 non-trainable), 8,357,403,496 MACs\n")


def test_check_finds_shipped_specs_by_name() -> None:
    assert run("check", "xception", "--set", "classes=10").output.startswith(
        "xception: 3 x 299 x 299 -> 10,")


def test_audit_json_reports_the_paper_figures() -> None:
    result = run("audit", XCEPTION, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["network"] == "xception"
    assert data["input"] == [3, 299, 299] and data["output"] == [1000]
    assert data["params"]["trainable"] == 22855952
    assert data["params"]["non_trainable"] == 54528
    assert data["macs"] == 8357403496 and data["flops"] == 2 * 8357403496
    assert len(data["layers"]) > 100 and {"name", "op", "output", "params", "macs"} <= set(
        data["layers"][0])
    assert data["checks"] and all(c["ok"] for c in data["checks"])
    assert {c["metric"] for c in data["checks"]} == {"trainable", "non_trainable", "macs",
                                                     "output"}
    assert all({"expected", "actual", "ok", "source"} <= set(c) for c in data["checks"])
    assert sum(row["params"] for row in data["layers"]) == 22855952


def test_audit_fails_with_exit_1_when_an_expectation_fails(tmp_path: Path) -> None:
    spec = tmp_path / "wrong.x"
    spec.write_text("network w:\n    input x: 3x8x8\n    conv 4 3x3\n    audit:\n"
                    "        trainable = 100 \"a wrong figure\"\n")
    result = run("audit", str(spec), "--format", "json")
    assert result.exit_code == 1
    (check,) = json.loads(result.output)["checks"]
    assert check == {**check, "expected": 100, "actual": 112, "ok": False, "delta": 12}
    table = run("audit", str(spec)).output
    assert "FAIL" in table and "+12" in table and "1 of 1 check FAILED" in table


def test_audit_sections_at_other_settings_and_skips(tmp_path: Path) -> None:
    spec = tmp_path / "s.x"
    spec.write_text("network s(w: int = 4):\n    input x: 3x8x8\n    conv w 1x1\n"
                    "    audit:\n        trainable = 16\n"
                    "    audit (w=8):\n        trainable = 32\n")
    data = json.loads(run("audit", str(spec), "--format", "json").output)
    assert [(c["settings"], c["actual"], c["ok"]) for c in data["checks"]] == [
        ({}, 16, True), ({"w": 8}, 32, True)]
    data = json.loads(run("audit", str(spec), "--set", "w=8", "--format", "json").output)
    assert [c["settings"] for c in data["checks"]] == [{"w": 8}]
    assert data["skipped_checks"][0]["reason"] == "parameters differ: w"


def test_audit_markdown_table() -> None:
    out = run("audit", XCEPTION, "--format", "markdown", "--blocks-only").output
    assert "| block | layers | output | params | non-trainable | MACs |" in out
    assert "| middle.residual8 | 10 | 728 x 19 x 19 | 1,613,976 |" in out


@pytest.mark.parametrize("args", [["check", XCEPTION, "--set", "nope=1"],
                                  ["check", XCEPTION, "--set", "classes"],
                                  ["check", "no/such/spec.x"],
                                  ["audit", XCEPTION, "--format", "yaml"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["check", XCEPTION], ["audit", XCEPTION], ["diff", XCEPTION],
                                  ["export", XCEPTION], ["list"]], ids=lambda a: a[0])
def test_commands_do_not_import_torch(args: list[str]) -> None:
    assert not imports_torch("from xdsl.cli import main\n"
                             f"try: main({args!r})\n"
                             "except SystemExit as e: assert e.code in (0, None), e.code\n")


@pytest.mark.parametrize(("name", "suggestion"), [
    ("xceptoin", "; did you mean `xception`?"),
    ("specs/inception_v4.x", "; did you mean `inception_v3`?"),
    ("xception_s44", "; did you mean `variants/xception_s4`?"),
    ("variants/xcepton_gw8", "; did you mean `variants/xception_gw8`?"),
    ("xyzzy", ""),
])
def test_unknown_spec_name_suggests_a_shipped_one(name: str, suggestion: str) -> None:
    result = run("check", name)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (f"Error: no spec file or shipped spec named `{name}`{suggestion} "
            "(`xdsl list` shows the shipped specs)\n") in result.output


def test_a_variant_or_zoo_entry_is_found_by_its_bare_name() -> None:
    result = run("check", "xception_s4")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("xception_s4: ")


def test_the_variants_folder_alone_makes_no_name_look_close() -> None:
    from pathlib import Path

    from xdsl.api import _suggest_shipped

    shipped = {n: Path(n) for n in ("xception", "variants/efficientnet_b1",
                                    "variants/efficientnet_b3", "variants/xception_s4")}
    assert _suggest_shipped("resnet50", shipped) == ""  # was `variants/efficientnet_b1`
    assert _suggest_shipped("xception_s44", shipped) == "did you mean `variants/xception_s4`?"


def test_lazy_commands_list_their_own_short_help() -> None:
    from xdsl.cli import LAZY

    for name, (target, short) in LAZY.items():
        module, attr = target.split(":")
        command = getattr(__import__(module, fromlist=[attr]), attr)
        assert command.short_help == short, name


# ---- the program's garbage-collector policy (issue 14: start-up) -----------------------------


@pytest.mark.parametrize("argv", [["check", "xception"], ["audit", "xception"],
                                  ["plot", "--help"]])
def test_the_program_loads_without_the_collector_and_works_with_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str]) -> None:
    import gc

    import xdsl.api
    from xdsl.cli import run

    monkeypatch.setattr(sys, "argv", ["xdsl", *argv])
    seen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: seen.append(gc.isenabled()))
    enabled = gc.isenabled
    states: list[bool] = []

    def build(*args: object, **kwargs: object) -> object:
        states.append(enabled())
        return original(*args, **kwargs)

    original = xdsl.api.build_graph
    monkeypatch.setattr(xdsl.api, "build_graph", build)
    try:
        with pytest.raises(SystemExit) as e:
            run()
        assert e.value.code == 0
        # frozen after loading (collector still paused), then at exit (collector on)
        assert seen == [False, True]
        assert all(states) and (states or argv[0] == "plot")  # graphs are built collected
    finally:
        gc.enable()
    assert capsys.readouterr().out


def test_a_built_graph_is_freed_when_dropped_collector_or_not() -> None:
    """No reference cycle keeps a graph alive: `xdsl list` builds one per shipped spec, and
    each builder (which holds its graph) is gone once its command is done with it."""
    code = ("import gc, sys, weakref\ngc.disable()\nsys.argv = ['xdsl', 'list']\n"
            "import importlib\ngraph = importlib.import_module('xdsl.graph')\n"
            "seen = []\noriginal = graph._Builder.__init__\n"
            "def init(self, *a, **k):\n    original(self, *a, **k)\n"
            "    seen.append(weakref.ref(self))\n"
            "graph._Builder.__init__ = init\nfrom xdsl.cli import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nalive = sum(r() is not None for r in seen)\n"
            "assert len(seen) > 50 and alive == 0, (len(seen), alive)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
