"""Input side: open files named by the user or found on the host, safely and with bounds.

Every input file wheelfix reads (the wheel, ``lddtree``'s ELF file, host libraries) comes
through here. A path must name a regular file after its symlinks are followed: a FIFO would
block ``open`` or ``read`` forever, ``/dev/zero`` would never end, a directory or socket is
not a file. The file is opened with ``O_NONBLOCK`` (which regular files ignore) and checked
with ``fstat`` on the open descriptor, so it cannot be swapped between the check and the
read. Reads stop at the size ``fstat`` reported and at a caller's limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from wheelfix.errors import InputFileError

__all__ = ["describe_kind", "open_regular", "read_regular"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def describe_kind(mode: int) -> str:
    """``'a named pipe (FIFO)'`` and the like, for a non-regular ``st_mode``."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (cannot read it)"
    if isinstance(exc, FileNotFoundError):
        return "No such file or directory"
    return f"cannot read ({exc.strerror or exc})"


def _check_mode(path: Path, mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        raise InputFileError(str(path), f"is {describe_kind(mode)}, not {what}")


def open_regular(path: Path, what: str = "a regular file") -> BinaryIO:
    """Open ``path`` for reading; :class:`InputFileError` unless it is a readable regular file.

    ``what`` names the expected kind in the message (``"a wheel file"``, ``"an ELF file"``).
    """
    try:
        # stat first: open() itself fails on sockets (ENXIO) and on FIFOs without O_NONBLOCK
        # would wait for a writer.
        _check_mode(path, path.stat().st_mode, what)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except IsADirectoryError as exc:
        raise InputFileError(str(path), f"is a directory, not {what}") from exc
    except OSError as exc:
        raise InputFileError(str(path), _os_reason(exc)) from exc
    try:
        _check_mode(path, os.fstat(fd).st_mode, what)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int, what: str = "a regular file") -> bytes:
    """The whole content of a regular file, refusing one larger than ``limit`` bytes."""
    with open_regular(path, what) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise InputFileError(
                    str(path), f"is {size} bytes, more than the limit of {limit} bytes"
                )
            return handle.read(size)
        except OSError as exc:
            raise InputFileError(str(path), _os_reason(exc)) from exc
