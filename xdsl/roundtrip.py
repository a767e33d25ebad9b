"""What ``xdsl fmt`` promises, checked on every run before anything is written.

Its output must parse, to the same syntax tree as its input (places in the text aside), and
keep every comment byte for byte (less trailing spaces and tabs; fmt may put the comments of a
statement's continuation lines after its first line, two spaces apart). When the output falls
short, fmt refuses with an error at the place in the input it would have got wrong (it is a bug
in fmt), as Black's ``assert_equivalent`` does, rather than write a changed spec.

The comparison walks the trees without recursion, so it compares trees of any depth (pydantic's
``model_dump`` gives up past a few hundred levels).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from . import tree as t
from .diagnostics import Diagnostic, Source, Span, SpecError

_TOKENS = re.compile(r'"[^"\n]*"|#[^\n]*')
"""Strings and comments as the grammar's STRING and COMMENT read them: a ``#`` inside a string
starts no comment, and a comment runs to the end of its line (``\\n``, nothing else)."""
_JOIN = re.compile(r"  (?=#)")
"""Where fmt may join two comments into one line."""


def first_difference(a: BaseModel, b: BaseModel) -> t.Node | None:
    """The first node of tree ``a`` (depth first, fields in order) that differs from ``b`` in
    anything but its place in the text (fields excluded from dumps); None when they agree.
    Values compare with their types: ``1`` is not ``1.0``."""
    stack: list[tuple[Any, Any, BaseModel]] = [(a, b, a)]
    while stack:
        x, y, owner = stack.pop()
        if isinstance(x, BaseModel):
            if type(x) is not type(y):
                return _node(x)
            stack.extend((getattr(x, name), getattr(y, name), x) for name in _fields(type(x)))
        elif isinstance(x, list | tuple):
            if type(x) is not type(y) or len(x) != len(y):
                return _node(owner)
            stack.extend((p, q, owner) for p, q in reversed(list(zip(x, y))))
        elif type(x) is not type(y) or x != y:
            return _node(owner)
    return None


@functools.cache
def _fields(kind: type[BaseModel]) -> tuple[str, ...]:
    """The fields a dump holds (places in the text are excluded), last first."""
    return tuple(reversed([name for name, info in kind.model_fields.items()
                           if not info.exclude]))


def _node(model: BaseModel) -> t.Node:
    assert isinstance(model, t.Node)
    return model


def comments(text: str) -> list[tuple[str, int]]:
    """The comments of spec text with their offsets, trailing spaces and tabs dropped."""
    return [(m.group(0).rstrip(" \t"), m.start()) for m in _TOKENS.finditer(text)
            if m.group(0).startswith("#")]


def _pieces(found: Sequence[tuple[str, int]]) -> Counter[str]:
    return Counter(piece for text, _ in found for piece in _JOIN.split(text))


def _point(text: str, offset: int) -> Span:
    line_start = text.rfind("\n", 0, offset) + 1
    return Span.point(text.count("\n", 0, offset) + 1, offset - line_start + 1)


def check(source: Source, tree: t.Network | t.Variant, out: str,
          origins: Sequence[int | None]) -> None:
    """Raise :class:`SpecError` (located in ``source``) unless ``out`` parses to ``tree`` and
    keeps its comments; ``origins`` gives the input line each output line was printed from."""
    from .parser import parse_source

    def refuse(what: str, span: Span | None) -> SpecError:
        return SpecError([Diagnostic(f"xdsl fmt would {what}", span,
                                     hint="please report this bug in xdsl fmt with the spec")],
                         source)

    try:
        again = parse_source(Source(out, source.name))
    except SpecError as e:
        first = e.diagnostics[0]
        line = first.span.line if first.span else 1
        origin = next((o for o in reversed(origins[:line]) if o is not None), tree.span.line)
        indent = len(source.line(origin)) - len(source.line(origin).lstrip())
        raise refuse("write text that does not parse (a bug in xdsl fmt); nothing was "
                     f"written: {first.message}", Span.point(origin, indent + 1)) from None
    changed = first_difference(tree, again)
    if changed is not None:
        raise refuse("change the meaning of the spec here (a bug in xdsl fmt); nothing was "
                     "written", changed.span)
    before, after = comments(source.text), comments(out)
    if _pieces(before) != _pieces(after):
        kept = _pieces(after)
        lost = next((offset for text, offset in before
                     if any(kept[p] < n for p, n in _pieces([(text, 0)]).items())), None)
        raise refuse("lose or change this comment (a bug in xdsl fmt); nothing was written",
                     _point(source.text, lost) if lost is not None else tree.span)
