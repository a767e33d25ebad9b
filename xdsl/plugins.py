"""Ops from other packages: the extension API.

A plugin is an installed package that declares an entry point in the group ``xdsl.ops``; the
entry point's name is the plugin's name (what a spec writes after ``use``), its object a list of
:class:`~xdsl.ops.OpSpec` — the same table entry the built-in ops have: attributes (a pydantic
model), the shape / count rule, positional options, the diagram label, the usage line, and
``torch="package.module:Class"``, the ``nn.Module`` the PyTorch backend builds as
``Class(in_channels, **options)``.

A plugin is loaded only when a spec names it (``use NAME``), never by being installed, so a
spec runs no code it did not ask for. Its entry point's module must not import torch: ``check``,
``audit`` and ``draw`` load it for its shape rules; the PyTorch backend imports the ``torch``
module only when it builds the network.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from .diagnostics import did_you_mean
from .lexer import KEYWORDS
from .ops import OPS, SYMBOLS, Attrs, OpSpec, option_names, option_words

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "xdsl.ops"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")
_TORCH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*\Z")
BUILTIN = frozenset(OPS)
_loaded: dict[str, tuple[str, ...]] = {}
"""Plugin name → the names of its ops, for every plugin loaded in this process."""


class PluginError(Exception):
    """A plugin is not installed, fails to load, or declares an op wrongly."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def installed() -> dict[str, EntryPoint]:
    """The installed plugins by name (their entry points, not loaded)."""
    from importlib.metadata import entry_points  # 36 ms: only for specs that `use` plugins

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def loaded() -> dict[str, tuple[str, ...]]:
    return dict(_loaded)


def load(name: str) -> tuple[str, ...]:
    """Load plugin ``name`` and add its ops to the op table (once per process); its op names."""
    if name in _loaded:
        return _loaded[name]
    found = installed()
    if name not in found:
        hint = did_you_mean(name, found) or (
            f"installed plugins: {', '.join(sorted(found))}" if found else
            f"no plugin is installed; install the package that provides `{name}` (it declares "
            f"an entry point in the group `{GROUP}`)")
        raise PluginError(f"no plugin `{name}` is installed", hint)
    try:
        declared = found[name].load()
        ops = declared() if callable(declared) else declared
        ops = list(ops)
    except Exception as e:  # a plugin's own bug: reported, never a traceback
        raise PluginError(f"plugin `{name}` failed to load: {type(e).__name__}: {e}",
                          f"the entry point is `{found[name].value}`") from None
    for op in ops:
        _check(name, op)
    names = [op.name for op in ops]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        raise PluginError(f"plugin `{name}` declares `{sorted(twice)[0]}` twice")
    for op in ops:
        OPS[op.name] = replace(op, plugin=name)
    _loaded[name] = tuple(names)
    return _loaded[name]


def unload(name: str) -> None:
    """Take plugin ``name``'s ops out of the op table (the language server reloads plugins)."""
    for op in _loaded.pop(name, ()):
        OPS.pop(op, None)


def _check(plugin: str, op: object) -> None:
    where = f"plugin `{plugin}`"
    if not isinstance(op, OpSpec):
        raise PluginError(f"{where} declares {type(op).__name__} {op!r:.60}, not an op",
                          "its entry point names a list of xdsl.ops.OpSpec")
    if not _IDENTIFIER.match(op.name) or op.name in KEYWORDS:
        raise PluginError(f"{where} declares an op named {op.name!r}, which a spec cannot write",
                          "op names are lower-case words (letters, digits, `_`), not keywords")
    if op.name in BUILTIN:
        raise PluginError(f"{where} declares `{op.name}`, a built-in op",
                          "give the plugin's op another name")
    owner = next((p for p, names in _loaded.items() if op.name in names), None)
    if owner is not None:
        raise PluginError(f"{where} declares `{op.name}`, which plugin `{owner}` declares too",
                          "a spec can use one of the two plugins, not both")
    if not (isinstance(op.attrs, type) and issubclass(op.attrs, Attrs)):
        raise PluginError(f"{where}: the options of `{op.name}` are not an xdsl.ops.Attrs model")
    missing = [p for p in op.positional if p not in op.attrs.model_fields]
    if missing:
        raise PluginError(f"{where}: `{op.name}` takes `{missing[0]}` by position but has no "
                          "such option")
    if not callable(op.rule):
        raise PluginError(f"{where}: the shape rule of `{op.name}` is not callable")
    if op.torch and not _TORCH.match(op.torch):
        raise PluginError(f"{where}: `{op.name}` names its module {op.torch!r}",
                          "write torch=\"package.module:Class\"")


def symbols(plugins: list[str]) -> set[str]:
    """The words (``mode`` values, ...) the options of these plugins' ops accept."""
    return {w for p in plugins for op in _loaded.get(p, ()) for f in option_names(op)
            for w in option_words(op, f)} - SYMBOLS
