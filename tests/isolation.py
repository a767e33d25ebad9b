"""Run Python in a fresh interpreter and report whether it imported torch."""

from __future__ import annotations

import subprocess
import sys

PROBE = ("\nimport sys as _sys\n"
         "_bad = [m for m in _sys.modules if m == 'torch' or m.startswith('torch.')]\n"
         "print('TORCH' if _bad else 'CLEAN')\n")


def imports_torch(code: str) -> bool:
    """True when ``code`` (which must succeed) leaves torch in ``sys.modules``."""
    done = subprocess.run([sys.executable, "-c", code + PROBE], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] != "CLEAN"
