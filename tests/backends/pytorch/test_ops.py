"""Lowered ops against brute-force definitions: TF "same" pooling, the spectrum layer."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from xdsl.backends.pytorch.runtime import PointwiseConv2d, SeparableConv2d

import xdsl


def one_op(op: str, size: int = 6, channels: int = 2) -> torch.nn.Module:
    spec = (f"network one():\n    input image: {channels} x {size} x {size}\n"
            f"    flow f:\n        {op}\n")
    return xdsl.compile(spec).eval()


def brute_pool(x: torch.Tensor, k: int, s: int, before: int, reduce: str) -> torch.Tensor:
    """Pooling by definition: windows start at ``i * s - before``; outside pixels count as
    padding (ignored by max and by ``mean_valid``, zeros for ``mean_all``)."""
    n, c, h, w = x.shape
    out_h = -(-h // s)  # TensorFlow "same": ceil(size / stride)
    out = torch.empty(n, c, out_h, out_h)
    for i, j in itertools.product(range(out_h), repeat=2):
        rows = [r for r in range(i * s - before, i * s - before + k) if 0 <= r < h]
        cols = [q for q in range(j * s - before, j * s - before + k) if 0 <= q < w]
        window = x[:, :, rows][:, :, :, cols]
        if reduce == "max":
            out[:, :, i, j] = window.amax(dim=(2, 3))
        elif reduce == "mean_valid":
            out[:, :, i, j] = window.mean(dim=(2, 3))
        else:
            out[:, :, i, j] = window.sum(dim=(2, 3)) / (k * k)
    return out


@pytest.mark.parametrize("size, before", [(6, 0), (7, 1)])  # 6: pads (0, 1); 7: (1, 1)
@pytest.mark.parametrize("op, reduce", [
    ("maxpool 3x3 stride=2 pad=same", "max"),
    ("avgpool 3x3 stride=2 pad=same include_pad=false", "mean_valid"),
    ("avgpool 3x3 stride=2 pad=same", "mean_all"),
])
def test_same_pooling_matches_its_definition(op: str, reduce: str, size: int,
                                             before: int) -> None:
    x = torch.randn(2, 2, size, size) - 3  # negative: a zero pad would win a max
    with torch.no_grad():
        got = one_op(op, size)(x)
    assert torch.allclose(got, brute_pool(x, 3, 2, before, reduce), atol=1e-6)


def test_same_conv_pads_after_like_tensorflow() -> None:
    model = one_op("conv 3 3x3 stride=2 pad=same bias=false", size=6)
    x = torch.randn(1, 2, 6, 6)
    want = F.conv2d(F.pad(x, (0, 1, 0, 1)), model.f.conv1.weight, stride=2)
    with torch.no_grad():
        assert torch.allclose(model(x), want, atol=1e-6)


def test_global_pools() -> None:
    x = torch.randn(2, 2, 5, 5)
    with torch.no_grad():
        assert torch.allclose(one_op("global maxpool", 5)(x), x.amax(dim=(2, 3)))
        assert torch.allclose(one_op("global avgpool", 5)(x), x.mean(dim=(2, 3)), atol=1e-6)


@torch.no_grad()
def test_separable_spatial_first_with_groups_and_activation() -> None:
    layer = SeparableConv2d(4, 6, 3, padding=(0, 1, 0, 1), stride=2, groups=2, mid_act="elu")
    x = torch.randn(2, 4, 6, 6)
    mid = F.elu(F.conv2d(F.pad(x, (0, 1, 0, 1)), layer.spatial.weight, stride=2, groups=2))
    want = F.conv2d(mid, layer.pointwise.weight, layer.pointwise.bias)
    assert torch.allclose(layer(x), want, atol=1e-6)
    assert [n for n, _ in layer.named_parameters()] == [
        "spatial.weight", "pointwise.weight", "pointwise.bias"]


@torch.no_grad()
def test_separable_pointwise_first_pads_after_the_activation() -> None:
    layer = SeparableConv2d(4, 6, 3, padding=(0, 1, 0, 1), stride=2, pointwise_first=True,
                            mid_act="sigmoid")
    x = torch.randn(2, 4, 6, 6)
    mid = torch.sigmoid(F.conv2d(x, layer.pointwise.weight))  # padding must stay 0, not 0.5
    want = F.conv2d(F.pad(mid, (0, 1, 0, 1)), layer.depthwise.weight, layer.depthwise.bias,
                    stride=2, groups=6)
    assert torch.allclose(layer(x), want, atol=1e-6)
    assert [n for n, _ in layer.named_parameters()] == [
        "pointwise.weight", "depthwise.weight", "depthwise.bias"]


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_pointwise_conv_as_matrix_product_equals_conv(layout: torch.memory_format) -> None:
    layer = PointwiseConv2d(6, 4, 1)
    x = torch.randn(2, 6, 5, 5).contiguous(memory_format=layout).requires_grad_()
    y = layer(x)
    want = F.conv2d(x, layer.weight, layer.bias)
    assert torch.allclose(y, want, atol=1e-6)
    assert y.is_contiguous(memory_format=layout)
    (grad_x,) = torch.autograd.grad(y.square().sum(), x)
    (want_x,) = torch.autograd.grad(want.square().sum(), x)
    assert torch.allclose(grad_x, want_x, atol=1e-5)


@pytest.mark.parametrize("size", [7, 8, 13, 14, 29])
@pytest.mark.parametrize(("op", "torch_pool", "pad"), [
    ("maxpool 3x3 stride=2 ceil_mode=true", nn.MaxPool2d(3, 2, ceil_mode=True), 0),
    ("maxpool 3x3 stride=2 pad=1 ceil_mode=true", nn.MaxPool2d(3, 2, 1, ceil_mode=True), 1),
    ("avgpool 3x3 stride=2 pad=1 ceil_mode=true", nn.AvgPool2d(3, 2, 1, ceil_mode=True), 1),
    ("maxpool 2x2 stride=2 ceil_mode=true", nn.MaxPool2d(2, 2, ceil_mode=True), 0),
])
def test_ceil_mode_pooling_equals_torch(op: str, torch_pool: nn.Module, pad: int,
                                        size: int) -> None:
    model = xdsl.compile(f"network p:\n    input x: 4 x {size} x {size}\n    {op}\n")
    x = torch.randn(2, 4, size, size, generator=torch.Generator().manual_seed(size))
    want = torch_pool(x)
    assert model.graph.nodes[model.plan.output]["node"].shape == tuple(want.shape[1:])
    assert torch.equal(model(x), want)
    floor = xdsl.compile(f"network p:\n    input x: 4 x {size} x {size}\n    "
                         f"{op.replace(' ceil_mode=true', '')}\n")
    if (size + 2 * pad - int(op.split()[1][0])) % 2:  # a size where the two modes differ
        assert floor(x).shape != want.shape
