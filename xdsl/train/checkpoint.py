"""Checkpoints that survive being killed mid-write and load with ``weights_only=True``.

A checkpoint is serialised once in memory, written to a temporary file in the run folder,
flushed to disk (fsync) and renamed over ``last.pt`` (and ``best.pt``): a rename within a folder
is atomic, so a reader sees the old file or the new one, never half of one. It holds only
tensors and plain containers of numbers and strings (the spec as text, RNG states as tensors),
which is what ``torch.load(weights_only=True)`` accepts: loading runs no pickled code.

A checkpoint is untrusted input when read: :func:`load` validates every field
(:mod:`xdsl.train.schema`) and verifies ``checksum``, a SHA-256 of the whole content (every
tensor's bytes and every other value, in the stored order) written by :func:`save`, so a changed
byte or a hand edit is a :class:`CheckpointError`, never a crash later or a silent change. To
change a checkpoint on purpose, load it, edit the dict and write it with :func:`save`.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import sys
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, TrainError

FORMAT = "xdsl-train-checkpoint"
VERSION = 2
"""1: no checksum (still read); 2: ``checksum`` holds :func:`digest` of the rest."""
LAST, BEST = "last.pt", "best.pt"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash at any moment leaves the old file intact."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a read-only or vanished folder...
        tmp.unlink(missing_ok=True)
        raise TrainError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Temporary files a killed process left behind (they are never read)."""
    stale = sorted(run_dir.glob(".*.pt.tmp-*"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def save(run_dir: Path, state: dict[str, Any], best: bool) -> Path:
    """Write ``last.pt`` (and ``best.pt`` when ``best``); return the path of ``last.pt``."""
    full = {"format": FORMAT, "version": VERSION,
            **{k: v for k, v in state.items() if k not in ("format", "version", "checksum")}}
    full["checksum"] = digest(full)
    buffer = io.BytesIO()
    torch.save(full, buffer)
    data = buffer.getvalue()
    write_atomic(run_dir / LAST, data)
    if best:
        write_atomic(run_dir / BEST, data)
    return run_dir / LAST


def resolve(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run folder (its ``last.pt``)."""
    p = Path(path)
    return p / LAST if p.is_dir() else p


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint on the CPU; a damaged or foreign file raises :class:`CheckpointError`."""
    p = resolve(path)
    if not p.is_file():
        where = f"{path} holds no {LAST}" if Path(path).is_dir() else f"no checkpoint at {p}"
        raise CheckpointError(where)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, forbidden global...
        reason = _first_sentence(f"{type(e).__name__}: {e}")
        raise CheckpointError(
            f"{p} cannot be read as a checkpoint ({reason}); it is truncated, damaged or not "
            f"a PyTorch file. An interrupted run keeps its previous checkpoint, so check "
            f"{p.parent / BEST} or start again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{p} is a PyTorch file but not an xdsl training checkpoint "
                              "(no 'format' entry); `xdsl train` writes them")
    version = state.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise CheckpointError(f"{p} was written by a newer xdsl (checkpoint version "
                              f"{version}); upgrade xdsl to read it")
    other = p.parent / (LAST if p.name == BEST else BEST)
    damaged = (f"; it was damaged or edited after it was written. An interrupted run keeps "
               f"its previous checkpoint, so check {other} or start again")
    from pydantic import ValidationError

    from .schema import Checkpoint, problems

    try:
        Checkpoint.model_validate(state)
    except ValidationError as e:
        raise CheckpointError(f"{p} is not a valid xdsl checkpoint: {problems(e)}{damaged}") \
            from None
    if version >= 2:
        if state.get("checksum") is None:
            raise CheckpointError(f"{p} is not a valid xdsl checkpoint: checksum: field "
                                  f"required{damaged}")
        if digest(state) != state["checksum"]:
            raise CheckpointError(f"{p}: its content does not match its checksum{damaged}")
    return state


def digest(state: dict[str, Any]) -> str:
    """``sha256:...`` of a checkpoint's content, its ``checksum`` entry left out: every
    tensor's dtype, shape and bytes and every other value, with the keys, in stored order."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != "checksum"})
    return f"sha256:{h.hexdigest()}"


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(value.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        h.update(f"D{len(value)}:".encode())
        for k, v in value.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(value, list | tuple):
        h.update(f"L{len(value)}:".encode())
        for v in value:
            _feed(h, v)
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        h.update(f"S{len(data)}:".encode() + data)
    elif isinstance(value, bool) or value is None:
        h.update(f"{value}:".encode())
    elif isinstance(value, int):
        h.update(f"I{value}:".encode())
    elif isinstance(value, float):
        h.update(b"F" + struct.pack(">d", value))
    else:  # torch.Size, torch.dtype and the like: their text is their value
        h.update(f"O{type(value).__name__}{value!r}:".encode())


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0]
    return line.split(". ")[0].rstrip(".")[:160]


def rng_state() -> dict[str, Any]:
    """Python's, NumPy's (when loaded), torch's and this process's CUDA generator, as tensors."""
    version, words, gauss = random.getstate()
    state: dict[str, Any] = {"python": torch.tensor(words, dtype=torch.int64),
                             "python_version": version, "python_gauss": gauss,
                             "torch": torch.get_rng_state()}
    if "numpy" in sys.modules:
        import numpy as np

        _, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = torch.from_numpy(keys.astype(np.int64))
        state["numpy_extra"] = [int(pos), int(has_gauss), float(cached)]
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def seed_all(seed: int) -> None:
    """Seed torch's, Python's and NumPy's global generators from ``seed`` (0 ... 2**64 - 1)."""
    import numpy as np

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed([seed & 0xFFFFFFFF, seed >> 32])


def set_rng_state(state: dict[str, Any]) -> None:
    words = tuple(int(w) for w in state["python"].tolist())
    random.setstate((int(state["python_version"]), words, state["python_gauss"]))
    torch.set_rng_state(state["torch"])
    if "numpy" in state and "numpy" in sys.modules:
        import numpy as np

        pos, has_gauss, cached = state["numpy_extra"]
        np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), int(pos),
                             int(has_gauss), float(cached)))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
