"""`xdsl list`: every shipped spec and variant with its one-line summary and counts, without
torch (issue 10, item 14; the torch probe is in test_cli.py)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from xdsl.api import shipped_specs
from xdsl.catalog import summary_line
from xdsl.cli import main


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["list", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_table_lists_every_shipped_spec_with_summary_and_counts() -> None:
    lines = run().splitlines()
    assert lines[0].split() == ["spec", "trainable", "params", "MACs", "summary"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert sorted(rows) == sorted(shipped_specs())
    assert rows["xception"].split(None, 3)[1:] == [
        "22,855,952", "8,357,403,496", "Xception (Chollet, 2017), Figure 5: entry, middle and "
        "exit flows"]
    assert rows["variants/xception_s4"].split(None, 3)[1:] == [
        "62,890,616", "24,023,880,976",
        "Four segments: an Inception-like split of the channels into 4 groups"]
    # a first comment line that runs on is cut at its last clause break, not mid-phrase
    assert rows["mini_xception"].endswith(
        "A slim Xception for quick experiments and the training tests")


def test_json_has_the_counts_of_check() -> None:
    data = json.loads(run("--format", "json"))
    assert [d["name"] for d in data] == sorted(shipped_specs())
    (s1,) = [d for d in data if d["name"] == "variants/xception_s1"]
    assert s1 == {"name": "variants/xception_s1", "summary": "One segment: a full 3x3 "
                  "convolution, then the 1x1 (the regular-convolution end of the spectrum)",
                  "input": [3, 299, 299], "output": [1000], "trainable": 183_616_904,
                  "non_trainable": 54_528, "macs": 71_419_884_448}


def test_markdown() -> None:
    out = run("--format", "markdown").splitlines()
    assert out[:2] == ["| spec | trainable params | MACs | summary |",
                       "| :--- | ---: | ---: | :--- |"]
    assert "| xception | 22,855,952 | 8,357,403,496 | Xception (Chollet, 2017), Figure 5: " \
           "entry, middle and exit flows |" in out


def test_summary_line_rules() -> None:
    assert summary_line("# One sentence.\n# More.\nnetwork n:\n") == "One sentence"
    assert summary_line("#   Spaced out\n\nnetwork n:\n") == "Spaced out"
    assert summary_line("# Runs on, then: a second clause that\n# continues here.\n"
                        "network n:\n") == "Runs on, then"
    assert summary_line("# A long line without a break that\n# continues.\nnetwork n:\n") \
        == "A long line without a break that …"
    assert summary_line("network n(a: int = 1,\n          b: int = 2):\n    input x: 3x8x8\n") \
        == "network n(a: int = 1, …"
    assert summary_line('variant v of "n.x" (a=2)\n') == 'variant v of "n.x" (a=2)'

