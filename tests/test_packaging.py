"""Packaging: backends/ and specs/ install as xdsl.backends / xdsl.specs, nothing top-level."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import importlib.util, xdsl, xdsl.backends, xdsl.specs, xdsl.api\n"
         "print(xdsl.__file__); print(xdsl.backends.__file__)\n"
         "print(sorted(xdsl.api.shipped_specs()))\n"
         "print(importlib.util.find_spec('backends'), importlib.util.find_spec('specs'))\n")


def probe(python: str, cwd: Path) -> list[str]:
    out = subprocess.run([python, "-c", PROBE], cwd=cwd, capture_output=True, text=True,
                         check=True)
    return out.stdout.splitlines()


def test_editable_install_maps_backends_into_xdsl(tmp_path: Path) -> None:
    xdsl_file, backends_file, specs, top = probe(sys.executable, tmp_path)
    assert Path(backends_file).resolve() == ROOT / "backends" / "__init__.py"
    assert Path(xdsl_file).resolve() == ROOT / "xdsl" / "__init__.py"
    assert "xception" in specs
    assert top == "None None"


@pytest.mark.slow
def test_wheel_holds_only_the_xdsl_package_and_installs(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")], check=True,
                   cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("xdsl_nets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"xdsl", next(t for t in tops if t.endswith(".dist-info"))}
    assert "xdsl/backends/__init__.py" in names and "xdsl/specs/xception.x" in names
    assert "xdsl/grammar.lark" in names

    env = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    python = str(env / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                    "-q", str(wheel)], check=True, cwd=tmp_path)
    xdsl_file, backends_file, specs, top = probe(python, tmp_path)
    assert Path(xdsl_file).is_relative_to(env) and Path(backends_file).is_relative_to(env)
    assert "xception" in specs and top == "None None"
