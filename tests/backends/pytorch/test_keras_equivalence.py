"""Compiled specs == Keras 3's ``Xception`` and ``InceptionV3`` with Keras' weights.

Keras runs on its torch backend, used through its public API (``keras.applications``,
``get_config``, ``get_weights``) but for one private table, below. The weights go from Keras
into the compiled module, layer by layer in the order of the graph: a walk from the output
that finishes each input before the next, which is the order the spec writes concat branches
and residual paths in (``model.layers`` sorts by depth and interleaves parallel branches).
Each pair is checked for kind and shape.

The comparison is the honest one of shared/reference.md: Keras' BN statistics calibrated on a
random image, outputs compared relative to how far they move between two inputs, in float64,
and the wrong flavour (torchvision's Inception V3, timm's symmetric max-pool padding for
Xception) must fail it. Keras promotes float64 to float32 in BatchNormalization, average
pooling and Dense (its type rules imitate JAX without x64, through the private table
``BIT64_TO_BIT32_DTYPE``); the ``float64`` fixture undoes that while these tests run, so both
sides compute in float64 throughout (measured: 1e-14 of the spread for Xception, 2e-13 for
Inception V3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"  # read once, when keras is first imported

import keras  # noqa: E402
import keras.src.backend.common.dtypes as keras_dtypes  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import xdsl  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
XCEPTION_IMAGE = 150  # pads asymmetrically at 3 of 4 max-pools (299: 1)
TOLERANCE = 1e-9  # of the spread; float64 agreement is about 1e-14
WRONG = 0.1  # a wrong model misses by more (measured 0.4 to 1.1 of the spread)
pytestmark = pytest.mark.slow

KINDS = {"Conv2D": "conv", "SeparableConv2D": "sepconv", "BatchNormalization": "bn",
         "Dense": "linear"}
TORCH_NAMES = {"kernel": "weight", "bias": "bias", "depthwise_kernel": "depthwise.weight",
               "pointwise_kernel": "pointwise.weight", "gamma": "weight", "beta": "bias",
               "moving_mean": "running_mean", "moving_variance": "running_var"}
INCEPTION_PINNED = {  # Keras names unnamed layers by creation order, i.e. source order
    "conv2d": "stem.conv1",
    "conv2d_11": "grid35.inception_a1.branch4.conv1",  # mixed0's pooling branch
    "batch_normalization_44": "grid17.inception_b2.branch3.bn1",  # mixed5, 7x7dbl
    "conv2d_93": "grid8.inception_c2.branch4.conv1",
    "predictions": "classifier.linear1",
}
XCEPTION_PINNED = {
    "block1_conv1": "entry.conv1",
    "block2_sepconv2_bn": "entry.down1.bn2",
    "conv2d": "entry.down1.shortcut.conv1",  # block 2's residual projection
    "block13_sepconv2": "exit.down1.sepconv2",
    "batch_normalization_3": "exit.down1.shortcut.bn1",
    "predictions": "exit.linear1",
}
STATE_SUFFIXES = (".weight", ".bias", ".running_mean", ".running_var", ".num_batches_tracked")


@pytest.fixture(scope="module", autouse=True)
def float64() -> Iterator[None]:
    """Keras' floatx float64, with its float64 → float32 promotion undone while it is set."""
    assert keras.backend.backend() == "torch"
    table = keras_dtypes.BIT64_TO_BIT32_DTYPE
    saved = (keras.config.floatx(), table["float64"])
    keras.config.set_floatx("float64")
    table["float64"] = "float64"
    yield
    keras.config.set_floatx(saved[0])
    table["float64"] = saved[1]


