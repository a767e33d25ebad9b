"""The layer table: every op's attributes (a pydantic model) and its shape / count rule.

Shapes exclude the batch dimension: ``(C, H, W)`` for feature maps, ``(F,)`` for vectors.
Counts follow Keras and fvcore: trainable parameters, non-trainable state (BN running mean and
variance), and multiply-accumulates (MACs) of convolutions and linear layers only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

Shape = tuple[int, ...]
Pads = tuple[int, int, int, int]  # top, bottom, left, right


class ShapeError(Exception):
    """An op cannot accept its input; ``hint`` says how to fix the spec."""

    def __init__(self, message: str, hint: str = "", notes: tuple[str, ...] = ()):
        super().__init__(message)
        self.hint, self.notes = hint, notes


def _pair(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, tuple) and len(value) == 1:
        return value * 2
    if isinstance(value, tuple) and len(value) != 2:
        raise PydanticCustomError("size", "must be one number or a size like 3x3, got {got}",
                                  {"got": "x".join(map(str, value))})
    return value


def _padding(value: Any) -> Any:
    return value if isinstance(value, str) else _pair(value)


Pair = Annotated[tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]],
                 BeforeValidator(_pair)]
Padding = Annotated[
    Literal["same", "valid"] | tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]],
    BeforeValidator(_padding),
]
Channels = Annotated[int, Field(ge=1)]
Activation = Literal["relu", "elu", "gelu", "sigmoid", "tanh", "relu6", "silu", "swish",
                     "hardswish", "hardsigmoid", "leaky_relu", "mish", "none"]
"""The kinds ``act KIND`` and ``mid_act`` accept: every activation op, and ``none``."""
Alpha = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Slope = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""LeakyReLU's gradient below zero; negative slopes are refused, as Keras refuses them."""
Approximate = Literal["none", "tanh"]
Eps = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Attrs(BaseModel):
    """Base of every op's attributes: strict (``bias=1`` is an error), frozen, no extras."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid", defer_build=True)


class NoAttrs(Attrs):
    pass


class ConvAttrs(Attrs):
    filters: Channels
    kernel: Pair
    stride: Pair = (1, 1)
    pad: Padding = "valid"
    dilation: Pair = (1, 1)
    groups: Channels = 1
    bias: bool = True


class GroupConvAttrs(Attrs):
    """A k×k convolution whose channels are split into ``segments`` independent groups."""

    filters: Channels
    kernel: Pair
    segments: Channels | None = None
    group_width: Channels | None = None
    stride: Pair = (1, 1)
    pad: Padding = "valid"
    dilation: Pair = (1, 1)
    bias: bool = True

    @model_validator(mode="after")
    def _one_of(self) -> GroupConvAttrs:
        if (self.segments is None) == (self.group_width is None):
            raise PydanticCustomError("one_of", "give exactly one of `segments` and "
                                      "`group_width`")
        return self


class SepConvAttrs(Attrs):
    """The spectrum layer: a k×k spatial convolution split into channel groups, and a 1×1
    pointwise convolution.

    ``segments`` (channel groups; 1 = a full k×k convolution) or ``group_width`` (channels per
    group; 1 = depthwise) picks the point on the spectrum; neither means depthwise, the
    depthwise separable convolution of Xception.  ``order`` puts the spatial convolution first
    (Xception) or the pointwise one first (the paper's "extreme Inception", Figure 4);
    ``mid_act`` is the activation between the two (Figure 10).  ``bias`` belongs to the
    second convolution, ``mult`` (depth multiplier) to a spatial-first layer.
    """

    filters: Channels
    kernel: Pair
    mult: Channels = 1
    segments: Channels | None = None
    group_width: Channels | None = None
    order: Literal["spatial_first", "pointwise_first"] = "spatial_first"
    mid_act: Activation = "none"
    stride: Pair = (1, 1)
    pad: Padding = "valid"
    dilation: Pair = (1, 1)
    bias: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> SepConvAttrs:
        if self.segments is not None and self.group_width is not None:
            raise PydanticCustomError("one_of", "give at most one of `segments` and "
                                      "`group_width`")
        if self.order == "pointwise_first" and self.mult != 1:
            raise PydanticCustomError("mult", "a depth multiplier needs order=spatial_first")
        return self


class DwConvAttrs(Attrs):
    kernel: Pair
    mult: Channels = 1
    stride: Pair = (1, 1)
    pad: Padding = "valid"
    dilation: Pair = (1, 1)
    bias: bool = True


class BatchNormAttrs(Attrs):
    eps: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1e-5
    momentum: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.1
    scale: bool = True
    center: bool = True


class EluAttrs(Attrs):
    alpha: Alpha = 1.0


class LeakyReluAttrs(Attrs):
    slope: Slope = 0.01  # torch's default


class GeluAttrs(Attrs):
    approximate: Approximate = "none"


class ActAttrs(Attrs):
    """``act KIND``: an activation named by a word (which a ``choice`` parameter can pick),
    with that activation's own options: ``act leaky_relu slope=0.2`` is
    ``leaky_relu slope=0.2``; an option of another kind is an error."""

    kind: Activation
    alpha: Alpha | None = None
    slope: Slope | None = None
    approximate: Approximate | None = None

    @field_validator("alpha", "slope", "approximate")
    @classmethod
    def _option_of_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if value is None or kind is None:
            return value
        if kind not in OPS or info.field_name not in OPS[kind].attrs.model_fields:
            owners = " and ".join(f"`act {k}`" for k in get_args(Activation) if k in OPS
                                  and info.field_name in OPS[k].attrs.model_fields)
            raise PydanticCustomError("act_option", "only {owners} takes it, not `act {kind}`",
                                      {"owners": owners, "kind": kind})
        return value

    def resolved(self) -> tuple[str, Attrs]:
        """The op this activation is, with its options: ``("leaky_relu", slope=0.2)``."""
        if self.kind == "none":
            return "identity", NoAttrs()
        spec = OPS[self.kind]
        return self.kind, spec.attrs(**{f: getattr(self, f) for f in spec.attrs.model_fields
                                        if getattr(self, f, None) is not None})


class LayerNormAttrs(Attrs):
    eps: Eps = 1e-5  # torch's default; ConvNeXt writes eps=1e-6


class GroupNormAttrs(Attrs):
    groups: Channels
    eps: Eps = 1e-5


class PoolAttrs(Attrs):
    kernel: Pair | None = None
    stride: Pair | None = None
    pad: Padding = "valid"
    include_pad: bool = True
    ceil_mode: bool = False
    """Round the output size up, as torch's ``ceil_mode=True`` (a last window that starts
    inside the input or its left padding counts): GoogLeNet's and SqueezeNet's pooling."""


class DropoutAttrs(Attrs):
    p: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.5


class LinearAttrs(Attrs):
    units: Channels
    bias: bool = True


class LayerScaleAttrs(Attrs):
    """A learned per-channel multiplier (CaiT, ConvNeXt), starting at ``init``."""

    init: Annotated[float, Field(allow_inf_nan=False)] = 1e-6  # ConvNeXt's and timm's


class UpsampleAttrs(Attrs):
    """Enlarging a map by whole factors (``upsample 2``, ``upsample 2x1``) or to a size
    (``upsample size=14x14``), as ``F.interpolate`` does."""

    scale: Pair | None = None
    size: Pair | None = None
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> UpsampleAttrs:
        if (self.scale is None) == (self.size is None):
            raise PydanticCustomError("one_of", "give exactly one of a scale factor "
                                      "(`upsample 2`) and `size`")
        if self.align_corners and self.mode != "bilinear":
            raise PydanticCustomError("align_corners", "`align_corners` applies to "
                                      "mode=bilinear only")
        return self


class DeconvAttrs(Attrs):
    """A transposed convolution, torch's ``nn.ConvTranspose2d``: ``pad`` removes rows and
    columns from each side of the output, ``output_padding`` adds them after."""

    filters: Channels
    kernel: Pair
    stride: Pair = (1, 1)
    pad: Padding = "valid"
    output_padding: Annotated[tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]],
                              BeforeValidator(_pair)] = (0, 0)
    dilation: Pair = (1, 1)
    groups: Channels = 1
    bias: bool = True


class PixelShuffleAttrs(Attrs):
    factor: Channels


class AdaptivePoolAttrs(Attrs):
    size: Pair
    enlarge: bool = False
    """Accept an input smaller than ``size``, repeating pixels as torch's ``AdaptiveAvgPool2d``
    does (torchvision's VGG at 32 x 32); without it that is an error, since it is usually one."""


class DropPathAttrs(Attrs):
    """Stochastic depth: a sample's whole tensor is dropped with probability ``p``."""

    p: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]


