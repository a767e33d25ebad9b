"""Shared test options: ``--update-golden`` rewrites golden files instead of comparing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files from the current output")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file at ``path`` (or rewrite it when updating)."""
    if update or not path.exists():
        if not update:
            pytest.fail(f"golden file {path} is missing; run pytest --update-golden")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from {path}; run pytest --update-golden if intended"


@pytest.fixture
def golden(update_golden: bool):
    """``golden(relative_path, text)`` checks text against tests/golden/relative_path."""

    def check(relative: str, actual: str) -> None:
        check_golden(GOLDEN / relative, actual, update_golden)

    return check


PLUGIN = ROOT / "examples" / "plugins" / "xdsl-cbam"


@pytest.fixture(scope="session")
def cbam_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where pip installed the example plugin (examples/plugins/xdsl-cbam)."""
    import subprocess
    import sys

    target = tmp_path_factory.mktemp("site")
    try:
        import setuptools  # noqa: F401 - present: build with it, no download
        isolation = ["--no-build-isolation"]
    except ImportError:
        isolation = []
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           *isolation, "--target", str(target), str(PLUGIN)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return target


@pytest.fixture
def cbam_plugin(cbam_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example plugin installed for this test: importable here, and for the commands the
    test runs (``PYTHONPATH``); afterwards it is neither installed nor loaded."""
    import importlib

    from xdsl import plugins

    monkeypatch.syspath_prepend(str(cbam_site))
    monkeypatch.setenv("PYTHONPATH", str(cbam_site))
    importlib.invalidate_caches()
    yield cbam_site
    plugins.unload("cbam")


@pytest.fixture
def native(monkeypatch: pytest.MonkeyPatch) -> None:
    """This CPU computes bfloat16 natively (whatever it really does)."""
    from xdsl.train import devices

    monkeypatch.setattr(devices, "cpu_bf16_supported", lambda: True)


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    """This CPU has no native bfloat16."""
    from xdsl.train import devices

    monkeypatch.setattr(devices, "cpu_bf16_supported", lambda: False)
