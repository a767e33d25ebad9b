"""The Python API: the pipeline's stages chained in a few lines."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from . import tree as t
from .diagnostics import Collector, Diagnostic, Note, Source, Span, SpecError, did_you_mean
from .files import SpecFileError, exists, read_spec_bytes
from .graph import Limits, build_graph, totals
from .layergraph import GraphIR, LayerGraph
from .ops import fmt_shape
from .params import ParamError, resolve_params
from .parser import parse_source
from .printer import expr
from .validate import validate, validate_audits

if TYPE_CHECKING:
    from .netgraph import NetworkGraph


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
    files: tuple[str, ...] = ()
    """The files it was read from: a variant's own, then its base's (`compile` writes none)."""

    @property
    def name(self) -> str:
        return self.network.name

    def graph(self, limits: Limits | None = None, **params: Any) -> NetworkGraph:
        """The graph IR at these parameter values as a ``networkx.DiGraph``."""
        return self.build(limits, **params).to_networkx()

    def build(self, limits: Limits | None = None, **params: Any) -> LayerGraph:
        """The graph IR at these parameter values as the builder wrote it: the same nodes,
        edges and attributes as :meth:`graph` without importing networkx (what xdsl's own
        commands read)."""
        try:
            return build_graph(self.network, params, limits, self.source)
        except SpecError as e:
            if self.origin:
                e = SpecError([replace(d, trace=(*d.trace, Note(f"while building {self.origin}")))
                               for d in e.diagnostics])
            raise e.with_source(self.source) from None

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a spec as its diagram (None when it cannot be drawn here)."""
        from .backends.graphviz import svg_or_none

        return svg_or_none(self)


SHIPPED_FOLDERS = ("variants", "zoo")
"""Folders of shipped specs: ``variants/`` (points of the paper's spectrum) and ``zoo/`` (the
torchvision models, each a variant of a family spec)."""


def shipped_specs() -> dict[str, Path]:
    """Specs installed with the package (``xdsl check xception`` finds them by name)."""
    from importlib import resources

    root = resources.files("xdsl.specs")
    found = {}
    for entry in root.iterdir():
        if entry.name.endswith(".x"):
            found[entry.name[:-2]] = Path(str(entry))
    for folder in SHIPPED_FOLDERS:
        sub = root.joinpath(folder)
        if sub.is_dir():
            for entry in sub.iterdir():
                if entry.name.endswith(".x"):
                    found[f"{folder}/{entry.name[:-2]}"] = Path(str(entry))
    return found


def read_source(spec: str | os.PathLike[str], *, max_bytes: int | None = None) -> Source:
    """Spec text from a path, a shipped spec's name, or the text itself (text has a line end).

    A file must be a regular file of at most ``max_bytes`` (default
    :func:`xdsl.files.max_spec_bytes`, 1 MiB): anything else raises
    :class:`~xdsl.files.SpecFileError` (an ``OSError``) or, over the limit, :class:`SpecError`.
    """
    if isinstance(spec, str) and ("\n" in spec or "\r" in spec):
        return Source(spec, "<string>")
    path = Path(spec)
    if not exists(path):  # a shipped spec's name, also as written in a checkout: specs/NAME.x
        shipped = shipped_specs()
        name = str(spec).removesuffix(".x").removeprefix("specs/")
        named = shipped.get(name)
        if named is None and "/" not in name:  # `resnet50` is `zoo/resnet50`
            named = next((shipped[f"{f}/{name}"] for f in SHIPPED_FOLDERS
                          if f"{f}/{name}" in shipped), None)
        if named is None:  # a variant may be named without its folder: `xception_s4`
            hint = _suggest_shipped(name, shipped)
            raise FileNotFoundError(f"no spec file or shipped spec named `{spec}`"
                                    f"{'; ' + hint if hint else ''} "
                                    "(`xdsl list` shows the shipped specs)")
        path = named
    return decode(read_spec_bytes(path, str(spec), max_bytes), str(spec), str(path))