class ShuffleAttrs(Attrs):
    groups: Channels


class SplitAttrs(Attrs):
    """``split 2`` (equal parts) or ``split(58, 58)`` (channels per part)."""

    parts: Channels | tuple[Channels, ...]


class SplitPartAttrs(Attrs):
    """One part of a ``split`` in the graph IR: channels ``sizes[index]`` of ``sizes``."""

    sizes: tuple[Channels, ...]
    index: Annotated[int, Field(ge=0)]

    @property
    def start(self) -> int:
        return sum(self.sizes[: self.index])

    @property
    def stop(self) -> int:
        return self.start + self.sizes[self.index]


@dataclass(frozen=True)
class Inferred:
    shape: Shape
    params: int = 0
    state: int = 0
    macs: int = 0
    pads: Pads | None = None
    groups: int | None = None


Rule = Callable[[Any, list[Shape], bool], Inferred]


@dataclass(frozen=True)
class OpSpec:
    """One op: its options, its shape / count rule, and how it is written, drawn and built.

    A plugin declares its ops with this same class (:mod:`xdsl.plugins`).
    """

    name: str
    attrs: type[Attrs]
    rule: Rule
    """``rule(attrs, input_shapes, is_global) -> Inferred``: the output shape and the counts;
    raises :class:`ShapeError` for an input the op cannot take."""
    positional: tuple[str, ...] = ()
    label: str | Callable[[Any], str] = ""
    """The diagram's words: a string, or a function of the graph node (its ``attrs``,
    ``shape``) returning one."""
    merges: bool = False  # takes the current tensor plus named tensors
    variadic: bool = False  # every positional argument goes to the first field, as a tuple
    pool: bool = False  # accepts `global`
    summary: str = ""
    """The usage line shown in errors: ``cbam [reduction=16, kernel=7]``."""
    torch: str = ""
    """A plugin op's module, ``"package.module:Class"``, built as ``Class(in_channels,
    **options)``; built-in ops are lowered by the PyTorch backend's own table."""
    plugin: str = ""
    """The plugin that declared the op (set when it is loaded); empty for built-in ops."""


