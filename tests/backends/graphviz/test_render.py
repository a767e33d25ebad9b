"""Rendered files: SVG and PNG of Xception, the graphviz-pure fallback, PDF, and no torch."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from isolation import imports_torch
from xdsl.backends.graphviz import draw, render

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="system Graphviz `dot` not installed")
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def diagram():
    return draw("xception")


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)
    assert root.tag == f"{SVG_NS}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_xception_svg(data: bytes) -> None:
    texts = svg_texts(data)
    for label in ("Entry flow", "Middle flow", "Exit flow", "repeated 8 times",
                  "SeparableConv 728, 3\u00d73", "Conv 32, 3\u00d73, stride=2\u00d72",
                  "MaxPooling 3\u00d73, stride=2\u00d72", "GlobalAveragePooling", "+"):
        assert label in texts, label
    clusters = ET.fromstring(data).findall(f".//{SVG_NS}g[@class='cluster']")
    assert len(clusters) >= 3 + 1  # three flows and the repeat


def check_xception_png(data: bytes) -> None:
    width, height = png_size(data)
    assert 600 <= width <= 4000 and 800 <= height <= 4000, (width, height)


@pytest.mark.parametrize("renderer", [
    pytest.param("dot", marks=needs_dot), "graphviz-pure"])
def test_svg_and_png(diagram, renderer: str, tmp_path: Path) -> None:
    d = type(diagram)(diagram.dot, renderer)
    check_xception_svg(d.save(tmp_path / "x.svg").read_bytes())
    check_xception_png(d.save(tmp_path / "x.png").read_bytes())


@needs_dot
def test_pdf_with_system_graphviz(diagram, tmp_path: Path) -> None:
    assert diagram.save(tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"


def test_auto_falls_back_to_graphviz_pure(monkeypatch) -> None:
    real = shutil.which
    monkeypatch.setattr(render.shutil, "which",
                        lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    assert render.find_program("svg").name == "graphviz-pure"
    with pytest.raises(render.RenderError, match="apt-get install graphviz"):
        render.find_program("pdf")


def hidden_dot_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has no `dot` (nor graphviz-pure: it is found next to
    the interpreter, as in a virtualenv that is not activated)."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return {**os.environ, "PATH": str(empty)}


def run_draw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xdsl", "draw", "xception", *args],
                          env=hidden_dot_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)


def test_cli_without_system_graphviz_writes_svg_and_png(tmp_path: Path) -> None:
    for name in ("x.svg", "x.png"):
        done = run_draw(tmp_path, "-o", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    svg = (tmp_path / "x.svg").read_bytes()
    assert b"graphviz-pure" in svg  # the generator comment: the fallback drew it
    check_xception_svg(svg)
    check_xception_png((tmp_path / "x.png").read_bytes())


def test_pdf_without_system_graphviz_says_how_to_get_it(tmp_path: Path) -> None:
    done = run_draw(tmp_path, "-o", str(tmp_path / "x.pdf"))
    assert done.returncode == 1
    assert "apt-get install graphviz" in done.stderr and "PDF" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_draw_does_not_import_torch(tmp_path: Path) -> None:
    assert not imports_torch(
        "from xdsl.cli import main\n"
        f"main(['draw', 'xception', '-o', {str(tmp_path / 'x.svg')!r}], standalone_mode=False)\n"
        "import xdsl\nxdsl.parse('xception')._repr_svg_()\n")
    assert (tmp_path / "x.svg").stat().st_size > 1000


def test_notebook_reprs() -> None:
    import xdsl

    svg = xdsl.parse("xception")._repr_svg_()
    assert svg is not None and "Middle flow" in svg
    assert xdsl.draw("xception")._repr_svg_() == svg
    assert xdsl.graph("xception")._repr_svg_() == svg  # the graph IR shows itself too
