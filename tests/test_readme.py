"""The README's tables and the spec it prints are regenerated from the commands it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def block(name: str) -> str:
    match = re.search(rf"<!-- readme:{name} -->\n(.*?)\n<!-- /readme:{name} -->", README, re.S)
    assert match, f"README has no {name} block"
    return match.group(1)


@pytest.mark.parametrize(("name", "command"), [
    ("table3", "audit xception inception_v3 variants/inception_v3_keras1 --format markdown"),
    ("sweep", "audit xception --sweep segments=1,2,4,8,none --format markdown"),
])
def test_readme_tables_are_current(name: str, command: str) -> None:
    assert f"`xdsl {command}`" in README
    result = CliRunner().invoke(main, command.split())
    assert result.exit_code == 0
    assert block(name) == result.output.strip()


def test_readme_shows_the_shipped_xception_spec() -> None:
    assert (ROOT / "specs" / "xception.x").read_text().strip() in README


def test_readme_commands_are_the_ci_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```\n{ci}\n```" in README
    assert "```\npip install . && xdsl compile specs/xception.x\n```" in README


def test_readme_shows_the_example_plugin_as_it_is_installed() -> None:
    plugin = ROOT / "examples" / "plugins" / "xdsl-cbam" / "xdsl_cbam" / "__init__.py"
    shown = block("plugin").removeprefix("```python\n").removesuffix("\n```")
    assert shown == plugin.read_text().rstrip("\n")
    assert len(shown.splitlines()) < 40


def test_readme_counts_of_the_plugin_example(cbam_plugin) -> None:
    import xdsl
    from xdsl.graph import layers

    spec = README.split("After `pip install -e\nexamples/plugins/xdsl-cbam`:\n\n```\n")[1]
    g = xdsl.graph(spec.split("```")[0])
    second = [n for n in layers(g) if n.op == "cbam"][1]
    assert f"(the second: {second.params:,} parameters, {second.state} statistics, " \
           f"{second.macs:,} MACs)" in README


def test_readme_zoo_table_is_current() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("zoo_table", ROOT / "tools" / "zoo_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.table()
    assert block("zoo") == table
    assert table.count("\n") - 1 == len(list((ROOT / "specs" / "zoo").glob("*.x"))) + 1


def test_readme_shows_the_committed_study_table() -> None:
    assert block("study") == (ROOT / "docs" / "study" / "spectrum.md").read_text().strip()
    assert (ROOT / "docs" / "study" / "spectrum_pareto.svg").is_file()
