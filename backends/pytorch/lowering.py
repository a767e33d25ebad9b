"""Graph IR → a plan of torch layers: the one table that maps every xdsl op to PyTorch.

A :class:`Lowering` says how one op becomes torch code: the module that holds its weights (a
:class:`Call`, data that both builds the module and prints as source) and the expression its
forward step computes. Adding an op to xdsl means adding one entry to :data:`LOWERINGS`.

Nothing here imports torch, so the plan can be made, inspected and optimised without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from xdsl.backends.pytorch.pytext import literal as _literal

from xdsl.graph import LayerNode, layers
from xdsl.layergraph import GraphIR
from xdsl.ops import OPS, Shape

# ---- constructor calls as data ---------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """``fn(*args, **kwargs)`` kept as data: built into a module, or printed as Python source.

    ``fn`` is a dotted name looked up in a namespace (``nn.Conv2d``, ``SeparableConv2d``);
    arguments are numbers, booleans, strings, tuples or nested calls.
    """

    fn: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def without(self, *names: str) -> Call:
        """The same call with keyword arguments ``names`` left at their defaults."""
        return replace(self, kwargs=tuple((k, v) for k, v in self.kwargs if k not in names))

    def source(self) -> str:
        parts = [_literal(a) for a in self.args]
        parts += [f"{k}={_literal(v)}" for k, v in self.kwargs]
        return f"{self.fn}({', '.join(parts)})"

    def build(self, namespace: Mapping[str, Any]) -> Any:
        head, *rest = self.fn.split(".")
        fn = namespace[head]
        for attr in rest:
            fn = getattr(fn, attr)
        args = [_build(a, namespace) for a in self.args]
        return fn(*args, **{k: _build(v, namespace) for k, v in self.kwargs})


def _build(value: Any, namespace: Mapping[str, Any]) -> Any:
    return value.build(namespace) if isinstance(value, Call) else value


# ---- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Emit:
    """What a forward expression is written from: the node, its module and its inputs."""

    node: LayerNode
    module: str  # e.g. ``self.entry.down1.sepconv1``
    args: list[str]  # input expressions, in the node's input order
    owned: tuple[bool, ...] = ()
    """Per input: this step may overwrite it (its only reader, a fresh tensor, not kept by
    autograd), which saves an allocation (``F.relu(x, inplace=True)``, ``x += y``)."""
    shapes: tuple[Shape, ...] = ()
    """Per input: its shape (a broadcasting sum accumulates only into a full-sized input)."""

    @property
    def x(self) -> str:
        return self.args[0]


ModuleRule = Callable[[LayerNode, list[Shape]], Call]
ForwardRule = Callable[[Emit], str]


@dataclass(frozen=True)
class Lowering:
    forward: ForwardRule
    module: ModuleRule | None = None
    fold: Callable[[LayerNode], str] | None = None
    """Where a following batch norm folds in: the submodule path (``""`` = the module)."""
    donates: Callable[[LayerNode], bool] = lambda _node: False
    """The output is a fresh tensor its own backward does not need, so its only reader may
    overwrite it. Not for activations (their backward reads their output) nor views."""


def _size(pair: tuple[int, int]) -> int | tuple[int, int]:
    return pair[0] if pair[0] == pair[1] else pair


def _symmetric(node: LayerNode) -> tuple[int, int] | None:
    """The layer's own padding argument when the resolved padding is symmetric, else None."""
    top, bottom, left, right = node.pads or (0, 0, 0, 0)
    return (top, left) if top == bottom and left == right else None


def _fpad(node: LayerNode) -> tuple[int, int, int, int]:
    top, bottom, left, right = node.pads or (0, 0, 0, 0)
    return (left, right, top, bottom)


def _window_kwargs(node: LayerNode) -> list[tuple[str, Any]]:
    a = node.attrs
    pad = _symmetric(node) or (0, 0)
    kwargs: list[tuple[str, Any]] = []
    if a.stride != (1, 1):
        kwargs.append(("stride", _size(a.stride)))
    if pad != (0, 0):
        kwargs.append(("padding", _size(pad)))
    if a.dilation != (1, 1):
        kwargs.append(("dilation", _size(a.dilation)))
    return kwargs


def _padded(e: Emit) -> str:
    """The input, explicitly zero-padded when the layer's padding is asymmetric (TF ``same``)."""
    return e.x if _symmetric(e.node) else f"F.pad({e.x}, {_literal(_fpad(e.node))})"


