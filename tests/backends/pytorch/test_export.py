"""``--export-py``: a golden file, and the standalone module behaves like the compiled one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from equivalence import load_file
from xdsl.backends.pytorch.build import export_python
from xdsl.backends.pytorch.inference import optimize

import xdsl

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "tests" / "golden" / "pytorch" / "tiny.x"


@pytest.fixture
def tiny_source() -> str:
    return export_python(TINY, source_name="tests/golden/pytorch/tiny.x")


def test_golden_export(tiny_source: str, golden) -> None:
    golden("pytorch/tiny.py", tiny_source)


def test_export_imports_torch_only(tiny_source: str, tmp_path: Path) -> None:
    path = tmp_path / "tiny_export.py"
    path.write_text(tiny_source)
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import tiny_export; "
            "import torch; tiny_export.Tiny()(torch.zeros(2, 3, 32, 32)); "
            "assert not any(m.startswith('xdsl') for m in sys.modules), 'xdsl imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("optimized", [False, True])
def test_export_equals_compiled(tmp_path: Path, optimized: bool) -> None:
    model = xdsl.compile(TINY, seed=5)
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            model.train()(torch.randn(8, 3, 32, 32))
    target = optimize(model) if optimized else model.eval()
    path = tmp_path / f"tiny_{optimized}.py"
    path.write_text(export_python(target))
    exported = load_file(path).Tiny(seed=None)
    assert list(exported.state_dict()) == list(target.state_dict())
    exported.load_state_dict(target.state_dict())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(exported.eval()(x), target(x), rtol=0, atol=1e-6)


def test_exported_init_matches_compiled_init(tmp_path: Path) -> None:
    path = tmp_path / "tiny_init.py"
    path.write_text(export_python(TINY))
    exported = load_file(path).Tiny(seed=11).state_dict()
    compiled = xdsl.compile(TINY, seed=11).state_dict()
    assert all(torch.equal(v, compiled[k]) for k, v in exported.items())


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("spec, params", [(TINY, {}), (ROOT / "specs" / "xception.x", {}),
                                          (ROOT / "specs" / "inception_v3.x", {"aux": True})])
def test_export_is_ruff_clean(spec: Path, params: dict, tmp_path: Path) -> None:
    path = tmp_path / "export.py"
    path.write_text(export_python(spec, params=params))
    subprocess.run(["ruff", "format", "--check", "--line-length", "100", "--isolated",
                    str(path)], check=True, capture_output=True)
    subprocess.run(["ruff", "check", "--isolated", "--line-length", "100", "--select",
                    "E,F,W,I,UP,B", str(path)], check=True, capture_output=True)
