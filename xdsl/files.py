"""Reading spec files, which are untrusted input: regular files only, and at most a set size.

A path that names a device (``/dev/zero``), a FIFO, a socket or a directory is refused after
``os.stat``, before it is opened; the file is opened non-blocking (a FIFO swapped in after the
check cannot hang the open) and checked again once open; at most :func:`max_spec_bytes` + 1
bytes are read, so a huge file costs no more than the limit. Every failure is a
:class:`SpecFileError` (an ``OSError`` naming the file and the reason) or, for a file over the
limit, a :class:`~xdsl.diagnostics.SpecError` pointing at the first character past it.

Writing a spec (``xdsl fmt``) is atomic: :func:`write_atomically`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .diagnostics import Diagnostic, Source, Span, SpecError

DEFAULT_MAX_SPEC_BYTES = 2**20
"""1 MiB: hundreds of times the largest shipped spec (Inception V3, 4 KB)."""

_max_spec_bytes: ContextVar[int] = ContextVar("max_spec_bytes", default=DEFAULT_MAX_SPEC_BYTES)

_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket")]


class SpecFileError(OSError):
    """A spec file that cannot be read: ``cannot read PATH: REASON``."""

    def __str__(self) -> str:
        return f"cannot read {self.filename}: {self.strerror}"


def max_spec_bytes() -> int:
    """The size limit of spec files now (``--max-spec-size``; see :func:`spec_size_limit`)."""
    return _max_spec_bytes.get()


@contextmanager
def spec_size_limit(max_bytes: int) -> Iterator[None]:
    """Read spec files of up to ``max_bytes`` inside the ``with`` block (the CLI's
    ``--max-spec-size``): ``with xdsl.files.spec_size_limit(8 * 2**20): xdsl.check(path)``."""
    if max_bytes < 1:
        raise ValueError(f"the spec size limit must be positive, not {max_bytes}")
    token = _max_spec_bytes.set(max_bytes)
    try:
        yield
    finally:
        _max_spec_bytes.reset(token)


def exists(path: Path) -> bool:
    """Whether ``path`` names something, even something that cannot be read (which reading
    then reports): false only when nothing is there."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL byte
        return False
    except OSError:
        return True
    return True


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((what for test, what in _KINDS if test(mode)), "an unknown kind of file")
    return "it is a directory" if kind == "a directory" else \
        f"it is not a regular file ({kind})"


def _refuse(path: Path, code: int, reason: str) -> SpecFileError:
    return SpecFileError(code, reason, str(path))


def read_spec_bytes(path: Path, name: str, max_bytes: int | None = None) -> bytes:
    """The bytes of the spec file at ``path`` (reported as ``name``), at most ``max_bytes``
    (default :func:`max_spec_bytes`) of them."""
    limit = max_spec_bytes() if max_bytes is None else max_bytes
    try:
        reason = _not_regular(os.stat(path).st_mode)
        if reason:
            raise _refuse(path, errno.EISDIR if "directory" in reason else errno.EINVAL,
                          reason)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            reason = _not_regular(os.fstat(f.fileno()).st_mode)  # swapped in after the stat
            if reason:
                raise _refuse(path, errno.EINVAL, reason)
            data = f.read(limit + 1)
    except SpecFileError:
        raise
    except ValueError:  # a NUL byte in the path
        raise _refuse(path, errno.EINVAL, "the path holds a NUL byte") from None
    except OSError as e:
        raise _refuse(path, e.errno or errno.EIO, e.strerror or str(e)) from None
    if len(data) > limit:
        raise too_large(data[:limit], limit, name, str(path))
    return data


def size(n: int) -> str:
    """``1 MiB``, ``3 KiB`` or ``1,000 bytes``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"


def too_large(head: bytes, limit: int, name: str, path: str | None) -> SpecError:
    """The error for a spec over ``limit`` bytes, at the first character past the limit."""
    text = Source(head.decode("utf-8", "replace").removeprefix("\ufeff"), name, path).text
    line = text.count("\n") + 1
    column = len(text) - text.rfind("\n")
    what = f"{size(limit)} ({limit:,} bytes)" if size(limit).endswith("iB") else size(limit)
    return SpecError([Diagnostic(f"the spec is larger than the limit of {what}",
                                 Span.point(line, column),
                                 hint="raise the limit with --max-spec-size (in Python, "
                                      "`with xdsl.files.spec_size_limit(n):`)")],
                     Source(text, name, path))


def write_atomically(path: str, text: str) -> None:
    """Replace the file at ``path`` (through a symlink: its target) with ``text``: written to a
    temporary file in the same folder, flushed to disk, given the file's mode and renamed over
    it, so an error (a full disk, a file-size limit) or a crash leaves the old file whole."""
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (through symlinks and hard links); false when either
    does not exist."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False
