"""Stage 5 helper: the fixed rules of the output archive (pure): member order, names, modes,
timestamps. Every byte of the zip :class:`~wheelfix.writer.WheelWriter` writes follows them.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import PurePosixPath

__all__ = [
    "ZIP_EPOCH",
    "archive_key",
    "archive_order",
    "check_member_name",
    "normalized_mode",
    "zip_timestamp",
]

ZIP_EPOCH = 315532800
"""1980-01-01 00:00:00 UTC, the earliest time a zip entry can carry."""

_ZIP_LAST = (2107, 12, 31, 23, 59, 58)
"""The latest time a zip entry can carry (the year is stored as 7 bits past 1980)."""


def zip_timestamp(epoch: int | None) -> tuple[int, int, int, int, int, int]:
    """The zip ``date_time`` for ``SOURCE_DATE_EPOCH``.

    ``None`` gives 1980-01-01 00:00:00. Otherwise the UTC time of ``epoch``, clipped to the
    range a zip entry can hold, with the seconds rounded down to even (zip stores seconds / 2).
    """
    if epoch is None or epoch <= ZIP_EPOCH:
        return (1980, 1, 1, 0, 0, 0)
    try:
        moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return _ZIP_LAST
    stamp = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    if stamp > _ZIP_LAST:
        return _ZIP_LAST
    return (*stamp[:5], stamp[5] - stamp[5] % 2)


def normalized_mode(mode: int) -> int:
    """``0o755`` when ``mode`` has any execute bit, else ``0o644``."""
    return 0o755 if mode & 0o111 else 0o644


def archive_key(name: str) -> tuple[bool, bool, str]:
    """Sort key of the output order: by name, ``*.dist-info/`` members last, RECORD very last.

    A wheel has exactly one top-level ``.dist-info`` directory, so the key needs no argument.
    """
    top, _, rest = name.partition("/")
    in_dist_info = top.endswith(".dist-info") and bool(rest)
    return (in_dist_info, in_dist_info and rest == "RECORD", name)


def archive_order(names: Iterable[str], dist_info: str) -> list[str]:
    """Member order in the output: sorted, ``<dist_info>/`` members last, its RECORD very last."""
    inside = f"{dist_info}/"
    record = f"{dist_info}/RECORD"
    return sorted(names, key=lambda name: (name.startswith(inside), name == record, name))


def check_member_name(name: str) -> None:
    path = PurePosixPath(name)
    if (
        not name
        or name.endswith("/")
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or ".." in path.parts
        or str(path) != name
    ):
        raise ValueError(f"not a valid wheel member name: {name!r}")
