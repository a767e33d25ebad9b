"""xdsl: an architecture DSL and network-spec compiler for convolutional networks.

Every command is a function here: the spec comes first (a path, a shipped spec's name, the
text or a parsed :class:`Spec`) and its parameters follow as keywords, ``xdsl.check("xception",
width=512)``. ``import xdsl`` loads neither graphviz nor torch: ``draw`` loads its backend and
``compile`` / ``load`` load torch on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what editors and type checkers see of the names loaded on first use
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
    from .backends.graphviz import Diagram, draw
    from .backends.pytorch.build import CompiledNetwork, load
    from .backends.pytorch.build import compile_network as compile
    from .diagnostics import SpecError
    from .files import SpecFileError
    from .graph import Limits
    from .params import ParamError

__version__ = "0.1.0"

# Every name loads its module on first use: `import xdsl` (and `xdsl --help`) loads nothing
# more, `xdsl.check` loads the front end (no networkx, graphviz or torch), `xdsl.compile` torch.
_LAZY = {
    **{name: ("xdsl.api", name) for name in (
        "Diff", "Setting", "Spec", "Summary", "at", "audit", "check", "compare", "diff",
        "export", "fmt", "graph", "parse", "sweep")},
    "Report": ("xdsl.audit", "Report"), "Row": ("xdsl.audit", "Row"),
    "SpecError": ("xdsl.diagnostics", "SpecError"),
    "SpecFileError": ("xdsl.files", "SpecFileError"),
    "Limits": ("xdsl.graph", "Limits"), "ParamError": ("xdsl.params", "ParamError"),
    "draw": ("xdsl.backends.graphviz", "draw"),
    "Diagram": ("xdsl.backends.graphviz", "Diagram"),
    "compile": ("xdsl.backends.pytorch.build", "compile_network"),
    "load": ("xdsl.backends.pytorch.build", "load"),
    "CompiledNetwork": ("xdsl.backends.pytorch.build", "CompiledNetwork"),
}

__all__ = ["CompiledNetwork", "Diagram", "Diff", "Limits", "ParamError", "Report", "Row",
           "Setting", "Spec", "SpecError", "SpecFileError", "Summary", "at", "audit", "check",
           "compare", "compile", "diff", "draw", "export", "fmt", "graph", "load", "parse",
           "sweep"]


class _Package(types.ModuleType):
    """``xdsl.audit``, ``xdsl.diff`` and ``xdsl.graph`` are functions (the commands) and
    modules: loading one of the modules binds its name on the package, which would hide the
    function. The package keeps the function's name; the module is ``sys.modules["xdsl.audit"]``
    (``from xdsl.audit import Report`` works as ever)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xdsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
