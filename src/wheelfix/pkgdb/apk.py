"""The apk database (Alpine): the text file ``/lib/apk/db/installed``.

One paragraph per package, one ``X:value`` line per field: ``P:`` name, ``V:`` version,
``A:`` architecture, ``F:`` a directory (relative to ``/``), and ``R:`` a file in the last
``F:`` directory. Paragraphs are separated by blank lines.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelfix.ldpaths import resolve_in_sysroot
from wheelfix.pkgdb.records import PackageRecord

APK_INSTALLED = ("/lib/apk/db/installed", "/usr/lib/apk/db/installed")
"""Where apk-tools keeps the installed database (the second on merged-/usr systems)."""


@dataclass(frozen=True)
class ApkPackage:
    """One paragraph of the installed database."""

    record: PackageRecord
    files: tuple[str, ...]
    """Absolute paths, ``/`` + ``F:`` + ``/`` + ``R:``."""


def _finish(fields: dict[str, str], files: list[str], index: int) -> ApkPackage | None:
    name = fields.get("P")
    if not name:
        return None
    record = PackageRecord(
        "apk", name, fields.get("V", ""), fields.get("A") or None, key=str(index)
    )
    return ApkPackage(record, tuple(files))


def parse_installed(text: str) -> list[ApkPackage]:
    """Parse the whole ``installed`` file; paragraphs without ``P:`` are skipped."""
    packages: list[ApkPackage] = []
    fields: dict[str, str] = {}
    files: list[str] = []
    directory = ""
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            package = _finish(fields, files, len(packages))
            if package is not None:
                packages.append(package)
            fields, files, directory = {}, [], ""
            continue
        tag, sep, value = line.partition(":")
        if not sep or len(tag) != 1:
            continue
        if tag == "F":
            directory = value.strip("/")
        elif tag == "R":
            files.append(posixpath.join("/", directory, value))
        else:
            fields.setdefault(tag, value)
    return packages


class ApkDatabase:
    """The apk installed database under a root, parsed on first use."""

    kind = "apk"

    def __init__(self, root: Path) -> None:
        self._paths = tuple(resolve_in_sysroot(root, path) for path in APK_INSTALLED)
        self._packages: list[ApkPackage] | None = None

    def _path(self) -> Path | None:
        return next((path for path in self._paths if path.is_file()), None)

    def exists(self) -> bool:
        return self._path() is not None

    def packages(self) -> list[ApkPackage]:
        """Every installed package (read once)."""
        if self._packages is None:
            path = self._path()
            try:
                text = path.read_text(encoding="utf-8", errors="surrogateescape") if path else ""
            except OSError:
                text = ""
            self._packages = parse_installed(text)
        return self._packages

    def listed(self, basename: str) -> Sequence[tuple[str, PackageRecord]]:
        found = [
            (path, package.record)
            for package in self.packages()
            for path in package.files
            if posixpath.basename(path) == basename
        ]
        return sorted(found, key=lambda item: (item[0], item[1].key))

    def files(self, record: PackageRecord) -> tuple[str, ...]:
        packages = self.packages()
        index = int(record.key)
        return packages[index].files if 0 <= index < len(packages) else ()
