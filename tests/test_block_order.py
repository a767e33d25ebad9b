"""Block tables follow the network's order: a flow's own layers before, between and after its
block calls are separate rows, each with its own output size (issue 10, item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdsl.cli import main

# A DenseNet-like flow: a stem, two dense blocks and a transition, then the head.
DENSE = """\
network densish(growth: int = 4):
    input image: 3 x 32 x 32

    block dense(k: int):
        concat:
            branch: identity
            branch: bn; relu; conv k 3x3 pad=1

    block transition(c: int):
        conv c 1x1; avgpool 2x2 stride=2

    flow features:
        conv 8 7x7 stride=2 pad=3; maxpool 3x3 stride=2 pad=1
        dense(growth); dense(growth)
        transition(8)
        bn; relu
        global avgpool; linear 10
"""


@pytest.fixture
def dense(tmp_path: Path) -> str:
    path = tmp_path / "densish.x"
    path.write_text(DENSE)
    return str(path)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_audit_json_block_rows_in_network_order(dense: str) -> None:
    blocks = json.loads(run("audit", dense, "--format", "json"))["blocks"]
    assert [(b["name"], b["first"], b["last"], b["layers"], b["output"], b["params"],
             b["non_trainable"], b["macs"]) for b in blocks] == [
        ("features", "features.conv1", "features.maxpool1", 2, [8, 8, 8], 1_184, 0, 301_056),
        ("features.dense1", "features.dense1.branch1.identity1", "features.dense1.concat1",
         5, [12, 8, 8], 308, 16, 18_432),
        ("features.dense2", "features.dense2.branch1.identity1", "features.dense2.concat1",
         5, [16, 8, 8], 460, 24, 27_648),
        ("features.transition1", "features.transition1.conv1",
         "features.transition1.avgpool1", 2, [8, 4, 4], 136, 0, 8_192),
        ("features", "features.bn1", "features.linear1", 4, [10], 106, 16, 80),
    ]


def test_audit_table_block_rows_in_network_order(dense: str) -> None:
    out = run("audit", dense, "--blocks-only")
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split() == ["block", "layers", "output", "params", "non-trainable", "MACs"]
    assert [line.split() for line in table[2:]] == [
        ["features", "2", "8", "x", "8", "x", "8", "1,184", "0", "301,056"],
        ["features.dense1", "5", "12", "x", "8", "x", "8", "308", "16", "18,432"],
        ["features.dense2", "5", "16", "x", "8", "x", "8", "460", "24", "27,648"],
        ["features.transition1", "2", "8", "x", "4", "x", "4", "136", "0", "8,192"],
        ["features", "4", "10", "106", "16", "80"],
    ]


def test_export_markdown_rows_in_network_order(dense: str) -> None:
    out = run("export", dense, "--format", "markdown")
    rows = [line for line in out.splitlines() if line.startswith("| features")]
    assert rows == [
        "| features |  | Conv 8, 7×7, stride=2×2; MaxPooling 3×3, stride=2×2 | 8 × 8 × 8 | 1,184 |",
        "| features | dense | Conv 4, 3×3 | 12 × 8 × 8 | 308 |",
        "| features | dense | Conv 4, 3×3 | 16 × 8 × 8 | 460 |",
        "| features | transition | Conv 8, 1×1; AveragePooling 2×2, stride=2×2 | 8 × 4 × 4 | 136 |",
        "| features |  | GlobalAveragePooling; Linear 10 | 10 | 106 |",
    ]


def test_export_latex_rows_in_network_order(dense: str) -> None:
    out = run("export", dense, "--format", "latex")
    rows = [line for line in out.splitlines() if line.startswith("features &")]
    assert rows == [
        r"features &  & Conv 8, 7$\times$7, stride=2$\times$2; MaxPooling 3$\times$3, "
        r"stride=2$\times$2 & 8 $\times$ 8 $\times$ 8 & 1{,}184 \\",
        r"features & dense & Conv 4, 3$\times$3 & 12 $\times$ 8 $\times$ 8 & 308 \\",
        r"features & dense & Conv 4, 3$\times$3 & 16 $\times$ 8 $\times$ 8 & 460 \\",
        r"features & transition & Conv 8, 1$\times$1; AveragePooling 2$\times$2, "
        r"stride=2$\times$2 & 8 $\times$ 4 $\times$ 4 & 136 \\",
        r"features &  & GlobalAveragePooling; Linear 10 & 10 & 106 \\",
    ]


# Without flows, block calls sit at the top of the scope: each call is one row, not one row
# per branch of its concat.
NO_FLOWS = """\
network noflow:
    input image: 3 x 16 x 16

    block mix(c: int):
        concat:
            branch: conv c 1x1
            branch: conv c 3x3 pad=1

    conv 8 3x3 pad=1
    mix(4); mix(4)
    global avgpool; linear 10
"""


def test_rows_of_a_network_without_flows(tmp_path: Path) -> None:
    path = tmp_path / "noflow.x"
    path.write_text(NO_FLOWS)
    blocks = json.loads(run("audit", str(path), "--format", "json"))["blocks"]
    assert [(b["name"], b["layers"], b["output"], b["params"]) for b in blocks] == [
        ("(network)", 1, [8, 16, 16], 224), ("mix1", 3, [8, 16, 16], 328),
        ("mix2", 3, [8, 16, 16], 328), ("(network)", 2, [10], 90)]
    out = run("export", str(path), "--format", "markdown")
    assert [line for line in out.splitlines() if line.startswith("|  |")] == [
        "|  |  | Conv 8, 3×3 | 8 × 16 × 16 | 224 |",
        "|  | mix ×2 | Conv 4, 1×1; Conv 4, 3×3 | 8 × 16 × 16 | 656 |",
        "|  |  | GlobalAveragePooling; Linear 10 | 10 | 90 |",
    ]
    # the per-layer table's stage is the flow, and there is none here
    out = run("export", str(path), "--format", "markdown", "--layers")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "×" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| "] * 5
