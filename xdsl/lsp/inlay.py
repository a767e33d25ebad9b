"""Inlay hints: the output shape at the end of each layer line (``728 × 19 × 19``)."""

from __future__ import annotations

from .analysis import Analysis, Record
from .hover import output_shapes


def inlay_hints(a: Analysis, first: int, last: int) -> list[tuple[int, int, str]]:
    """(line, character, label) for the lines ``first`` .. ``last`` (0-based, inclusive): at
    the end of a line where statements end, the output of the last one (the outermost when
    several end together)."""
    if not a.ok or a.spec is None or a.spec.audit_source is not None:
        return []
    ending: dict[int, Record] = {}
    for r in a.records:
        line = r.span.end_line - 1
        if r.kind == "then" or not first <= line <= last or not any(r.outputs):
            continue
        best = ending.get(line)
        if best is None or (r.span.end_column, -r.span.line, -r.span.column) > \
                (best.span.end_column, -best.span.line, -best.span.column):
            ending[line] = r
    hints = []
    for line, r in sorted(ending.items()):
        shapes = output_shapes(a, r)
        if shapes:
            hints.append((line, len(a.lines[line].rstrip()), f"  {shapes}"))
    return hints
