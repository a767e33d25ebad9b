"""The CUDA path by construction: device, autocast dtype, grad scaler and process-group backend
for every device string, decided by pure functions (this machine has no GPU)."""

from __future__ import annotations

import pytest
import torch

from xdsl.train import TrainError
from xdsl.train.devices import Precision, dist_backend, select_device, select_precision
from xdsl.train.evaluation import autocast


@pytest.mark.parametrize(("choice", "cuda", "rank", "want"), [
    ("auto", True, 0, "cuda:0"), ("auto", True, 3, "cuda:3"), ("auto", False, 0, "cpu"),
    ("cpu", True, 1, "cpu"), ("cuda", True, 2, "cuda:2"), ("cuda:1", True, 0, "cuda:1")])
def test_device_selection(choice: str, cuda: bool, rank: int, want: str) -> None:
    assert select_device(choice, cuda, rank) == want


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(TrainError, match="no CUDA device"):
        select_device("cuda", cuda_available=False)
    with pytest.raises(TrainError, match="auto, cpu or cuda"):
        select_device("tpu", cuda_available=False)


@pytest.mark.parametrize(("device", "amp", "bf16", "dtype", "scaler"), [
    ("cuda:0", "auto", True, "bfloat16", False),   # Ampere and later
    ("cuda:0", "auto", False, "float16", True),    # V100, T4: float16 needs loss scaling
    ("cuda:1", "fp16", True, "float16", True),
    ("cuda:0", "bf16", True, "bfloat16", False),
    ("cuda:0", "off", True, None, False),
    ("cpu", "auto", True, "bfloat16", False),      # AVX512-BF16, AMX, Arm BF16
    ("cpu", "auto", False, None, False),           # other CPUs train in float32
    ("cpu", "bf16", True, "bfloat16", False),
    ("cpu", "off", True, None, False),
])
def test_precision_selection(device: str, amp: str, bf16: bool, dtype: str | None,
                             scaler: bool) -> None:
    p = select_precision(device, amp, bf16)
    assert (p.dtype, p.scaler, p.enabled) == (dtype, scaler, dtype is not None)
    if dtype is not None:
        assert isinstance(getattr(torch, dtype), torch.dtype)


def test_fp16_on_a_cpu_and_bf16_without_native_support_are_refused() -> None:
    with pytest.raises(TrainError, match="CUDA only"):
        select_precision("cpu", "fp16", bf16_supported=True)
    with pytest.raises(TrainError, match="does not compute bfloat16 natively"):
        select_precision("cpu", "bf16", bf16_supported=False)


def test_bf16_on_an_old_gpu_is_refused() -> None:
    with pytest.raises(TrainError, match="does not support bfloat16"):
        select_precision("cuda:0", "bf16", bf16_supported=False)


def test_backends() -> None:
    assert dist_backend("cuda:0") == "nccl" and dist_backend("cpu") == "gloo"


def test_the_selected_precision_drives_autocast_and_the_scaler() -> None:
    """The loop enters autocast of the selected dtype, or nothing for float32."""
    with autocast(torch.device("cpu"), Precision(None, False)):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("cpu"), Precision("bfloat16", False)):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert str(Precision("float16", True)) == "float16 autocast + grad scaler"
