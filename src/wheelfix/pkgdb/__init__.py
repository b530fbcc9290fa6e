"""Which distro package owns a host library: dpkg, rpm and apk databases read as files.

Used by repair for the SBOM of grafted libraries (``sbom.py``) and by anything else that must
name a file's package. Nothing is run (no ``dpkg -S``, ``rpm -qf``, ``apk info``); the
databases under the root (``/`` or ``--sysroot``) are read on the first lookup, never at
import time, and kept only in the :class:`PackageIndex` the caller holds.

Paths are compared as the loader sees files, not as strings: a library found as
``/lib/x86_64-linux-gnu/libz.so.1`` on a merged-``/usr`` system (``/lib -> usr/lib``) belongs
to the package that lists ``/usr/lib/x86_64-linux-gnu/libz.so.1.2.13`` (its real file) or
``/lib/x86_64-linux-gnu/libz.so.1`` (the path itself). Symlinks are followed inside the root.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from wheelfix.ldpaths import resolve_in_sysroot
from wheelfix.pkgdb.apk import ApkDatabase
from wheelfix.pkgdb.dpkg import DpkgDatabase
from wheelfix.pkgdb.osrelease import distro_id
from wheelfix.pkgdb.purl import package_url
from wheelfix.pkgdb.records import Database, PackageRecord
from wheelfix.pkgdb.rpm import RpmDatabase

__all__ = ["OwningPackage", "PackageIndex", "owning_package"]


@dataclass(frozen=True)
class OwningPackage:
    """The installed distro package a file belongs to."""

    name: str
    """Package name: ``zlib1g`` (deb), ``zlib`` (rpm, apk)."""
    version: str
    """Version as the package manager prints it; rpm's is ``version-release``."""
    arch: str | None
    """Package architecture (``amd64``, ``x86_64``, ``noarch``), when recorded."""
    distro: str | None
    """``ID`` from os-release (``debian``, ``fedora``, ``alpine``), the purl namespace."""
    kind: str
    """``deb``, ``rpm`` or ``apk``: the purl type."""
    purl: str
    """``pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64``; rpm adds ``epoch=`` when set."""


def owning_package(record: PackageRecord, distro: str | None) -> OwningPackage:
    """A database record plus the distro -> :class:`OwningPackage` with its package URL."""
    purl = package_url(
        record.kind,
        record.name,
        record.version,
        namespace=distro,
        qualifiers={"arch": record.arch, "epoch": record.epoch},
    )
    return OwningPackage(record.name, record.version, record.arch, distro, record.kind, purl)


class PackageIndex:
    """The package databases of one root, opened lazily, in apk, rpm, dpkg order.

    Make one per run (or per ``--sysroot``) and pass it to whatever needs owners; it caches
    what it has read, and nothing else does.
    """

    def __init__(self, sysroot: Path | None = None, *, distro: str | None = None) -> None:
        self._root = Path(os.path.abspath(sysroot)) if sysroot is not None else Path("/")
        self._sysroot = sysroot is not None
        self._distro = distro
        self._distro_read = distro is not None
        self._databases: tuple[Database, ...] | None = None
        self._dirs: dict[str, str] = {}
        self._found: dict[OwningPackage, tuple[Database, PackageRecord]] = {}

    @property
    def root(self) -> Path:
        """The directory the databases and the files are looked up under."""
        return self._root

    @property
    def distro(self) -> str | None:
        """os-release ``ID`` of the root (read once), or the ``distro`` given."""
        if not self._distro_read:
            self._distro = distro_id(self._root)
            self._distro_read = True
        return self._distro

    def databases(self) -> tuple[Database, ...]:
        """The databases present under the root (checked on the first call)."""
        if self._databases is None:
            candidates: tuple[Database, ...] = (
                ApkDatabase(self._root),
                RpmDatabase(self._root),
                DpkgDatabase(self._root),
            )
            self._databases = tuple(db for db in candidates if db.exists())
        return self._databases

    def prefetch(self) -> None:
        """Read the databases' file indexes ahead, e.g. in a thread while the audit runs (a
        dpkg root's 800 ``.list`` files take 0.1 s); errors are left to the lookups."""
        with contextlib.suppress(Exception):
            for database in self.databases():
                database.listed("")  # the first lookup reads the whole index; "" finds none

    def find_owner(self, path: Path) -> OwningPackage | None:
        """The package owning the host file ``path`` (under the sysroot, if one was given)."""
        target = self._target_path(path)
        return None if target is None else self.find_target_owner(target)

    def find_target_owner(self, path: str) -> OwningPackage | None:
        """The package owning ``path`` as the target system names it (absolute, in the root).

        A package that lists the file's real path (directories and the file's own links
        resolved) wins over one that lists the path as given (directories resolved only).
        """
        if not path.startswith("/"):
            return None
        real = self._real(path)
        as_given = self._dirs_resolved(path)
        names = sorted({posixpath.basename(real), posixpath.basename(path)})
        for database in self.databases():
            fallback: PackageRecord | None = None
            for name in names:
                for listed, record in database.listed(name):
                    where = self._dirs_resolved(listed)
                    if where == real:
                        return self._owner(database, record)
                    if where == as_given and fallback is None:
                        fallback = record
            if fallback is not None:
                return self._owner(database, fallback)
        return None

    def files(self, owner: OwningPackage) -> tuple[str, ...]:
        """Every path ``owner`` lists, as listed (``owner`` must come from this index)."""
        found = self._found.get(owner)
        if found is None:
            return ()
        database, record = found
        return database.files(record)

    def _owner(self, database: Database, record: PackageRecord) -> OwningPackage:
        owner = owning_package(record, self.distro)
        self._found.setdefault(owner, (database, record))
        return owner

    def _target_path(self, path: Path) -> str | None:
        host = Path(os.path.abspath(path))
        if not self._sysroot:
            return host.as_posix()
        for root in (self._root, self._root.resolve()):
            try:
                relative = host.relative_to(root)
            except ValueError:
                continue
            return "/" + relative.as_posix() if relative.parts else "/"
        return None

    def _real(self, path: str) -> str:
        """``path`` in the root with every symlink followed inside the root."""
        relative = resolve_in_sysroot(self._root, path).relative_to(self._root)
        return str(PurePosixPath("/", relative))

    def _dirs_resolved(self, path: str) -> str:
        """``path`` with its directories' symlinks followed, its last component kept."""
        directory, name = posixpath.split(posixpath.normpath(path))
        if directory not in self._dirs:
            self._dirs[directory] = self._real(directory)
        return posixpath.join(self._dirs[directory], name)
