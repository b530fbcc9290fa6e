"""Stage 3 helper: the rewrites handed to the ELF worker, and a disk cache of their results.

A :class:`RewriteJob` is one ELF rewrite (a grafted host library read by path, or a wheel
member's bytes); a :class:`Rewritten` is its result: the new bytes and their sha256, or for a
grafted library only its compressed zip member and the sha256. :class:`GraftCache` keeps
those compressed members on disk, content-addressed (:func:`entry_key`: the input's sha256,
the exact :class:`~wheelfix.elf.ElfEdit`, the wheelfix and LIEF versions, the zlib level), so
a build matrix rewrites and compresses each library once. Entries are written to a temporary
file and renamed (safe for concurrent processes), checked on every read (the sha256 of the
whole entry, its key, kind and sizes; a bad entry is deleted and never used), and the
directory is kept under a size bound by deleting the least recently used (by mtime).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wheelfix.deflate import ENGINE, DeflatedMember, inflate
from wheelfix.elf.model import ElfEdit

__all__ = [
    "DEFAULT_CACHE_MAX_BYTES",
    "GraftCache",
    "RewriteJob",
    "Rewritten",
    "cache_max_bytes",
    "default_cache_dir",
    "entry_key",
]

DEFAULT_CACHE_MAX_BYTES = 2 << 30
"""The cache's default size bound (2 GiB; ``WHEELFIX_CACHE_MAX_BYTES`` overrides it)."""

_MAGIC = b"WFC1"
_SUFFIX = ".entry"


@dataclass(frozen=True)
class Rewritten:
    """A rewritten ELF file as the writer takes it."""

    raw: bytes | None
    """The new bytes, when they travel uncompressed (a wheel member, which the writer
    compresses); None for a grafted library, which comes back as ``stored`` only."""
    sha256: str
    """Hex sha256 of the new bytes (RECORD's and the SBOM's hash of the file)."""
    stored: DeflatedMember | None = None
    """The zip member, compressed (grafted libraries only; the writer copies it)."""

    def __post_init__(self) -> None:
        if self.raw is None and self.stored is None:
            raise ValueError("a Rewritten needs its bytes, raw or compressed")

    @property
    def size(self) -> int:
        """Bytes of the new file (RECORD's size)."""
        if self.raw is not None:
            return len(self.raw)
        assert self.stored is not None
        return self.stored.file_size

    @property
    def data(self) -> bytes:
        """The new bytes (inflated from ``stored`` when only that is kept: slow, for tests)."""
        if self.raw is not None:
            return self.raw
        assert self.stored is not None
        return inflate(self.stored)


