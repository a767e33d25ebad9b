"""Issue 12's ops that enlarge maps (upsample, deconv, pixelshuffle), adaptive average pooling,
layer scale and the per-position linear layer, through every stage: counts against nn.Module
and hooks, outputs against torch's own definitions in float64, --export-py, ONNX, --optimize,
labels, the lexer, fmt and did-you-mean."""

from __future__ import annotations

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


def spec_of(body: str, shape: str = "8 x 5 x 6") -> str:
    lines = "".join(f"        {line}\n" for line in body.splitlines())
    return f"network one():\n    input image: {shape}\n    flow f:\n{lines}"


def only_layer(text: str) -> LayerNode:
    [node] = [n for n in layers(xdsl.graph(text)) if n.op != "input"]
    return node


def sample(shape: tuple[int, ...]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(shape, generator=gen, dtype=torch.float64)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-12)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


Ref = Callable[[torch.Tensor, nn.Module], torch.Tensor]


def deconv_ref(**kwargs: int) -> Ref:
    """nn.ConvTranspose2d built by torch itself, given the compiled layer's weights."""

    def ref(x: torch.Tensor, m: nn.Module) -> torch.Tensor:
        cin, per_group = m.weight.shape[:2]
        groups = kwargs.get("groups", 1)
        t = nn.ConvTranspose2d(cin, per_group * groups, tuple(m.weight.shape[2:]),
                               bias=m.bias is not None, **kwargs).double()
        t.load_state_dict(m.state_dict())
        return t(x)

    return ref


def unflipped(ref: Ref) -> Ref:
    """A transposed convolution computed with its kernel turned 180° (a correlation mistaken
    for a convolution)."""

    def wrong(x: torch.Tensor, m: nn.Module) -> torch.Tensor:
        turned = nn.ConvTranspose2d(1, 1, 1)
        turned.weight = nn.Parameter(m.weight.flip(2, 3))
        turned.bias = m.bias
        return ref(x, turned)

    return wrong


