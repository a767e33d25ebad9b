"""The shipped specs at a glance (``xdsl list``): name, one-line summary and counts.

The summary is the spec's own words: the first line of its leading comment, cut to its first
sentence; a first line that runs on into the next is cut at its last clause break (``:``,
``;``, ``,`` or a dash outside parentheses) rather than mid-phrase.  A spec without a leading
comment is summarised by its header (``network name(...)`` or ``variant ... of ...``).
Counting builds each spec's graph at its defaults, which never imports torch.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from .api import parse, shipped_specs, summarize
from .diagnostics import split_lines

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_BREAKS = (": ", "; ", ", ", " — ", " -- ")


@dataclass(frozen=True)
class Entry:
    name: str
    summary: str
    input: tuple[int, ...]
    output: tuple[int, ...]
    trainable: int
    non_trainable: int
    macs: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "input": list(self.input), "output": list(self.output)}


def _last_break(text: str) -> int:
    """Index of the last clause break outside parentheses, or -1."""
    depth, found = 0, -1
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and any(text.startswith(b, i) for b in _BREAKS):
            found = i
    return found


def summary_line(text: str) -> str:
    """One line describing a spec, from its source text (see the module docstring)."""
    lines = split_lines(text.lstrip("\ufeff"))
    code = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    comment: list[str] = []
    for line in lines:
        if not line.lstrip().startswith("#"):
            break
        comment.append(line.lstrip()[1:].strip())
    if not comment or not comment[0]:
        header = code[0].rstrip(":").rstrip() if code else ""
        return header + (" …" if header.count("(") > header.count(")") else "")
    first = comment[0]
    if end := _SENTENCE_END.search(first):
        return first[:end.start()]
    if len(comment) == 1:
        return first
    cut = _last_break(first)
    return first[:cut] if cut > 0 else f"{first} …"


def entries() -> list[Entry]:
    """Every shipped spec and variant, sorted by name, counted at its defaults."""
    out = []
    for name in sorted(shipped_specs()):
        spec = parse(name)
        s = summarize(spec.build())
        text = (spec.audit_source or spec.source).text
        out.append(Entry(name, summary_line(text), s.input, s.output, s.trainable,
                         s.non_trainable, s.macs))
    return out
