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
