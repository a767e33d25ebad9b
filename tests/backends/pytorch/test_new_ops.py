"""Issue 12's activations and normalisations through every stage: counts against nn.Module,
outputs against torch's functional definitions in float64, --export-py, ONNX, --optimize,
labels, the lexer and fmt."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from equivalence import check_onnx, hooked_macs, load_file, randomize
from pygments.token import Name
from torch import nn
from xdsl.backends.labels import label
from xdsl.backends.pytorch.build import export_python
from xdsl.backends.pytorch.inference import optimize

import xdsl
from xdsl.graph import LayerNode, layers
from xdsl.highlight import XdslLexer

Fn = Callable[[torch.Tensor], torch.Tensor]


def spec_of(body: str, shape: str = "4 x 5 x 5") -> str:
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return f"network one():\n    input image: {shape}\n    flow f:\n{lines}"


def only_layer(text: str) -> LayerNode:
    [node] = [n for n in layers(xdsl.graph(text)) if n.op != "input"]
    return node


def compiled64(text: str) -> nn.Module:
    return xdsl.compile(text, seed=3).double().eval()


def sample(shape: tuple[int, ...] = (2, 4, 5, 5)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(shape, generator=gen, dtype=torch.float64) * 4  # reaches ±6 and beyond


# ---- activations -------------------------------------------------------------------------------

# layer text, the torch definition, a neighbouring definition the test must tell apart
ACTIVATIONS: list[tuple[str, Fn, Fn]] = [
    ("relu6", F.relu6, F.relu),
    ("silu", F.silu, F.mish),
    ("swish", F.silu, torch.sigmoid),
    ("hardswish", F.hardswish, F.silu),
    ("hardsigmoid", F.hardsigmoid, torch.sigmoid),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.01), lambda x: F.leaky_relu(x, 0.02)),
    ("leaky_relu slope=0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.01)),
    ("mish", F.mish, F.silu),
    ("gelu", F.gelu, lambda x: F.gelu(x, approximate="tanh")),
    ("gelu approximate=tanh", lambda x: F.gelu(x, approximate="tanh"), F.gelu),
    ("act relu6", F.relu6, F.relu),
    ("act silu", F.silu, F.mish),
    ("act swish", F.silu, torch.sigmoid),
    ("act hardswish", F.hardswish, F.silu),
    ("act hardsigmoid", F.hardsigmoid, torch.sigmoid),
    ("act leaky_relu", lambda x: F.leaky_relu(x, 0.01), F.relu),
    ("act leaky_relu slope=0.3", lambda x: F.leaky_relu(x, 0.3), lambda x: F.leaky_relu(x, 0.01)),
    ("act mish", F.mish, F.silu),
    ("act gelu approximate=tanh", lambda x: F.gelu(x, approximate="tanh"), F.gelu),
    ("act elu alpha=0.5", lambda x: F.elu(x, 0.5), F.elu),
]


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("layer, reference, neighbour", ACTIVATIONS,
                         ids=[a[0] for a in ACTIVATIONS])
def test_activation_equals_torch_definition(layer: str, reference: Fn, neighbour: Fn) -> None:
    model = compiled64(spec_of(layer))
    x = sample()
    with torch.no_grad():
        got = model(x)
    assert close(got, reference(x))
    assert not close(got, neighbour(x))  # the comparison can tell these apart
    assert sum(p.numel() for p in model.parameters()) == 0
    node = only_layer(spec_of(layer))
    assert (node.params, node.state, node.macs, node.shape) == (0, 0, 0, (4, 5, 5))


@pytest.mark.parametrize("layer", ["relu6", "leaky_relu slope=0.2"])
def test_in_place_activation_keeps_gradients_exact(layer: str) -> None:
    """ReLU6 and LeakyReLU overwrite a convolution's fresh output, as ReLU does; the
    gradients still equal the out-of-place definition's."""
    text = spec_of(f"conv 4 3x3 pad=1\n{layer}")
    model = xdsl.compile(text, seed=3).double().train()
    assert "inplace=True" in model.forward_source
    x = sample().requires_grad_()
    model(x).square().sum().backward()
    conv = model.f.conv1
    act = F.relu6 if layer == "relu6" else lambda t: F.leaky_relu(t, 0.2)
    x2 = x.detach().clone().requires_grad_()
    weight = conv.weight.detach().clone().requires_grad_()
    act(F.conv2d(x2, weight, conv.bias, padding=1)).square().sum().backward()
    assert torch.allclose(x.grad, x2.grad, rtol=0, atol=1e-10)
    assert torch.allclose(conv.weight.grad, weight.grad, rtol=0, atol=1e-10)


