"""Weights from another implementation (backends/pytorch/weights.py, ``xdsl compile
--weights``): the mapping by position in run order, verified pair by pair before anything loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from click.testing import CliRunner
from torch import nn
from xdsl.backends.pytorch import WeightsError, transplant
from xdsl.backends.pytorch.weights import read_state, run_order

import xdsl
from xdsl.cli import main

NET = """\
network small(classes: int = 10):
    input image: 3 x 32 x 32
    conv 16 3x3 pad=1 bias=false; bn; relu
    residual project(conv 32 1x1 stride=2 bias=false; bn):
        conv 32 3x3 stride=2 pad=1 bias=false; bn; relu
        conv 32 3x3 pad=1 bias=false; bn
    relu; global avgpool; linear classes
"""


class Block(nn.Module):  # registered as torchvision's BasicBlock registers its layers
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(16, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32)
        self.downsample = nn.Sequential(nn.Conv2d(16, 32, 1, 2, bias=False), nn.BatchNorm2d(32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + self.downsample(x))


def reference() -> nn.Module:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                          nn.ReLU(), Block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(32, 10))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
    return model.eval()


def test_a_module_state_dict_or_file_loads_and_gives_the_same_outputs(tmp_path: Path) -> None:
    ref = reference()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.save({"epoch": 3, "state_dict": ref.state_dict()}, tmp_path / "ckpt.pth")
    for source in (ref, ref.state_dict(), tmp_path / "ckpt.pth"):
        ours = xdsl.compile(NET, seed=9).eval()
        moved = transplant(ours, source)
        assert moved.tensors == len(ref.state_dict())
        assert moved.pairs["3.downsample.0.weight"] == "residual1.shortcut.conv1.weight"
        with torch.no_grad():
            assert torch.allclose(ours(x), ref(x), rtol=1e-5, atol=1e-6)


def test_a_layer_of_another_shape_is_named_and_nothing_loads() -> None:
    ref = reference()
    ref[6] = nn.Linear(32, 12)
    ours = xdsl.compile(NET, seed=9)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(WeightsError, match=r"tensor 24 differs: the weights' `6.weight` "
                                           r"\(12×32\) against the network's "
                                           r"`classifier.linear1.weight|linear1.weight` \(10×32\)"):
        transplant(ours, ref)
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())


def test_a_missing_layer_is_counted() -> None:
    ref = reference()
    ref[6] = nn.Identity()
    with pytest.raises(WeightsError, match="the weights hold 24 tensors and the network 26; the "
                                           "first one of the network left unmatched is "
                                           "`linear1.weight`"):
        transplant(xdsl.compile(NET), ref)


def test_a_module_s_own_tensors_come_after_its_children() -> None:
    assert run_order(["a.scale", "a.block.0.weight", "a.block.1.weight", "b.weight"]) == [
        "a.block.0.weight", "a.block.1.weight", "a.scale", "b.weight"]


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.pth").write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match="is not a state_dict file torch can read safely"):
        read_state(tmp_path / "x.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="holds no state_dict"):
        read_state(tmp_path / "list.pth")


def test_compile_weights_option(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None)
    torch.save(tv.state_dict(), tmp_path / "resnet18.pth")
    result = CliRunner().invoke(main, ["compile", "resnet18", "--weights",
                                       str(tmp_path / "resnet18.pth"), "-o",
                                       str(tmp_path / "ours.pt")])
    assert result.exit_code == 0, result.output
    assert "weights: 122 tensors (11,699,132 numbers) from" in result.output
    ours = torch.load(tmp_path / "ours.pt", weights_only=True)
    assert torch.equal(ours["stages.stage4.basic1.residual1.shortcut.conv1.weight"],
                       tv.layer4[0].downsample[0].weight)
    result = CliRunner().invoke(main, ["compile", "resnet34", "--weights",
                                       str(tmp_path / "resnet18.pth")])
    assert result.exit_code == 2
    assert "Invalid value for --weights: tensor 31 differs: the weights' `layer2.0.conv1" \
        in result.output.replace("\n", " ")
