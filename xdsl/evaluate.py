"""Evaluation of spec expressions over parameter values (pure Python, no ``eval``)."""

from __future__ import annotations

import operator
from collections.abc import Mapping
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


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _bool(v: Any, span: Span, where: str) -> bool:
    if not isinstance(v, bool):
        raise EvalError(f"`{where}` needs true or false, got {describe(v)}", span)
    return v
