"""CIFAR-10/100 from a local folder in the Python format: reading, augmentation, training."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from xdsl.cli import main
from xdsl.train import DataConfig, TrainConfig, TrainError, cifar, recipe, train
from xdsl.train.data import class_names, open_data

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
         "truck"]


def quiet(_: str) -> None:
    pass


def write_cifar10(root: Path, per_batch: int = 8, test: int = 12) -> Path:
    """``root/cifar-10-batches-py`` with five training batches, a test batch and the meta
    file, as the Python version holds them (uint8 N x 3072 rows: red, green, blue planes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]
    for n, (name, count) in enumerate(batches):
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        labels = [(n * count + i) % 10 for i in range(count)]
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": f"batch {n}", "labels": labels, "data": data,
                         "filenames": [f"{name}_{i}.png" for i in range(count)]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": NAMES, "num_cases_per_batch": per_batch,
                     "num_vis": 3072}, f)
    return root


def write_cifar100(root: Path) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, count in (("train", 20), ("test", 10)):
        with open(folder / name, "wb") as f:
            pickle.dump({"fine_labels": [i % 100 for i in range(0, 5 * count, 5)],
                         "coarse_labels": [i % 20 for i in range(count)],
                         "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                         "filenames": [f"{i}.png" for i in range(count)]}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class{i:02d}" for i in range(100)],
                     "coarse_label_names": [f"super{i:02d}" for i in range(20)]}, f)
    return root


@pytest.fixture(scope="module")
def cifar10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar10(tmp_path_factory.mktemp("cifar10"))


