"""Run Python in a fresh interpreter and report which packages it imported."""

from __future__ import annotations

import ast
import subprocess
import sys


def loaded(code: str, packages: tuple[str, ...]) -> list[str]:
    """Those of ``packages`` (top-level names) that ``code``, which must succeed, leaves in
    ``sys.modules``. A ``SystemExit`` with status 0 (a click command's end) counts as success."""
    wrapped = ("import sys as _sys\n"
               f"try:\n    exec(compile({code!r}, '<code>', 'exec'), {{'__name__': '__main__'}})\n"
               "except SystemExit as _e:\n    assert not _e.code, _e.code\n"
               f"print(sorted({{m.split('.')[0] for m in _sys.modules}} & {set(packages)!r}))\n")
    done = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def imports_torch(code: str) -> bool:
    """True when ``code`` (which must succeed) leaves torch in ``sys.modules``."""
    return loaded(code, ("torch",)) == ["torch"]