def _suggest_shipped(name: str, shipped: dict[str, Path]) -> str:
    """Suggest a shipped spec by its bare name, so the `variants/` prefix never makes two names
    look alike; a top-level spec wins over a variant of the same bare name."""
    import difflib

    bare = {n.rpartition("/")[2]: n for n in sorted(shipped, key=lambda n: -n.count("/"))}
    close = difflib.get_close_matches(name.rpartition("/")[2], sorted(bare), n=1, cutoff=0.6)
    return f"did you mean `{bare[close[0]]}`?" if close else ""


def decode(data: bytes, name: str, path: str | None = None) -> Source:
    """Spec text from a file's bytes; bytes that are not UTF-8 are a located error."""
    try:  # a byte-order mark and Windows or old Mac line ends are accepted
        text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as e:  # located: the text before the byte gives line and column
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # e.start counts after it
        shown, before = (_lines(data[bom:].decode("utf-8", "replace")),
                         _lines(data[bom:bom + e.start].decode("utf-8")))
        span = Span.point(before.count("\n") + 1, len(before) - before.rfind("\n"))
        raise SpecError([Diagnostic(f"the spec is not UTF-8 text (byte {bom + e.start})", span,
                                    hint="save the file as UTF-8")],
                        Source(shown, name, path)) from None
    return Source(text, name, path)


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse(spec: str | os.PathLike[str] | Spec, _seen: tuple[Path, ...] = ()) -> Spec:
    """Parse and validate a spec (path, shipped name or text); raises :class:`SpecError`."""
    if isinstance(spec, Spec):
        return spec
    source = read_source(spec)
    tree = parse_source(source)
    if isinstance(tree, t.Variant):
        return _variant(tree, source, _seen)
    validate(tree, source)
    return Spec(tree, source, files=(source.path,) if source.path else ())


def _variant(var: t.Variant, source: Source, seen: tuple[Path, ...]) -> Spec:
    """The base spec with the variant's settings as defaults and the variant's own audits."""
    here = Path(os.path.realpath(source.path)) if source.path else None
    base_path = _base_path(var, source, here)
    if Path(os.path.realpath(base_path)) in (*seen, here):
        raise SpecError([Diagnostic(f"variant `{var.name}` is based on itself", var.span,
                                    hint="point `of` at the spec it varies")], source)
    try:
        base = parse(base_path, (*seen, *([here] if here else [])))
    except (SpecFileError, FileNotFoundError) as e:
        reason = e.strerror if isinstance(e, SpecFileError) else "it does not exist"
        raise SpecError([Diagnostic(f"variant `{var.name}` names a base spec that cannot be "
                                    f"read: {_quoted(var.base)} ({reason})", var.span)],
                        source) from None
    params = {p.name: p for p in base.network.params}
    out = Collector(source)
    for use in var.uses:
        out.error(f"variant `{var.name}` names plugin `{use.name}`", use.span,
                  hint=f"a variant uses its base's plugins: write `use {use.name}` in "
                       f"{_quoted(var.base)}")
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
    return Spec(network, base.source, audit_source=source, origin=origin,
                files=(*([source.path] if source.path else []), *base.files))


def _base_path(var: t.Variant, source: Source, here: Path | None) -> Path:
    """The spec a variant's ``of`` names: a ``.x`` file (relative to the variant's own file) or a
    shipped spec's name. Anything else is refused before it is opened, so an error never quotes
    a file that is not a spec."""
    if not var.base.endswith(".x"):
        shipped = shipped_specs()
        if var.base in shipped:
            return shipped[var.base]
        hint = did_you_mean(var.base, shipped)
        raise SpecError([Diagnostic(f"variant `{var.name}` is based on {_quoted(var.base)}, "
                                    "which is not a spec", var.span,
                                    hint="a base is a `.x` file (its path relative to the "
                                         "variant's file) or a shipped spec's name, such as "
                                         "`xception`" + (f"; {hint}" if hint else ""))],
                        source)
    base_path = (here.parent if here else Path.cwd()) / var.base
    if not exists(base_path):
        raise SpecError([Diagnostic(f"variant `{var.name}` names a base spec that does not "
                                    f"exist: {_quoted(var.base, quotes='')}", var.span,
                                    hint="the path is relative to the variant's own file")],
                        source)
    return base_path