def per_position(x: torch.Tensor, m: nn.Module) -> torch.Tensor:
    """ConvNeXt's pointwise nn.Linear: channels last, Linear, channels first."""
    return m(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# layer, input shape, output shape, parameters, MACs, the torch reference (given the layer's
# module, if any), a neighbouring definition the comparison must tell apart
CASES: list[tuple[str, str, tuple[int, ...], int, int, Ref, Ref]] = [
    ("upsample 2", "8 x 5 x 6", (8, 10, 12), 0, 0,
     lambda x, _m: F.interpolate(x, scale_factor=2, mode="nearest"),
     lambda x, _m: F.interpolate(x, scale_factor=2, mode="bilinear")),
    ("upsample 3x2 mode=bilinear", "8 x 5 x 6", (8, 15, 12), 0, 0,
     lambda x, _m: F.interpolate(x, scale_factor=(3, 2), mode="bilinear", align_corners=False),
     lambda x, _m: F.interpolate(x, scale_factor=(3, 2), mode="bilinear", align_corners=True)),
    ("upsample 2 mode=bilinear align_corners=true", "8 x 5 x 6", (8, 10, 12), 0, 0,
     lambda x, _m: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True),
     lambda x, _m: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)),
    ("upsample size=7x9 mode=bilinear", "8 x 5 x 6", (8, 7, 9), 0, 0,
     lambda x, _m: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=False),
     lambda x, _m: F.interpolate(x, size=(7, 9), mode="nearest")),
    ("deconv 4 2x2 stride=2", "8 x 5 x 6", (4, 10, 12), 8 * 4 * 4 + 4, 8 * 4 * 4 * 30,
     deconv_ref(stride=2), unflipped(deconv_ref(stride=2))),
    ("deconv 6 3x3 stride=2 pad=1 output_padding=1 groups=2 bias=false", "8 x 5 x 6",
     (6, 10, 12), 8 * 3 * 9, 8 * 3 * 9 * 30,
     deconv_ref(stride=2, padding=1, output_padding=1, groups=2),
     lambda x, m: F.pad(deconv_ref(stride=2, padding=1, groups=2)(x, m), (0, 1, 0, 1))),
    ("deconv 4 3x3 dilation=2", "8 x 5 x 6", (4, 9, 10), 8 * 4 * 9 + 4, 8 * 4 * 9 * 30,
     deconv_ref(dilation=2), unflipped(deconv_ref(dilation=2))),
    ("pixelshuffle 2", "8 x 5 x 6", (2, 10, 12), 0, 0,
     lambda x, _m: F.pixel_shuffle(x, 2),
     lambda x, _m: F.pixel_shuffle(x.transpose(2, 3), 2).transpose(2, 3)),
    ("adaptive_avgpool 3x4", "8 x 5 x 6", (8, 3, 4), 0, 0,
     lambda x, _m: F.adaptive_avg_pool2d(x, (3, 4)),
     lambda x, _m: F.adaptive_max_pool2d(x, (3, 4))),
    ("adaptive_avgpool 7x7", "8 x 9 x 12", (8, 7, 7), 0, 0,
     lambda x, _m: F.adaptive_avg_pool2d(x, 7),
     lambda x, _m: F.avg_pool2d(x, (3, 6), 1)),  # a fixed window giving 7x7 here
    ("layerscale", "8 x 5 x 6", (8, 5, 6), 8, 0,
     lambda x, m: x * m.gamma.view(1, -1, 1, 1),
     lambda x, m: x * m.gamma.view(1, -1, 1, 1).flip(1)),
    ("layerscale 0.5", "8", (8,), 8, 0,
     lambda x, m: x * m.gamma,
     lambda x, m: x * m.gamma.flip(0)),
    ("pwlinear 12", "8 x 5 x 6", (12, 5, 6), 8 * 12 + 12, 8 * 12 * 30,
     per_position, lambda x, m: m(x.reshape(2, 30, 8)).reshape(2, 12, 5, 6)),
    ("pwlinear 12 bias=false", "8 x 5 x 6", (12, 5, 6), 8 * 12, 8 * 12 * 30,
     per_position, lambda x, m: m(x.reshape(2, 30, 8)).reshape(2, 12, 5, 6)),
]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0] for c in CASES])
def test_layer_counts_and_output_equal_torch(case: int) -> None:
    layer, shape, out, params, macs, reference, neighbour = CASES[case]
    text = spec_of(layer, shape)
    node = only_layer(text)
    assert (node.shape, node.params, node.state, node.macs) == (out, params, 0, macs)
    model = xdsl.compile(text, seed=3).double().eval()
    randomize(model)
    assert count(model) == params
    modules = [m for m in model.modules() if not list(m.children())]
    module = modules[0] if modules else nn.Identity()
    dims = tuple(int(d) for d in shape.split(" x "))
    x = sample((2, *dims))
    with torch.no_grad():
        got = model(x)
        assert close(got, reference(x, module))
        assert not close(got, neighbour(x, module))  # the comparison can tell these apart


def test_pwlinear_has_torchvision_shapes_and_any_layout() -> None:
    """ConvNeXt's pointwise layer: nn.Linear weights (out, in), NCHW or channels_last input."""
    text = spec_of("pwlinear 12")
    model = xdsl.compile(text, seed=3, memory_format="contiguous").double().eval()
    layer = model.f.pwlinear1
    assert isinstance(layer, nn.Linear) and layer.weight.shape == (12, 8)
    randomize(model)
    x = sample((2, 8, 5, 6))
    with torch.no_grad():
        want = per_position(x, layer)
        assert close(model(x), want)
        assert close(model(x.contiguous(memory_format=torch.channels_last)), want)


