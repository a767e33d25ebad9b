"""Go to definition, find references, rename (blocks, parameters, tensors) and the outline
(network, parameters, inputs, blocks, flows)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from xdsl import tree as t
from xdsl.lexer import KEYWORDS
from xdsl.ops import OPS

from .analysis import Analysis, Occurrence

Place = tuple[str | None, int, int, int]
"""(file path, or None for this document; line; first character; character after the last)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _place(o: Occurrence) -> Place:
    return (None, o.line, o.start, o.end)


def definition(a: Analysis, line: int, char: int) -> list[Place]:
    if isinstance(a.tree, t.Variant):
        return _variant_definition(a, line, char)
    if a.symbols is None:
        return []
    o = a.symbols.at(line, char)
    if o is None:
        return []
    found = a.symbols.definition(o.key)
    return [_place(found)] if found else []


def _variant_definition(a: Analysis, line: int, char: int) -> list[Place]:
    var = a.tree
    assert isinstance(var, t.Variant)
    base = _base(a)
    if base is None:
        return []
    text = a.lines[line] if line < len(a.lines) else ""
    quoted = f'"{var.base}"'
    at = text.find(quoted)
    if line == var.span.line - 1 and at >= 0 and at <= char <= at + len(quoted):
        return [(str(base), 0, 0, 0)]
    if a.spec is None:
        return []
    for arg in var.settings:
        if arg.name and arg.span.line - 1 == line and \
                arg.span.column - 1 <= char <= arg.span.column - 1 + len(arg.name):
            p = next((p for p in a.spec.network.params if p.name == arg.name), None)
            if p is not None:
                return [(str(base), p.span.line - 1, p.span.column - 1,
                         p.span.column - 1 + len(p.name))]
    return []


def _base(a: Analysis) -> Path | None:
    if a.spec is not None and len(a.spec.files) > 1:
        return Path(a.spec.files[1])
    if a.spec is not None and a.spec.source.path:
        return Path(a.spec.source.path)
    return None


def references(a: Analysis, line: int, char: int, include_declaration: bool = True
               ) -> list[Place]:
    if a.symbols is None:
        return []
    o = a.symbols.at(line, char)
    if o is None:
        return []
    return [_place(x) for x in a.symbols.of(o.key) if include_declaration or not x.definition]


def prepare_rename(a: Analysis, line: int, char: int) -> Place | None:
    if a.symbols is None:
        return None
    o = a.symbols.at(line, char)
    if o is None or o.key[0] not in ("block", "param", "tensor"):
        return None
    return _place(o)


class RenameError(ValueError):
    """A new name that the spec cannot use."""


def rename(a: Analysis, line: int, char: int, new: str) -> list[Place]:
    """The places to rewrite as ``new``; raises :class:`RenameError` for a bad name."""
    if a.symbols is None:
        return []
    o = a.symbols.at(line, char)
    if o is None or o.key[0] not in ("block", "param", "tensor"):
        return []
    if not _NAME.match(new) or new in KEYWORDS:
        raise RenameError(f"`{new}` is not a name a spec can use (letters, digits and `_`, "
                          "not a keyword)")
    if o.key[0] == "block" and new in OPS:
        raise RenameError(f"`{new}` is a built-in op")
    taken = {x.key[2] for x in a.symbols.occurrences if x.key[0] == o.key[0]
             and x.key[1] == o.key[1]}
    if new in taken and new != o.name:
        raise RenameError(f"`{new}` is already a {o.key[0]} name here")
    return [_place(x) for x in a.symbols.of(o.key)]


@dataclass
class Symbol:
    name: str
    kind: str  # network, variant, parameter, input, block, flow
    line: int
    end_line: int
    start: int
    end: int
    detail: str = ""
    children: list[Symbol] = field(default_factory=list)


def document_symbols(a: Analysis) -> list[Symbol]:
    tree = a.tree
    if isinstance(tree, t.Variant):
        sp = tree.span
        return [Symbol(tree.name, "variant", sp.line - 1, sp.end_line - 1, 0,
                       len(a.lines[sp.line - 1]) if sp.line <= len(a.lines) else 0,
                       f"of {tree.base}")]
    if not isinstance(tree, t.Network) or a.symbols is None:
        return []
    s = a.symbols

    def make(name: str, kind: str, key: tuple[str, str, str], node: t.Node,
             detail: str = "") -> Symbol:
        d = s.definition(key)
        line, start, end = (d.line, d.start, d.end) if d else (node.span.line - 1, 0, 0)
        return Symbol(name, kind, line, max(line, node.span.end_line - 1), start, end, detail)

    from .hover import param_text

    net = make(tree.name, "network", ("network", "", tree.name), tree)
    net.children += [make(p.name, "parameter", ("param", "", p.name), p, param_text(p))
                     for p in tree.params]
    net.children += [make(i.name, "input", ("tensor", "", i.name), i) for i in tree.inputs]
    net.children += [make(b.name, "block", ("block", "", b.name), b,
                          f"({', '.join(param_text(p) for p in b.params)})")
                     for b in tree.blocks]
    net.children += [make(f.name, "flow", ("flow", "", f.name), f)
                     for f in tree.body if isinstance(f, t.Flow)]
    net.children.sort(key=lambda c: (c.line, c.start))
    return [net]
