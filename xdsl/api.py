"""The Python API: the pipeline's stages chained in a few lines."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx

from . import tree as t
from .diagnostics import Diagnostic, Source, SpecError
from .graph import Limits, build_graph, totals
from .ops import fmt_shape
from .parser import parse_source
from .validate import validate


@dataclass
class Spec:
    """A parsed and validated spec together with its source text."""

    network: t.Network
    source: Source

    @property
    def name(self) -> str:
        return self.network.name

    def graph(self, limits: Limits | None = None, **params: Any) -> nx.DiGraph:
        try:
            return build_graph(self.network, params, limits, self.source)
        except SpecError as e:
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
    if not path.exists():
        named = shipped_specs().get(str(spec).removesuffix(".x"))
        if named is None:
            raise FileNotFoundError(f"no spec file or shipped spec named {str(spec)!r}")
        path = named
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError([Diagnostic(f"the spec is not UTF-8 text (byte {e.start})", None,
                                    hint="save the file as UTF-8")],
                        Source("", str(spec))) from None
    return Source(text, str(spec))


def parse(spec: str | os.PathLike[str] | Spec) -> Spec:
    """Parse and validate a spec (path, shipped name or text); raises :class:`SpecError`."""
    if isinstance(spec, Spec):
        return spec
    source = read_source(spec)
    network = parse_source(source)
    validate(network, source)
    return Spec(network, source)


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
