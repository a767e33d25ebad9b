"""Compiled modules: exact counts, state_dict keys, straight-line forward, seeded init."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from xdsl.backends.pytorch.build import compile_network, initialise
from xdsl.backends.pytorch.codegen import attr_name, class_name
from xdsl.backends.pytorch.lowering import LOWERINGS
from xdsl.backends.pytorch.verify import verify

import xdsl
from xdsl.ops import OPS

ROOT = Path(__file__).resolve().parents[3]
XCEPTION = ROOT / "specs" / "xception.x"
TINY = ROOT / "tests" / "golden" / "pytorch" / "tiny.x"
SHIPPED = sorted((ROOT / "specs").rglob("*.x"))


@pytest.fixture(scope="module")
def xception() -> torch.nn.Module:
    return xdsl.load(XCEPTION)


def test_xception_counts_and_output(xception: torch.nn.Module) -> None:
    assert sum(p.numel() for p in xception.parameters()) == 22_855_952
    stats = sum(b.numel() for name, b in xception.named_buffers()
                if name.endswith(("running_mean", "running_var")))
    assert stats == 54_528
    with torch.no_grad():
        assert xception.eval()(torch.randn(2, 3, 299, 299)).shape == (2, 1000)


def test_state_dict_keys_follow_the_spec(xception: torch.nn.Module) -> None:
    keys = set(xception.state_dict())
    for key in ["entry.conv1.weight", "entry.down1.sepconv1.depthwise.weight",
                "entry.down1.bn1.running_mean", "entry.down1.shortcut.conv1.weight",
                "middle.residual3.sepconv2.pointwise.weight", "exit.linear1.bias"]:
        assert key in keys
    assert not any("relu" in k or "maxpool" in k for k in keys)  # functional in forward


def test_forward_is_straight_line_code(xception: torch.nn.Module) -> None:
    source = type(xception).forward_source
    assert "for " not in source and "while " not in source
    # the projection shortcut reads the pre-ReLU sum: that ReLU must not be in place
    assert "x = F.relu(entry_down1_add1)" in source
    assert "entry.down2.shortcut.conv1(entry_down1_add1)" in source


def test_every_op_has_a_lowering() -> None:
    assert set(OPS) <= set(LOWERINGS)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_spec_compiles_to_what_the_ir_predicts(path: Path) -> None:
    g = xdsl.graph(path)
    assert all(check.ok for check in verify(compile_network(g), g))


def test_tiny_spec_covers_every_op() -> None:
    ops = {n["node"].op for _, n in xdsl.graph(TINY).nodes(data=True)}
    assert set(OPS) - ops == set(), "tests/golden/pytorch/tiny.x should use every op"


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, b, c = (xdsl.compile(TINY, seed=s) for s in (0, 0, 1))
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_torch_init_is_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a = xdsl.compile(TINY, init="torch", seed=3)
    b = xdsl.compile(TINY, init="torch", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    with pytest.raises(ValueError):
        initialise(a, 0, "xavier")  # type: ignore[arg-type]


def test_default_init_is_kaiming_and_bn_identity() -> None:
    model = xdsl.compile(TINY)
    bn = model.mix.bn1
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))
    assert torch.equal(bn.running_var, torch.ones_like(bn.running_var))
    conv = model.mix.conv1.weight  # 32 x 80 x 1 x 1, fan_out 32
    assert abs(conv.std().item() - (2 / 32) ** 0.5) < 0.05
    linear = model.head.linear1.weight
    assert abs(linear.std().item() - 0.01) < 0.003


def test_memory_format_auto_is_channels_last_on_cpu() -> None:
    model = xdsl.compile(TINY)
    assert model.memory_format == torch.channels_last
    assert xdsl.compile(TINY, memory_format="contiguous").memory_format == \
        torch.contiguous_format


def test_training_step_runs_with_inplace_ops() -> None:
    model = xdsl.compile(TINY).train()
    assert "inplace=True" in type(model).forward_source and "+=" in type(model).forward_source
    model(torch.randn(4, 3, 32, 32)).square().mean().backward()  # autograd checks versions
    assert all(p.grad is not None for p in model.parameters())


def test_full_backward_hooks_work_without_inplace() -> None:
    model = xdsl.compile(TINY, inplace=False).train()
    seen: list[str] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # an in-place ReLU after it would fail
            module.register_full_backward_hook(lambda m, gi, go, name=name: seen.append(name))
    model(torch.randn(4, 3, 32, 32)).square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert "stem.bn1" in seen
    assert "inplace" not in type(model).forward_source


def test_names_that_would_shadow_module_attributes_are_mangled() -> None:
    assert attr_name("training") == "training_"
    assert attr_name("forward") == "forward_"
    assert attr_name("entry") == "entry"
    assert class_name("inception_v3") == "InceptionV3"
    assert class_name("_0") == "Net0" and class_name("v_2b") == "V2b"  # found by test_export_safety
    spec = ("network odd():\n    input image: 3 x 8 x 8\n"
            "    flow training:\n        conv 4 3x3; relu\n"
            "    flow eval:\n        global avgpool; linear 2\n")
    model = xdsl.compile(spec)
    assert model.training is True
    assert "training_.conv1.weight" in model.state_dict()
    assert model.eval()(torch.zeros(1, 3, 8, 8)).shape == (1, 2)


def test_graph_or_spec_with_params() -> None:
    g = xdsl.graph(TINY, classes=5)
    assert compile_network(g).head.linear2.out_features == 5
    assert xdsl.load(TINY, classes=7).head.linear2.out_features == 7
    with pytest.raises(ValueError, match="apply to a spec, not to a built graph"):
        compile_network(g, classes=3)


def test_whole_module_pickles_and_deep_copies() -> None:
    import copy
    import io

    model = xdsl.compile(TINY, seed=2)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    copied = copy.deepcopy(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model.eval()(x)
        assert torch.equal(loaded.eval()(x), want)
        assert torch.equal(copied.eval()(x), want)
    assert loaded.memory_format == torch.channels_last
    assert type(loaded).forward_source == type(model).forward_source


def test_side_outputs_are_returned_untouched() -> None:
    """A returned value must survive later in-place ops and batch-norm folding."""
    spec = ("network heads():\n    input image: 3 x 8 x 8\n    flow a:\n"
            "        conv 4 3x3 pad=1\n"
            "        output side:\n            conv 4 1x1; bn\n"
            "        relu from side\n"
            "        global avgpool; linear 2\n")
    model = xdsl.compile(spec).eval()
    with torch.no_grad():
        main, side = model(torch.randn(2, 3, 8, 8))
    assert main.shape == (2, 2) and side.shape == (2, 4, 8, 8)
    assert (side < 0).any(), "the ReLU after the side head overwrote it"
