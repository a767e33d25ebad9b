"""The shipped renderings: ``docs/specs/<name>.{svg,dot,md}`` for every shipped spec.

Regenerate with ``python tools/render_docs.py`` (``--check`` lists stale files and exits 1).

The DOT source and the audit report (Markdown) are compared exactly by the tests.  SVG bytes
depend on the renderer's version, so the SVG is rendered with graphviz-pure (same bytes on every
platform) and carries the SHA-256 of the DOT it was drawn from; a stale SVG is one whose stamp
does not match the current DOT.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from xdsl.backends.graphviz import draw

from xdsl.api import parse, shipped_specs
from xdsl.audit import audit
from xdsl.report import render as render_report

DOCS = Path("docs") / "specs"
REGENERATE = "python tools/render_docs.py"
_STAMP = re.compile(r"<!-- xdsl draw: dot sha256 ([0-9a-f]{64})")
_SUFFIXES = (".dot", ".md", ".svg")


def dot_source(name: str) -> str:
    return draw(name).dot


def audit_markdown(name: str) -> str:
    return render_report(audit(parse(name)), "markdown", per_layer=False) + "\n"


def stamp(dot: str) -> str:
    return hashlib.sha256(dot.encode("utf-8")).hexdigest()


def svg_stamp(svg: str) -> str | None:
    """The DOT hash an SVG written by :func:`write` was drawn from."""
    found = _STAMP.search(svg)
    return found.group(1) if found else None


def svg(name: str, dot: str) -> str:
    from xdsl.backends.graphviz import Diagram

    text = Diagram(dot, renderer="graphviz-pure").render("svg").decode("utf-8")
    mark = f"<!-- xdsl draw: dot sha256 {stamp(dot)}; regenerate with {REGENERATE} -->\n"
    head, sep, rest = text.partition("<svg")
    return head + mark + sep + rest


def _paths(root: Path) -> dict[str, Path]:
    """Spec name → its docs path without suffix (``variants/x`` → docs/specs/variants/x)."""
    return {name: root / DOCS / name for name in sorted(shipped_specs())}


def stale(root: Path) -> list[str]:
    """Committed renderings that differ from what the specs give now (paths, with reasons)."""
    problems = []
    paths = _paths(root)
    for name, base in paths.items():
        dot = dot_source(name)
        for path, want in ((base.with_suffix(".dot"), dot),
                           (base.with_suffix(".md"), audit_markdown(name))):
            if not path.exists():
                problems.append(f"{path}: missing")
            elif path.read_text(encoding="utf-8") != want:
                problems.append(f"{path}: out of date")
        svg_path = base.with_suffix(".svg")
        if not svg_path.exists():
            problems.append(f"{svg_path}: missing")
        elif svg_stamp(svg_path.read_text(encoding="utf-8")) != stamp(dot):
            problems.append(f"{svg_path}: drawn from another DOT source")
    problems += [f"{p}: no shipped spec of that name" for p in _orphans(root, paths)]
    return problems


def _orphans(root: Path, paths: dict[str, Path]) -> list[Path]:
    folder = root / DOCS
    if not folder.is_dir():
        return []
    wanted = {base.with_suffix(s) for base in paths.values() for s in _SUFFIXES}
    return sorted(p for p in folder.rglob("*") if p.suffix in _SUFFIXES and p not in wanted)


def write(root: Path) -> list[Path]:
    """Regenerate every rendering; files whose spec is gone are removed."""
    written = []
    paths = _paths(root)
    for name, base in paths.items():
        base.parent.mkdir(parents=True, exist_ok=True)
        dot = dot_source(name)
        for suffix, text in ((".dot", dot), (".md", audit_markdown(name)),
                             (".svg", svg(name, dot))):
            path = base.with_suffix(suffix)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                written.append(path)
    for orphan in _orphans(root, paths):
        orphan.unlink()
    return written
