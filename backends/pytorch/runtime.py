"""What compiled networks need beyond torch itself: a few layers, a pooling helper, the init.

This module imports nothing but torch, because ``--export-py`` copies the definitions a network
uses verbatim into the standalone file: compiled and exported modules run the same code.
Keep every definition self-contained (no module-level helpers, no xdsl imports).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PointwiseConv2d(nn.Conv2d):
    """A 1×1 convolution computed as a matrix product when its input is channels_last on a CPU.

    There ``F.linear`` over the channel axis beats PyTorch's convolution kernels, most in the
    backward pass (measured: 12 % of Xception's training step). Other inputs, and everything
    else about the layer (weights, hooks, state_dict), are nn.Conv2d's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.is_contiguous(memory_format=torch.channels_last):
            y = F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias)
            return y.permute(0, 3, 1, 2)
        return super().forward(x)


class SeparableConv2d(nn.Module):
    """A k×k spatial convolution in channel groups and a 1×1 pointwise one (the spectrum layer).

    The default is Xception's depthwise separable convolution: depthwise k×k (``mult`` filters
    per input channel), then pointwise, nothing in between. ``groups`` gives the spatial
    convolution fewer, larger groups (1 = a full convolution); ``pointwise_first`` swaps the
    order (the paper's "extreme Inception"); ``mid_act`` is the activation between the two. The
    spatial child is called ``depthwise`` when it is depthwise, ``spatial`` otherwise. Only the
    second convolution has a bias, as in Keras' SeparableConv2D: a bias on the first would fold
    into the second. ``padding`` may be (left, right, top, bottom) for TensorFlow's asymmetric
    "same" padding, applied right before the spatial convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, int] = 1,
        mult: int = 1,
        groups: int | None = None,
        pointwise_first: bool = False,
        mid_act: str = "none",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.pad = padding if isinstance(padding, tuple) and len(padding) == 4 else None
        conv_padding = 0 if self.pad else padding
        self.pointwise_first = pointwise_first
        if pointwise_first:
            self.pointwise = PointwiseConv2d(in_channels, out_channels, 1, bias=False)
            channels, spatial_out, spatial_bias = out_channels, out_channels, bias
        else:
            channels, spatial_out, spatial_bias = in_channels, in_channels * mult, False
        groups = channels if groups is None else groups
        spatial = nn.Conv2d(
            channels,
            spatial_out,
            kernel_size,
            stride,
            conv_padding,
            dilation,
            groups=groups,
            bias=spatial_bias,
        )
        self.spatial_name = "depthwise" if groups == channels else "spatial"
        self.add_module(self.spatial_name, spatial)
        if not pointwise_first:
            self.pointwise = PointwiseConv2d(in_channels * mult, out_channels, 1, bias=bias)
        activations = {
            "relu": nn.ReLU,
            "elu": nn.ELU,
            "gelu": nn.GELU,
            "sigmoid": nn.Sigmoid,
            "tanh": nn.Tanh,
            "relu6": nn.ReLU6,
            "silu": nn.SiLU,
            "swish": nn.SiLU,
            "hardswish": nn.Hardswish,
            "hardsigmoid": nn.Hardsigmoid,
            "leaky_relu": nn.LeakyReLU,
            "mish": nn.Mish,
        }
        self.mid_act = activations[mid_act]() if mid_act != "none" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = getattr(self, self.spatial_name)
        if self.pointwise_first:
            x = self.pointwise(x)
            x = self.mid_act(x) if self.mid_act is not None else x
            return spatial(F.pad(x, self.pad) if self.pad else x)
        x = spatial(F.pad(x, self.pad) if self.pad else x)
        x = self.mid_act(x) if self.mid_act is not None else x
        return self.pointwise(x)


def partial_affine(bn: nn.Module, scale: bool = True, center: bool = True) -> nn.Module:
    """Drop a batch norm's learned scale or shift (Keras ``scale=False`` / ``center=False``).

    PyTorch's ``affine`` switches both together; ``F.batch_norm`` accepts ``None`` for either.
    """
    if not scale:
        bn.register_parameter("weight", None)
    if not center:
        bn.register_parameter("bias", None)
    return bn


def avg_pool2d_exclude_pad(
    x: torch.Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
) -> torch.Tensor:
    """Average pooling with asymmetric zero padding whose divisor counts only real pixels.

    This is TensorFlow's ``padding="same"`` average pool; ``F.avg_pool2d`` pads symmetrically
    only. ``pad`` is (left, right, top, bottom), as for ``F.pad``.
    """
    total = F.avg_pool2d(F.pad(x, pad), kernel_size, stride)
    count = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), pad), kernel_size, stride)
    return total / count


class LayerScale(nn.Module):
    """A learned multiplier per channel (CaiT, ConvNeXt), ``gamma`` starting at ``init``.

    On a feature map it scales each channel at every position, whatever the memory layout; on a
    vector, each feature.
    """

    def __init__(self, channels: int, init: float = 1e-6) -> None:
        super().__init__()
        self.init = init
        self.gamma = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.gamma, self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.gamma[:, None, None] if x.dim() == 4 else self.gamma)

    def extra_repr(self) -> str:
        return f"{self.gamma.numel()}, init={self.init}"


class StochasticDepth(nn.Module):
    """Stochastic depth (drop-path) in row mode, as torchvision's ``StochasticDepth(p, "row")``:
    in training, each sample's whole tensor is zeroed with probability ``p`` and the others are
    scaled by 1 / (1 - p); in eval, the identity. The mask is drawn as torchvision draws it, so
    the same generator state drops the same samples."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * mask.bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@torch.no_grad()
def init_weights(model: nn.Module, seed: int = 0) -> None:
    """xdsl's default initialisation, reproducible from ``seed``.

    Convolutions: kaiming normal (fan_out, ReLU) as in torchvision's ResNets, zero bias; the
    same for transposed convolutions, whose fan-out is their weight's second dimension. Batch
    norm: weight 1, bias 0, fresh running statistics. Linear: normal(0, 0.01), zero bias, so the
    first logits are near zero and the first loss is near log(classes). One generator walks the
    modules in definition order: the same seed gives the same weights wherever the network is
    built (compiled by xdsl, or an exported file).
    """
    generator = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(
                m.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.ConvTranspose2d):
            # its weight is (in, out / groups, k, k): torch's "fan_in" of it is the fan-out
            nn.init.kaiming_normal_(
                m.weight, mode="fan_in", nonlinearity="relu", generator=generator
            )
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.reset_running_stats()
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif any(True for _ in m.parameters(recurse=False)) and hasattr(m, "reset_parameters"):
            m.reset_parameters()
