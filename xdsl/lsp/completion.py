"""Completion: ops and blocks with their signatures at the start of a statement (a plugin's
ops when the spec has `use PLUGIN`), the options of the op being written with their types and
allowed words, an option's words after ``option=``, and the parameters and tensors in scope
elsewhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from xdsl import plugins
from xdsl import tree as t
from xdsl.ops import OPS, option_names, option_words

from .analysis import _TOKEN, Analysis
from .hover import param_text

STATEMENT_WORDS = ("repeat", "residual", "concat", "add", "mul", "branch", "if", "else",
                   "output", "global")
TOP_WORDS = ("input", "defaults", "block", "flow", "audit")


@dataclass(frozen=True)
class Item:
    label: str
    kind: str  # op, block, keyword, option, value, parameter, tensor
    detail: str = ""
    insert: str | None = None


def _uses(text: str) -> list[str]:
    return [n for m in re.finditer(r"^use\s+([\w ,]+)", text, re.M)
            for n in re.split(r"[\s,]+", m[1]) if n]


def plugin_ops(text: str) -> list[str]:
    """The ops of the plugins the text's ``use`` lines name (loaded if installed)."""
    names: list[str] = []
    for plugin in _uses(text):
        try:
            names += plugins.load(plugin)
        except plugins.PluginError:
            continue
    return names


def _type_text(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return re.sub(r"typing\.|Annotated\[|, (FieldInfo|BeforeValidator|Strict|Ge|Gt|Le|Lt|"
                  r"AllowInfNan)\([^)]*\)\]?|\]$", "", text)[:80]


def _segment(before: str) -> str:
    """The statement being written: the text after the last `;` or `:` outside parentheses."""
    depth, cut = 0, 0
    for i, c in enumerate(before):
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c in ";:" and depth == 0:
            cut = i + 1
    return before[cut:]


def complete(a: Analysis, good: Analysis | None, line: int, char: int) -> list[Item]:
    """What may be written at a position of ``a``'s text; ``good`` is the last analysis that
    parsed (its blocks and parameters stand in while the text is broken)."""
    text = a.lines[line] if line < len(a.lines) else ""
    before = text[:char]
    if any(m[0].startswith("#") for m in _TOKEN.finditer(before)):
        return []  # in a comment
    net = _network(a, good)
    seg = _segment(before)
    words = seg.split()
    ops = [n for n, spec in OPS.items() if not spec.plugin] + plugin_ops(a.text)
    blocks = {b.name: b for b in net.blocks} if net is not None else {}
    if words and words[0] == "global":
        words = words[1:]
    opname = re.match(r"\s*(?:global\s+)?([A-Za-z_]\w*)", seg)
    at_start = not seg.strip() or (len(words) == 1 and not seg[-1:].isspace()
                                   and "(" not in seg and "=" not in seg)
    if at_start:
        items = [Item(n, "op", OPS[n].summary or n + (f" (plugin {OPS[n].plugin})"
                                                      if OPS[n].plugin else ""))
                 for n in ops if n in OPS]
        items += [Item(b.name, "block", f"block {b.name}("
                       f"{', '.join(param_text(p) for p in b.params)})",
                       f"{b.name}()") for b in blocks.values()]
        items += [Item(w, "keyword") for w in STATEMENT_WORDS]
        if not before[:len(before) - len(before.lstrip())].strip() and \
                len(before) - len(before.lstrip()) <= 4:
            items += [Item(w, "keyword") for w in TOP_WORDS]
        return items
    scope = _scope(net, good or a, line)
    value = re.search(r"([A-Za-z_]\w*)=\s*([A-Za-z_]\w*)?$", seg)
    name = opname[1] if opname else ""
    if value and name in OPS and value[1] in option_names(name):
        return [Item(w, "value", f"{value[1]} of {name}")
                for w in dict.fromkeys(option_words(name, value[1]))] + scope
    if name in OPS and not OPS[name].merges:
        fields = OPS[name].attrs.model_fields
        written = set(re.findall(r"([A-Za-z_]\w*)=", seg))
        items = [Item(f, "option", _type_text(fields[f].annotation) + (
            f" — one of {', '.join(option_words(name, f))}" if option_words(name, f) else ""),
            f"{f}=") for f in option_names(name) if f not in written]
        return items + [i for i in scope if i.label not in option_names(name)]
    if name in blocks and not value:
        written = set(re.findall(r"([A-Za-z_]\w*)=", seg))
        own = [Item(p.name, "option", param_text(p), f"{p.name}=")
               for p in blocks[name].params if p.name not in written]
        return own + [i for i in scope if i.label not in {o.label for o in own}]
    return scope


def _network(a: Analysis, good: Analysis | None) -> t.Network | None:
    for x in (a, good):
        if x is not None and isinstance(x.tree, t.Network):
            return x.tree
        if x is not None and x.spec is not None:
            return x.spec.network
    return None


def _scope(net: t.Network | None, a: Analysis, line: int) -> list[Item]:
    """Parameters and tensors visible on ``line`` (its block's, the network's)."""
    if net is None:
        return []
    block = next((b for b in net.blocks if b.span.line - 1 <= line <= b.span.end_line - 1),
                 None)
    items = [Item(p.name, "parameter", param_text(p)) for p in net.params
             if block is None or all(p.name != q.name for q in block.params)]
    if block is not None:
        items = [Item(p.name, "parameter", f"{param_text(p)} (of block {block.name})")
                 for p in block.params] + items
    if a.symbols is not None:
        container = block.name if block is not None else ""
        names = dict.fromkeys(o.name for o in a.symbols.occurrences
                              if o.key[0] == "tensor" and o.key[1] == container
                              and o.definition)
        items += [Item(n, "tensor", "tensor") for n in names]
    return items
