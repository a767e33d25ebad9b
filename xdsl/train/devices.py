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


# what makes a CPU compute bfloat16 natively, as torch.cpu.get_capabilities() names it: the
# AVX512-BF16 dot products and AMX tiles on x86, the BF16 extension (NEON or SVE) on Arm
NATIVE_BF16 = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")


def cpu_bf16_features() -> list[str]:
    """This CPU's native bfloat16 features (of :data:`NATIVE_BF16`), from PyTorch's own
    capability query (cpuinfo, read at run time); empty when it has none.

    Without native support, oneDNN still runs bfloat16 by converting to float32 and back, which
    is slower than float32 itself: only native support makes autocast worth it.
    """
    import torch

    query = getattr(torch.cpu, "get_capabilities", None)
    if query is not None:
        caps = query()
        return [name for name in NATIVE_BF16 if caps.get(name) is True]
    # torch < 2.9: the x86 queries only
    found = [name for name, ask in (("avx512_bf16", "_is_avx512_bf16_supported"),
                                    ("amx_bf16", "_is_amx_tile_supported"))
             if getattr(torch.cpu, ask, lambda: False)()]
    return found


def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively (see :func:`cpu_bf16_features`); the one
    place the decision reads the hardware, so tests can monkeypatch it."""
    return bool(cpu_bf16_features())


def device_supports_bf16(device: str) -> bool:
    """bfloat16 support of ``device``: Ampere or later for CUDA, native support for a CPU."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.is_bf16_supported()
    return cpu_bf16_supported()


def select_precision(device: str, amp: str, bf16_supported: bool | None = None) -> Precision:
    """Autocast dtype and scaler for ``amp`` (``auto``, ``bf16``, ``fp16``, ``off``) on ``device``.

    ``bf16_supported`` says whether ``device`` computes bfloat16 (``None``: ask the hardware,
    :func:`device_supports_bf16`). On CUDA ``auto`` means bfloat16 when the GPU supports it (Ampere
    and later) and float16 with a scaler otherwise. On a CPU ``auto`` means bfloat16 when the
    CPU computes it natively (AVX512-BF16, AMX, Arm BF16) and float32 otherwise (emulated
    bfloat16 is slower than float32); ``bf16`` on a CPU without native support is an error, and
    ``fp16`` runs on CUDA only. Weights, BN statistics, the loss, the optimizer state and the
    EMA stay float32 in every case: autocast only lowers the precision of the products.
    """
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise TrainError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")
    if amp == "off":
        return Precision(None, False)
    cuda = device.startswith("cuda")
    if amp == "fp16" and not cuda:
        raise TrainError(f"--amp fp16: float16 mixed precision runs on CUDA only; this run is on "
                         f"{device} (use --amp bf16, auto or off)")
    if bf16_supported is None:
        bf16_supported = device_supports_bf16(device)
    if amp == "auto":
        if not cuda:
            return Precision("bfloat16", False) if bf16_supported else Precision(None, False)
        amp = "bf16" if bf16_supported else "fp16"
    if amp == "bf16":
        if not bf16_supported:
            if cuda:
                raise TrainError("--amp bf16: this GPU does not support bfloat16 (use --amp "
                                 "fp16)")
            raise TrainError(f"--amp bf16: this CPU does not compute bfloat16 natively (it has "
                             f"none of {', '.join(NATIVE_BF16)}), where emulated bfloat16 is "
                             f"slower than float32; use --amp auto or off")
        return Precision("bfloat16", False)
    return Precision("float16", True)


def dist_backend(device: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.startswith("cuda") else "gloo"