# ---- shape helpers ---------------------------------------------------------------------------


def _feature_map(op: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"`{op}` needs a feature map (channels x height x width), got a vector "
                         f"of {shape[0]}", "move it before `flatten` / `global` pooling")
    return shape  # type: ignore[return-value]


def window(size: int, k: int, s: int, d: int, pad: str | int) -> tuple[int, int, int]:
    """Output size and (before, after) padding of a sliding window along one axis.

    ``same`` follows TensorFlow: output ``ceil(size / stride)``, padding split with the odd
    pixel after, so a 3×3 stride-2 window at 74 pads (0, 1).
    """
    k_eff = d * (k - 1) + 1
    if pad == "same":
        out = math.ceil(size / s)
        total = max((out - 1) * s + k_eff - size, 0)
        return out, total // 2, total - total // 2
    before = 0 if pad == "valid" else int(pad)
    out = (size + 2 * before - k_eff) // s + 1
    return out, before, before


def _windowed(op: str, shape: Shape, kernel, stride, pad, dilation) -> tuple[int, int, Pads]:
    _, h, w = _feature_map(op, shape)
    pads = (pad, pad) if isinstance(pad, str) else pad
    oh, top, bottom = window(h, kernel[0], stride[0], dilation[0], pads[0])
    ow, left, right = window(w, kernel[1], stride[1], dilation[1], pads[1])
    if oh <= 0 or ow <= 0:
        raise ShapeError(
            f"`{op}` with a {kernel[0]}x{kernel[1]} window shrinks {h}x{w} to {oh}x{ow}",
            "use a smaller kernel or stride, padding (`pad=same`), or a larger input")
    return oh, ow, (top, bottom, left, right)


def _groups_divide(op: str, cin: int, filters: int, groups: int, what: str) -> None:
    if cin % groups or filters % groups:
        bad = cin if cin % groups else filters
        side = "input channels" if cin % groups else "filters"
        raise ShapeError(f"`{op}` splits {bad} {side} into {groups} {what}, which does not "
                         "divide evenly",
                         f"choose a number of {what} that divides both {cin} and {filters}")


# ---- rules ---------------------------------------------------------------------------------------


