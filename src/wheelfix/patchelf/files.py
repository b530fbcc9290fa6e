"""File access of ``wheelfix patchelf``: reading inputs, writing outputs safely.

Reads report patchelf's messages (``getting info about 'x': No such file or directory``).
A regular target is written to a temporary file in its directory and renamed over it, so a
failure leaves the old file whole; the target keeps its mode (a new file gets
``0777 & ~umask``, as patchelf creates it). A symlink is followed to the file it names.
A target that exists and is not a regular file (``/dev/null``, a FIFO) is written to,
never replaced.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from wheelfix.patchelf import PatchelfError


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


class FileError(PatchelfError):
    """A read or write failed; the message is patchelf's."""


def read_bytes(path: str) -> bytes:
    """The whole file, or FileError with patchelf's wording."""
    try:
        Path(path).stat()
    except OSError as exc:
        raise FileError(f"getting info about '{path}': {_strerror(exc)}") from None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise FileError(f"opening '{path}': {_strerror(exc)}") from None


def read_text(path: str) -> str:
    """A whole text file (``@file`` arguments, symbol maps)."""
    return read_bytes(path).decode("utf-8", "surrogateescape")


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (regular files) or in place (others)."""
    target = Path(path).resolve()
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise FileError(f"open: {_strerror(exc)}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        try:
            with target.open("wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise FileError(f"write: {_strerror(exc)}") from None
        return
    mode = stat.S_IMODE(info.st_mode) if info is not None else _new_file_mode()
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise FileError(f"open: {_strerror(exc)}") from None
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), mode)
        temp.replace(target)
    except OSError as exc:
        _discard(temp)
        raise FileError(f"write: {_strerror(exc)}") from None
    except BaseException:
        _discard(temp)
        raise


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
