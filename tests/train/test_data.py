"""Synthetic shapes, ImageNet-style folders, and samplers that make resumption exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xdsl.train import DataConfig, TrainError
from xdsl.train.data import EpochSampler, SeededItems, ShardSampler, class_names, open_data
from xdsl.train.shapes import SHAPES, Shapes


def test_shapes_are_a_pure_function_of_seed_split_and_index() -> None:
    a, b = Shapes(50, 10, (40, 56), seed=1), Shapes(50, 10, (40, 56), seed=1)
    for i in (0, 7, 49):
        assert torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1] == i % 10
    assert torch.equal(a[(7, 123)][0], a[7][0])  # the sample seed is ignored: no augmentation
    assert not torch.equal(Shapes(50, 10, (40, 56), seed=2)[7][0], a[7][0])
    assert not torch.equal(Shapes(50, 10, (40, 56), seed=1, split="val")[7][0], a[7][0])
    image = a[3][0]
    assert image.shape == (3, 40, 56) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1 and image.std() > 0.2
    with pytest.raises(IndexError):
        a[50]


def test_every_shape_draws_a_distinct_mask() -> None:
    v = torch.linspace(-1.2, 1.2, 64).view(-1, 1)
    u = torch.linspace(-1.2, 1.2, 64).view(1, -1)
    masks = {name: f(u, v) for name, f in SHAPES.items()}
    for name, m in masks.items():
        assert 0.05 < m.float().mean() < 0.9, name
    names = list(masks)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            assert (masks[x] != masks[y]).float().mean() > 0.05, (x, y)


def test_class_counts() -> None:
    assert class_names(DataConfig(shapes_classes=3)) == ["circle", "square", "triangle"]
    with pytest.raises(TrainError, match="2 to 10"):
        class_names(DataConfig(shapes_classes=11))


def test_an_epoch_sampler_resumed_midway_yields_the_rest_of_the_same_epoch() -> None:
    full = list(EpochSampler(100, world=1, rank=0, seed=5, epoch=3))
    assert sorted(i for i, _ in full) == list(range(100))
    assert list(EpochSampler(100, 1, 0, seed=5, epoch=3, start=48)) == full[48:]
    assert [i for i, _ in EpochSampler(100, 1, 0, seed=5, epoch=4)] != [i for i, _ in full]
    assert len(EpochSampler(100, 1, 0, 5, 3, start=48)) == 52


def test_processes_share_an_epoch_without_overlap() -> None:
    shards = [[i for i, _ in EpochSampler(10, world=3, rank=r, seed=0, epoch=0)]
              for r in range(3)]
    assert all(len(s) == 4 for s in shards)  # padded so every process takes as many steps
    assert set().union(*shards) == set(range(10))
    val = [[i for i, _ in ShardSampler(10, 3, r)] for r in range(3)]
    assert sorted(sum(val, [])) == list(range(10))  # evaluation sees each image once


def test_folder_data_use_imagenet_transforms(image_folder: Path) -> None:
    cfg = DataConfig(source=str(image_folder))
    assert class_names(cfg) == ["circle", "square"]
    data = open_data(cfg, (32, 32))
    image, label = data.train[(0, 11)]
    again, _ = data.train[(0, 11)]
    other, _ = data.train[(0, 12)]
    assert image.shape == (3, 32, 32) and label in (0, 1)
    assert torch.equal(image, again)  # the augmentation is drawn from the sample's seed
    assert not torch.equal(image, other)
    v1, v2 = data.val[(0, 1)], data.val[(0, 2)]
    assert torch.equal(v1[0], v2[0])  # evaluation crops are not random
    assert -1 <= image.min() and image.max() <= 1


def test_seeded_items_leave_the_callers_random_state_alone(image_folder: Path) -> None:
    data = open_data(DataConfig(source=str(image_folder)), (32, 32))
    assert isinstance(data.train, SeededItems)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    data.train[(1, 99)]
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(("layout", "message"), [("nothing", "not `shapes` and not a folder"),
                                                 ("no_val", "expected"),
                                                 ("mismatch", "different classes")])
def test_bad_folders_say_what_is_wrong(tmp_path: Path, layout: str, message: str) -> None:
    source = tmp_path / "data"
    if layout != "nothing":
        (source / "train" / "cat").mkdir(parents=True)
    if layout == "mismatch":
        (source / "val" / "dog").mkdir(parents=True)
    with pytest.raises(TrainError, match=message):
        class_names(DataConfig(source=str(source)))


def test_metrics_go_to_jsonl_csv_and_tensorboard_when_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from xdsl.train.metrics import MetricsLog, read

    scalars: list[tuple[str, float, int]] = []

    class Writer:
        def __init__(self, log_dir: str) -> None:
            assert log_dir == str(tmp_path / "tb")

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            scalars.append((tag, value, step))

        def flush(self) -> None: ...
        def close(self) -> None: ...

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = Writer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    log = MetricsLog(tmp_path, enabled=True, tensorboard=None)
    log.write({"epoch": 1, "step": 10, "train_loss": 2.5, "val_top1": 0.5, "weights": "ema"})
    log.write({"epoch": 2, "step": 20, "train_loss": 1.5, "val_top1": 0.75, "weights": "ema"})
    log.close()
    assert [r["step"] for r in read(tmp_path)] == [10, 20]
    assert (tmp_path / "metrics.csv").read_text().splitlines()[2].startswith("2,20,1.5,")
    assert ("val_top1", 0.75, 20) in scalars and not any(t == "epoch" for t, _, _ in scalars)
    assert MetricsLog(tmp_path, enabled=True, tensorboard=False).writer is None
