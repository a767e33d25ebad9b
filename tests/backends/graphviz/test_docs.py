"""The committed renderings under docs/specs are those the shipped specs give now."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from xdsl.backends.graphviz import docs

from xdsl.api import shipped_specs

ROOT = Path(__file__).resolve().parents[3]


def test_committed_renderings_are_current() -> None:
    problems = docs.stale(ROOT)
    assert problems == [], ("stale renderings; regenerate with `python tools/render_docs.py`:\n"
                            + "\n".join(problems))


def test_every_shipped_spec_has_a_valid_svg() -> None:
    for name in shipped_specs():
        svg = ROOT / docs.DOCS / f"{name}.svg"
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg") and root.get("viewBox"), svg


def test_stamp_detects_a_changed_dot(tmp_path: Path) -> None:
    svg = docs.svg("xception", docs.dot_source("xception"))
    assert docs.svg_stamp(svg) == docs.stamp(docs.dot_source("xception"))
    assert docs.svg_stamp(svg) != docs.stamp(docs.dot_source("xception") + " ")
    ET.fromstring(svg)  # the stamp keeps the SVG well-formed


def test_write_then_check_round_trip(tmp_path: Path) -> None:
    written = docs.write(tmp_path)
    assert tmp_path / "docs/specs/xception.svg" in written
    assert docs.stale(tmp_path) == []
    (tmp_path / "docs/specs/gone.md").write_text("old")
    (tmp_path / "docs/specs/xception.dot").write_text("digraph {}\n")
    assert sorted(docs.stale(tmp_path)) == [
        f"{tmp_path}/docs/specs/gone.md: no shipped spec of that name",
        f"{tmp_path}/docs/specs/xception.dot: out of date",
    ]
    docs.write(tmp_path)
    assert docs.stale(tmp_path) == [] and not (tmp_path / "docs/specs/gone.md").exists()


def test_readme_embeds_the_xception_diagram() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "![Xception](docs/specs/xception.svg)" in readme
    assert "python tools/render_docs.py" in readme
    assert "\\begin{minted}{xdsl}" in readme