def test_sepconv_mid_act_takes_the_new_kinds() -> None:
    model = compiled64(spec_of("sepconv 6 3x3 mid_act=hardswish bias=false"))
    layer = model.f.sepconv1
    x = sample()
    with torch.no_grad():
        mid = F.hardswish(F.conv2d(x, layer.depthwise.weight, groups=4))
        assert close(model(x), F.conv2d(mid, layer.pointwise.weight))
        assert not close(model(x), F.conv2d(F.silu(F.conv2d(x, layer.depthwise.weight,
                                                              groups=4)), layer.pointwise.weight))


# ---- normalisations ----------------------------------------------------------------------------


def layer_norm_2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    """ConvNeXt's LayerNorm: over the channels at every position, an affine per channel."""
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), w, b, eps).permute(0, 3, 1, 2)


NORMS: list[tuple[str, str, Callable[[torch.Tensor, nn.Module], torch.Tensor], nn.Module]] = [
    ("layernorm", "4 x 5 x 5",
     lambda x, m: layer_norm_2d(x, m.weight, m.bias, 1e-5), nn.LayerNorm(4)),
    ("layernorm eps=1e-6", "4 x 5 x 5",
     lambda x, m: layer_norm_2d(x, m.weight, m.bias, 1e-6), nn.LayerNorm(4, eps=1e-6)),
    ("layernorm", "6",
     lambda x, m: F.layer_norm(x, (6,), m.weight, m.bias, 1e-5), nn.LayerNorm(6)),
    ("groupnorm 2", "4 x 5 x 5",
     lambda x, m: F.group_norm(x, 2, m.weight, m.bias, 1e-5), nn.GroupNorm(2, 4)),
    ("groupnorm 3 eps=1e-3", "6 x 5 x 5",
     lambda x, m: F.group_norm(x, 3, m.weight, m.bias, 1e-3), nn.GroupNorm(3, 6, eps=1e-3)),
    ("groupnorm groups=2", "6",
     lambda x, m: F.group_norm(x, 2, m.weight, m.bias, 1e-5), nn.GroupNorm(2, 6)),
]
# a neighbour of each: another normalisation the comparison must not mistake for it
NEIGHBOURS: list[Callable[[torch.Tensor, nn.Module], torch.Tensor]] = [
    lambda x, m: F.layer_norm(x, x.shape[1:]) * m.weight[:, None, None] + m.bias[:, None, None],
    lambda x, m: layer_norm_2d(x, m.weight, m.bias, 1e-5),  # eps is honoured
    lambda x, m: F.layer_norm(x, (6,), m.weight, m.bias, 1e-3),
    lambda x, m: F.group_norm(x, 4, m.weight, m.bias, 1e-5),  # instance norm
    lambda x, m: F.group_norm(x, 2, m.weight, m.bias, 1e-3),
    lambda x, m: F.group_norm(x, 3, m.weight, m.bias, 1e-5),
]


