"""What every package-database reader returns: installed packages and the paths they list.

The readers (``dpkg.py``, ``rpm.py``, ``apk.py``) only read their database; deciding which
listed path *is* a given file (through symlinked directories) is ``__init__.py``'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PackageRecord:
    """One installed package, as its database describes it."""

    kind: str
    """The package URL type of the database: ``deb``, ``rpm`` or ``apk``."""
    name: str
    """The package name (``zlib1g``, ``zlib``)."""
    version: str
    """The full version as the package manager prints it (rpm: ``version-release``)."""
    arch: str | None
    """The package architecture (``amd64``, ``x86_64``, ``noarch``), when recorded."""
    key: str
    """The reader's own handle for the package (dpkg list name, rpm header number...)."""
    epoch: str | None = None
    """rpm's epoch, when set (dpkg keeps its epoch inside ``version``)."""


class Database(Protocol):
    """A package database that can say which packages list a file name."""

    kind: str
    """The package URL type of its packages."""

    def exists(self) -> bool:
        """True when the database is present under the root."""
        ...

    def listed(self, basename: str) -> Sequence[tuple[str, PackageRecord]]:
        """Every ``(absolute path as listed, package)`` whose last component is ``basename``,
        sorted."""
        ...

    def files(self, record: PackageRecord) -> tuple[str, ...]:
        """Every path the package lists, as listed."""
        ...
