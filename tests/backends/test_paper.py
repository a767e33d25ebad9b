"""xdsl export: the architecture and audit tables a paper pastes, and the fingerprint."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from xdsl.backends.paper import block_rows, export

import xdsl
from xdsl.cli import main


@pytest.mark.parametrize("fmt", ["latex", "markdown"])
def test_export_golden(fmt: str, golden) -> None:
    text = CliRunner().invoke(main, ["export", "xception", "--format", fmt]).output
    golden(f"paper/xception.{'tex' if fmt == 'latex' else 'md'}", text)


def test_latex_is_booktabs_and_escaped() -> None:
    text = export(xdsl.parse("inception_v3"), fmt="latex")
    assert text.count(r"\toprule") == 2 and text.count(r"\bottomrule") == 2
    assert r"inception\_a" in text and "×" not in text and r"$\times$" in text
    assert "_a" not in text.replace(r"\_a", "")


def test_identical_consecutive_blocks_fold_into_one_row() -> None:
    rows = block_rows(xdsl.graph("xception"), {"entry", "middle", "exit"})
    middle = [r for r in rows if r[0] == "middle"]
    assert middle == [["middle", "residual ×8", "SeparableConv 728, 3×3 (×3)",
                       "728 × 19 × 19", f"{8 * 1_613_976:,}"]]
    assert sum(int(r[4].replace(",", "")) for r in rows) == 22_855_952


def test_fingerprint_follows_the_parameters() -> None:
    spec = xdsl.parse("xception")
    a, b = export(spec, fmt="markdown"), export(spec, {"segments": "4"}, fmt="markdown")
    fa, fb = (re.search(r"xdsl:xception@([0-9a-f]{12})", t).group(1) for t in (a, b))
    assert fa != fb and fa == re.search(r"@([0-9a-f]{12})", export(spec, fmt="markdown"))[1]
    assert "SeparableConv 728, 3×3, 4 segments" in b


def test_fingerprint_line_of_a_network_without_parameters() -> None:
    spec = xdsl.parse("network bare:\n    input x: 3 x 8 x 8\n    conv 4 3x3\n")
    markdown, latex = export(spec, fmt="markdown"), export(spec, fmt="latex")
    assert re.search(r"^Fingerprint `xdsl:bare@[0-9a-f]{12}` \(no parameters\)\.$", markdown,
                     re.MULTILINE), markdown
    assert re.match(r"% bare — xdsl fingerprint [0-9a-f]{12}\n% no parameters\n", latex), latex
    assert "parameters: " not in markdown + latex