def _conv_rule(a: ConvAttrs, ins: list[Shape], _g: bool, groups: int | None = None) -> Inferred:
    cin = _feature_map("conv", ins[0])[0]
    g = groups or a.groups
    _groups_divide("conv", cin, a.filters, g, "groups")
    oh, ow, pads = _windowed("conv", ins[0], a.kernel, a.stride, a.pad, a.dilation)
    kk = a.kernel[0] * a.kernel[1]
    weights = kk * (cin // g) * a.filters
    return Inferred((a.filters, oh, ow), weights + a.filters * a.bias, 0, weights * oh * ow,
                    pads, g)


def _gconv_rule(a: GroupConvAttrs, ins: list[Shape], g: bool) -> Inferred:
    cin = _feature_map("gconv", ins[0])[0]
    if a.group_width is not None:
        if cin % a.group_width:
            raise ShapeError(f"`gconv` groups of {a.group_width} channels do not divide {cin} "
                             "input channels", "choose a group width that divides "
                             f"{cin}")
        groups = cin // a.group_width
    else:
        groups = a.segments or 1
    conv = ConvAttrs(filters=a.filters, kernel=a.kernel, stride=a.stride, pad=a.pad,
                     dilation=a.dilation, bias=a.bias, groups=1)
    _groups_divide("gconv", cin, a.filters, groups, "segments")
    return _conv_rule(conv, ins, g, groups)


def spatial_groups(a: SepConvAttrs, channels: int) -> int:
    """Channel groups of a sepconv's spatial convolution over ``channels`` input channels."""
    if a.group_width is not None:
        if channels % a.group_width:
            raise ShapeError(f"`sepconv` groups of {a.group_width} channels do not divide its "
                             f"{channels} channels", "choose a group width that divides "
                             f"{channels} (Xception's widths share only the factor 8)")
        return channels // a.group_width
    groups = channels if a.segments is None else a.segments
    if channels % groups:
        raise ShapeError(f"`sepconv` splits {channels} channels into {groups} segments, which "
                         "does not divide evenly", f"choose a segment count that divides "
                         f"{channels} (Xception's widths share only the factor 8: 1, 2, 4, 8)")
    return groups


def _sepconv_rule(a: SepConvAttrs, ins: list[Shape], _g: bool) -> Inferred:
    cin = _feature_map("sepconv", ins[0])[0]
    oh, ow, pads = _windowed("sepconv", ins[0], a.kernel, a.stride, a.pad, a.dilation)
    kk = a.kernel[0] * a.kernel[1]
    if a.order == "spatial_first":
        mid = cin * a.mult
        groups = spatial_groups(a, cin)
        spatial = kk * (cin // groups) * mid
        pointwise = mid * a.filters
        macs = (spatial + pointwise) * oh * ow
    else:
        groups = spatial_groups(a, a.filters)
        pointwise = cin * a.filters
        spatial = kk * (a.filters // groups) * a.filters
        h, w = ins[0][1:]
        macs = pointwise * h * w + spatial * oh * ow
    return Inferred((a.filters, oh, ow), spatial + pointwise + a.filters * a.bias, 0, macs,
                    pads, groups)


def _dwconv_rule(a: DwConvAttrs, ins: list[Shape], _g: bool) -> Inferred:
    cin = _feature_map("dwconv", ins[0])[0]
    oh, ow, pads = _windowed("dwconv", ins[0], a.kernel, a.stride, a.pad, a.dilation)
    mid = cin * a.mult
    weights = a.kernel[0] * a.kernel[1] * mid
    return Inferred((mid, oh, ow), weights + mid * a.bias, 0, weights * oh * ow, pads, cin)


def _bn_rule(a: BatchNormAttrs, ins: list[Shape], _g: bool) -> Inferred:
    c = ins[0][0]
    return Inferred(ins[0], c * (a.scale + a.center), 2 * c)


def _same_shape(_a: Attrs, ins: list[Shape], _g: bool) -> Inferred:
    return Inferred(ins[0])


def _layernorm_rule(_a: LayerNormAttrs, ins: list[Shape], _g: bool) -> Inferred:
    """Over the channels at every position (ConvNeXt's), or over a vector's features: a scale
    and a shift per channel, no running statistics."""
    return Inferred(ins[0], 2 * ins[0][0])


def _groupnorm_rule(a: GroupNormAttrs, ins: list[Shape], _g: bool) -> Inferred:
    c = ins[0][0]
    if c % a.groups:
        divisors = [str(d) for d in range(1, c + 1) if c % d == 0]
        listed = f": {', '.join(divisors)}" if len(divisors) <= 12 else ""
        raise ShapeError(f"`groupnorm` splits {c} channels into {a.groups} groups, which does "
                         "not divide evenly", f"choose a number of groups that divides {c}{listed}")
    return Inferred(ins[0], 2 * c)


def _pool_rule(op: str) -> Rule:
    def rule(a: PoolAttrs, ins: list[Shape], is_global: bool) -> Inferred:
        c, _, _ = _feature_map(op, ins[0])
        if is_global:
            if a.kernel or a.stride or a.pad != "valid":
                raise ShapeError(f"`global {op}` pools the whole feature map and takes no "
                                 "size, stride or padding", f"write `global {op}` alone")
            return Inferred((c,))
        if a.kernel is None:
            raise ShapeError(f"`{op}` needs a window size", f"write e.g. `{op} 3x3 stride=2`, "
                             f"or `global {op}`")
        stride = a.stride or a.kernel
        if a.ceil_mode:
            return _ceil_pool(op, a, ins[0], stride)
        oh, ow, pads = _windowed(op, ins[0], a.kernel, stride, a.pad, (1, 1))
        return Inferred((c, oh, ow), pads=pads)

    return rule


def _ceil_pool(op: str, a: PoolAttrs, shape: Shape, stride: tuple[int, int]) -> Inferred:
    """torch's ``ceil_mode``: ``ceil((size + 2·pad - k) / s) + 1``, less one when the last
    window would start in the right padding."""
    c, h, w = _feature_map(op, shape)
    if a.pad == "same" or (a.pad != "valid" and any(  # type: ignore[operator]
            p > k // 2 for p, k in zip(a.pad, a.kernel))):  # type: ignore[arg-type]
        raise ShapeError(f"`{op}` with ceil_mode takes numeric padding of at most half its "
                         "window, as torch does", "write pad=valid or e.g. pad=1 for 3x3")
    pad = (0, 0) if a.pad == "valid" else a.pad
    out = []
    for size, k, s, p in zip((h, w), a.kernel, stride, pad):  # type: ignore[arg-type]
        n = -(-(size + 2 * p - k) // s) + 1
        if (n - 1) * s >= size + p:
            n -= 1
        if n <= 0:
            raise ShapeError(f"`{op}` with a {k}x{k} window shrinks {h}x{w} to nothing",
                             "use a smaller window or a larger input")
        out.append(n)
    return Inferred((c, *out), pads=(pad[0], pad[0], pad[1], pad[1]))


def _linear_rule(a: LinearAttrs, ins: list[Shape], _g: bool) -> Inferred:
    if len(ins[0]) != 1:
        raise ShapeError(f"`linear` needs a vector, got a feature map of {fmt_shape(ins[0])}",
                         "add `global avgpool` or `flatten` before it, or write "
                         f"`pwlinear {a.units}` for one on the channels at every position")
    n = ins[0][0]
    return Inferred((a.units,), n * a.units + a.units * a.bias, 0, n * a.units)


# ---- layers that enlarge maps, and per-position layers (ConvNeXt) ----------------------------


def _pwlinear_rule(a: LinearAttrs, ins: list[Shape], _g: bool) -> Inferred:
    """``nn.Linear`` over the channels at every position: a 1×1 convolution's arithmetic with
    a linear layer's (out, in) weights."""
    if len(ins[0]) != 3:
        raise ShapeError(f"`pwlinear` applies a linear layer at every position of a feature "
                         f"map, got a vector of {ins[0][0]}", f"write `linear {a.units}` for "
                         "a vector")
    c, h, w = ins[0]
    return Inferred((a.units, h, w), c * a.units + a.units * a.bias, 0, c * a.units * h * w)


def _layerscale_rule(_a: LayerScaleAttrs, ins: list[Shape], _g: bool) -> Inferred:
    """One multiplier per channel (per feature of a vector); an element-wise product counts
    no MACs, as a batch norm's scale does not."""
    return Inferred(ins[0], ins[0][0])


def _upsample_rule(a: UpsampleAttrs, ins: list[Shape], _g: bool) -> Inferred:
    c, h, w = _feature_map("upsample", ins[0])
    if a.size is None:
        return Inferred((c, h * a.scale[0], w * a.scale[1]))  # type: ignore[index]
    if a.size[0] < h or a.size[1] < w:
        raise ShapeError(f"`upsample` to {a.size[0]}x{a.size[1]} would shrink {h}x{w}",
                         "upsampling enlarges maps; use `adaptive_avgpool "
                         f"{a.size[0]}x{a.size[1]}` or pooling to shrink one")
    return Inferred((c, *a.size))


def _deconv_rule(a: DeconvAttrs, ins: list[Shape], _g: bool) -> Inferred:
    """Output ``(in - 1)·stride - 2·pad + dilation·(k - 1) + output_padding + 1`` per axis;
    each input pixel meets ``k·k·filters/groups`` weights of its group, hence the MACs."""
    cin, h, w = _feature_map("deconv", ins[0])
    if a.pad == "same":
        raise ShapeError("`deconv` takes its padding as numbers (torch's: rows and columns "
                         "removed from each side of the output), not `same`",
                         "for twice the size write e.g. `deconv 64 2x2 stride=2`, or "
                         "`deconv 64 4x4 stride=2 pad=1`")
    pad: tuple[int, int] = (0, 0) if a.pad == "valid" else a.pad  # type: ignore[assignment]
    for axis, name in enumerate(("height", "width")):
        op_, s, d = a.output_padding[axis], a.stride[axis], a.dilation[axis]
        if op_ >= s and op_ >= d:
            raise ShapeError(f"`deconv` output_padding {op_} along the {name} is not smaller "
                             f"than its stride {s}", "output_padding picks one of the "
                             f"{s} output sizes a stride of {s} leaves open: use 0 to "
                             f"{s - 1}" if s > 1 else "with stride 1 the output size is fixed: "
                             "remove output_padding")
    _groups_divide("deconv", cin, a.filters, a.groups, "groups")
    oh, ow = ((n - 1) * a.stride[i] - 2 * pad[i] + a.dilation[i] * (a.kernel[i] - 1)
              + a.output_padding[i] + 1 for i, n in enumerate((h, w)))
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"`deconv` with padding {pad[0]}x{pad[1]} shrinks {h}x{w} to "
                         f"{oh}x{ow}", "use less padding")
    weights = cin * (a.filters // a.groups) * a.kernel[0] * a.kernel[1]
    return Inferred((a.filters, oh, ow), weights + a.filters * a.bias, 0, weights * h * w,
                    groups=a.groups)


def _pixelshuffle_rule(a: PixelShuffleAttrs, ins: list[Shape], _g: bool) -> Inferred:
    c, h, w = _feature_map("pixelshuffle", ins[0])
    r2 = a.factor ** 2
    if c % r2:
        near = " or ".join(str(m * r2) for m in (c // r2, c // r2 + 1) if m)
        raise ShapeError(f"`pixelshuffle {a.factor}` turns each {r2} channels into a "
                         f"{a.factor}x{a.factor} patch, and {c} channels are not a multiple "
                         f"of {r2}", f"give it a multiple of {r2} channels ({near}) from the "
                         "layer before")
    return Inferred((c // r2, h * a.factor, w * a.factor))


def _adaptive_pool_rule(a: AdaptivePoolAttrs, ins: list[Shape], _g: bool) -> Inferred:
    """Average pooling to a fixed size at any input size (torchvision's ``avgpool`` to 7×7);
    a size above the input's would repeat pixels, so it is refused unless ``enlarge=true``."""
    c, h, w = _feature_map("adaptive_avgpool", ins[0])
    if (a.size[0] > h or a.size[1] > w) and not a.enlarge:
        raise ShapeError(f"`adaptive_avgpool` to {a.size[0]}x{a.size[1]} would enlarge "
                         f"{h}x{w}", f"pool to at most {h}x{w}, enlarge the map with `upsample`, "
                         "or write `enlarge=true` to repeat pixels as torch does")
    return Inferred((c, *a.size))


def _drop_path_rule(_a: DropPathAttrs, ins: list[Shape], _g: bool) -> Inferred:
    return Inferred(ins[0])


def _shuffle_rule(a: ShuffleAttrs, ins: list[Shape], _g: bool) -> Inferred:
    c = _feature_map("shuffle", ins[0])[0]
    if c % a.groups:
        raise ShapeError(f"`shuffle {a.groups}` deals {c} channels into {a.groups} groups, "
                         "which does not divide evenly",
                         f"choose a number of groups that divides {c}")
    return Inferred(ins[0])


def split_sizes(a: SplitAttrs, shape: Shape) -> tuple[int, ...]:
    """The channels of each part of a ``split`` of a ``shape`` map."""
    c = _feature_map("split", shape)[0]
    if isinstance(a.parts, int):
        if c % a.parts:
            raise ShapeError(f"`split {a.parts}` cuts {c} channels into {a.parts} equal parts, "
                             "which does not divide evenly",
                             f"choose a number of parts that divides {c}, or give the "
                             f"channels of each part: `split({_near_equal(c, a.parts)})`")
        return (c // a.parts,) * a.parts
    if sum(a.parts) != c:
        raise ShapeError(f"`split({', '.join(map(str, a.parts))})` takes {sum(a.parts)} "
                         f"channels, but its input has {c}",
                         f"give parts that add up to {c}")
    return a.parts


def _near_equal(c: int, n: int) -> str:
    """``c`` channels in ``n`` parts as equal as can be, the larger first: ``44, 44, 43, 43``."""
    return ", ".join(str(c // n + (i < c % n)) for i in range(n))


def _split_rule(a: SplitAttrs, ins: list[Shape], _g: bool) -> Inferred:
    """The first part's shape (the graph builds one node per part)."""
    return Inferred((split_sizes(a, ins[0])[0], *ins[0][1:]))


def _flatten_rule(_a: Attrs, ins: list[Shape], _g: bool) -> Inferred:
    return Inferred((math.prod(ins[0]),))


def fmt_shape(shape: Shape) -> str:
    return " x ".join(map(str, shape))


def broadcast(shapes: list[Shape]) -> Shape | None:
    """NumPy's broadcast of tensors of one rank (each dimension equal, or 1 in all but one):
    a C x 1 x 1 gate scales every position, a 1 x H x W one every channel; None if they
    do not broadcast."""
    out = shapes[0]
    for other in shapes[1:]:
        if len(other) != len(out) or any(a != b and 1 not in (a, b) for a, b in zip(out, other)):
            return None
        out = tuple(max(a, b) for a, b in zip(out, other))
    return out


def _broadcast_rule(op: str) -> Rule:
    """An element-wise sum or product, broadcasting; it counts no MACs (as fvcore counts
    none for element-wise ops, and as a batch norm's scale counts none)."""

    def rule(_a: Attrs, ins: list[Shape], _g: bool) -> Inferred:
        shape = broadcast(ins)
        if shape is None:
            bad = next(s for k, s in enumerate(ins) if broadcast(ins[: k + 1]) is None)
            raise ShapeError(f"`{op}` joins {fmt_shape(ins[0])} with {fmt_shape(bad)}",
                             "each dimension must be equal, or 1 in one of them (a gate of "
                             "C x 1 x 1 or 1 x H x W)",
                             tuple(f"input {i + 1} is {fmt_shape(s)}" for i, s in enumerate(ins)))
        return Inferred(shape)

    return rule


def _concat_rule(_a: Attrs, ins: list[Shape], _g: bool) -> Inferred:
    ranks = {len(s) for s in ins}
    rest = {s[1:] for s in ins}
    if len(ranks) > 1 or len(rest) > 1:
        raise ShapeError("`concat` joins tensors of different sizes: "
                         + ", ".join(fmt_shape(s) for s in ins),
                         "concatenation stacks channels; height and width must agree",
                         tuple(f"input {i + 1} is {fmt_shape(s)}" for i, s in enumerate(ins)))
    return Inferred((sum(s[0] for s in ins), *ins[0][1:]))


_WINDOW = "stride, pad (a number, `same` or `valid`), dilation"

OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in [
        OpSpec("conv", ConvAttrs, _conv_rule, ("filters", "kernel"), "Conv",
               summary=f"conv FILTERS KxK [{_WINDOW}, groups, bias]"),
        OpSpec("gconv", GroupConvAttrs, _gconv_rule, ("filters", "kernel"), "GroupConv",
               summary="gconv FILTERS KxK segments=S | group_width=W"),
        OpSpec("sepconv", SepConvAttrs, _sepconv_rule, ("filters", "kernel"), "SeparableConv",
               summary=f"sepconv FILTERS KxK [mult, segments | group_width, order, mid_act, "
                       f"{_WINDOW}, bias]"),
        OpSpec("dwconv", DwConvAttrs, _dwconv_rule, ("kernel",), "DepthwiseConv",
               summary=f"dwconv KxK [mult, {_WINDOW}, bias]"),
        OpSpec("bn", BatchNormAttrs, _bn_rule, (), "BatchNorm",
               summary="bn [eps, momentum, scale, center]"),
        OpSpec("relu", NoAttrs, _same_shape, (), "ReLU"),
        OpSpec("elu", EluAttrs, _same_shape, (), "ELU"),
        OpSpec("gelu", GeluAttrs, _same_shape, (), "GELU",
               summary="gelu [approximate=none|tanh]"),
        OpSpec("relu6", NoAttrs, _same_shape, (), "ReLU6"),
        OpSpec("leaky_relu", LeakyReluAttrs, _same_shape, (), "LeakyReLU",
               summary="leaky_relu [slope=0.01, at least 0]"),
        OpSpec("silu", NoAttrs, _same_shape, (), "SiLU"),
        OpSpec("swish", NoAttrs, _same_shape, (), "Swish"),  # the same function as silu
        OpSpec("hardswish", NoAttrs, _same_shape, (), "h-swish"),  # MobileNetV3's words
        OpSpec("hardsigmoid", NoAttrs, _same_shape, (), "h-sigmoid"),
        OpSpec("mish", NoAttrs, _same_shape, (), "Mish"),
        OpSpec("sigmoid", NoAttrs, _same_shape, (), "Sigmoid"),
        OpSpec("tanh", NoAttrs, _same_shape, (), "Tanh"),
        OpSpec("identity", NoAttrs, _same_shape, (), "Identity"),
        OpSpec("act", ActAttrs, _same_shape, ("kind",), "Activation",
               summary=f"act {'|'.join(get_args(Activation))} [alpha, slope, approximate]"),
        OpSpec("layernorm", LayerNormAttrs, _layernorm_rule, (), "LayerNorm",
               summary="layernorm [eps]"),
        OpSpec("groupnorm", GroupNormAttrs, _groupnorm_rule, ("groups",), "GroupNorm",
               summary="groupnorm GROUPS [eps]"),
        OpSpec("maxpool", PoolAttrs, _pool_rule("maxpool"), ("kernel",), "MaxPooling",
               pool=True, summary="maxpool KxK [stride, pad, ceil_mode]  or  global maxpool"),
        OpSpec("avgpool", PoolAttrs, _pool_rule("avgpool"), ("kernel",), "AveragePooling",
               pool=True,
               summary="avgpool KxK [stride, pad, include_pad, ceil_mode]  or  global avgpool"),
        OpSpec("dropout", DropoutAttrs, _same_shape, ("p",), "Dropout", summary="dropout P"),
        OpSpec("linear", LinearAttrs, _linear_rule, ("units",), "Linear",
               summary="linear UNITS [bias]"),
        OpSpec("pwlinear", LinearAttrs, _pwlinear_rule, ("units",), "Linear",
               summary="pwlinear UNITS [bias]: a linear layer on the channels at every position"),
        OpSpec("layerscale", LayerScaleAttrs, _layerscale_rule, ("init",), "LayerScale",
               summary="layerscale [init=1e-6]"),
        OpSpec("upsample", UpsampleAttrs, _upsample_rule, ("scale",), "UpSampling",
               summary="upsample FACTOR | size=HxW [mode=nearest|bilinear, align_corners]"),
        OpSpec("deconv", DeconvAttrs, _deconv_rule, ("filters", "kernel"), "TransposedConv",
               summary="deconv FILTERS KxK [stride, pad (numbers), output_padding, dilation, "
                       "groups, bias]"),
        OpSpec("pixelshuffle", PixelShuffleAttrs, _pixelshuffle_rule, ("factor",),
               "PixelShuffle", summary="pixelshuffle FACTOR"),
        OpSpec("adaptive_avgpool", AdaptivePoolAttrs, _adaptive_pool_rule, ("size",),
               "AveragePooling", summary="adaptive_avgpool HxW [enlarge]"),
        OpSpec("drop_path", DropPathAttrs, _drop_path_rule, ("p",), "StochasticDepth",
               summary="drop_path P: drops a sample's tensor with probability P, 0 <= P < 1"),
        OpSpec("shuffle", ShuffleAttrs, _shuffle_rule, ("groups",), "Channel Shuffle",
               summary="shuffle GROUPS"),
        OpSpec("split", SplitAttrs, _split_rule, ("parts",), "Channel Split", variadic=True,
               summary="split PARTS as a, b, ...  or  split(C1, C2, ...) as a, b, ..."),
        OpSpec("flatten", NoAttrs, _flatten_rule, (), "Flatten"),
        OpSpec("add", NoAttrs, _broadcast_rule("add"), (), "Add", merges=True,
               summary="add(name, ...): sum of the current tensor and the named ones"),
        OpSpec("mul", NoAttrs, _broadcast_rule("mul"), (), "Multiply", merges=True,
               summary="mul(name, ...): product of the current tensor and the named ones"),
        OpSpec("concat", NoAttrs, _concat_rule, (), "Concat", merges=True,
               summary="concat(name, ...): channels of the current tensor and the named ones"),
    ]
}

# Other frameworks' names for xdsl's ops, offered as "did you mean": compared without case,
# underscores and a trailing "2d" (ConvTranspose2d, conv2d_transpose, AdaptiveAvgPool2d).
SYNONYMS = {"convtranspose": "deconv", "conv2dtranspose": "deconv", "transposedconv": "deconv",
            "deconvolution": "deconv", "upconv": "deconv", "interpolate": "upsample",
            "resize": "upsample", "adaptiveavgpool": "adaptive_avgpool",
            "pointwiselinear": "pwlinear"}


def synonym_hint(word: str) -> str:
    """``did you mean `deconv`?`` for ``convtranspose``; empty when ``word`` is no synonym."""
    key = word.lower().replace("_", "").removesuffix("2d")
    return f"did you mean `{SYNONYMS[key]}`?" if key in SYNONYMS else ""


def option_names(op: str) -> list[str]:
    return list(OPS[op].attrs.model_fields)


def option_words(op: str, option: str) -> list[str]:
    """The words (``same``, ``valid`` …) an option accepts, read from its type."""
    field = OPS[op].attrs.model_fields.get(option)
    words: list[str] = []

    def collect(tp: Any) -> None:
        if get_origin(tp) is Literal:
            words.extend(a for a in get_args(tp) if isinstance(a, str))
        for arg in get_args(tp):
            collect(arg)

    if field is not None:
        collect(field.annotation)
        if field.annotation is bool:
            words += ["true", "false"]
    return words


# Words a spec may use as values without declaring them: every option's words (``same``,
# ``pointwise_first``, activation kinds …), the booleans and ``none``.
SYMBOLS = frozenset({"true", "false", "none"}
                    | {w for op in OPS for f in option_names(op) for w in option_words(op, f)})