def _quoted(text: str, quotes: str = '"', most: int = 80) -> str:
    """A path from a spec as a message shows it: quoted, and cut short when very long."""
    shown = text if len(text) <= most else f"{text[:most // 2]}…{text[-most // 2:]}"
    return f"{quotes}{shown}{quotes}"


def _setting(var: t.Variant, name: str) -> t.Arg | None:
    return next((a for a in var.settings if a.name == name), None)


SpecLike: TypeAlias = str | os.PathLike[str] | Spec
"""A spec's path, a shipped spec's name (``xception``), its text, or a parsed :class:`Spec`."""


def graph(spec: SpecLike, /, *, limits: Limits | None = None, **params: Any) -> NetworkGraph:
    """The graph IR of a spec with its parameters set by keyword (``width=512``), as a
    ``networkx.DiGraph`` (``Spec.build`` gives the same graph without networkx)."""
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


def summarize(g: GraphIR) -> Summary:
    counts = totals(g)
    nodes = g.nodes
    return Summary(g.graph["name"], nodes[g.graph["input"]]["node"].shape,
                   nodes[g.graph["output"]]["node"].shape, counts["trainable"],
                   counts["non_trainable"], counts["macs"])


def check(spec: SpecLike, /, *, limits: Limits | None = None, **params: Any) -> Summary:
    """Parse, validate and build the graph; return its one-line summary (``xdsl check``)."""
    return summarize(parse(spec).build(limits, **params))


# The other commands as functions returning data: spec first, its parameters as keywords.

if TYPE_CHECKING:
    from .audit import Report, Row
    from .diff import LayerChange


def options_of(func: Any) -> list[str]:
    """The keyword-only options of ``func``, the names its spec-parameter keywords cannot use."""
    import inspect

    return [name for name, p in inspect.signature(func).parameters.items()
            if p.kind is p.KEYWORD_ONLY]


def check_keywords(spec: Spec, params: Mapping[str, Any], caller: str,
                   options: Sequence[str]) -> None:
    """Reject a keyword that is neither one of ``caller``'s options nor a spec parameter."""
    declared = [p.name for p in spec.network.params]
    for name in params:
        if name not in declared:
            hint = did_you_mean(name, [*options, *declared])
            raise ParamError(f"{caller}() got `{name}`: neither one of its options "
                             f"({', '.join(options)}) nor a parameter of `{spec.name}` "
                             f"({', '.join(declared) or 'none'})" + (f"; {hint}" if hint else ""))


def old_mapping(params: dict[str, Any], old: str, caller: str) -> dict[str, Any]:
    """Spec parameters given the former way, ``caller(spec, old={...})``: merged, with a
    DeprecationWarning (spec parameters never hold mappings, so nothing else is mistaken)."""
    value = params.get(old)
    if not isinstance(value, Mapping):
        return params
    warnings.warn(f"{caller}(spec, {old}={{...}}) is deprecated: give spec parameters as "
                  f"keywords, {caller}(spec, name=value)", DeprecationWarning, stacklevel=3)
    return {**value, **{k: v for k, v in params.items() if k != old}}


@dataclass(frozen=True)
class Setting:
    """A spec at parameter values: one row of :func:`compare`, one side of :func:`diff`."""

    spec: Spec
    params: dict[str, Any]


def at(spec: SpecLike | Setting, /, **params: Any) -> Setting:
    """``spec`` with its parameters set by keyword; unknown names fail here."""
    if isinstance(spec, Setting):
        spec, params = spec.spec, {**spec.params, **params}
    parsed = parse(spec)
    resolve_params(parsed.network, params, parsed.source)
    return Setting(parsed, params)


