"""Network parameters: declared types, ``--set`` overrides and resolved values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import tree as t
from .diagnostics import Collector, Source, did_you_mean
from .evaluate import EvalError, Value, describe, evaluate, type_name


class ParamError(ValueError):
    """A parameter override that does not fit the spec (a usage error, not a spec error)."""


def parse_override(param: t.Param, text: str) -> Value:
    """Turn ``--set name=text`` into a value of the parameter's type."""
    raw = text.strip()
    kind = param.type
    if raw == "none" and optional(param):
        return "none"
    try:
        if kind == "int" or number_choice(param):
            return int(raw.replace("_", "").replace(",", ""))
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ParamError(f"`{param.name}` is {kind}, got {raw!r}") from None
    if kind == "bool":
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ParamError(f"`{param.name}` is bool: use true or false, got {raw!r}")
    if kind == "any":
        for conv in (int, float):
            try:
                return conv(raw)
            except ValueError:
                pass
        return {"true": True, "false": False}.get(raw, raw)
    return raw


def optional(param: t.Param) -> bool:
    """A parameter whose default is ``none`` may also be set to ``none`` (left unset)."""
    return isinstance(param.default, t.Name) and param.default.id == "none"


def number_choice(param: t.Param) -> bool:
    """``choice(11, 13, 16, 19)``: a whole number among those listed."""
    return param.type == "choice" and all(c.isdigit() for c in param.choices)


def check_type(param: t.Param, value: Any) -> str:
    """An empty string when ``value`` fits ``param``, else what is wrong."""
    if value == "none" and optional(param):
        return ""
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "choice": (isinstance(value, int) and not isinstance(value, bool)
                   and str(value) in param.choices) if number_choice(param)
        else value in param.choices,
        "any": True,
    }.get(param.type, True)
    if ok:
        return ""
    if param.type == "choice":
        return (f"`{param.name}` is one of {', '.join(param.choices)}, got {describe(value)}")
    return f"`{param.name}` is {param.type}, got {describe(value)} ({type_name(value)})"


def resolve_params(net: t.Network, overrides: Mapping[str, Any] | None = None,
                   source: Source | None = None) -> dict[str, Value]:
    """Defaults overridden by ``overrides`` (strings are parsed by the parameter's type)."""
    declared = {p.name: p for p in net.params}
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in declared:
            hint = did_you_mean(name, declared)
            raise ParamError(f"`{net.name}` has no parameter `{name}`"
                             + (f"; {hint}" if hint else
                                f" (parameters: {', '.join(declared) or 'none'})"))
    values: dict[str, Value] = {}
    errors = Collector(source)
    for p in net.params:
        if p.name in overrides:
            value = overrides[p.name]
            if isinstance(value, str) and (p.type not in ("str", "choice") or number_choice(p)):
                value = parse_override(p, value)
            if problem := check_type(p, value):
                raise ParamError(problem)
        elif p.default is None:
            raise ParamError(f"`{p.name}` has no default; give it with --set {p.name}=...")
        else:
            try:
                value = evaluate(p.default, values)
            except EvalError as e:
                errors.error(str(e), e.span, hint=e.hint)
                continue
            if problem := check_type(p, value):
                errors.error(f"default of {problem}", p.default.span,
                             hint=f"give `{p.name}` one of its choices as its default"
                             if p.type == "choice" else
                             f"give `{p.name}` a default of type {p.type}")
                continue
        if p.type == "float" and isinstance(value, int):
            value = float(value)
        values[p.name] = value
    errors.raise_if_any()
    return values