def test_deconv_macs_follow_the_documented_formula() -> None:
    """in × out/groups × k × k × H_in × W_in, as fvcore and thop count a transposed conv."""
    node = only_layer(spec_of("deconv 6 3x3 stride=2 groups=2", "8 x 5 x 6"))
    assert node.macs == 8 * (6 // 2) * 3 * 3 * 5 * 6 == 6480
    assert node.shape == (6, 11, 13)


# ---- a decoder with all of them: counts by hooks, export, ONNX, optimize -------------------------

DECODER = """\
network decoder(classes: int = 3):
    input image: 3 x 16 x 16
    flow down:
        conv 16 3x3 stride=2 pad=1 bias=false; bn; relu as skip
        conv 32 3x3 stride=2 pad=1; relu
        dwconv 7x7 pad=3; layernorm eps=1e-6; pwlinear 64; gelu; pwlinear 32; layerscale
    flow up:
        deconv 16 2x2 stride=2 bias=false; bn; relu
        concat(skip); conv 16 3x3 pad=1; relu
        upsample 2 mode=bilinear; deconv 8 3x3 stride=2 pad=1 output_padding=1
        conv 12 1x1; pixelshuffle 2
        upsample size=72x80; adaptive_avgpool 7x7
        conv classes 1x1
"""


def test_counts_of_the_decoder_equal_the_module_and_hooks() -> None:
    g = xdsl.graph(DECODER)
    nodes = [n for n in layers(g) if n.op != "input"]
    model = xdsl.compile(DECODER, seed=0).eval()
    assert sum(n.params for n in nodes) == count(model) == 18_976  # summed by hand too
    assert sum(n.macs for n in nodes) == hooked_macs(model, torch.zeros(1, 3, 16, 16)) == 913_337
    assert tuple(model(torch.zeros(1, 3, 16, 16)).shape) == (1, 3, 7, 7)
    free = [n.op for n in nodes if n.op in ("upsample", "pixelshuffle", "adaptive_avgpool",
                                            "layerscale")]
    assert len(free) == 5 and all(n.macs == 0 for n in nodes if n.op in free)


def test_macs_equal_torchs_own_flop_counter() -> None:
    """torch.utils.flop_counter counts a transposed convolution over its input pixels, and the
    per-position linear layers as matrix products: half its FLOPs are the graph's MACs."""
    from torch.utils.flop_counter import FlopCounterMode

    model = xdsl.compile(DECODER, seed=0, memory_format="contiguous").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 16, 16))
    per_layer = counter.get_flop_counts()
    nodes = {n.name: n for n in layers(xdsl.graph(DECODER))}
    for name in ("up.deconv1", "up.deconv2", "down.pwlinear1"):
        assert sum(per_layer[f"Decoder.{name}"].values()) == 2 * nodes[name].macs, name
    assert counter.get_total_flops() == 2 * 913_337


def test_init_is_seeded_and_leaves_the_global_rng_alone() -> None:
    """Transposed convolutions and layer scales get their weights from the seed, as
    convolutions do: kaiming normal over the true fan-out, and the layer scale's init value."""
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    a, b = xdsl.compile(DECODER, seed=5), xdsl.compile(DECODER, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                   b.state_dict().values()))
    assert not torch.equal(a.up.deconv1.weight, xdsl.compile(DECODER, seed=6).up.deconv1.weight)
    assert torch.equal(a.down.layerscale1.gamma, torch.full((32,), 1e-6))
    w = xdsl.compile(spec_of("deconv 64 4x4 stride=2", "128 x 8 x 8")).f.deconv1.weight
    fan_out = 64 * 4 * 4
    assert abs(w.std().item() - (2 / fan_out) ** 0.5) < 0.005  # 0.0442; fan_in's would be 0.031


