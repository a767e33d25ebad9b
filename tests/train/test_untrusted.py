"""Checkpoints as untrusted input (issue 11, item 13): every field is validated on load, and a
checksum of the content, verified by ``--resume`` and ``xdsl evaluate``, catches changed bytes.

Every failure is ``Error: ...`` naming the file and the field, exit status 1, no traceback.
"""

from __future__ import annotations

import math
import struct
import zipfile
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from xdsl.cli import main
from xdsl.train import CheckpointError, DataConfig, Recipe, TrainConfig, checkpoint, train


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, small_config: Any) -> bytes:
    """The bytes of a real checkpoint (one epoch of 4 steps; EMA on, momentum buffers)."""
    run = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    train(small_config(run, epochs=1, data=DataConfig(shapes_train=64, shapes_val=16)), log=quiet)
    return (run / "last.pt").read_bytes()


@pytest.fixture
def run(tmp_path: Path, written: bytes) -> Path:
    (tmp_path / "last.pt").write_bytes(written)
    return tmp_path


def refused(run: Path, message: str) -> None:
    """``load``, ``xdsl evaluate`` and ``xdsl train --resume`` all refuse with ``message``."""
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(run / "last.pt")
    assert message in str(caught.value) and str(run / "last.pt") in str(caught.value)
    for args in (["evaluate", "--checkpoint", str(run / "last.pt")],
                 ["train", "--resume", str(run)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert message in result.output, result.output
        assert "Traceback" not in result.output and "internal error" not in result.output


# -- single changed bytes ----------------------------------------------------------------------


def _tensor_at(data: bytes, tensor: torch.Tensor) -> int:
    raw = tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes()
    assert data.count(raw) == 1
    return data.index(raw) + len(raw) // 2


def _stored(data: bytes, run: Path) -> dict[str, Any]:
    (run / "probe.pt").write_bytes(data)
    return torch.load(run / "probe.pt", weights_only=True)


OFFSETS: dict[str, Callable[[bytes, dict[str, Any]], int]] = {
    "a weight": lambda d, s: _tensor_at(d, s["model"]["entry.conv1.weight"]),
    "an EMA weight": lambda d, s: _tensor_at(d, s["ema"]["module"]["exit.linear1.weight"]),
    "a momentum buffer": lambda d, s: _tensor_at(d, s["optimizer"]["state"][2]
                                                 ["momentum_buffer"]),
    "the torch RNG state": lambda d, s: _tensor_at(d, s["per_rank"][0]["rng"]["torch"]),
    "a float in the pickle": lambda d, s: d.index(b"G" + struct.pack(">d", s["best_top1"])) + 8,
    "the spec text": lambda d, s: d.index(b"A slim Xception") + 3,
    "the last class name": lambda d, s: d.index(b"frame") + 1,
}


@pytest.mark.parametrize("where", sorted(OFFSETS))
def test_a_changed_byte_is_refused(run: Path, written: bytes, where: str) -> None:
    offset = OFFSETS[where](written, _stored(written, run))
    damaged = bytearray(written)
    damaged[offset] ^= 0x10
    (run / "last.pt").write_bytes(damaged)
    refused(run, "does not match its checksum")


@pytest.mark.parametrize("member", ["archive/data.pkl", "archive/byteorder", "archive/version"])
def test_a_changed_byte_in_the_archive_structure_is_refused(run: Path, written: bytes,
                                                            member: str) -> None:
    info = zipfile.ZipFile(run / "last.pt").getinfo(member)
    header = written[info.header_offset:info.header_offset + 30]
    start = info.header_offset + 30 + sum(struct.unpack("<HH", header[26:30]))
    damaged = bytearray(written)
    damaged[start] ^= 0x10
    (run / "last.pt").write_bytes(damaged)
    refused(run, "cannot be read as a checkpoint")


# -- hand-edited fields ------------------------------------------------------------------------


def _edit(run: Path, change: Callable[[dict[str, Any]], None]) -> None:
    state = torch.load(run / "last.pt", weights_only=True)
    change(state)
    torch.save(state, run / "last.pt")


EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("epoch as text", lambda s: s.update(epoch="1"), "epoch: "),
    ("no step", lambda s: s.pop("step"), "step: field required"),
    ("negative batch", lambda s: s.update(batch=-1), "batch: "),
    ("a weight as a list", lambda s: s["model"].update({"entry.conv1.weight": [1.0]}),
     "model.entry.conv1.weight: "),
    ("EMA as a number", lambda s: s.update(ema=5), "ema: "),
    ("no RNG state", lambda s: s["per_rank"][0].pop("rng"), "per_rank.0.rng: field required"),
    ("a short RNG state", lambda s: s["per_rank"][0]["rng"].update(torch=torch.zeros(3)),
     "per_rank.0.rng.torch: "),
    ("three partial sums", lambda s: s["per_rank"][0].update(partial=[0.0, 0.0, 0.0]),
     "per_rank.0.partial: "),
    ("no processes", lambda s: s.update(per_rank=[]), "per_rank: "),
    ("the spec text as a number", lambda s: s["spec"].update(text=5), "spec.text: "),
    ("no classes", lambda s: s.update(classes=[]), "classes: "),
    ("best top-1 above 1", lambda s: s.update(best_top1=1.5), "best_top1: "),
    ("a NaN learning rate", lambda s: s["config"]["recipe"].update(lr=math.nan),
     "config.recipe.lr: "),
    ("the seed as text", lambda s: s["config"].update(seed="0"), "config.seed: "),
    ("a bad decay interval", lambda s: s["config"]["recipe"].update(decay_every="soon"),
     "config.recipe.decay_every: "),
    ("an unknown optimizer", lambda s: s["config"]["recipe"].update(optimizer="adam"),
     "config.recipe.optimizer: "),
    ("a negative image count", lambda s: s["config"]["data"].update(shapes_train=-5),
     "config.data.shapes_train: "),
    ("a learning rate as text", lambda s: s["optimizer"]["param_groups"][0].update(lr="fast"),
     "optimizer.param_groups.0.lr: "),
    ("no scheduler", lambda s: s.update(scheduler=None), "scheduler: "),
    ("a checksum that is not one", lambda s: s.update(checksum="md5:0"), "checksum: "),
]


@pytest.mark.parametrize(("change", "message"), [(c, m) for _, c, m in EDITS],
                         ids=[name for name, _, _ in EDITS])
def test_a_hand_edited_field_is_named(run: Path, change: Callable[[dict[str, Any]], None],
                                      message: str) -> None:
    _edit(run, change)
    refused(run, message)


def test_a_well_typed_edit_fails_the_checksum(run: Path) -> None:
    _edit(run, lambda s: s.update(epoch=3))
    refused(run, "does not match its checksum")


def test_a_checkpoint_resaved_through_the_api_loads(run: Path) -> None:
    """The documented way to change a checkpoint on purpose: ``checkpoint.save`` writes a
    new checksum (the edit must still be valid)."""
    state = checkpoint.load(run / "last.pt")
    state["best_top1"] = 0.5
    checkpoint.save(run, state, best=False)
    assert checkpoint.load(run / "last.pt")["best_top1"] == 0.5


def test_the_checksum_covers_the_weights_and_is_stored(run: Path) -> None:
    state = checkpoint.load(run / "last.pt")
    assert state["version"] == 2 and state["checksum"].startswith("sha256:")
    assert checkpoint.digest(state) == state["checksum"]
    state["model"]["entry.conv1.weight"][0, 0, 0, 0] += 1e-7
    assert checkpoint.digest(state) != state["checksum"]


def test_a_version_1_checkpoint_without_checksum_still_loads(run: Path) -> None:
    _edit(run, lambda s: (s.pop("checksum"), s.update(version=1)))
    assert checkpoint.load(run / "last.pt")["epoch"] == 1


def test_a_version_2_checkpoint_needs_its_checksum(run: Path) -> None:
    _edit(run, lambda s: s.pop("checksum"))
    refused(run, "checksum: field required")


@pytest.mark.parametrize(("model", "dataclass"), [("RunFields", TrainConfig),
                                                  ("DataFields", DataConfig),
                                                  ("RecipeFields", Recipe)])
def test_the_schema_covers_every_config_field(model: str, dataclass: Any) -> None:
    from xdsl.train import schema

    assert set(getattr(schema, model).model_fields) == {f.name for f in fields(dataclass)}


def test_valid_weights_that_do_not_fit_the_network_are_refused_on_resume(run: Path) -> None:
    """Well-formed and checksummed, but a weight's key is not the network's."""
    state = checkpoint.load(run / "last.pt")
    state["model"]["entry.conv9.weight"] = state["model"].pop("entry.conv1.weight")
    checkpoint.save(run, state, best=False)
    result = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert result.exit_code == 1, result.output
    assert f"{run / 'last.pt'}: its state does not fit the network it describes" in \
        result.output and "entry.conv1.weight" in result.output