@dataclass(frozen=True)
class RewriteJob:
    """One rewrite for the worker: apply ``edit``, verify, hash, maybe compress and cache."""

    name: str
    """The file named in messages (host path, or ``wheel!member``)."""
    edit: ElfEdit
    """What to change."""
    source: Path | None = None
    """A host file the worker reads itself (a grafted library)."""
    data: bytes | None = None
    """Or the bytes themselves (a wheel member, read and checked by the parent)."""
    limit: int = 0
    """The largest ``source`` the worker reads."""
    level: int | None = None
    """zlib level of the compressed member to return; None: return none (the writer compresses)."""
    source_sha256: str | None = None
    """The input's sha256, computed once by the parent (the cache key needs it)."""
    cache: GraftCache | None = None
    """Where results are kept (None: no cache)."""

    @property
    def size(self) -> int:
        """Bytes of input (for the memory budget and the parent's in-flight bound)."""
        if self.data is not None:
            return len(self.data)
        try:
            return self.source.stat().st_size if self.source is not None else 0
        except OSError:
            return 0


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$WHEELFIX_CACHE_DIR``, else ``$XDG_CACHE_HOME/wheelfix``, else ``~/.cache/wheelfix``."""
    explicit = environ.get("WHEELFIX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "wheelfix"


def cache_max_bytes(environ: Mapping[str, str]) -> int:
    """``$WHEELFIX_CACHE_MAX_BYTES`` (a count of bytes), else :data:`DEFAULT_CACHE_MAX_BYTES`."""
    try:
        return max(0, int(environ.get("WHEELFIX_CACHE_MAX_BYTES", "")))
    except ValueError:
        return DEFAULT_CACHE_MAX_BYTES


def entry_key(source_sha256: str, edit: ElfEdit, level: int, lief_version: str) -> str:
    """The cache key of one rewrite: everything the stored bytes depend on."""
    package = sys.modules.get("wheelfix")
    version = str(getattr(package, "__version__", "?"))
    text = "\n".join(
        ("wheelfix-graft-3", version, lief_version, ENGINE, source_sha256, repr(edit), str(level))
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GraftCache:
    """A directory of rewritten, compressed grafted libraries (see the module docstring)."""

    directory: Path
    """Where the entries live (created on first store)."""
    max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    """Total size kept; older entries are deleted beyond it (0: store nothing)."""

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}{_SUFFIX}"

    def load(self, key: str) -> Rewritten | None:
        """The entry for ``key``, checked; None when missing or damaged (a damaged one is
        deleted, so the next store replaces it)."""
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        found = _decode(raw, key)
        if found is None:
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used goes first
        return found

    def store(self, key: str, value: Rewritten) -> None:
        """Write the entry atomically (temporary file, rename); errors only lose the entry."""
        if value.stored is None or self.max_bytes <= 0:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_encode(key, value))
            Path(temporary).replace(path)
        except OSError:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            return
        self.evict()

    def evict(self) -> None:
        """Delete the least recently used entries until the rest fit ``max_bytes``."""
        entries: list[tuple[float, int, Path]] = []
        with contextlib.suppress(OSError):
            for sub in os.scandir(self.directory):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(sub.path):
                    if entry.name.endswith(_SUFFIX):
                        with contextlib.suppress(OSError):
                            stat = entry.stat(follow_symlinks=False)
                            entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda e: (e[0], str(e[2]))):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size


def _encode(key: str, value: Rewritten) -> bytes:
    assert value.stored is not None
    stored = value.stored
    header = {
        "key": key,
        "compress_type": stored.compress_type,
        "crc": stored.crc,
        "file_size": stored.file_size,
        "compress_size": stored.compress_size,
        "sha256": value.sha256,
        "record_hash": "sha256="
        + base64.urlsafe_b64encode(bytes.fromhex(value.sha256)).decode("ascii").rstrip("="),
    }
    head = json.dumps(header, sort_keys=True).encode("ascii")
    body = len(head).to_bytes(4, "big") + head + stored.data
    return _MAGIC + hashlib.sha256(body).digest() + body


class _BadEntry(ValueError):
    """An entry failed a check."""


def _check(condition: bool) -> None:
    if not condition:
        raise _BadEntry


def _decode(raw: bytes, key: str) -> Rewritten | None:
    """The entry's value, or None unless every check passes."""
    try:
        _check(raw[:4] == _MAGIC and len(raw) >= 40)
        body = memoryview(raw)[36:]
        _check(hashlib.sha256(body).digest() == raw[4:36])
        length = int.from_bytes(body[:4], "big")
        header = json.loads(bytes(body[4 : 4 + length]))
        compressed = bytes(body[4 + length :])
        kind, crc, size = header["compress_type"], header["crc"], header["file_size"]
        _check(header["key"] == key and header["compress_size"] == len(compressed))
        _check(kind in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED))
        member = DeflatedMember(kind, crc, size, (compressed,))
        # Not inflated again: the entry's sha256 already proves these are the bytes the
        # worker compressed and checked (inflating 290 MB of LLVM costs a warm repair 0.3 s).
        sha256 = str(header["sha256"])
        bytes.fromhex(sha256)
    except (ValueError, KeyError, TypeError, zlib.error):
        return None
    return Rewritten(None, sha256, member)