@pytest.mark.parametrize("case", range(len(NORMS)), ids=[f"{n[0]} on {n[1]}" for n in NORMS])
def test_normalisation_equals_torch_definition(case: int) -> None:
    layer, shape, reference, module = NORMS[case]
    text = spec_of(layer, shape)
    model = compiled64(text)
    randomize(model)
    dims = tuple(int(d) for d in shape.split(" x "))
    x = sample((2, *dims)) + 1.5
    [norm] = [m for m in model.modules() if isinstance(m, nn.LayerNorm | nn.GroupNorm)]
    with torch.no_grad():
        got = model(x)
        assert close(got, reference(x, norm))
        assert not close(got, NEIGHBOURS[case](x, norm))
    node = only_layer(text)
    assert node.params == sum(p.numel() for p in module.parameters()) == 2 * dims[0]
    assert node.state == sum(b.numel() for b in module.buffers()) == 0
    assert (node.macs, node.shape) == (0, dims)
    assert sum(p.numel() for p in model.parameters()) == node.params


# ---- a network with all of them: MACs by hooks, export, ONNX, optimize -------------------------

ALL = """\
network modern(classes: int = 5):
    input image: 3 x 16 x 16
    flow stem:
        conv 16 3x3 stride=2 pad=1 bias=false; bn; hardswish
        conv 16 3x3 pad=1 groups=16; layernorm eps=1e-6; gelu approximate=tanh
        conv 32 1x1; groupnorm 4; silu
        sepconv 32 3x3 pad=same mid_act=relu6; bn; swish
        conv 32 1x1; relu6; leaky_relu slope=0.2; mish; hardsigmoid
        act leaky_relu slope=0.3; act gelu; act mish
    flow head:
        global avgpool; layernorm; linear 24; groupnorm 6; gelu; linear classes
"""


def test_counts_of_the_whole_network_equal_the_module_and_hooks() -> None:
    g = xdsl.graph(ALL)
    nodes = [n for n in layers(g) if n.op != "input"]
    model = xdsl.compile(ALL, seed=0).eval()
    trainable = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if "running" in n)
    assert sum(n.params for n in nodes) == trainable == 4_757
    assert sum(n.state for n in nodes) == buffers == 2 * (16 + 32)  # the two batch norms
    assert sum(n.macs for n in nodes) == hooked_macs(model, torch.zeros(1, 3, 16, 16)) == 220_024
    others = [n for n in nodes if n.op not in ("conv", "sepconv", "linear")]
    assert len(others) == 19 and all(n.macs == 0 for n in others)


@pytest.mark.parametrize("optimized", [False, True])
def test_export_py_runs_the_same_forward(tmp_path: Path, optimized: bool) -> None:
    model = xdsl.compile(ALL, seed=2)
    randomize(model)
    with torch.no_grad():
        model.train()(torch.randn(4, 3, 16, 16))  # non-trivial running statistics
    target = optimize(model) if optimized else model.eval()
    path = tmp_path / f"modern_{optimized}.py"
    source = export_python(target)
    for call in ("F.hardswish(", "F.relu6(", "F.leaky_relu(", "F.mish(", "F.silu(",
                 "F.hardsigmoid(", 'approximate="tanh"', ".permute(0, 2, 3, 1)"):
        assert call in source, call
    path.write_text(source)
    exported = load_file(path).Modern(seed=None)  # type: ignore[attr-defined]
    assert list(exported.state_dict()) == list(target.state_dict())
    exported.load_state_dict(target.state_dict())
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        assert close(exported.double().eval()(x), target.double()(x))


