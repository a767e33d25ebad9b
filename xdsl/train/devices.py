"""Device, mixed-precision and process-group choices as pure functions.

This machine has no GPU, so the CUDA path is kept in small decisions that tests can call with
any device string and capability flags; the loop only applies what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import TrainError


@dataclass(frozen=True)
class Precision:
    """``dtype`` of autocast (``None``: full float32) and whether a gradient scaler is needed.

    float16 has a narrow exponent, so small gradients underflow unless the loss is scaled;
    bfloat16 has float32's exponent and needs no scaler.
    """

    dtype: str | None
    scaler: bool

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def __str__(self) -> str:
        if self.dtype is None:
            return "float32"
        return f"{self.dtype} autocast" + (" + grad scaler" if self.scaler else "")


def select_device(choice: str, cuda_available: bool, local_rank: int = 0) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; each process of a multi-GPU run
    takes the GPU of its local rank."""
    if choice not in ("auto", "cpu", "cuda") and not choice.startswith("cuda:"):
        raise TrainError(f"device must be auto, cpu or cuda, got {choice!r}")
    if choice == "auto":
        choice = "cuda" if cuda_available else "cpu"
    if choice.startswith("cuda"):
        if not cuda_available:
            raise TrainError("--device cuda: no CUDA device is available (use --device auto or "
                             "cpu)")
        return choice if ":" in choice else f"cuda:{local_rank}"
    return "cpu"


def select_precision(device: str, amp: str, bf16_supported: bool = True) -> Precision:
    """Autocast dtype and scaler for ``amp`` (``auto``, ``bf16``, ``fp16``, ``off``) on ``device``.

    Mixed precision runs on CUDA only: ``auto`` there means bfloat16 when the GPU supports it
    (Ampere and later) and float16 with a scaler otherwise; on a CPU ``auto`` means float32 and
    asking for bf16/fp16 is an error (CPU autocast is slower than float32 for these networks).
    """
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise TrainError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")
    cuda = device.startswith("cuda")
    if amp == "off" or (amp == "auto" and not cuda):
        return Precision(None, False)
    if not cuda:
        raise TrainError(f"--amp {amp}: mixed precision runs on CUDA only; this run is on "
                         f"{device} (use --amp auto or off)")
    if amp == "auto":
        amp = "bf16" if bf16_supported else "fp16"
    if amp == "bf16":
        if not bf16_supported:
            raise TrainError("--amp bf16: this GPU does not support bfloat16 (use --amp fp16)")
        return Precision("bfloat16", False)
    return Precision("float16", True)


def dist_backend(device: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.startswith("cuda") else "gloo"