@pytest.fixture(scope="module")
def cifar100(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar100(tmp_path_factory.mktemp("cifar100"))


def test_the_folder_reads_as_torchvision_reads_it(cifar10: Path, cifar100: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's CIFAR10/CIFAR100 (download=False) see the same images, labels and
    classes; their check of the real files' MD5 sums is the only thing bypassed."""
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.datasets import cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    for cls, root, source in ((CIFAR10, cifar10, f"cifar10:{cifar10}"),
                              (CIFAR100, cifar100, f"cifar100:{cifar100}")):
        for split in ("train", "val"):
            tv = cls(str(root), train=split == "train", download=False)
            images, labels = cifar.arrays(source, split)
            assert images.shape == tv.data.shape and np.array_equal(images, tv.data)
            assert labels == list(tv.targets)
        assert cifar.class_names(source) == tv.classes
    assert len(cifar.arrays(f"cifar10:{cifar10}", "train")[1]) == 40
    assert cifar.class_names(f"cifar100:{cifar100}")[99] == "class99"
    # PATH may also name the batches' folder itself
    assert cifar.class_names(f"cifar10:{cifar10 / 'cifar-10-batches-py'}") == NAMES


def test_cifar_sets_the_image_size_to_32() -> None:
    assert DataConfig(source="cifar10:/data").image_size == 32
    assert DataConfig(source="cifar100:/data", image_size=64).image_size == 64
    assert DataConfig().image_size is None and DataConfig(source="/data/cifar10").image_size \
        is None


def test_validation_images_are_the_pixels_scaled(cifar10: Path) -> None:
    source = f"cifar10:{cifar10}"
    data = open_data(DataConfig(source=source), (32, 32))
    images, labels = cifar.arrays(source, "val")
    image, label = data.val[(3, 12345)]
    expected = torch.from_numpy(images[3]).permute(2, 0, 1).float() / 255 * 2 - 1
    assert label == labels[3] and torch.allclose(image, expected, atol=1e-6)
    assert data.classes == NAMES and len(data.train) == 40 and len(data.val) == 12


def test_training_images_are_padded_crops_and_flips(cifar10: Path) -> None:
    """Each training sample is one of the 81 crops of the image padded by 4 (zeros), flipped
    or not; which one is drawn from the sample's seed (the same seed: the same image)."""
    source = f"cifar10:{cifar10}"
    data = open_data(DataConfig(source=source), (32, 32))
    pixels = torch.from_numpy(cifar.arrays(source, "train")[0][5]).permute(2, 0, 1)
    padded = torch.nn.functional.pad(pixels.float() / 255 * 2 - 1, (4, 4, 4, 4), value=-1.0)
    crops = [padded[:, y:y + 32, x:x + 32] for y in range(9) for x in range(9)]
    candidates = crops + [c.flip(-1) for c in crops]
    seen = set()
    for seed in range(12):
        image, _ = data.train[(5, seed)]
        matches = [i for i, c in enumerate(candidates) if torch.allclose(image, c, atol=1e-6)]
        assert matches, seed
        seen.add(matches[0])
        assert torch.equal(image, data.train[(5, seed)][0])
    assert len(seen) > 6  # the crops and flips vary with the seed
    assert any(i >= 81 for i in seen) and any(i < 81 for i in seen)


def test_other_sizes_resize_first(cifar10: Path) -> None:
    data = open_data(DataConfig(source=f"cifar10:{cifar10}", image_size=48), (48, 48))
    assert data.train[(0, 1)][0].shape == data.val[(0, 1)][0].shape == (3, 48, 48)


def test_a_missing_file_or_a_crafted_pickle_is_an_error(tmp_path: Path, cifar10: Path) -> None:
    with pytest.raises(TrainError, match="lacks data_batch_1"):
        class_names(DataConfig(source=f"cifar10:{tmp_path}"))
    with pytest.raises(TrainError, match="expected cifar10:PATH"):
        cifar.parse("cifar10:")
    bad = write_cifar10(tmp_path / "bad")
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {marker}",))

    with open(bad / "cifar-10-batches-py" / "batches.meta", "wb") as f:
        pickle.dump({"label_names": Exploit()}, f)
    with pytest.raises(TrainError, match="not part of a CIFAR file"):
        cifar.class_names(f"cifar10:{bad}")
    assert not marker.exists()
    with open(bad / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump({"labels": [0, 1], "data": np.zeros((2, 100), dtype=np.uint8)}, f)
    with pytest.raises(TrainError, match="uint8 data of N x 3072"):
        cifar.arrays(f"cifar10:{bad}", "train")


def test_training_on_cifar_resumes_exactly(tmp_path: Path, cifar10: Path) -> None:
    """Random crops and flips: a run stopped and resumed takes the same steps."""
    def config(run: str, **changes: Any) -> TrainConfig:
        return TrainConfig(spec="mini_xception", params={"width": "8"},
                           data=DataConfig(source=f"cifar10:{cifar10}", workers=0),
                           recipe=recipe("imagenet", epochs=2, batch_size=8),
                           run_dir=str(tmp_path / run), progress=False, **changes)

    whole: list[float] = []
    summary = train(config("whole"), on_step=lambda s, loss: whole.append(loss), log=quiet)
    assert summary.params["classes"] == 10 and summary.params["image_size"] == 32
    assert summary.steps == len(whole) == 10
    train(config("parts", max_steps=7), log=quiet)
    rest: list[float] = []
    train(TrainConfig(resume=str(tmp_path / "parts"), progress=False),
          on_step=lambda s, loss: rest.append(loss), log=quiet)
    assert rest == whole[7:]


def test_the_cli_trains_on_cifar(tmp_path: Path, cifar10: Path) -> None:
    result = CliRunner().invoke(main, [
        "train", "mini_xception", "--set", "width=8", "--data", f"cifar10:{cifar10}",
        "--epochs", "1", "--batch-size", "8", "--workers", "0", "--run-dir",
        str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "40 training and 12 validation images, 10 classes, 32x32" in result.output
    bad = CliRunner().invoke(main, ["train", "mini_xception", "--data", "cifar10:/nonexistent",
                                    "--run-dir", str(tmp_path / "bad")])
    assert bad.exit_code == 1 and "lacks data_batch_1" in bad.output


def test_a_study_trains_on_cifar(tmp_path: Path, cifar10: Path) -> None:
    out = tmp_path / "study"
    result = CliRunner().invoke(main, [
        "study", "mini_xception", "--set", "width=8", "--sweep", "middle_repeats=1,2",
        "--data", f"cifar10:{cifar10}", "--epochs", "1", "--batch-size", "8", "--workers", "0",
        "--threads", "1", "--executor", "inline", "--quiet", "--format", "json", "--out",
        str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)
    assert [len(p["runs"]) for p in results["points"]] == [1, 1]
    assert results["data"]["source"] == f"cifar10:{cifar10}"
    assert results["data"]["image_size"] == 32
    summary = json.loads((out / results["points"][1]["runs"][0]["run_dir"] / "summary.json")
                         .read_text())
    assert summary["params"]["image_size"] == 32 and summary["steps"] == 5