def _with(entry: SpecLike | Setting, base: Mapping[str, Any]) -> Setting:
    """``entry`` on top of ``base`` settings (as ``--set`` and a spec's own NAME=VALUE)."""
    if isinstance(entry, Setting):
        return at(entry.spec, **{**base, **entry.params})
    return at(entry, **base)


def audit(spec: SpecLike, /, *, limits: Limits | None = None, **params: Any) -> Report:
    """``xdsl audit SPEC``: counts per layer and per block, totals, depth and the spec's audit
    checks (``report.ok``); ``report.as_dict()`` is ``--format json``, and
    :func:`xdsl.report.render` gives the tables."""
    from .audit import audit as run

    return run(parse(spec), params, limits)


def compare(*specs: SpecLike | Setting, limits: Limits | None = None,
            **params: Any) -> list[Row]:
    """``xdsl audit A B ...``: one row per spec, ratios to the first (the paper's Table 3 is
    ``compare("xception", "inception_v3")``). Keywords set parameters of every spec; give one
    spec its own with :func:`at`. :func:`xdsl.report.render_rows` gives the table."""
    from .audit import compare as run

    settings = [_with(s, params) for s in specs]
    return run([(s.spec, s.params) for s in settings], limits)


def sweep(spec: SpecLike, name: str, values: Iterable[Any], /, *,
          limits: Limits | None = None, **params: Any) -> list[Row]:
    """``xdsl audit SPEC --sweep NAME=V1,V2,...``: one row per value (Python values or spec
    words: ``None`` is ``none``, ``True`` is ``true``); ratios to the parameter's default."""
    from .audit import sweep as run

    return run(parse(spec), name, [_word(v) for v in values], params, limits)


def _word(value: Any) -> str:
    """A Python value as a spec writes it: ``none``, ``true``, ``false``, ``4``."""
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value]
    return str(value)


@dataclass(frozen=True)
class Diff:
    """``xdsl diff``: the layers that differ, matched by name, and the blocks whose counts do."""

    layers: list[LayerChange]
    blocks: list[dict[str, Any]]

    @property
    def params_delta(self) -> int:
        """Change in trainable parameters, the whole network."""
        return sum(b["params_delta"] for b in self.blocks)

    @property
    def macs_delta(self) -> int:
        return sum(b["macs_delta"] for b in self.blocks)

    def as_dict(self) -> dict[str, Any]:
        """What ``xdsl diff --format json`` prints."""
        return {"layers": [vars(c) for c in self.layers], "blocks": self.blocks}


def diff(a: SpecLike | Setting, b: SpecLike | Setting | None = None, /, *,
         limits: Limits | None = None, **params: Any) -> Diff:
    """``diff(a, b)``: ``a`` against ``b``, both with the keywords set (``xdsl diff A B``);
    ``diff(a, **params)``: ``a`` against itself with the keywords set (``xdsl diff A
    NAME=VALUE``). A side with its own settings is written :func:`at`."""
    from .diff import block_changes, layer_changes

    if b is None:
        before = _with(a, {})
        after = at(before, **params)
    else:
        before, after = _with(a, params), _with(b, params)
    ga = before.spec.build(limits, **before.params)
    gb = after.spec.build(limits, **after.params)
    return Diff(layer_changes(ga, gb), block_changes(ga, gb))


def export(spec: SpecLike, /, *, format: Literal["latex", "markdown"] = "latex",
           layers: bool = False, **params: Any) -> str:
    """``xdsl export``: the paper's architecture table (one row per block, or per layer with
    ``layers=True``), the audit table and the fingerprint, as LaTeX (booktabs) or Markdown."""
    from .backends.paper import export as run

    if format not in ("latex", "markdown"):
        raise ValueError(f"format is latex or markdown, not {format!r}")
    return run(parse(spec), params, format, layers)


def fmt(spec: str | os.PathLike[str], /) -> str:
    """``xdsl fmt``: a spec (path, shipped name or text) in the canonical layout, comments kept.
    Nothing is written: compare with the file's text to see whether it would change."""
    from .printer import format_source

    return format_source(read_source(spec))