def test_optimize_folds_only_batch_norms_and_keeps_outputs() -> None:
    model = xdsl.compile(ALL, seed=2)
    randomize(model)
    with torch.no_grad():
        model.train()(torch.randn(4, 3, 16, 16))
    model.eval()
    fast = optimize(model)
    assert [bn for _, bn in fast.plan.folded] == ["stem.bn1", "stem.bn2"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert sum(isinstance(m, nn.LayerNorm | nn.GroupNorm) for m in fast.modules()) == 4
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_onnx_export_of_every_new_op_computes_the_same(tmp_path: Path) -> None:
    """The checked ONNX file, run by onnx's reference evaluator, gives the module's outputs."""
    check_onnx(ALL, tmp_path, {"HardSwish", "HardSigmoid", "Mish", "LeakyRelu", "Gelu",
                               "LayerNormalization", "Clip"}, scale=1e-2)


# ---- labels, lexer, fmt ------------------------------------------------------------------------

LABELS = {
    "relu6": "ReLU6", "silu": "SiLU", "swish": "Swish", "hardswish": "h-swish",
    "hardsigmoid": "h-sigmoid", "leaky_relu": "LeakyReLU", "leaky_relu slope=0.2":
    "LeakyReLU, slope=0.2", "mish": "Mish", "gelu": "GELU",
    "gelu approximate=tanh": "GELU, tanh approximation", "act relu6": "ReLU6",
    "act leaky_relu slope=0.2": "LeakyReLU, slope=0.2",
    "act gelu approximate=tanh": "GELU, tanh approximation", "act elu alpha=0.5": "ELU, alpha=0.5",
    "layernorm": "LayerNorm", "layernorm eps=1e-6": "LayerNorm",
    "groupnorm 2": "GroupNorm, 2 groups",
}


@pytest.mark.parametrize("layer, words", LABELS.items())
def test_diagram_label_in_the_papers_words(layer: str, words: str) -> None:
    assert label(only_layer(spec_of(layer))) == words


def test_lexer_knows_the_new_words() -> None:
    text = spec_of("relu6; silu; swish; hardswish; hardsigmoid; leaky_relu slope=0.1; mish\n"
                   "gelu approximate=tanh; layernorm eps=1e-6; groupnorm 2")
    kinds = {val: tok for tok, val in XdslLexer().get_tokens(text) if val.strip()}
    for word in ("relu6", "silu", "swish", "hardswish", "hardsigmoid", "leaky_relu", "mish",
                 "gelu", "layernorm", "groupnorm"):
        assert kinds[word] is Name.Builtin, word
    assert kinds["slope"] is Name.Attribute
    assert kinds["approximate"] is Name.Attribute


def test_fmt_round_trip_is_stable_and_means_the_same() -> None:
    text = ALL.replace("; ", ";  ").replace("eps=1e-6", "eps = 0.000001")
    once = xdsl.fmt(text)
    assert xdsl.fmt(once) == once
    assert once == ALL
    assert [n.model_dump(exclude={"span"}) for n in layers(xdsl.graph(once))] == \
        [n.model_dump(exclude={"span"}) for n in layers(xdsl.graph(ALL))]


@pytest.mark.parametrize("act, words", [("relu6", "ReLU6"), ("hardswish", "h-swish"),
                                        ("leaky_relu slope=0.2", "LeakyReLU, slope=0.2"),
                                        ("act mish", "Mish")])
def test_diagram_folds_a_new_activation_like_relu(act: str, words: str) -> None:
    dot = xdsl.draw(spec_of(f"conv 8 3x3; bn; {act}\nconv 8 3x3; bn; {act}", "4 x 8 x 8")).dot
    assert f"every Conv layer is followed by batch normalization and {words} (not drawn)" in dot
    assert f'"f.{act.split()[0]}1"' not in dot


def readme_examples() -> list[str]:
    text = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    start = text.index("- **Activations**")
    end = text.index("\n- **", text.index("- **Normalisation**"))
    blocks = re.findall(r"^  ```\n(.*?)^  ```$", text[start:end], re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_readme_examples_of_the_new_layers_build() -> None:
    lines = readme_examples()
    assert len(lines) == 6
    head = "network readme(act_kind: choice(relu, silu, hardswish) = silu):\n" \
           "    input image: 96 x 14 x 14\n    flow f:\n"
    text = head + "".join(f"        {line}\n" for line in lines)
    g = xdsl.graph(text)
    ops = [n.op for n in layers(g)]
    assert {"relu6", "leaky_relu", "gelu", "act", "layernorm", "groupnorm"} <= set(ops)
    assert next(n for n in layers(g) if n.op == "act").attrs.kind == "silu"
