"""The dpkg database: ``/var/lib/dpkg/status`` and the file lists ``/var/lib/dpkg/info/*.list``.

``status`` gives each installed package's version and architecture; ``<package>.list`` (or
``<package>:<arch>.list`` for ``Multi-Arch: same`` packages) lists its paths, one a line, as
``dpkg -S`` searches them. Nothing is read before a library needs an owner; then every list
is read once into one blob of bytes, and a lookup decodes only the lines that end in the
wanted file name (found by ``bytes.find``), so a run that grafts a few libraries never
splits and indexes the hundred thousand paths a system lists. Diversions
(``/var/lib/dpkg/diversions``) are not followed.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
        self._lists: _Lists | None = None
        self._by_name: dict[str, list[tuple[str, PackageRecord]]] = {}

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

    def _list_bytes(self, stem: str) -> bytes | None:
        """``<stem>.list``, or None when it cannot be read."""
        try:
            return (self._info / f"{stem}.list").read_bytes()
        except OSError:
            return None

    def _read_list(self, stem: str) -> list[str]:
        data = self._list_bytes(stem) or b""
        return [os.fsdecode(line) for line in data.split(b"\n") if line.startswith(b"/")]

    def _installed_lists(self) -> _Lists:
        """Every installed package's list, in file-name order, joined into one blob."""
        if self._lists is None:
            packages = self.packages()
            try:
                entries = sorted(entry.name for entry in os.scandir(self._info))
            except OSError:
                entries = []
            chunks: list[bytes] = []
            starts: list[int] = []
            records: list[PackageRecord] = []
            size = 0
            for entry in entries:
                stem = entry[: -len(".list")]
                record = packages.get(stem) if entry.endswith(".list") else None
                data = self._list_bytes(stem) if record is not None else None
                if record is None or data is None:
                    continue
                starts.append(size)
                records.append(record)
                chunks.append(data if data.endswith(b"\n") else data + b"\n")
                size += len(chunks[-1])
            self._lists = _Lists(b"".join(chunks), tuple(starts), tuple(records))
        return self._lists

    def _lookup(self, basename: str) -> list[tuple[str, PackageRecord]]:
        """Every listed path whose last component is ``basename``, in list order: one
        ``bytes.find`` pass for ``/<basename>\\n``, and only those lines are decoded."""
        if basename not in self._by_name:
            lists = self._installed_lists()
            blob = lists.blob
            needle = b"/" + os.fsencode(basename) + b"\n"
            found: list[tuple[str, PackageRecord]] = []
            at = blob.find(needle) if basename and "/" not in basename else -1
            while at >= 0:
                line = blob[blob.rfind(b"\n", 0, at) + 1 : at + len(needle) - 1]
                if line.startswith(b"/"):
                    record = lists.records[bisect_right(lists.starts, at) - 1]
                    found.append((os.fsdecode(line), record))
                at = blob.find(needle, at + 1)
            self._by_name[basename] = found
        return self._by_name[basename]

    def listed(self, basename: str) -> Sequence[tuple[str, PackageRecord]]:
        if not self.exists():
            return ()
        return sorted(self._lookup(basename), key=lambda item: (item[0], item[1].key))

    def files(self, record: PackageRecord) -> tuple[str, ...]:
        return tuple(self._read_list(record.key) or self._read_list(record.name))


@dataclass(frozen=True)
class _Lists:
    """The installed packages' ``.list`` files, each ending in a newline, concatenated."""

    blob: bytes
    starts: tuple[int, ...]
    """Where each list begins in ``blob``."""
    records: tuple[PackageRecord, ...]
    """The package of each list."""
