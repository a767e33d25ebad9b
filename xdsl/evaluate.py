"""Evaluation of spec expressions over parameter values (pure Python, no ``eval``)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from . import tree as t
from .diagnostics import Span

Value = int | float | bool | str | tuple


class EvalError(Exception):
    def __init__(self, message: str, span: Span, hint: str = ""):
        super().__init__(message)
        self.span, self.hint = span, hint


def describe(value: Any) -> str:
    """A value as the spec would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "x".join(map(describe, value))
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def describe_settings(settings: Mapping[str, Any]) -> str:
    """``width=728, residuals=true``: parameter values as a spec or ``--set`` writes them."""
    return ", ".join(f"{k}={describe(v).strip('`')}" for k, v in settings.items())


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, tuple):
        return "a size"
    return "a word"


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "//": operator.floordiv, "%": operator.mod}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}
_MAX_INT = 1 << 62


def evaluate(expr: t.Expr, env: Mapping[str, Value]) -> Value:
    match expr:
        case t.Num(value=v) | t.Str(value=v):
            return v
        case t.Name(id=name):
            if name in env:
                return env[name]
            return {"true": True, "false": False}.get(name, name)
        case t.SizeLit(items=items):
            values = tuple(evaluate(i, env) for i in items)
            for item, v in zip(items, values):
                if not isinstance(v, int) or isinstance(v, bool):
                    raise EvalError(f"a size is made of whole numbers, got {describe(v)}",
                                    item.span)
            return values
        case t.Not(operand=operand):
            return not _bool(evaluate(operand, env), operand.span, "not")
        case t.Ternary(cond=cond, then=then, orelse=orelse):
            branch = then if _bool(evaluate(cond, env), cond.span, "if") else orelse
            return evaluate(branch, env)
        case t.Call():
            return _call(expr, [(arg, evaluate(arg.value, env)) for arg in expr.args])
        case t.BinOp(op=op, left=left, right=right):
            if op in ("and", "or"):
                lv = _bool(evaluate(left, env), left.span, op)
                if (op == "and" and not lv) or (op == "or" and lv):
                    return lv
                return _bool(evaluate(right, env), right.span, op)
            a, b = evaluate(left, env), evaluate(right, env)
            if op in _COMPARE:
                if op not in ("==", "!=") and not (_is_num(a) and _is_num(b)):
                    raise EvalError(f"`{op}` compares numbers, got {type_name(a)} and "
                                    f"{type_name(b)}", expr.span)
                return _COMPARE[op](a, b)
            for side, v in ((left, a), (right, b)):
                if not _is_num(v):
                    hint = ("is it a misspelt parameter?" if isinstance(v, str) else "")
                    raise EvalError(f"`{op}` needs numbers, but {describe(v)} is "
                                    f"{type_name(v)}", side.span, hint)
            if op in ("/", "//", "%") and b == 0:
                raise EvalError("division by zero", right.span)
            result = _ARITH[op](a, b)
            if isinstance(result, int) and abs(result) > _MAX_INT:
                raise EvalError("this number is too large", expr.span)
            return result
    raise AssertionError(f"unknown expression {expr!r}")  # pragma: no cover


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (halves up), at least ``min_value``
    (``divisor`` unless given), one ``divisor`` more when rounding lost over 10% of ``v``: the
    channel rounding of MobileNet and EfficientNet (torchvision's ``_make_divisible``)."""
    low = divisor if min_value is None else min_value
    rounded = max(low, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


FUNCTIONS: dict[str, tuple[str, Callable[..., int | float]]] = {
    "make_divisible": ("make_divisible(v, divisor, min_value=divisor)", make_divisible),
    "ceil": ("ceil(v)", math.ceil),
    "floor": ("floor(v)", math.floor),
    "round": ("round(v)", round),
    "min": ("min(a, b, ...)", min),
    "max": ("max(a, b, ...)", max),
}
"""Built-in functions of expressions: name → (usage, implementation). ``ceil``, ``floor`` and
``round`` give whole numbers (``round`` halves to even, as Python's); ``min`` and ``max`` take
two numbers or more."""


def _call(expr: t.Call, args: list[tuple[t.Arg, Any]]) -> Value:
    usage, fn = FUNCTIONS[expr.func]
    positional = [v for a, v in args if a.name is None]
    keywords = {a.name: (a, v) for a, v in args if a.name is not None}
    for a, v in args:
        if not _is_num(v):
            hint = "is it a misspelt parameter?" if isinstance(v, str) else ""
            raise EvalError(f"`{expr.func}` needs numbers, but {describe(v)} is {type_name(v)}",
                            a.value.span, hint or f"usage: {usage}")
    wrong = f"usage: {usage}"
    if expr.func == "make_divisible":
        extra = [a for name, (a, _) in keywords.items() if name != "min_value"]
        if extra or not 2 <= len(positional) + len(keywords) <= 3 or len(positional) < 2 \
                or (len(positional) == 3 and keywords):
            raise EvalError("`make_divisible` takes a value, a divisor and optionally "
                            "`min_value`", (extra[0] if extra else expr).span, wrong)
        v, divisor, *rest = positional
        low = rest[0] if rest else keywords["min_value"][1] if keywords else None
        if not isinstance(divisor, int) or divisor < 1:
            raise EvalError(f"the divisor of `make_divisible` is a whole number of 1 or more, "
                            f"got {describe(divisor)}", expr.args[1].value.span, wrong)
        result: int | float = make_divisible(v, divisor, low)
    else:
        arity = (1, 1) if expr.func in ("ceil", "floor", "round") else (2, None)
        if keywords or len(positional) < arity[0] or (arity[1] and len(positional) > arity[1]):
            count = "one number" if arity[1] else "two numbers or more"
            raise EvalError(f"`{expr.func}` takes {count}, got {len(args)} argument"
                            + "s" * (len(args) != 1), expr.span, wrong)
        try:
            result = fn(*positional)
        except (OverflowError, ValueError):
            raise EvalError("this number is too large", expr.span) from None
    if isinstance(result, int) and abs(result) > _MAX_INT:
        raise EvalError("this number is too large", expr.span)
    return result


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _bool(v: Any, span: Span, where: str) -> bool:
    if not isinstance(v, bool):
        raise EvalError(f"`{where}` needs true or false, got {describe(v)}", span)
    return v