@pytest.mark.parametrize("optimized", [False, True])
def test_export_py_runs_the_same_forward(tmp_path: Path, optimized: bool) -> None:
    model = xdsl.compile(DECODER, seed=2)
    randomize(model)
    with torch.no_grad():
        model.train()(torch.randn(4, 3, 16, 16))  # non-trivial running statistics
    target = optimize(model) if optimized else model.eval()
    source = export_python(target)
    for code in ("nn.ConvTranspose2d(", "output_padding=1", "F.pixel_shuffle(", "class LayerScale",
                 "F.adaptive_avg_pool2d(", "align_corners=False", 'mode="nearest"',
                 "nn.Linear(32, 64)"):
        assert code in source, code
    path = tmp_path / f"decoder_{optimized}.py"
    path.write_text(source)
    exported = load_file(path).Decoder(seed=None)  # type: ignore[attr-defined]
    assert list(exported.state_dict()) == list(target.state_dict())
    exported.load_state_dict(target.state_dict())
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        assert close(exported.double().eval()(x), target.double()(x))
    if not optimized:  # the same seed, the same initial weights
        fresh = load_file(path).Decoder(seed=2).state_dict()  # type: ignore[attr-defined]
        again = xdsl.compile(DECODER, seed=2).state_dict()
        assert list(fresh) == list(again)
        assert all(torch.equal(fresh[k], again[k]) for k in fresh)


def test_optimize_leaves_a_batch_norm_after_a_transposed_conv() -> None:
    """Only the batch norm after the convolution folds; the one after the transposed
    convolution stays a batch norm, and the outputs are kept."""
    model = xdsl.compile(DECODER, seed=2)
    randomize(model)
    with torch.no_grad():
        model.train()(torch.randn(4, 3, 16, 16))
    model.eval()
    fast = optimize(model)
    assert [bn for _, bn in fast.plan.folded] == ["down.bn1"]
    assert isinstance(fast.up.bn1, nn.BatchNorm2d) and fast.up.deconv1.bias is None
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = model(x)
        assert (fast(x) - want).abs().max() <= 1e-5 * want.abs().max()  # float32 rounding


@pytest.mark.slow
def test_onnx_export_computes_the_same(tmp_path: Path) -> None:
    """The checked ONNX file, run by onnx's reference evaluator, gives the module's outputs."""
    check_onnx(DECODER, tmp_path, {"ConvTranspose", "Resize", "MatMul"})


# ---- labels, lexer, fmt, did-you-mean -----------------------------------------------------------

LABELS = {
    "upsample 2": "UpSampling 2\u00d72, nearest",
    "upsample 2x1 mode=bilinear align_corners=true": "UpSampling 2\u00d71, bilinear, align_corners",
    "upsample size=14x14 mode=bilinear": "UpSampling to 14\u00d714, bilinear",
    "deconv 4 2x2 stride=2": "TransposedConv 4, 2\u00d72, stride=2\u00d72",
    "deconv 4 3x3 stride=2 pad=1 output_padding=1 groups=2":
        "TransposedConv 4, 3\u00d73, stride=2\u00d72, output_padding=1\u00d71, groups=2",
    "pixelshuffle 2": "PixelShuffle \u00d72",
    "adaptive_avgpool 3x3": "AveragePooling to 3\u00d73",
    "layerscale": "LayerScale, init=1e-6",
    "layerscale init=0.1": "LayerScale, init=0.1",
    "pwlinear 384": "Linear 384, per position",
}


@pytest.mark.parametrize("layer, words", LABELS.items())
def test_diagram_label_in_the_papers_words(layer: str, words: str) -> None:
    assert label(only_layer(spec_of(layer))) == words


def test_diagram_folds_batch_norm_into_a_transposed_conv_and_colours_by_family() -> None:
    dot = xdsl.draw(spec_of("deconv 8 2x2 stride=2; bn; relu\ndeconv 8 2x2 stride=2; bn; relu\n"
                            "pwlinear 4; adaptive_avgpool 3x3")).dot
    assert "every TransposedConv layer is followed by batch normalization and ReLU (not drawn)" \
        in dot
    assert '"f.bn1"' not in dot and '"f.relu1"' not in dot
    fills = {line.split('"')[1]: line.split('fillcolor="')[1][:7] for line in dot.splitlines()
             if 'fillcolor="' in line and line.strip().startswith('"f.')}
    assert fills == {"f.deconv1": "#dbe8f6", "f.deconv2": "#dbe8f6", "f.pwlinear1": "#eadcf2",
                     "f.adaptive_avgpool1": "#fbe3cd"}  # as conv, linear, pooling


