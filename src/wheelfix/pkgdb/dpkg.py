"""The dpkg database: ``/var/lib/dpkg/status`` and the file lists ``/var/lib/dpkg/info/*.list``.

``status`` gives each installed package's version and architecture; ``<package>.list`` (or
``<package>:<arch>.list`` for ``Multi-Arch: same`` packages) lists its paths, one a line, as
``dpkg -S`` searches them. The lists are read once, on the first lookup, into an index by
file name. Diversions (``/var/lib/dpkg/diversions``) are not followed.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator, Sequence
from pathlib import Path

from wheelfix.ldpaths import resolve_in_sysroot
from wheelfix.pkgdb.records import PackageRecord

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"

_PRESENT_STATES = frozenset(
    {"installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"}
)
"""Status words of packages whose files are on disk (not ``config-files``/``not-installed``)."""


def parse_stanzas(text: str) -> Iterator[dict[str, str]]:
    """Deb822 paragraphs -> ``{field: value}``; continuation lines are joined with newlines."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip()
            fields[last] = value.strip()
    if fields:
        yield fields


def installed_packages(status_text: str) -> dict[str, PackageRecord]:
    """Packages present on disk, by the name of their list file (without ``.list``).

    A package is reachable both as ``name:arch`` and, when no other architecture of it is
    installed, as ``name``: dpkg names the list after ``name:arch`` only for
    ``Multi-Arch: same`` packages.
    """
    by_stem: dict[str, PackageRecord] = {}
    names: dict[str, list[PackageRecord]] = {}
    for fields in parse_stanzas(status_text):
        name = fields.get("Package")
        state = fields.get("Status", "").split()
        if not name or not state or state[-1] not in _PRESENT_STATES:
            continue
        arch = fields.get("Architecture") or None
        stem = f"{name}:{arch}" if arch else name
        record = PackageRecord("deb", name, fields.get("Version", ""), arch, key=stem)
        by_stem[stem] = record
        names.setdefault(name, []).append(record)
    for name, records in names.items():
        if len(records) == 1:
            by_stem.setdefault(name, records[0])
    return by_stem


class DpkgDatabase:
    """The dpkg database under a root, indexed by file name on first use."""

    kind = "deb"

    def __init__(self, root: Path) -> None:
        self._status = resolve_in_sysroot(root, DPKG_STATUS)
        self._info = resolve_in_sysroot(root, DPKG_INFO)
        self._packages: dict[str, PackageRecord] | None = None
        self._by_name: dict[str, list[tuple[str, PackageRecord]]] | None = None

    def exists(self) -> bool:
        return self._status.is_file()

    def packages(self) -> dict[str, PackageRecord]:
        """The installed packages (read once)."""
        if self._packages is None:
            try:
                text = self._status.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            self._packages = installed_packages(text)
        return self._packages

    def _read_list(self, stem: str) -> list[str]:
        try:
            data = (self._info / f"{stem}.list").read_bytes()
        except OSError:
            return []
        return [os.fsdecode(line) for line in data.split(b"\n") if line.startswith(b"/")]

    def _index(self) -> dict[str, list[tuple[str, PackageRecord]]]:
        if self._by_name is None:
            packages = self.packages()
            index: dict[str, list[tuple[str, PackageRecord]]] = {}
            try:
                entries = sorted(entry.name for entry in os.scandir(self._info))
            except OSError:
                entries = []
            for entry in entries:
                stem = entry[: -len(".list")]
                record = packages.get(stem) if entry.endswith(".list") else None
                if record is None:
                    continue
                for path in self._read_list(stem):
                    index.setdefault(posixpath.basename(path), []).append((path, record))
            self._by_name = index
        return self._by_name

    def listed(self, basename: str) -> Sequence[tuple[str, PackageRecord]]:
        if not self.exists():
            return ()
        return sorted(self._index().get(basename, ()), key=lambda item: (item[0], item[1].key))

    def files(self, record: PackageRecord) -> tuple[str, ...]:
        return tuple(self._read_list(record.key) or self._read_list(record.name))
