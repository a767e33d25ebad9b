"""xdsl: an architecture DSL and network-spec compiler for convolutional networks."""

from __future__ import annotations

import importlib
from typing import Any

from .api import Spec, Summary, check, graph, parse
from .diagnostics import SpecError
from .graph import Limits
from .params import ParamError

__all__ = ["Limits", "ParamError", "Spec", "SpecError", "Summary", "check", "graph", "parse"]
__version__ = "0.1.0"

# Backends load on first use, so `import xdsl` stays light (no graphviz, no torch).
_LAZY = {"draw": "xdsl.backends.graphviz", "compile": "xdsl.backends.pytorch",
         "load": "xdsl.backends.pytorch"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xdsl' has no attribute {name!r}")
