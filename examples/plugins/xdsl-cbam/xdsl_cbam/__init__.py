"""CBAM (Woo et al., 2018) for xdsl: after `use cbam`, `cbam` is an op (never imports torch)."""

from typing import Annotated

from pydantic import Field

from xdsl.ops import Attrs, Inferred, OpSpec, ShapeError


class CBAMOptions(Attrs):
    reduction: Annotated[int, Field(ge=1)] = 16
    kernel: Annotated[int, Field(ge=1)] = 7


def rule(a: CBAMOptions, inputs: list[tuple[int, ...]], _global: bool) -> Inferred:
    if len(inputs[0]) != 3:
        raise ShapeError(f"`cbam` needs a feature map, got a vector of {inputs[0][0]}",
                         "move it before `global avgpool` or `flatten`")
    c, h, w = inputs[0]
    hidden = c // a.reduction
    if hidden == 0 or a.kernel % 2 == 0:
        raise ShapeError(f"`cbam` over {c} channels needs reduction <= {c} and an odd kernel",
                         f"reduction is {a.reduction}, kernel {a.kernel}")
    mlp = 2 * c * hidden + hidden + c  # channel gate: C -> C/r -> C, with biases
    conv = 2 * a.kernel**2  # spatial gate: k x k over [mean; max] of the channels, then BN(1)
    # MACs: the MLP on the average- and the max-pooled vector, the convolution at each position
    return Inferred((c, h, w), params=mlp + conv + 2, state=2,
                    macs=2 * 2 * c * hidden + conv * h * w)


OPS = [OpSpec("cbam", CBAMOptions, rule, positional=("reduction",),
              label=lambda node: f"CBAM, reduction {node.attrs.reduction}",
              summary="cbam [reduction=16, kernel=7]", torch="xdsl_cbam.modules:CBAM")]
