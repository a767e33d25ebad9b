"""Layer labels (diagram boxes, paper tables) in the papers' words ("SeparableConv 728, 3×3").

One function per op family in a table, so a new op needs one entry here rather than a branch in
the drawing code.  Sizes use "×" like the published figures; shapes read channels × height ×
width like the rest of xdsl.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from xdsl.graph import LayerNode
from xdsl.ops import OPS

TIMES = "\u00d7"


def size(pair: tuple[int, ...]) -> str:
    return TIMES.join(map(str, pair))


def shape(s: tuple[int, ...]) -> str:
    return f" {TIMES} ".join(map(str, s))


def _window(a: Any) -> list[str]:
    """Stride and dilation when they differ from 1, as the paper writes them."""
    parts = []
    stride = getattr(a, "stride", None)
    if stride is not None and tuple(stride) != (1, 1):
        parts.append(f"stride={size(stride)}")
    dilation = getattr(a, "dilation", (1, 1))
    if tuple(dilation) != (1, 1):
        parts.append(f"dilation={size(dilation)}")
    return parts


def _conv(n: LayerNode) -> str:
    a: Any = n.attrs
    parts = [f"Conv {a.filters}", size(a.kernel), *_window(a)]
    if n.groups and n.groups > 1:
        parts.append(f"groups={n.groups}")
    return ", ".join(parts)


def _sepconv(n: LayerNode) -> str:
    """Xception's words for the default layer; the spectrum's settings when they differ."""
    a: Any = n.attrs
    extra = [f"depth multiplier={a.mult}"] if a.mult != 1 else []
    if a.segments is not None:
        extra.append(f"{a.segments} segment{'s' if a.segments != 1 else ''}")
    if a.group_width is not None:
        extra.append(f"group width={a.group_width}")
    if a.order == "pointwise_first":
        extra.append("1×1 first")
    if a.mid_act != "none":
        extra.append(f"{OPS[a.mid_act].label} between")
    return ", ".join([f"SeparableConv {a.filters}", size(a.kernel), *_window(a), *extra])


def _dwconv(n: LayerNode) -> str:
    a: Any = n.attrs
    extra = [f"depth multiplier={a.mult}"] if a.mult != 1 else []
    return ", ".join([f"DepthwiseConv {size(a.kernel)}", *_window(a), *extra])


def _pool(n: LayerNode) -> str:
    word = OPS[n.op].label  # MaxPooling, AveragePooling
    if n.is_global:
        return f"Global{word}"
    a: Any = n.attrs
    return ", ".join([f"{word} {size(a.kernel)}", *_window(a)])


def _bn(n: LayerNode) -> str:
    return "BatchNorm"


def _act(n: LayerNode) -> str:
    """``act leaky_relu slope=0.2`` reads as the activation it names: "LeakyReLU, slope=0.2"."""
    op, attrs = n.attrs.resolved()  # type: ignore[attr-defined]
    return label(n.model_copy(update={"op": op, "attrs": attrs}))


def _elu(n: LayerNode) -> str:
    alpha = n.attrs.alpha  # type: ignore[attr-defined]
    return "ELU" if alpha == 1 else f"ELU, alpha={alpha:g}"


def _leaky_relu(n: LayerNode) -> str:
    slope = n.attrs.slope  # type: ignore[attr-defined]
    return "LeakyReLU" if slope == 0.01 else f"LeakyReLU, slope={slope:g}"


def _gelu(n: LayerNode) -> str:
    tanh = n.attrs.approximate == "tanh"  # type: ignore[attr-defined]
    return "GELU, tanh approximation" if tanh else "GELU"


def _groupnorm(n: LayerNode) -> str:
    groups = n.attrs.groups  # type: ignore[attr-defined]
    return f"GroupNorm, {groups} group{'s' if groups != 1 else ''}"


def _number(v: float) -> str:
    """1e-06 as a paper writes it: 1e-6."""
    return re.sub(r"e([-+])0*(\d)", r"e\1\2", f"{v:g}").replace("e+", "e")


def _upsample(n: LayerNode) -> str:
    a: Any = n.attrs
    how = f"to {size(a.size)}" if a.size is not None else size(a.scale)
    return ", ".join([f"UpSampling {how}", a.mode, *["align_corners"] * a.align_corners])


def _deconv(n: LayerNode) -> str:
    a: Any = n.attrs
    parts = [f"TransposedConv {a.filters}", size(a.kernel), *_window(a)]
    if a.output_padding != (0, 0):
        parts.append(f"output_padding={size(a.output_padding)}")
    if a.groups > 1:
        parts.append(f"groups={a.groups}")
    return ", ".join(parts)


def _split(n: LayerNode) -> str:
    """ShuffleNet V2's words: "Channel Split", with the part this node is."""
    a = n.attrs
    return f"Channel Split {'/'.join(map(str, a.sizes))}, part {a.index + 1}"  # type: ignore[attr-defined]


def _input(n: LayerNode) -> str:
    return f"{n.name}: {shape(n.shape)}"


LABELS: dict[str, Callable[[LayerNode], str]] = {
    "input": _input,
    "conv": _conv,
    "gconv": _conv,
    "sepconv": _sepconv,
    "dwconv": _dwconv,
    "maxpool": _pool,
    "avgpool": _pool,
    "bn": _bn,
    "act": _act,
    "elu": _elu,
    "leaky_relu": _leaky_relu,
    "gelu": _gelu,
    "groupnorm": _groupnorm,
    "upsample": _upsample,
    "deconv": _deconv,
    "pixelshuffle": lambda n: f"PixelShuffle {TIMES}{n.attrs.factor}",  # type: ignore[attr-defined]
    "adaptive_avgpool": lambda n: f"AveragePooling to {size(n.attrs.size)}",  # type: ignore[attr-defined]
    "layerscale": lambda n: f"LayerScale, init={_number(n.attrs.init)}",  # type: ignore[attr-defined]
    "pwlinear": lambda n: f"Linear {n.attrs.units}, per position",  # type: ignore[attr-defined]
    "dropout": lambda n: f"Dropout {n.attrs.p:g}",  # type: ignore[attr-defined]
    "linear": lambda n: f"Linear {n.attrs.units}",  # type: ignore[attr-defined]
    "add": lambda n: "+",
    "mul": lambda n: TIMES,
    "drop_path": lambda n: f"Stochastic Depth {n.attrs.p:g}",  # type: ignore[attr-defined]
    "shuffle": lambda n: f"Channel Shuffle, {n.attrs.groups} groups",  # type: ignore[attr-defined]
    "split": _split,
    "concat": lambda n: "Concat",
}


_BREAK = re.compile(r",? (?=[\d/]+\u00d7[\d/]+)")


def two_lines(text: str) -> str:
    """A label broken as a module figure writes it: the op and its channels on the first line,
    the kernel and the rest on the second ("Conv 128/160\n1\u00d77", "MaxPooling\n3\u00d73,
    stride=2\u00d72"); a label without a kernel stays whole."""
    found = _BREAK.search(text)
    if found is None or found.start() == 0:
        return text
    return text[: found.start()] + "\n" + text[found.end():]


def label(n: LayerNode) -> str:
    """The box text of one layer; ops without an entry use their table name (``ReLU``)."""
    rule = LABELS.get(n.op)
    if rule is not None:
        return rule(n)
    spec = OPS.get(n.op)
    if spec is not None and callable(spec.label):
        return spec.label(n)
    return spec.label if spec and spec.label else n.op
