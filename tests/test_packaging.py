"""Packaging: backends/ and specs/ install as xdsl.backends / xdsl.specs, nothing top-level.

The wheel is installed into a bare virtual environment of its own, which reaches the running
interpreter's packages (the wheel's dependencies) through a ``.pth`` file. That works the same
whether the tests run in a venv, a conda env or a system Python: a venv made with
``system_site_packages=True`` would see the *base* interpreter's packages instead, which inside
a venv lack lark and the rest.
"""

from __future__ import annotations

import json
import os
import shlex
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
XCEPTION = ("xception: 3 x 299 x 299 -> 1000, 22,855,952 trainable parameters (54,528 "
            "non-trainable), 8,357,403,496 MACs")


def run(cmd: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run a child process; when it fails, fail the test showing its stdout and stderr."""
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"`{shlex.join(done.args)}` (in {cwd}) exited with {done.returncode}\n"
                    f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}", pytrace=False)
    return done


def probe(python: str | Path, cwd: Path) -> list[str]:
    return run([python, "-c", PROBE], cwd).stdout.splitlines()


def sys_path(python: str | Path, cwd: Path) -> list[str]:
    return json.loads(run([python, "-c", "import json, sys; print(json.dumps(sys.path))"],
                          cwd).stdout)


def bare_venv(env: Path, cwd: Path) -> Path:
    """A venv without xdsl that imports the running interpreter's other packages.

    Its own site-packages comes first; the running interpreter's package folders (sys.path as
    a fresh child sees it, less what the new venv has anyway and less this checkout) follow,
    from a ``.pth`` file. Folders named in a ``.pth`` file have their own ``.pth`` files
    ignored, so the running interpreter's editable install of xdsl does not come along.
    """
    venv.EnvBuilder(symlinks=os.name != "nt", with_pip=False).create(env)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own = sys_path(python, cwd)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
               cwd).stdout.strip()
    extra = [p for p in sys_path(sys.executable, cwd)
             if p and p not in own and Path(p).resolve() != ROOT]
    Path(site, "running_interpreter.pth").write_text("\n".join(extra) + "\n", encoding="utf-8")
    return python


def test_a_failing_child_shows_its_output(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        run([sys.executable, "-c", "import sys; print('to stdout'); sys.exit('to stderr')"],
            tmp_path)
    message = str(failed.value)
    assert "exited with 1" in message
    assert "--- stdout\nto stdout\n--- stderr\nto stderr\n" in message


def test_editable_install_maps_backends_into_xdsl(tmp_path: Path) -> None:
    xdsl_file, backends_file, specs, top = probe(sys.executable, tmp_path)
    assert Path(backends_file).resolve() == ROOT / "backends" / "__init__.py"
    assert Path(xdsl_file).resolve() == ROOT / "xdsl" / "__init__.py"
    assert "xception" in specs
    assert top == "None None"


def test_the_bare_venv_has_no_xdsl_but_the_dependencies(tmp_path: Path) -> None:
    python = bare_venv(tmp_path / "venv", tmp_path)
    done = run([python, "-c", "import importlib.util as u, lark, networkx, pydantic, click\n"
                "print(u.find_spec('xdsl'))"], tmp_path)
    assert done.stdout == "None\n"


@pytest.mark.slow
def test_wheel_holds_only_the_xdsl_package_and_installs(tmp_path: Path) -> None:
    # built in an isolated build environment, as `pip install .` builds it
    run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", tmp_path / "dist"],
        tmp_path)
    (wheel,) = (tmp_path / "dist").glob("xdsl_nets-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in
                    archive.read(metadata).decode().splitlines()
                    if line.startswith("Requires-Dist:") and "extra ==" not in line]
    tops = {n.split("/")[0] for n in names}
    assert tops == {"xdsl", next(t for t in tops if t.endswith(".dist-info"))}
    assert "xdsl/backends/__init__.py" in names and "xdsl/specs/xception.x" in names
    assert "xdsl/grammar.lark" in names and "xdsl/py.typed" in names
    # `import torch` warns before anything else is printed when NumPy is missing
    assert {"torch>=2.3", "numpy>=1.22"} <= set(requires)

    env = tmp_path / "venv"
    python = bare_venv(env, tmp_path)
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
        tmp_path)
    xdsl_file, backends_file, specs, top = probe(python, tmp_path)
    assert Path(xdsl_file).is_relative_to(env) and Path(backends_file).is_relative_to(env)
    assert "xception" in specs and top == "None None"
    script = python.parent / "xdsl"
    assert run([script, "check", "xception"], tmp_path).stdout == XCEPTION + "\n"


@pytest.fixture
def above_clone(tmp_path: Path) -> Path:
    """A folder holding this checkout under the name ``xdsl``, as a clone named xdsl is."""
    (tmp_path / "xdsl").symlink_to(ROOT, target_is_directory=True)
    return tmp_path


@pytest.mark.parametrize("how", ["-c", "script", "-m"])
def test_import_xdsl_in_the_folder_above_a_clone_named_xdsl(above_clone: Path, how: str) -> None:
    """The folder above the clone leads sys.path: the clone itself is found first as `xdsl`."""
    code = "import xdsl; print(xdsl.__file__); print(xdsl.check('xception'))"
    if how == "-m":
        assert run([sys.executable, "-m", "xdsl", "check", "xception"],
                   above_clone).stdout == XCEPTION + "\n"
        return
    (above_clone / "use_xdsl.py").write_text(code + "\n", encoding="utf-8")
    cmd = [sys.executable, "use_xdsl.py"] if how == "script" else [sys.executable, "-c", code]
    first, summary = run(cmd, above_clone).stdout.splitlines()
    assert Path(first).resolve() == ROOT / "xdsl" / "__init__.py"
    assert summary == XCEPTION


def test_the_clone_without_an_installed_xdsl_says_what_to_do(above_clone: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-S", "-c", "import xdsl"], cwd=above_clone,
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"ImportError: `import xdsl` found the clone {above_clone / 'xdsl'} (Python was started "
        "in the folder above it) and no installed xdsl: install it with `pip install -e "
        f"{above_clone / 'xdsl'}`, or start Python elsewhere")


def test_every_subpackage_is_declared_for_the_wheel() -> None:
    import tomllib

    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                   ["packages"])
    found = {"xdsl." + ".".join(p.parent.relative_to(ROOT / "xdsl").parts)
             for p in (ROOT / "xdsl").rglob("__init__.py")} - {"xdsl."}
    found |= {"xdsl." + ".".join(("backends", *p.parent.relative_to(ROOT / "backends").parts))
              for p in (ROOT / "backends").rglob("__init__.py")}
    assert {n.rstrip(".") for n in found} | {"xdsl", "xdsl.specs"} == declared
