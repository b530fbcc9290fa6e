"""Output side: make ``-w``, tidy what killed runs left in it, copy a wheel through unchanged.

:class:`~wheelfix.writer.WheelWriter` writes each wheel to ``.<wheel>.<pid>.<random>.part``
beside its target and renames it at the end; on every error it removes the file. Only a run
killed outright (SIGKILL, the OOM killer, a power cut) leaves one behind. The next run in the
same directory removes such files when the process that wrote them is gone and the file has
not been touched for :data:`STALE_AFTER_SECONDS` (a writer in another PID namespace sharing
the directory keeps writing, so its file stays fresh).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from wheelfix.errors import OutputError
from wheelfix.hostfile import read_regular

__all__ = [
    "STALE_AFTER_SECONDS",
    "copy_unchanged",
    "is_stale_part",
    "prepare_output_dir",
    "remove_stale_parts",
]

STALE_AFTER_SECONDS = 300
"""A ``.part`` file of a dead process is removed once it is this old (seconds since written)."""

_PART_RE = re.compile(r"^\.(?P<wheel>.+\.whl)\.(?P<pid>[0-9]+)(?:\.[A-Za-z0-9_]+)?\.part$")


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we could have written: leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    except OverflowError:
        return False
    return True


def is_stale_part(name: str, age_seconds: float, own_pid: int) -> bool:
    """Whether ``name`` in ``-w`` is a ``.part`` file a dead wheelfix run left (pure but for
    the process check)."""
    match = _PART_RE.match(name)
    if match is None:
        return False
    pid = int(match.group("pid"))
    if pid == own_pid or age_seconds < STALE_AFTER_SECONDS:
        return False
    return not _process_alive(pid)


def remove_stale_parts(directory: Path) -> list[Path]:
    """Remove the stale ``.part`` files in ``directory``; return what was removed."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.endswith(".part"):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        if is_stale_part(entry.name, now - info.st_mtime, os.getpid()):
            with contextlib.suppress(OSError):
                Path(entry.path).unlink()
                removed.append(Path(entry.path))
    return removed


def prepare_output_dir(directory: Path) -> list[Path]:
    """Create ``directory`` if needed and tidy stale ``.part`` files; return those removed."""
    if directory.exists() and not directory.is_dir():
        raise OutputError(str(directory), "is not a directory (-w must name a directory)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OutputError(str(directory), "is not a directory (-w must name a directory)") from exc
    except OSError as exc:
        raise OutputError(str(directory), f"cannot create ({exc.strerror or exc})") from exc
    return remove_stale_parts(directory)


def copy_unchanged(wheel: Path, directory: Path, max_size: int) -> Path:
    """Copy ``wheel`` as it is into ``directory`` (atomically); return the copy's path.

    What ``repair --allow-pure-python-wheel`` does with a pure wheel. A wheel already in
    ``directory`` is left alone.
    """
    destination = directory / wheel.name
    if destination.exists() and destination.samefile(wheel):
        return destination
    data = read_regular(wheel, max_size, "a wheel file")
    prepare_output_dir(directory)
    temporary = directory / f".{wheel.name}.{os.getpid()}.part"
    try:
        temporary.write_bytes(data)
        temporary.replace(destination)
    except OSError as exc:
        raise OutputError(str(destination), f"cannot write ({exc.strerror or exc})") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return destination
