"""xdsl: an architecture DSL and network-spec compiler for convolutional networks.

Every command is a function here: the spec comes first (a path, a shipped spec's name, the
text or a parsed :class:`Spec`) and its parameters follow as keywords, ``xdsl.check("xception",
width=512)``. ``import xdsl`` loads neither graphviz nor torch: ``draw`` loads its backend and
``compile`` / ``load`` load torch on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# xdsl.audit and xdsl.diff are modules as well as the functions bound below: the modules are
# loaded first, as loading a submodule later would bind its name over the function.
from . import audit as _audit_module
from . import diff as _diff_module
from .api import (
    Diff,
    Setting,
    Spec,
    Summary,
    at,
    audit,
    check,
    compare,
    diff,
    export,
    fmt,
    graph,
    parse,
    sweep,
)
from .audit import Report, Row
from .diagnostics import SpecError
from .files import SpecFileError
from .graph import Limits
from .params import ParamError

if TYPE_CHECKING:  # what editors and type checkers see of the functions loaded on first use
    from .backends.graphviz import Diagram, draw
    from .backends.pytorch.build import CompiledNetwork, load
    from .backends.pytorch.build import compile_network as compile

__version__ = "0.1.0"

# Backends load on first use, so `import xdsl` stays light (no graphviz, no torch).
_LAZY = {"draw": ("xdsl.backends.graphviz", "draw"),
         "Diagram": ("xdsl.backends.graphviz", "Diagram"),
         "compile": ("xdsl.backends.pytorch.build", "compile_network"),
         "load": ("xdsl.backends.pytorch.build", "load"),
         "CompiledNetwork": ("xdsl.backends.pytorch.build", "CompiledNetwork")}

__all__ = ["CompiledNetwork", "Diagram", "Diff", "Limits", "ParamError", "Report", "Row",
           "Setting", "Spec", "SpecError", "SpecFileError", "Summary", "at", "audit", "check",
           "compare", "compile", "diff", "draw", "export", "fmt", "graph", "load", "parse",
           "sweep"]
del _audit_module, _diff_module


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'xdsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
