"""The rpm database (``/var/lib/rpm/rpmdb.sqlite``), read with the stdlib ``sqlite3``.

Each row of the ``Packages`` table holds one package header blob; :func:`parse_header` is a
pure function from those bytes to the fields we need. The header layout (rpm's
``lib/header.c``): two big-endian 32-bit counts ``il`` (index entries) and ``dl`` (data
bytes), ``il`` 16-byte entries ``(tag, type, offset, count)``, then the data store. A header
read from a ``.rpm`` file starts with the 8-byte magic ``8e ad e8 01 00 00 00 00``; the
database stores it without. The ``Basenames`` index table finds the headers that list a file
name without parsing every header; without it every header is parsed once.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelfix.ldpaths import resolve_in_sysroot
from wheelfix.pkgdb.records import PackageRecord

try:
    import sqlite3
except ImportError:  # a Python built without _sqlite3: no rpm database is read, nothing fails
    sqlite3 = None  # type: ignore[assignment]

RPMDB_SQLITE = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
"""Where rpm 4.16+ keeps its sqlite database (Fedora 33+, RHEL/AlmaLinux 9); Fedora 36+ and
openSUSE moved it to ``/usr/lib/sysimage`` (usually with ``/var/lib/rpm`` linked there).
The older Berkeley DB (``Packages``) and ndb (``Packages.db``) backends are not read."""

HEADER_MAGIC = b"\x8e\xad\xe8\x01"
"""The first bytes of a header with its magic (in ``.rpm`` files), then a version and 4
reserved bytes."""

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_ARCH = 1022
TAG_OLDFILENAMES = 1027
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118

TYPE_INT32 = 4
TYPE_STRING = 6
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

_MAX_ENTRIES = 0xFFFF  # rpm's own sanity limits (hdrchkTags, hdrchkData)
_MAX_DATA = 256 * 1024 * 1024
_ENTRY = struct.Struct(">iIiI")


class RpmHeaderError(ValueError):
    """A header blob is truncated or inconsistent."""


@dataclass(frozen=True)
class RpmHeader:
    """The fields of one package header that ownership needs."""

    name: str
    version: str
    release: str
    epoch: int | None
    """``None`` when the package has no epoch (rpm treats that as 0)."""
    arch: str | None
    """``None`` for pseudo-packages such as ``gpg-pubkey``."""
    files: tuple[str, ...]
    """Every file path the package owns, ``dirname + basename``."""


class _Store:
    """The data store of one header, with bounds-checked typed reads."""

    def __init__(self, data: bytes, entries: dict[int, tuple[int, int, int]]) -> None:
        self._data = data
        self._entries = entries

    def _entry(self, tag: int, types: tuple[int, ...]) -> tuple[int, int] | None:
        entry = self._entries.get(tag)
        if entry is None:
            return None
        kind, offset, count = entry
        if kind not in types:
            msg = f"tag {tag} has type {kind}, expected one of {types}"
            raise RpmHeaderError(msg)
        if offset < 0 or offset > len(self._data) or count > len(self._data) + 1:
            msg = f"tag {tag} points outside the data store"
            raise RpmHeaderError(msg)
        return offset, count

    def strings(self, tag: int) -> list[str] | None:
        """A STRING, STRING_ARRAY or I18NSTRING entry as a list of strings."""
        entry = self._entry(tag, (TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING))
        if entry is None:
            return None
        offset, count = entry
        values = []
        for _ in range(count):
            end = self._data.find(b"\0", offset)
            if end < 0:
                msg = f"tag {tag}: unterminated string"
                raise RpmHeaderError(msg)
            values.append(os.fsdecode(self._data[offset:end]))
            offset = end + 1
        return values

    def string(self, tag: int) -> str | None:
        values = self.strings(tag)
        return values[0] if values else None

    def int32s(self, tag: int) -> tuple[int, ...] | None:
        entry = self._entry(tag, (TYPE_INT32,))
        if entry is None:
            return None
        offset, count = entry
        if offset + 4 * count > len(self._data):
            msg = f"tag {tag}: integer array runs past the data store"
            raise RpmHeaderError(msg)
        return struct.unpack_from(f">{count}i", self._data, offset)


def _split(blob: bytes) -> _Store:
    data = blob[8:] if blob[:4] == HEADER_MAGIC else blob
    if len(data) < 8:
        msg = "header shorter than its two counts"
        raise RpmHeaderError(msg)
    il, dl = struct.unpack_from(">II", data, 0)
    if il > _MAX_ENTRIES or dl > _MAX_DATA:
        msg = f"header claims {il} entries and {dl} data bytes"
        raise RpmHeaderError(msg)
    start = 8 + _ENTRY.size * il
    if len(data) < start + dl:
        msg = f"header truncated: {len(data)} bytes, needs {start + dl}"
        raise RpmHeaderError(msg)
    entries: dict[int, tuple[int, int, int]] = {}
    for index in range(il):
        tag, kind, offset, count = _ENTRY.unpack_from(data, 8 + _ENTRY.size * index)
        entries[tag] = (kind, offset, count)  # a later (dribble) entry replaces an earlier one
    return _Store(bytes(data[start : start + dl]), entries)


def _file_list(store: _Store) -> tuple[str, ...]:
    basenames = store.strings(TAG_BASENAMES)
    if basenames is None:
        return tuple(store.strings(TAG_OLDFILENAMES) or ())
    dirnames = store.strings(TAG_DIRNAMES) or []
    indexes = store.int32s(TAG_DIRINDEXES) or ()
    if len(indexes) != len(basenames) or any(not 0 <= i < len(dirnames) for i in indexes):
        msg = "DIRINDEXES does not match BASENAMES and DIRNAMES"
        raise RpmHeaderError(msg)
    return tuple(dirnames[i] + base for i, base in zip(indexes, basenames))


def parse_header(blob: bytes) -> RpmHeader:
    """Parse one rpm header (with or without its magic) into name, EVR, arch and files."""
    store = _split(blob)
    name = store.string(TAG_NAME)
    version = store.string(TAG_VERSION)
    if not name or version is None:
        msg = "header has no NAME or VERSION"
        raise RpmHeaderError(msg)
    epochs = store.int32s(TAG_EPOCH)
    return RpmHeader(
        name=name,
        version=version,
        release=store.string(TAG_RELEASE) or "",
        epoch=epochs[0] if epochs else None,
        arch=store.string(TAG_ARCH),
        files=_file_list(store),
    )


def _record(hnum: int, header: RpmHeader) -> PackageRecord:
    version = f"{header.version}-{header.release}" if header.release else header.version
    return PackageRecord(
        kind="rpm",
        name=header.name,
        version=version,
        arch=header.arch,
        key=str(hnum),
        epoch=None if header.epoch is None else str(header.epoch),
    )


class RpmDatabase:
    """The sqlite rpmdb under a root, opened read-only for each lookup."""

    kind = "rpm"

    def __init__(self, root: Path) -> None:
        paths = [resolve_in_sysroot(root, path) for path in RPMDB_SQLITE]
        self._path = next((path for path in paths if path.is_file()), paths[0])
        self._headers: dict[int, RpmHeader | None] = {}
        self._has_index: bool | None = None

    def exists(self) -> bool:
        return sqlite3 is not None and self._path.is_file()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        with contextlib.closing(connection):
            yield connection

    def _header(self, connection: sqlite3.Connection, hnum: int) -> RpmHeader | None:
        if hnum not in self._headers:
            row = connection.execute("SELECT blob FROM Packages WHERE hnum = ?", (hnum,)).fetchone()
            try:
                self._headers[hnum] = parse_header(bytes(row[0])) if row else None
            except RpmHeaderError:
                self._headers[hnum] = None
        return self._headers[hnum]

    def _hnums(self, connection: sqlite3.Connection, basename: str) -> list[int]:
        if self._has_index is None:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'Basenames'"
            ).fetchone()
            self._has_index = found is not None
        if self._has_index:
            rows = connection.execute(
                "SELECT DISTINCT hnum FROM Basenames WHERE key = ?", (basename,)
            )
            return sorted(int(row[0]) for row in rows)
        return sorted(int(row[0]) for row in connection.execute("SELECT hnum FROM Packages"))

    def listed(self, basename: str) -> Sequence[tuple[str, PackageRecord]]:
        if not self.exists():
            return ()
        found: list[tuple[str, PackageRecord]] = []
        try:
            with self._connect() as connection:
                for hnum in self._hnums(connection, basename):
                    header = self._header(connection, hnum)
                    if header is None:
                        continue
                    found.extend(
                        (path, _record(hnum, header))
                        for path in header.files
                        if posixpath.basename(path) == basename
                    )
        except sqlite3.Error:
            return ()
        return sorted(found, key=lambda item: (item[0], item[1].key))

    def files(self, record: PackageRecord) -> tuple[str, ...]:
        try:
            with self._connect() as connection:
                header = self._header(connection, int(record.key))
        except sqlite3.Error:
            return ()
        return header.files if header is not None else ()
