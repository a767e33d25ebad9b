"""The extension API (xdsl/plugins.py): an installed plugin's ops in a spec that names it.

The example plugin (examples/plugins/xdsl-cbam) is installed by pip into a folder for these
tests; check, audit, draw and fmt use it without importing torch. Errors: a plugin that is not
installed, that fails to load or declares ops wrongly, and a plugin op in a spec that does not
name its plugin, each located where the spec says it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_specs import CBAM_NET

import xdsl
from xdsl import plugins
from xdsl.diagnostics import SpecError
from xdsl.graph import layers
from xdsl.ops import OPS

NET = CBAM_NET


def closed_form(c: int, r: int, k: int, hw: int) -> tuple[int, int, int]:
    """CBAM's counts written out: MLP C -> C/r -> C with biases; a k x k convolution from 2
    maps to 1 without bias, then a one-channel batch norm (2 parameters, 2 statistics)."""
    hidden = c // r
    return 2 * c * hidden + hidden + c + 2 * k * k + 2, 2, 4 * c * hidden + 2 * k * k * hw


def xdsl_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    probe = ("import sys, runpy\nsys.argv = ['xdsl', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('xdsl', run_name='__main__')\n"
             "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
             "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
             "print('TORCH' if bad else 'CLEAN', file=sys.stderr)\nsys.exit(code)\n")
    return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd, env=os.environ.copy())


def test_counts_follow_the_plugins_rule(cbam_plugin: Path) -> None:
    g = xdsl.graph(NET)
    nodes = [n for n in layers(g) if n.op == "cbam"]
    assert [(n.params, n.state, n.macs) for n in nodes] == [
        closed_form(32, 8, 7, 32 * 32), closed_form(64, 16, 3, 16 * 16)]
    assert nodes[0].shape == (32, 32, 32) and nodes[1].shape == (64, 16, 16)


@pytest.mark.parametrize("command", [
    ["check"], ["audit", "--format", "json"], ["draw", "-o", "net.svg"], ["fmt", "--check"],
    ["export", "--format", "markdown"]])
def test_torch_free_commands_use_the_plugin_without_torch(cbam_plugin: Path, tmp_path: Path,
                                                          command: list[str]) -> None:
    (tmp_path / "net.x").write_text(NET)
    done = xdsl_cli(command[0], "net.x", *command[1:], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == "CLEAN"
    if command[0] == "audit":
        layers = json.loads(done.stdout)["layers"]
        assert [r["params"] for r in layers if r["op"] == "cbam"] == [
            closed_form(32, 8, 7, 0)[0], closed_form(64, 16, 3, 0)[0]]
    if command[0] == "draw":
        svg = (tmp_path / "net.svg").read_text()
        assert "CBAM, reduction 8" in svg and "CBAM, reduction 16" in svg


def test_fmt_keeps_the_use_line(cbam_plugin: Path) -> None:
    assert xdsl.fmt("use  cbam\n" + NET.split("\n", 1)[1]) == NET
    assert xdsl.fmt(NET) == NET


def errors(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(SpecError) as caught:
        xdsl.check(text)
    return [(d.span.line, d.span.column, d.message, d.hint) for d in caught.value.diagnostics]


def test_an_uninstalled_plugin_is_an_error_at_its_name(cbam_plugin: Path) -> None:
    assert errors(NET.replace("use cbam", "use cbma")) == [
        (1, 5, "no plugin `cbma` is installed", "did you mean `cbam`?")]


def test_an_op_of_a_plugin_the_spec_does_not_use_is_an_error(cbam_plugin: Path) -> None:
    xdsl.parse(NET)  # loaded by another spec in this process
    text = NET.replace("use cbam\n", "")
    found = errors(text)
    assert found[0][:3] == (5, 34, "`cbam` is an op of plugin `cbam`, which this spec does "
                                   "not use")
    assert found[0][3] == "add `use cbam` as the spec's first line"


def test_without_the_plugin_installed_its_op_is_an_unknown_layer() -> None:
    assert "cbam" not in plugins.installed()
    found = errors(NET.replace("use cbam\n", ""))
    assert found[0][2] == "unknown layer or block `cbam`"
    assert "plugin" not in found[0][3]
    # the ops of a plugin that did not load are not reported again as unknown layers
    assert errors(NET) == [(1, 5, "no plugin `cbam` is installed", "no plugin is installed; "
                            "install the package that provides `cbam` (it declares an entry "
                            "point in the group `xdsl.ops`)")]


def test_a_plugin_named_twice_or_in_a_variant(cbam_plugin: Path, tmp_path: Path) -> None:
    assert errors(NET.replace("use cbam", "use cbam, cbam"))[0][:3] == (
        1, 11, "plugin `cbam` is named twice")
    (tmp_path / "base.x").write_text(NET)
    (tmp_path / "v.x").write_text('use cbam\nvariant small of "base.x" (r=4)\n')
    with pytest.raises(SpecError) as caught:
        xdsl.parse(tmp_path / "v.x")
    assert caught.value.diagnostics[0].message == "variant `small` names plugin `cbam`"
    assert xdsl.check(tmp_path / "base.x", r=4).trainable > 0


def test_shape_errors_of_a_plugin_op_are_located(cbam_plugin: Path) -> None:
    found = errors(NET.replace("cbam r\n", "cbam 64\n"))
    assert found == [(6, 34, "`cbam` over 32 channels needs reduction <= 32 and an odd kernel",
                      "reduction is 64, kernel 7")]
    found = errors(NET.replace("cbam r\n", "cbam r kernel=true\n"))
    assert found[0][2] == "`kernel` of `cbam` must be a whole number, got true"


def installed_plugin(site: Path, name: str, value: str, files: dict[str, str]) -> None:
    """A distribution folder as pip writes one: the package and its entry points."""
    dist = site / f"{name}-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[xdsl.ops]\n{name} = {value}\n")
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)


@pytest.mark.parametrize(("value", "module", "message"), [
    ("bad_a:OPS", "raise RuntimeError('oops')\n",
     "plugin `bad_a` failed to load: RuntimeError: oops"),
    ("bad_b:OPS", "from xdsl.ops import OpSpec, NoAttrs\n"
                  "OPS = [OpSpec('conv', NoAttrs, lambda a, i, g: None)]\n",
     "plugin `bad_b` declares `conv`, a built-in op"),
    ("bad_c:OPS", "OPS = ['conv']\n", "plugin `bad_c` declares str 'conv', not an op"),
    ("bad_d:OPS", "from xdsl.ops import OpSpec, NoAttrs\n"
                  "OPS = [OpSpec('Gate-2', NoAttrs, lambda a, i, g: None)]\n",
     "plugin `bad_d` declares an op named 'Gate-2', which a spec cannot write"),
])
def test_a_broken_plugin_is_an_error_at_its_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                value: str, module: str, message: str) -> None:
    name = value.split(":")[0]
    installed_plugin(tmp_path, name, value, {f"{name}.py": module})
    monkeypatch.syspath_prepend(str(tmp_path))
    found = errors(f"use {name}\nnetwork n:\n    input x: 3 x 8 x 8\n    relu\n")
    assert found[0][:3] == (1, 5, message)
    assert name not in plugins.loaded() and "conv" in OPS


def test_a_spec_never_loads_a_plugin_it_does_not_name(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    installed_plugin(tmp_path, "loud", "loud:OPS",
                     {"loud.py": "import pathlib\npathlib.Path(__file__).with_name('ran')."
                                 "write_text('yes')\nOPS = []\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    xdsl.check("network n:\n    input x: 3 x 8 x 8\n    relu\n")
    assert not (tmp_path / "ran").exists()
    xdsl.check("use loud\nnetwork n:\n    input x: 3 x 8 x 8\n    relu\n")
    assert (tmp_path / "ran").read_text() == "yes"
    plugins.unload("loud")


def test_a_plugin_rule_s_loose_types_are_validated_into_the_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule returning a list shape, halves as floats and a float count: the node holds the
    tuple of ints the model declares, and the residual around it sees equal shapes."""
    installed_plugin(tmp_path, "loose", "loose:OPS", {"loose.py": (
        "from xdsl.ops import Inferred, NoAttrs, OpSpec\n"
        "def half(attrs, shapes, is_global):\n"
        "    c, h, w = shapes[0]\n"
        "    return Inferred(shape=[c, h / 2, w / 2], params=c * 2.0)\n"
        "def same(attrs, shapes, is_global):\n"
        "    return Inferred(shape=list(shapes[0]))\n"
        "OPS = [OpSpec('half', NoAttrs, half), OpSpec('same', NoAttrs, same)]\n")})
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        g = xdsl.parse("use loose\nnetwork n:\n    input x: 3 x 8 x 8\n    half\n"
                       "    residual:\n        same\n    conv 4 3x3 pad=1\n").build()
        node = g.nodes["half1"]["node"]
        assert node.shape == (3, 4, 4) and type(node.shape[1]) is int
        assert node.params == 6 and type(node.params) is int
        assert g.nodes["residual1.same1"]["node"].shape == (3, 4, 4)
        assert g.nodes["residual1.add1"]["node"].shape == (3, 4, 4)  # the shapes joined
        assert str(xdsl.check("use loose\nnetwork n:\n    input x: 3 x 8 x 8\n    half\n")) \
            .startswith("n: 3 x 8 x 8 -> 3 x 4 x 4, 6 trainable")
    finally:
        plugins.unload("loose")
