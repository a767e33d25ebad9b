"""xdsl: an architecture DSL and network-spec compiler for convolutional networks."""

from __future__ import annotations

from .api import Spec, Summary, check, graph, parse
from .diagnostics import SpecError
from .graph import Limits, ParamError

__all__ = ["Limits", "ParamError", "Spec", "SpecError", "Summary", "check", "graph", "parse"]
__version__ = "0.1.0"
