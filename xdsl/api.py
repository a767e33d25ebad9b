"""The Python API: the pipeline's stages chained in a few lines."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx

from . import tree as t
from .diagnostics import Collector, Diagnostic, Source, SpecError, did_you_mean
from .graph import Limits, build_graph, totals
from .ops import fmt_shape
from .params import resolve_params
from .parser import parse_source
from .printer import expr
from .validate import validate, validate_audits


@dataclass
class Spec:
    """A parsed and validated spec together with its source text.

    For a variant, ``source`` is its base's text (where the layers are written) and
    ``audit_source`` the variant's own file (where its settings and audits are written).
    """

    network: t.Network
    source: Source
    audit_source: Source | None = None
    origin: str = ""  # "variant `x` (file:line)", noted on errors raised in the base's text

    @property
    def name(self) -> str:
        return self.network.name

    def graph(self, limits: Limits | None = None, **params: Any) -> nx.DiGraph:
        try:
            return build_graph(self.network, params, limits, self.source)
        except SpecError as e:
            if self.origin:
                e = SpecError([replace(d, notes=(*d.notes, f"while building {self.origin}"))
                               for d in e.diagnostics])
            raise e.with_source(self.source) from None

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a spec as its diagram (None when it cannot be drawn here)."""
        from .backends.graphviz import draw

        try:
            return draw(self)._repr_svg_()
        except Exception:
            return None


def shipped_specs() -> dict[str, Path]:
    """Specs installed with the package (``xdsl check xception`` finds them by name)."""
    root = resources.files("xdsl.specs")
    found = {}
    for entry in root.iterdir():
        if entry.name.endswith(".x"):
            found[entry.name[:-2]] = Path(str(entry))
    variants = root.joinpath("variants")
    if variants.is_dir():
        for entry in variants.iterdir():
            if entry.name.endswith(".x"):
                found[f"variants/{entry.name[:-2]}"] = Path(str(entry))
    return found


def read_source(spec: str | os.PathLike[str]) -> Source:
    """Spec text from a path, a shipped spec's name, or the text itself."""
    if isinstance(spec, str) and "\n" in spec:
        return Source(spec, "<string>")
    path = Path(spec)
    if not path.exists():  # a shipped spec's name, also as written in a checkout: specs/NAME.x
        named = shipped_specs().get(str(spec).removesuffix(".x").removeprefix("specs/"))
        if named is None:
            raise FileNotFoundError(f"no spec file or shipped spec named {str(spec)!r}")
        path = named
    data = path.read_bytes()
    try:  # a byte-order mark and Windows or old Mac line ends are accepted
        text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as e:
        raise SpecError([Diagnostic(f"the spec is not UTF-8 text (byte {e.start})", None,
                                    hint="save the file as UTF-8")],
                        Source("", str(spec))) from None
    return Source(text, str(spec), str(path))


def parse(spec: str | os.PathLike[str] | Spec, _seen: tuple[Path, ...] = ()) -> Spec:
    """Parse and validate a spec (path, shipped name or text); raises :class:`SpecError`."""
    if isinstance(spec, Spec):
        return spec
    source = read_source(spec)
    tree = parse_source(source)
    if isinstance(tree, t.Variant):
        return _variant(tree, source, _seen)
    validate(tree, source)
    return Spec(tree, source)


def _variant(var: t.Variant, source: Source, seen: tuple[Path, ...]) -> Spec:
    """The base spec with the variant's settings as defaults and the variant's own audits."""
    here = Path(source.path).resolve() if source.path else None
    base_path = (here.parent if here else Path.cwd()) / var.base
    if not base_path.is_file():
        raise SpecError([Diagnostic(f"variant `{var.name}` names a base spec that does not "
                                    f"exist: {var.base}", var.span,
                                    hint="the path is relative to the variant's own file")],
                        source)
    if base_path.resolve() in seen or base_path.resolve() == here:
        raise SpecError([Diagnostic(f"variant `{var.name}` is based on itself", var.span,
                                    hint="point `of` at the spec it varies")], source)
    base = parse(base_path, (*seen, *([here] if here else [])))
    params = {p.name: p for p in base.network.params}
    out = Collector(source)
    for arg in var.settings:
        if arg.name is None:
            out.error("variant settings are written `name=value`", arg.span,
                      hint="for example `(segments=4)`")
        elif arg.name not in params:
            out.error(f"`{base.name}` has no parameter `{arg.name}`", arg.span,
                      hint=did_you_mean(arg.name, params) or
                      f"parameters: {', '.join(params) or 'none'}")
    out.raise_if_any()
    new = [p.model_copy(update={"default": a.value}) if (a := _setting(var, p.name)) else p
           for p in base.network.params]
    network = base.network.model_copy(update={"name": var.name, "params": new,
                                              "audits": var.audits})
    try:  # the settings are now the defaults: their spans point into the variant's file
        resolve_params(network, {}, source)
    except SpecError as e:
        raise SpecError([replace(d, message=d.message.replace("default of", "setting of"),
                                 hint="give the setting a value of the parameter's type")
                         for d in e.diagnostics], source) from None
    validate_audits(network, source)
    settings = ", ".join(f"{a.name}={expr(a.value)}" for a in var.settings)
    origin = f"variant `{var.name}` ({source.name}:{var.span.line}: {settings or 'no settings'})"
    return Spec(network, base.source, audit_source=source, origin=origin)


def _setting(var: t.Variant, name: str) -> t.Arg | None:
    return next((a for a in var.settings if a.name == name), None)


def graph(spec: str | os.PathLike[str] | Spec, limits: Limits | None = None,
          **params: Any) -> nx.DiGraph:
    """The graph IR of a spec at the given parameter values."""
    return parse(spec).graph(limits, **params)


@dataclass(frozen=True)
class Summary:
    network: str
    input: tuple[int, ...]
    output: tuple[int, ...]
    trainable: int
    non_trainable: int
    macs: int

    def __str__(self) -> str:
        return (f"{self.network}: {fmt_shape(self.input)} -> {fmt_shape(self.output)}, "
                f"{self.trainable:,} trainable parameters ({self.non_trainable:,} "
                f"non-trainable), {self.macs:,} MACs")


def summarize(g: nx.DiGraph) -> Summary:
    counts = totals(g)
    nodes = g.nodes
    return Summary(g.graph["name"], nodes[g.graph["input"]]["node"].shape,
                   nodes[g.graph["output"]]["node"].shape, counts["trainable"],
                   counts["non_trainable"], counts["macs"])


def check(spec: str | os.PathLike[str] | Spec, limits: Limits | None = None,
          **params: Any) -> Summary:
    """Parse, validate and build the graph; return its one-line summary."""
    return summarize(graph(spec, limits, **params))
