"""The Python API: every command as a function, spec parameters as keywords, data returned."""

from __future__ import annotations

import ast
import inspect
import json
import re
import rlcompleter
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from isolation import imports_torch

import xdsl
from xdsl.audit import Report
from xdsl.cli import main
from xdsl.report import render, render_rows

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TINY = ROOT / "tests" / "golden" / "pytorch" / "tiny.x"
SPEC_FUNCTIONS = ["graph", "check", "draw", "compile", "load", "audit", "sweep", "diff", "export",
                  "at"]
MESSY = "network n():\n  input x: 3 x 8 x 8\n  flow f:\n    conv 8 3x3;relu\n"


def cli(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_has_a_function_and_tab_completion_sees_them() -> None:
    names = {"parse", "graph", "check", "draw", "compile", "load", "audit", "compare", "sweep",
             "diff", "export", "fmt", "at"}
    assert names <= set(dir(xdsl)) and names <= set(xdsl.__all__)
    completer = rlcompleter.Completer({"xdsl": xdsl})
    assert completer.complete("xdsl.dra", 0) == "xdsl.draw("
    assert completer.complete("xdsl.expo", 0) == "xdsl.export("


def test_import_dir_and_completion_stay_free_of_torch() -> None:
    assert not imports_torch("import rlcompleter, xdsl\nassert 'compile' in dir(xdsl)\n"
                             "rlcompleter.Completer({'xdsl': xdsl}).complete('xdsl.dr', 0)")


def test_editors_see_the_lazy_functions() -> None:
    """The imports under TYPE_CHECKING name exactly the objects that are loaded on first use."""
    tree = ast.parse((ROOT / "xdsl" / "__init__.py").read_text(encoding="utf-8"))
    (guard,) = [n for n in tree.body if isinstance(n, ast.If)
                and ast.unparse(n.test) == "TYPE_CHECKING"]
    seen = {}
    for node in guard.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names:
            module = __import__(f"xdsl.{node.module}", fromlist=[alias.name])
            seen[alias.asname or alias.name] = getattr(module, alias.name)
    assert set(seen) == set(xdsl._LAZY)
    assert all(getattr(xdsl, name) is obj for name, obj in seen.items())


@pytest.mark.parametrize("name", SPEC_FUNCTIONS)
def test_spec_parameters_are_keywords(name: str) -> None:
    """The spec comes first and positionally only; spec parameters are the **keywords."""
    kinds = [p.kind for p in inspect.signature(getattr(xdsl, name)).parameters.values()]
    assert kinds[0] == inspect.Parameter.POSITIONAL_ONLY
    assert kinds[-1] == inspect.Parameter.VAR_KEYWORD
    assert set(kinds[1:-1]) <= {inspect.Parameter.POSITIONAL_ONLY,
                                inspect.Parameter.KEYWORD_ONLY}


def test_draw_options_default_as_the_cli_does() -> None:
    from xdsl.backends.graphviz import Options

    defaults = {name: p.default for name, p in inspect.signature(xdsl.draw).parameters.items()
                if p.kind is p.KEYWORD_ONLY}
    assert {k: v for k, v in defaults.items() if k in vars(Options())} == vars(Options())


def test_draw_takes_spec_parameters_as_keywords() -> None:
    dot = xdsl.draw("xception", middle_repeats=3, shapes=True).dot
    assert 'label="repeated 3 times"' in dot and "xception (middle_repeats=3)" in dot
    assert dot == cli("draw", "xception", "--set", "middle_repeats=3", "--shapes")
    assert "repeated" not in xdsl.draw("xception", middle_repeats=1).dot


def test_a_spec_parameter_named_like_an_option_is_set_on_the_graph() -> None:
    g = xdsl.graph("xception", middle_repeats=3)
    from_spec = xdsl.draw("xception", middle_repeats=3, shapes=True).dot
    assert "repeated 3 times" in from_spec  # a graph's title does not list its settings:
    assert xdsl.draw(g, shapes=True).dot == from_spec.replace("xception (middle_repeats=3)",
                                                             "xception")
    with pytest.raises(ValueError, match="parameters apply to a spec, not to a built graph"):
        xdsl.draw(g, middle_repeats=4)


def test_an_unknown_keyword_names_the_options_and_the_parameters() -> None:
    with pytest.raises(xdsl.ParamError) as raised:
        xdsl.draw("xception", colour=True)
    assert str(raised.value) == (
        "draw() got `colour`: neither one of its options (bn, expand, unroll_max, fold, depth, "
        "direction, layout, shapes, params, renderer, limits) nor a parameter of `xception` "
        "(classes, width, middle_repeats, segments, group_width, order, mid_act, residuals, "
        "fc_layers, drop_rate, image_size, bn_eps, pool_pad)")
    with pytest.raises(xdsl.ParamError, match="did you mean `shapes`"):
        xdsl.draw("xception", shape=True)


def test_the_old_mapping_forms_still_work_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"draw\(spec, values=\{...\}\) is deprecated"):
        old = xdsl.draw("xception", values={"middle_repeats": 3}).dot
    assert old == xdsl.draw("xception", middle_repeats=3).dot