def _conv(node: LayerNode, ins: list[Shape]) -> Call:
    a, cin = node.attrs, ins[0][0]
    filters = getattr(a, "filters", None) or cin * a.mult  # dwconv has no filters
    kwargs = _window_kwargs(node)
    if node.groups != 1:
        kwargs.append(("groups", node.groups))
    if not a.bias:
        kwargs.append(("bias", False))
    pointwise = a.kernel == (1, 1) and not any(node.pads or ()) and \
        all(k == "bias" for k, _ in kwargs)  # no stride, padding, dilation or groups
    if pointwise:
        return Call("PointwiseConv2d", (cin, filters, 1), tuple(kwargs))  # a matrix product
    return Call("nn.Conv2d", (cin, filters, _size(a.kernel)), tuple(kwargs))


def _sepconv(node: LayerNode, ins: list[Shape]) -> Call:
    """The spectrum layer; attributes newer than plain depthwise separable default off."""
    a = node.attrs
    first = getattr(a, "order", "spatial_first") == "pointwise_first"
    kwargs = _window_kwargs(node)
    if _symmetric(node) is None:  # the module pads right before its spatial convolution
        kwargs.append(("padding", _fpad(node)))
    if a.mult != 1:
        kwargs.append(("mult", a.mult))
    if node.groups != (a.filters if first else ins[0][0]):
        kwargs.append(("groups", node.groups))
    if first:
        kwargs.append(("pointwise_first", True))
    if getattr(a, "mid_act", "none") != "none":
        kwargs.append(("mid_act", a.mid_act))
    if not a.bias:
        kwargs.append(("bias", False))
    return Call("SeparableConv2d", (ins[0][0], a.filters, _size(a.kernel)), tuple(kwargs))


def _sepconv_second(node: LayerNode) -> str:
    """The convolution of a sepconv that comes second (and holds the bias)."""
    if getattr(node.attrs, "order", "spatial_first") == "spatial_first":
        return "pointwise"
    return "depthwise" if node.groups == node.attrs.filters else "spatial"


def _bn(node: LayerNode, ins: list[Shape]) -> Call:
    a = node.attrs
    kwargs: list[tuple[str, Any]] = []
    if a.eps != 1e-5:
        kwargs.append(("eps", a.eps))
    if a.momentum != 0.1:
        kwargs.append(("momentum", a.momentum))
    if not (a.scale or a.center):
        kwargs.append(("affine", False))
    cls = "nn.BatchNorm2d" if len(ins[0]) == 3 else "nn.BatchNorm1d"
    call = Call(cls, (ins[0][0],), tuple(kwargs))
    if a.scale != a.center:
        return Call("partial_affine", (call,), (("scale", a.scale), ("center", a.center)))
    return call


def _linear(node: LayerNode, ins: list[Shape]) -> Call:
    bias = () if node.attrs.bias else (("bias", False),)
    return Call("nn.Linear", (ins[0][0], node.attrs.units), bias)


def _channels_last_forward(e: Emit) -> str:
    """A layer over the channels at every position (ConvNeXt's ``nn.Linear``): channels
    last, then back; on a channels_last input both permutes are free."""
    return f"{e.module}({e.x}.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)"


def _layerscale(node: LayerNode, ins: list[Shape]) -> Call:
    return Call("LayerScale", (ins[0][0], node.attrs.init))


def _upsample(e: Emit) -> str:
    a = e.node.attrs
    if a.size is not None:
        how = f"size={_literal(a.size)}"
    else:
        factor = float(a.scale[0]) if a.scale[0] == a.scale[1] else tuple(map(float, a.scale))
        how = f"scale_factor={_literal(factor)}"
    corners = f", align_corners={a.align_corners}" if a.mode == "bilinear" else ""
    return f'F.interpolate({e.x}, {how}, mode="{a.mode}"{corners})'  # a word, as ruff quotes


def _deconv(node: LayerNode, ins: list[Shape]) -> Call:
    a = node.attrs
    kwargs: list[tuple[str, Any]] = []
    if a.stride != (1, 1):
        kwargs.append(("stride", _size(a.stride)))
    if a.pad not in ("valid", (0, 0)):
        kwargs.append(("padding", _size(a.pad)))
    if a.output_padding != (0, 0):
        kwargs.append(("output_padding", _size(a.output_padding)))
    if a.groups != 1:
        kwargs.append(("groups", a.groups))
    if not a.bias:
        kwargs.append(("bias", False))
    if a.dilation != (1, 1):
        kwargs.append(("dilation", _size(a.dilation)))
    return Call("nn.ConvTranspose2d", (ins[0][0], a.filters, _size(a.kernel)), tuple(kwargs))