def test_lexer_knows_the_new_words() -> None:
    text = spec_of("upsample 2 mode=bilinear align_corners=true; deconv 8 2x2 output_padding=1\n"
                   "pixelshuffle 2; adaptive_avgpool 7x7; layerscale init=1e-6; pwlinear 8")
    kinds = {val: tok for tok, val in XdslLexer().get_tokens(text) if val.strip()}
    for word in ("upsample", "deconv", "pixelshuffle", "adaptive_avgpool", "layerscale",
                 "pwlinear"):
        assert kinds[word] is Name.Builtin, word
    for option in ("mode", "align_corners", "output_padding", "init"):
        assert kinds[option] is Name.Attribute, option
    assert kinds["bilinear"] is Name.Constant  # a word of the language, as `same`


def test_fmt_round_trip_is_stable_and_means_the_same() -> None:
    text = DECODER.replace("; ", ";   ").replace("size=72x80", "size = 72 x 80")
    once = xdsl.fmt(text)
    assert xdsl.fmt(once) == once
    assert once == DECODER
    assert [n.model_dump(exclude={"span"}) for n in layers(xdsl.graph(once))] == \
        [n.model_dump(exclude={"span"}) for n in layers(xdsl.graph(DECODER))]


@pytest.mark.parametrize("written, meant", [("convtranspose", "deconv"),
                                            ("ConvTranspose2d", "deconv"),
                                            ("conv2d_transpose", "deconv"),
                                            ("interpolate", "upsample"),
                                            ("pixel_shuffle", "pixelshuffle"),
                                            ("AdaptiveAvgPool2d", "adaptive_avgpool")])
def test_other_frameworks_names_get_a_did_you_mean(written: str, meant: str) -> None:
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec_of(f"{written} 8 2x2"))
    assert f"did you mean `{meant}`?" in info.value.render()


@pytest.mark.parametrize("layer, message", [
    ("upsample 2 align_corners=true", "`align_corners` applies to mode=bilinear only"),
    ("upsample", "give exactly one of a scale factor"),
    ("upsample size=4x4", "`upsample` to 4x4 would shrink 5x6"),
    ("deconv 8 3x3 pad=same", "`deconv` takes its padding as numbers"),
    ("deconv 8 2x2 stride=2 output_padding=0x2", "output_padding 2 along the width"),
    ("deconv 8 3x3 output_padding=1", "not smaller than its stride 1"),
    ("deconv 6 3x3 groups=4", "splits 6 filters into 4 groups"),
    ("global avgpool; pwlinear 4", "write `linear 4` for a vector"),
    ("adaptive_avgpool 5x7", "would enlarge 5x6"),
    ("pixelshuffle 0", "`factor` of `pixelshuffle` must be \u2265 1"),
])
def test_misuse_is_a_spec_error(layer: str, message: str) -> None:
    with pytest.raises(xdsl.SpecError) as info:
        xdsl.check(spec_of(layer))
    assert message in info.value.render()


def test_deconv_output_padding_below_the_dilation_is_allowed_as_in_torch() -> None:
    node = only_layer(spec_of("deconv 4 3x3 dilation=2 output_padding=1"))
    assert node.shape == (4, 10, 11)
    model = xdsl.compile(spec_of("deconv 4 3x3 dilation=2 output_padding=1"))
    assert tuple(model(torch.zeros(1, 8, 5, 6)).shape[1:]) == node.shape


def test_readme_example_of_the_enlarging_layers_builds() -> None:
    text = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    start = text.index("- **Enlarging maps**")
    end = text.index("- **Structure**", start)
    lines = [line.strip() for block in text[start:end].split("  ```\n")[1::2]
             for line in block.splitlines()]
    assert len(lines) == 5
    head = "network readme():\n    input image: 96 x 14 x 14\n    flow f:\n"
    g = xdsl.graph(head + "".join(f"        {line}\n" for line in lines))
    assert {"upsample", "deconv", "pixelshuffle", "adaptive_avgpool", "layerscale",
            "pwlinear"} <= {n.op for n in layers(g)}