def test_compile_and_load_take_spec_parameters_as_keywords() -> None:
    assert xdsl.compile(TINY, classes=7, seed=1).head.linear2.out_features == 7
    assert xdsl.load(TINY, classes=5).head.linear2.out_features == 5
    with pytest.warns(DeprecationWarning, match=r"compile\(spec, params=\{...\}\)"):
        assert xdsl.compile(TINY, params={"classes": 3}).head.linear2.out_features == 3
    with pytest.raises(xdsl.ParamError, match="did you mean `seed`"):
        xdsl.compile(TINY, sede=1)


def test_audit_returns_the_report_the_cli_prints() -> None:
    report = xdsl.audit("xception")
    assert isinstance(report, Report) and report.ok
    assert (report.trainable, report.non_trainable, report.macs, report.depth) == \
        (22_855_952, 54_528, 8_357_403_496, 36)
    assert report.as_dict() == json.loads(cli("audit", "xception", "--format", "json"))
    assert render(report, "markdown") + "\n" == cli("audit", "xception", "--format", "markdown")
    assert xdsl.audit("xception", segments=4).trainable == 62_890_616


def test_compare_is_the_papers_table_3() -> None:
    rows = xdsl.compare("xception", "inception_v3", "variants/inception_v3_keras1")
    assert [r.report.trainable for r in rows] == [22_855_952, 23_834_568, 23_626_728]
    assert render_rows(rows, "markdown") + "\n" == cli(
        "audit", "xception", "inception_v3", "variants/inception_v3_keras1", "--format",
        "markdown")
    rows = xdsl.compare("xception", xdsl.at("xception", segments=4), width=512)
    assert [r.label for r in rows] == ["xception width=512", "xception width=512 segments=4"]
    assert render_rows(rows) + "\n" == cli("audit", "xception", "xception", "segments=4",
                                           "--set", "width=512")


def test_sweep_takes_python_values() -> None:
    rows = xdsl.sweep("xception", "segments", [1, 2, 4, 8, None])
    assert [(r.label, r.report.trainable, r.baseline) for r in rows] == [
        ("segments=1", 183_616_904, False), ("segments=2", 103_132_712, False),
        ("segments=4", 62_890_616, False), ("segments=8", 42_769_568, False),
        ("segments=none", 22_855_952, True)]
    residuals = xdsl.sweep("xception", "residuals", [True, False], middle_repeats=2)
    assert [r.label for r in residuals] == ["residuals=true", "residuals=false"]
    assert [r.report.params["middle_repeats"] for r in residuals] == [2, 2]


def test_diff_returns_what_the_cli_prints_as_json() -> None:
    changed = xdsl.diff("xception", segments=4)
    assert changed.as_dict() == json.loads(cli("diff", "xception", "segments=4", "--format",
                                               "json"))
    assert (changed.params_delta, changed.macs_delta) == \
        (62_890_616 - 22_855_952, 24_023_880_976 - 8_357_403_496)
    assert len(changed.layers) == 34 and all(c.kind == "changed" for c in changed.layers)
    two = xdsl.diff("xception", "variants/xception_no_residual", width=512)
    assert two.as_dict() == json.loads(cli("diff", "xception", "variants/xception_no_residual",
                                           "--set", "width=512", "--format", "json"))
    assert {c.kind for c in two.layers} == {"removed"}
    assert xdsl.diff("xception").layers == [] and xdsl.diff("xception").params_delta == 0


def test_export_returns_the_paper_material() -> None:
    assert xdsl.export("xception") == cli("export", "xception")
    assert xdsl.export("xception", format="markdown", layers=True, segments=4) == cli(
        "export", "xception", "--format", "markdown", "--layers", "--set", "segments=4")
    with pytest.raises(ValueError, match="format is latex or markdown, not 'html'"):
        xdsl.export("xception", format="html")  # type: ignore[arg-type]


def test_fmt_returns_the_canonical_text() -> None:
    canonical = cli("fmt", "-", stdin=MESSY)
    assert xdsl.fmt(MESSY) == canonical != MESSY
    assert xdsl.fmt(canonical) == canonical
    shipped = ROOT / "specs" / "xception.x"
    assert xdsl.fmt(shipped) == xdsl.fmt("xception") == shipped.read_text(encoding="utf-8")


def test_functions_named_like_modules_stay_functions() -> None:
    """xdsl.audit and xdsl.diff are also module names: importing the modules keeps them."""
    code = ("import xdsl.audit, xdsl.diff\nfrom xdsl.diff import layer_changes\nimport xdsl\n"
            "print(xdsl.audit.__module__, xdsl.diff.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "xdsl.api xdsl.api\n"


def test_the_readme_python_api_example_runs() -> None:
    section = README.split("## The graph IR and the Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert namespace["table3"] == render_rows(xdsl.compare("xception", "inception_v3"),
                                              "markdown")
    assert str(namespace["summary"]) == cli("check", "xception").strip()
    assert namespace["report"].trainable == 62_890_616  # type: ignore[attr-defined]
    assert namespace["text"] == (ROOT / "specs" / "xception.x").read_text(encoding="utf-8")