def _sources(value: Any) -> Iterator[str]:
    """Names of the layers whose outputs an ``inbound_nodes`` entry reads, in argument order."""
    if isinstance(value, dict):
        config = value.get("config")
        if isinstance(config, dict) and "keras_history" in config:
            yield config["keras_history"][0]
            return
        for item in value.values():
            yield from _sources(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _sources(item)


def keras_layers_in_graph_order(model: keras.Model) -> list[keras.Layer]:
    """Layers with weights, each input's whole path finished before the next input's."""
    inbound = {layer["name"]: layer["inbound_nodes"] for layer in model.get_config()["layers"]}
    order: list[str] = []

    def visit(name: str) -> None:
        if name not in order:
            for source in _sources(inbound[name]):
                visit(source)
            order.append(name)

    visit(model.layers[-1].name)
    return [layer for name in order if (layer := model.get_layer(name)).weights]


def our_layers(model: nn.Module) -> list[str]:
    """The compiled module's weighted layers (``entry.down1.sepconv1``), in state_dict order."""
    layers: list[str] = []
    for key in model.state_dict():
        layer = key[:-len(next(s for s in STATE_SUFFIXES if key.endswith(s)))]
        layer = layer.removesuffix(".depthwise").removesuffix(".pointwise")
        if layer not in layers:
            layers.append(layer)
    return layers


def to_torch(name: str, value: torch.Tensor) -> torch.Tensor:
    """Keras layout → PyTorch layout: NHWC kernels (kh, kw, in, out), depthwise (kh, kw, in, 1)."""
    if name == "depthwise_kernel":
        return value.permute(2, 3, 0, 1)
    if value.dim() == 4:
        return value.permute(3, 2, 0, 1)
    return value.T if value.dim() == 2 else value


def transplant(ours: nn.Module, reference: keras.Model) -> None:
    """Keras' weights into ``ours``; a BN scale Keras leaves out (``scale=False``) is one."""
    theirs, mine = keras_layers_in_graph_order(reference), our_layers(ours)
    assert len(theirs) == len(mine), (len(theirs), len(mine))
    target = ours.state_dict()
    state: dict[str, torch.Tensor] = {}
    for layer, prefix in zip(theirs, mine):
        kind = prefix.rsplit(".", 1)[-1].rstrip("0123456789")
        assert KINDS[type(layer).__name__] == kind, (layer.name, prefix)
        for variable, value in zip(layer.weights, layer.get_weights()):
            short = variable.path.rsplit("/", 1)[-1]
            key = f"{prefix}.{TORCH_NAMES[short]}"
            state[key] = to_torch(short, torch.from_numpy(value))
            assert state[key].shape == target[key].shape, (variable.path, key)
        if kind == "bn":
            state[f"{prefix}.num_batches_tracked"] = target[f"{prefix}.num_batches_tracked"]
            if f"{prefix}.weight" in target and f"{prefix}.weight" not in state:
                state[f"{prefix}.weight"] = torch.ones_like(target[f"{prefix}.weight"])
    ours.load_state_dict(state, strict=True)


def calibrate(model: keras.Model, x: torch.Tensor) -> None:
    """Moving statistics = the statistics of one batch (momentum 0), instead of 0 and 1."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    with torch.no_grad():
        model(x, training=True)


@dataclass
class Reference:
    """A calibrated Keras model, two inputs (NCHW, for the compiled module), its outputs and
    how far they are apart (the spread)."""

    model: keras.Model
    x: torch.Tensor
    y: torch.Tensor
    spread: float


def reference(application: Callable[..., keras.Model], image: int) -> Reference:
    keras.utils.set_random_seed(0)
    model = application(weights=None, input_shape=(image, image, 3),
                        classifier_activation=None)
    gen = torch.Generator().manual_seed(1)
    calibrate(model, torch.randn(1, image, image, 3, generator=gen, dtype=torch.float64))
    x = torch.randn(2, image, image, 3, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y = model(x, training=False)
    spread = (y[0] - y[1]).abs().max().item()
    assert y.dtype == torch.float64 and spread > 1e-2, f"calibration failed: spread {spread:.3g}"
    return Reference(model, x.permute(0, 3, 1, 2), y, spread)


@pytest.fixture(scope="module")
def keras_xception() -> Reference:
    """At XCEPTION_IMAGE: float64 depthwise convolutions take PyTorch's per-channel slow path."""
    return reference(keras.applications.Xception, XCEPTION_IMAGE)


@pytest.fixture(scope="module")
def keras_inception_v3() -> Reference:
    return reference(keras.applications.InceptionV3, 299)


@torch.no_grad()
def relative_delta(ref: Reference, spec: str | Path, **params: Any) -> float:
    """max |ours - Keras| / spread after transplanting Keras' weights into the compiled spec."""
    ours = xdsl.compile(xdsl.parse(spec), memory_format="contiguous", **params)
    ours = ours.to(torch.float64)
    transplant(ours, ref.model)
    return (ours.eval()(ref.x) - ref.y).abs().max().item() / ref.spread


@pytest.mark.parametrize(("application", "spec", "params", "pinned", "interleaved"), [
    (keras.applications.InceptionV3, "inception_v3", {"flavour": "keras"}, INCEPTION_PINNED,
     True),
    (keras.applications.Xception, "xception", {}, XCEPTION_PINNED, False),
])
def test_graph_order_pairs_layers_by_their_place(application, spec, params, pinned,
                                                 interleaved) -> None:
    keras.utils.clear_session()  # automatic names count from zero again
    model = application(weights=None)
    ours = xdsl.compile(spec, memory_format="contiguous", **params)
    theirs = [layer.name for layer in keras_layers_in_graph_order(model)]
    pairs = dict(zip(theirs, our_layers(ours), strict=True))
    assert {name: pairs[name] for name in pinned} == pinned
    # model.layers sorts by depth, which interleaves Inception's parallel branches
    assert ([layer.name for layer in model.layers if layer.weights] != theirs) == interleaved


def test_xception_default_equals_keras_and_symmetric_pooling_does_not(keras_xception) -> None:
    size = {"image_size": XCEPTION_IMAGE}
    assert relative_delta(keras_xception, "xception", **size) <= TOLERANCE
    wrong = relative_delta(keras_xception, "xception", pool_pad="symmetric", **size)
    assert wrong > WRONG


def test_inception_v3_keras_flavour_equals_keras_and_torchvision_does_not(
        keras_inception_v3) -> None:
    assert relative_delta(keras_inception_v3, "inception_v3", flavour="keras") <= TOLERANCE
    wrong = relative_delta(keras_inception_v3, "inception_v3", flavour="torchvision")
    assert wrong > WRONG


def test_one_pooling_line_counting_padding_is_caught(keras_inception_v3) -> None:
    """inception_c's pooling branch (mixed9 and mixed10) alone divides by 9 at the border."""
    text = (ROOT / "specs" / "inception_v3.x").read_text()
    block = text.index("block inception_c")
    pooling = "branch: avgpool 3x3 stride=1 pad=1; conv 192 1x1"
    assert text[block:].count(pooling) == 1
    wrong = text[:block] + text[block:].replace(pooling, pooling.replace(
        "pad=1;", "pad=1 include_pad=true;"))
    changed = [n for _, n in xdsl.graph(xdsl.parse(wrong), flavour="keras").nodes(data=True)
               if n["node"].op == "avgpool" and n["node"].attrs.include_pad]
    assert len(changed) == 2
    assert relative_delta(keras_inception_v3, wrong, flavour="keras") > WRONG
