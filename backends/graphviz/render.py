"""DOT → SVG / PNG / PDF with the system Graphviz ``dot``, or else the ``graphviz-pure`` wheel.

``graphviz-pure`` (a dependency) is a self-contained ``dot`` command, so ``pip install`` alone
gives SVG and PNG; it cannot write PDF, which therefore needs a system Graphviz.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FORMATS = ("svg", "png", "pdf", "dot")
Renderer = Literal["auto", "dot", "graphviz-pure"]
PURE_FORMATS = ("svg", "png")
TIMEOUT = 120

_INSTALL_DOT = ("install Graphviz (Debian/Ubuntu: `apt-get install graphviz`, macOS: "
                "`brew install graphviz`, conda: `conda install graphviz`)")


class RenderError(Exception):
    """The diagram cannot be rendered here; the message says what to install or change."""


@dataclass(frozen=True)
class Program:
    name: Literal["dot", "graphviz-pure"]
    path: str


def find_pure() -> str | None:
    """graphviz-pure's command: on PATH, or next to this Python (a venv not on PATH)."""
    found = shutil.which("graphviz-pure")
    if found:
        return found
    exe = "graphviz-pure.exe" if os.name == "nt" else "graphviz-pure"
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / exe
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_program(fmt: str, renderer: Renderer = "auto") -> Program:
    """The program that renders ``fmt``: system ``dot`` first, graphviz-pure as the fallback."""
    dot = shutil.which("dot") if renderer in ("auto", "dot") else None
    if dot:
        return Program("dot", dot)
    if renderer == "dot":
        raise RenderError(f"Graphviz's `dot` was not found on PATH; {_INSTALL_DOT}")
    if fmt not in PURE_FORMATS:
        raise RenderError(
            f"{fmt.upper()} output needs the system Graphviz `dot`, which was not found on PATH "
            f"(the bundled graphviz-pure writes only SVG and PNG); {_INSTALL_DOT}, or write "
            "an .svg or .png file instead")
    pure = find_pure()
    if pure is None:
        raise RenderError("no Graphviz renderer found: reinstall xdsl-nets (it depends on "
                          f"graphviz-pure) or {_INSTALL_DOT}")
    return Program("graphviz-pure", pure)


def render_dot(source: str, fmt: str, renderer: Renderer = "auto", dpi: int | None = None) -> bytes:
    """Run the renderer on DOT ``source``; warnings are dropped, failures raise RenderError."""
    if fmt == "dot":
        return source.encode("utf-8")
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    program = find_program(fmt, renderer)
    args = [program.path, f"-T{fmt}"]
    if dpi and fmt == "png":
        args.append(f"-Gdpi={dpi}")
    try:
        done = subprocess.run(args, input=source.encode("utf-8"), capture_output=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{program.name} took more than {TIMEOUT} s; draw fewer boxes "
                          "(--depth 1, or without --expand)") from None
    except OSError as e:
        raise RenderError(f"could not run {program.path}: {e.strerror}") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"{program.name} failed (exit {done.returncode}): {message}")
    return done.stdout