def _pool(kind: str) -> ForwardRule:
    def forward(e: Emit) -> str:
        a, node = e.node.attrs, e.node
        if node.is_global:
            return f"{e.x}.mean((2, 3))" if kind == "avg" else f"torch.amax({e.x}, dim=(2, 3))"
        kernel, stride = _size(a.kernel), _size(a.stride or a.kernel)
        pad = _symmetric(node)
        half = (a.kernel[0] // 2, a.kernel[1] // 2)
        if pad and pad[0] <= half[0] and pad[1] <= half[1]:  # torch's own padding limit
            args = [e.x, kernel, stride] + ([_size(pad)] if pad != (0, 0) or a.ceil_mode else [])
            if a.ceil_mode:
                args.append("ceil_mode=True")
            if kind == "avg" and not a.include_pad and pad != (0, 0):
                return f"F.avg_pool2d({', '.join(map(str, args))}, count_include_pad=False)"
            return f"F.{kind}_pool2d({', '.join(map(str, args))})"
        fpad = _literal(_fpad(node))
        if kind == "max":
            return f'F.max_pool2d(F.pad({e.x}, {fpad}, value=float("-inf")), {kernel}, {stride})'
        if a.include_pad:
            return f"F.avg_pool2d(F.pad({e.x}, {fpad}), {kernel}, {stride})"
        return f"avg_pool2d_exclude_pad({e.x}, {_literal(a.kernel)}, " \
               f"{_literal(a.stride or a.kernel)}, {fpad})"

    return forward


def _elu(e: Emit) -> str:
    alpha = e.node.attrs.alpha
    return f"F.elu({e.x})" if alpha == 1.0 else f"F.elu({e.x}, {_literal(alpha)})"


def _inplace(e: Emit) -> str:
    """For activations whose backward reads only their output (ReLU, ReLU6, LeakyReLU with a
    slope ≥ 0): overwrite the input when this step owns it."""
    return ", inplace=True" if e.owned[:1] == (True,) else ""


def _gelu(e: Emit) -> str:
    approximate = e.node.attrs.approximate
    # a word of the language (`tanh`), written in double quotes as ruff formats code
    return f"F.gelu({e.x})" if approximate == "none" else \
        f'F.gelu({e.x}, approximate="{approximate}")'


def _act(e: Emit) -> str:
    """``act KIND`` is written as the activation it names, with that activation's options."""
    op, attrs = e.node.attrs.resolved()
    return LOWERINGS[op].forward(replace(e, node=e.node.model_copy(update={"op": op,
                                                                           "attrs": attrs})))


_ACTIVATIONS: dict[str, ForwardRule] = {
    "relu": lambda e: f"F.relu({e.x}{_inplace(e)})",
    "elu": _elu,
    "gelu": _gelu,
    "sigmoid": lambda e: f"torch.sigmoid({e.x})",
    "tanh": lambda e: f"torch.tanh({e.x})",
    "relu6": lambda e: f"F.relu6({e.x}{_inplace(e)})",
    "leaky_relu": lambda e: f"F.leaky_relu({e.x}, {_literal(e.node.attrs.slope)}{_inplace(e)})",
    "silu": lambda e: f"F.silu({e.x})",
    "swish": lambda e: f"F.silu({e.x})",
    "hardswish": lambda e: f"F.hardswish({e.x})",
    "hardsigmoid": lambda e: f"F.hardsigmoid({e.x})",
    "mish": lambda e: f"F.mish({e.x})",
}


def _layernorm(node: LayerNode, ins: list[Shape]) -> Call:
    eps = node.attrs.eps
    return Call("nn.LayerNorm", (ins[0][0],), (("eps", eps),) if eps != 1e-5 else ())


def _layernorm_forward(e: Emit) -> str:
    """On a feature map, over the channels at every position: channels last, then back."""
    if len(e.node.shape) == 1:
        return f"{e.module}({e.x})"
    return f"{e.module}({e.x}.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)"


def _groupnorm(node: LayerNode, ins: list[Shape]) -> Call:
    eps = node.attrs.eps
    return Call("nn.GroupNorm", (node.attrs.groups, ins[0][0]),
                (("eps", eps),) if eps != 1e-5 else ())


def _module_call(e: Emit) -> str:
    return f"{e.module}({_padded(e)})"


def _itself(_node: LayerNode) -> str:
    return ""


def _always(_node: LayerNode) -> bool:
    return True


def _add(e: Emit) -> str:
    """A sum; accumulated into an input this step owns, when there is one."""
    owned = [i for i, mine in enumerate(e.owned)
             if mine and (not e.shapes or e.shapes[i] == e.node.shape)]
    if not owned:
        return " + ".join(e.args)
    i = next((i for i in owned if e.args[i] == "x"), owned[0])  # reads best as `x += y`
    rest = e.args[:i] + e.args[i + 1:]
    return e.args[i] + "".join(f".add_({a})" for a in rest)


def _shuffle(e: Emit) -> str:
    """ShuffleNet's channel shuffle: channel ``g·n + i`` of G groups of n becomes ``i·G + g``."""
    return f"{e.x}.unflatten(1, ({e.node.attrs.groups}, -1)).transpose(1, 2).flatten(1, 2)"


LOWERINGS: dict[str, Lowering] = {
    "conv": Lowering(_module_call, _conv, fold=_itself, donates=_always),
    "gconv": Lowering(_module_call, _conv, fold=_itself, donates=_always),
    "dwconv": Lowering(_module_call, _conv, fold=_itself, donates=_always),
    "sepconv": Lowering(lambda e: f"{e.module}({e.x})", _sepconv, fold=_sepconv_second,
                        donates=_always),
    "bn": Lowering(lambda e: f"{e.module}({e.x})", _bn, donates=_always),
    "linear": Lowering(lambda e: f"{e.module}({e.x})", _linear, donates=_always),
    # the output is a view of the linear layer's (as a layer norm's on a map)
    "pwlinear": Lowering(_channels_last_forward, _linear),
    "layerscale": Lowering(lambda e: f"{e.module}({e.x})", _layerscale, donates=_always),
    "upsample": Lowering(_upsample, donates=_always),
    # a batch norm after a transposed convolution stays (fold=None): its weight is (in, out)
    "deconv": Lowering(lambda e: f"{e.module}({e.x})", _deconv, donates=_always),
    "pixelshuffle": Lowering(lambda e: f"F.pixel_shuffle({e.x}, {e.node.attrs.factor})"),
    "adaptive_avgpool": Lowering(
        lambda e: f"F.adaptive_avg_pool2d({e.x}, {_literal(e.node.attrs.size)})"),
    # a layer norm's backward reads its input, not its output; on a map, the output is a view
    "layernorm": Lowering(_layernorm_forward, _layernorm,
                          donates=lambda node: len(node.shape) == 1),
    "groupnorm": Lowering(lambda e: f"{e.module}({e.x})", _groupnorm, donates=_always),
    **{op: Lowering(rule) for op, rule in _ACTIVATIONS.items()},
    "identity": Lowering(lambda e: e.x),
    "act": Lowering(_act),
    # global max pooling's backward reads its output (torch.amax)
    "maxpool": Lowering(_pool("max"), donates=lambda node: not node.is_global),
    "avgpool": Lowering(_pool("avg"), donates=_always),
    "dropout": Lowering(lambda e: f"F.dropout({e.x}, {_literal(e.node.attrs.p)}, self.training)"),
    "flatten": Lowering(lambda e: f"torch.flatten({e.x}, 1)"),
    "add": Lowering(_add, donates=_always),
    # never in place: a product's backward reads both inputs
    "mul": Lowering(lambda e: " * ".join(e.args), donates=_always),
    # identity in eval mode: its output may be its input
    "drop_path": Lowering(lambda e: f"{e.module}({e.x})",
                          lambda node, _ins: Call("StochasticDepth", (node.attrs.p,))),
    "shuffle": Lowering(_shuffle),
    # a view of its input: never overwritten
    "split": Lowering(lambda e: f"{e.x}[:, {e.node.attrs.start}:{e.node.attrs.stop}]"),
    "concat": Lowering(lambda e: f"torch.cat([{', '.join(e.args)}], 1)", donates=_always),
}


# ---- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One layer to emit: its IR node, its (possibly rewired) inputs, its module if any."""

    node: LayerNode
    inputs: tuple[str, ...]
    module: Call | None = None

    @property
    def name(self) -> str:
        return self.node.name


@dataclass
class Plan:
    """The network as torch will run it: steps in execution order, plus the input and output."""

    network: str
    input: LayerNode
    outputs: tuple[str, ...]
    """The main output first, then side heads (``output aux: ...``) in spec order."""
    steps: list[Step]
    folded: list[tuple[str, str]] = field(default_factory=list)
    """(convolution, batch norm) pairs merged by :func:`fold_batch_norms`."""

    @property
    def output(self) -> str:
        return self.outputs[0]

    def consumers(self) -> dict[str, list[str]]:
        """Who reads each value, in order; a network output is also read by :data:`RETURN`."""
        readers: dict[str, list[str]] = {self.input.name: []}
        for step in self.steps:
            readers[step.name] = []
            for src in step.inputs:
                readers[src].append(step.name)
        for out in self.outputs:
            readers[out].append(RETURN)
        return readers


RETURN = "<return>"


class UnsupportedOp(NotImplementedError):
    """The graph uses an op the PyTorch backend has no lowering for."""


def plugin_lowering(op: str) -> Lowering | None:
    """A plugin op's lowering, from its table entry: ``Class(in_channels, **options)`` called
    on the op's inputs (``torch="package.module:Class"``)."""
    spec = OPS.get(op)
    if spec is None or not spec.torch:
        return None
    module, cls = spec.torch.split(":")

    def build(node: LayerNode, ins: list[Shape]) -> Call:
        options = tuple((f, getattr(node.attrs, f)) for f in type(node.attrs).model_fields)
        return Call(f"{module}.{cls}", (ins[0][0],), options)

    return Lowering(lambda e: f"{e.module}({', '.join(e.args)})", build)


def lowering_of(op: str) -> Lowering:
    """The table entry of ``op``, a built-in or a plugin's."""
    rule = LOWERINGS.get(op) or plugin_lowering(op)
    if rule is None:
        raise UnsupportedOp(f"the PyTorch backend cannot lower `{op}`")
    return rule


def plugin_modules(plan: Plan) -> list[str]:
    """The plugin modules (``package.module``) the plan's steps are built from."""
    return sorted({OPS[s.node.op].torch.split(":")[0] for s in plan.steps
                   if s.node.op in OPS and OPS[s.node.op].plugin and OPS[s.node.op].torch})


def lower(g: GraphIR) -> Plan:
    """The plan for graph ``g``: one step per layer, modules described but not built."""
    nodes = {n.name: n for n in layers(g)}
    steps = []
    for node in nodes.values():
        if node.op == "input":
            continue
        rule = LOWERINGS.get(node.op) or plugin_lowering(node.op)
        if rule is None:
            hint = (f"; plugin `{OPS[node.op].plugin}` declares no torch module for it"
                    if node.op in OPS and OPS[node.op].plugin else "")
            raise UnsupportedOp(f"the PyTorch backend cannot lower `{node.op}` "
                                f"({node.name}){hint}")
        ins = [nodes[i].shape for i in node.inputs]
        steps.append(Step(node, node.inputs, rule.module(node, ins) if rule.module else None))
    outputs = tuple(g.graph.get("outputs") or [g.graph["output"]])
    return Plan(g.graph["name"], nodes[g.graph["input"]], outputs, steps)


def fold_batch_norms(plan: Plan) -> Plan:
    """Merge every batch norm into the convolution before it (for inference only).

    A batch norm folds when it reads a convolution (incl. a separable one's pointwise part) that
    nothing else reads; the convolution gains a bias and the batch norm's step disappears.
    The weights are folded by :func:`xdsl.backends.pytorch.inference.optimize`.
    """
    readers = plan.consumers()
    by_name = {s.name: s for s in plan.steps}
    rename: dict[str, str] = {}
    folded: list[tuple[str, str]] = []
    steps: list[Step] = []
    for step in plan.steps:
        step = replace(step, inputs=tuple(rename.get(i, i) for i in step.inputs))
        src = by_name.get(step.inputs[0]) if step.inputs else None
        if (step.node.op == "bn" and len(step.node.shape) == 3 and src is not None
                and lowering_of(src.node.op).fold is not None and readers[src.name] == [step.name]):
            rename[step.name] = src.name
            folded.append((src.name, step.name))
            continue
        steps.append(step)
    convs = {conv for conv, _ in folded}
    # Conv2d and SeparableConv2d default to bias=True: the folded shift lands there.
    steps = [replace(s, module=s.module.without("bias")) if s.name in convs and s.module
             else s for s in steps]
    outputs = tuple(rename.get(o, o) for o in plan.outputs)
    return Plan(plan.network, plan.input, outputs, steps, [*plan.folded, *folded])
