"""The syntax tree: pydantic models, one per construct of the language.

Every node carries the :class:`~xdsl.diagnostics.Span` of the text it came from.  Spans are
excluded from dumps, so ``a.model_dump() == b.model_dump()`` compares meaning, not layout (the
formatter's round-trip tests rely on that).  Statement and expression nodes form discriminated
unions on their ``kind`` field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .diagnostics import Span

SpanField = Annotated[Span, Field(exclude=True, repr=False)]


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    span: SpanField


N = TypeVar("N", bound=BaseModel)


def new(kind: type[N], **fields: Any) -> N:
    """A node as the parser builds it: fields set as given, unvalidated (``model_construct``).

    The parser's grammar already fixes each field's type, and validating every node cost more
    than the rest of `xdsl check` (pydantic builds each model's validator on first use:
    ``defer_build``). Tests validate every node of every shipped spec against its model
    (``tests/test_parser.py``; layer nodes: ``tests/test_layergraph.py``), and nodes written
    by hand (``t.Num(...)``) are validated.
    """
    return kind.model_construct(**fields)


# ---- expressions -------------------------------------------------------------------------------


class Num(Node):
    kind: Literal["num"] = "num"
    value: int | float


class Str(Node):
    kind: Literal["str"] = "str"
    value: str


class Name(Node):
    """A parameter, a block argument, a tensor name, or a bare symbol such as ``same``."""

    kind: Literal["name"] = "name"
    id: str


class SizeLit(Node):
    kind: Literal["size"] = "size"
    items: list[Expr]


class BinOp(Node):
    kind: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
    left: Expr
    right: Expr


class Not(Node):
    kind: Literal["not"] = "not"
    operand: Expr


class Ternary(Node):
    kind: Literal["ternary"] = "ternary"
    cond: Expr
    then: Expr
    orelse: Expr


class Call(Node):
    """A built-in function: ``make_divisible(c * 0.75, 8)``, ``ceil``, ``floor``, ``round``,
    ``min``, ``max`` (see :data:`xdsl.evaluate.FUNCTIONS`)."""

    kind: Literal["call"] = "call"
    func: str
    args: list[Arg]


Expr = Annotated[
    Num | Str | Name | SizeLit | BinOp | Not | Ternary | Call, Field(discriminator="kind")
]


class Arg(Node):
    """A positional (``name is None``) or keyword argument."""

    name: str | None = None
    value: Expr


# ---- statements --------------------------------------------------------------------------------


class Op(Node):
    """A layer or block call: ``conv 32 3x3 stride=2``, ``down(128, 128)``, ``add(a, b)``."""

    kind: Literal["op"] = "op"
    name: str
    name_span: SpanField
    is_global: bool = False
    args: list[Arg] = []
    source: str | None = None
    alias: str | None = None
    parts: list[str] = []
    """The names after the first in ``split 2 as a, b``: the other parts of a split."""
    cond: Expr | None = None


class Repeat(Node):
    kind: Literal["repeat"] = "repeat"
    count: Expr
    index: str | None = None
    """``repeat n as i``: the name of the iteration index (0 .. n-1) inside the body."""
    body: list[Stmt]


class Residual(Node):
    """A main path added to a shortcut: identity when ``shortcut`` is empty."""

    kind: Literal["residual"] = "residual"
    shortcut: list[Op] = []
    alias: str | None = None
    cond: Expr | None = None
    """When false: with a projection, the shortcut is the identity (``otherwise`` unset or
    ``identity``) or there is none (``otherwise == "none"``); without one, the body runs as a
    plain sequence (no shortcut, no add)."""
    otherwise: Literal["identity", "none"] | None = None
    """``... if cond else none`` / ``else identity``, as written."""
    otherwise_span: Annotated[Span | None, Field(default=None, exclude=True, repr=False)] = None
    body: list[Stmt]


class Branch(Node):
    name: str | None = None
    body: list[Stmt]


class Merge(Node):
    """Parallel branches from one input, joined by ``concat`` or ``add``."""

    kind: Literal["merge"] = "merge"
    mode: Literal["concat", "add", "mul"]
    alias: str | None = None
    branches: list[Branch]


class If(Node):
    kind: Literal["if"] = "if"
    cond: Expr
    then: list[Stmt]
    orelse: list[Stmt] = []
    else_span: Annotated[Span | None, Field(default=None, exclude=True, repr=False)] = None


class Output(Node):
    """A side head (e.g. an auxiliary classifier): an extra network output, named ``name``.

    Its body starts from the current tensor; the main path continues unchanged after it.
    """

    kind: Literal["output"] = "output"
    name: str
    body: list[Stmt]


Stmt = Annotated[Op | Repeat | Residual | Merge | If | Output, Field(discriminator="kind")]


# ---- declarations ------------------------------------------------------------------------------

class Param(Node):
    name: str
    type: str = "any"
    """``int``, ``float``, ``bool``, ``str``, ``choice``, ``tensor`` (block parameters only: a
    named tensor passed to the block) or ``any``; checked by validation."""
    choices: list[str] = []
    default: Expr | None = None


class DefaultRule(Node):
    """``conv, sepconv: bias=false, then bn`` — options and follow-up layers for some ops."""

    ops: list[str]
    kwargs: list[Arg] = []
    then: list[Op] = []
    cond: Expr | None = None
    """The rule applies only when this evaluates to true (``... if keras1``)."""


class BlockDef(Node):
    name: str
    params: list[Param]
    body: list[Stmt]


class Flow(Node):
    kind: Literal["flow"] = "flow"
    name: str
    body: list[Stmt]


Section = Annotated[Op | Repeat | Residual | Merge | If | Output | Flow,
                    Field(discriminator="kind")]


class Input(Node):
    name: str
    shape: Expr


class AuditItem(Node):
    """``metric = value "source"``; a ``note`` item is reported with its delta, never fails."""

    metric: str
    value: Expr
    source: str = ""
    required: bool = True


class Audit(Node):
    """Counts the spec must reproduce, at the defaults overridden by ``settings``."""

    settings: list[Arg] = []
    items: list[AuditItem]


class Use(Node):
    """``use NAME``: the spec may use the ops of plugin ``name`` (one node per name)."""

    name: str


class Network(Node):
    name: str
    uses: list[Use] = []
    params: list[Param] = []
    inputs: list[Input] = []
    defaults: list[DefaultRule] = []
    blocks: list[BlockDef] = []
    body: list[Section] = []
    audits: list[Audit] = []


class Variant(Node):
    """A named setting of another spec (its ``base``, a path relative to this file).

    The variant is the base network with the settings as new parameter defaults and its own
    audit sections (the base's audits describe the base's defaults, so they are not inherited).
    """

    name: str
    base: str
    uses: list[Use] = []
    settings: list[Arg] = []
    audits: list[Audit] = []
