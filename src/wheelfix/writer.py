"""Stage 5, write: the repaired wheel as a deterministic zip, written atomically next to its target."""

from __future__ import annotations

import contextlib
import os
import secrets
import zipfile
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wheelfix.archive import (
    ZIP_EPOCH,
    archive_key,
    archive_order,
    check_member_name,
    normalized_mode,
    zip_timestamp,
)
from wheelfix.deflate import (
    DEFAULT_PENDING_BYTES,
    DeflatedMember,
    OrderedDeflater,
    usable_cores,
)
from wheelfix.errors import OutputError
from wheelfix.record import record_from_lines, record_line, record_line_for_digest
from wheelfix.wheel import CompressedMember

__all__ = [
    "ZIP_EPOCH",
    "WheelWriter",
    "ZipSettings",
    "archive_key",
    "archive_order",
    "normalized_mode",
    "zip_timestamp",
]

_DROPPED = ("RECORD.jws", "RECORD.p7s")
"""``.dist-info`` signature files: they sign the old RECORD, so the output leaves them out."""


@dataclass(frozen=True)
class ZipSettings:
    """How members are stored: every byte of the output depends only on these and the members."""

    compression_level: int = 6
    """zlib level for ZIP_DEFLATED, 1-9; 0 stores members uncompressed (ZIP_STORED)."""
    recompress: bool = True
    """False: members that did not change keep their compressed bytes (``add_compressed``)."""
    epoch: int | None = None
    """``SOURCE_DATE_EPOCH``: every member's timestamp; ``None`` means 1980-01-01 00:00:00."""

    def __post_init__(self) -> None:
        if not 0 <= self.compression_level <= 9:
            raise ValueError(f"compression level must be 0-9, not {self.compression_level}")


def _current_umask() -> int:
    """The process umask, read without changing it where Linux allows (thread-safe)."""
    try:
        with Path("/proc/self/status").open(encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split(":", 1)[1].strip(), 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
"""How the ``.part`` file is created: a new file only, never through a symlink."""


def _random_suffix() -> str:
    """Eight random letters and digits: the unique part of a ``.part`` file's name."""
    return secrets.token_hex(4)


class WheelWriter:
    """Write a wheel deterministically and atomically, streaming. Use as a context manager.

    Members are written to a temporary ``.<name>.<pid>.<random>.part`` file in the
    destination's directory in the order :meth:`add` receives them. They are compressed on a
    pool of ``threads`` threads (default: the usable cores), big ones in pieces
    (:mod:`wheelfix.deflate`), while the caller produces the next members; at most
    ``pending_bytes`` of them are in flight. They must arrive in :func:`archive_key` order
    (sorted, ``.dist-info`` last); the caller knows every name up front and sorts, which makes
    the bytes independent of how the stages produce members, and of the thread count.
    :meth:`finish` appends a RECORD computed from what was written, fsyncs and renames the
    file onto the destination in one step.

    If the ``with`` block raises (``KeyboardInterrupt`` included) or :meth:`finish` fails, the
    temporary file is removed and the destination is left as it was. Leaving the block
    without calling :meth:`finish` discards everything and raises :class:`RuntimeError`.
    """

    def __init__(
        self,
        destination: Path,
        settings: ZipSettings,
        *,
        overwrite: bool = True,
        threads: int | None = None,
        pending_bytes: int = DEFAULT_PENDING_BYTES,
    ) -> None:
        self.destination = destination
        self.settings = settings
        self.overwrite = overwrite
        cores = usable_cores() if threads is None else threads
        self._deflater = OrderedDeflater[zipfile.ZipInfo](cores, pending_bytes)
        self._record_rows: list[Future[str] | str] = []
        self._last_key: tuple[bool, bool, str] | None = None
        self._archive: zipfile.ZipFile | None = None
        self._temp_path: Path | None = None
        self._temp_file: BinaryIO | None = None
        self._finished = False

    # -- context management -----------------------------------------------------------------

    def __enter__(self) -> WheelWriter:
        if self._temp_path is not None or self._finished:
            raise RuntimeError("a WheelWriter can be entered only once")
        self._check_destination()
        try:
            self._create_temp()
        except BaseException:
            # Ctrl-C or SIGTERM may land between creating the file and returning: __exit__
            # would not run, so the name (known before the file exists) is removed here.
            self._abort()
            raise
        return self

    def _create_temp(self) -> None:
        """Create the ``.part`` file (``O_EXCL``); its name is recorded before it exists."""
        directory = self.destination.parent
        prefix = f".{self.destination.name}.{os.getpid()}."
        for _ in range(100):
            self._temp_path = directory / f"{prefix}{_random_suffix()}.part"
            try:
                fd = os.open(self._temp_path, _CREATE_FLAGS, 0o600)
            except FileExistsError:
                self._temp_path = None  # someone else's file: never ours to remove
                continue
            except FileNotFoundError as exc:
                self._temp_path = None
                raise OutputError(str(directory), "output directory does not exist") from exc
            except NotADirectoryError as exc:
                self._temp_path = None
                raise OutputError(str(directory), "output directory is not a directory") from exc
            except OSError as exc:
                self._temp_path = None
                raise OutputError(
                    str(directory), f"cannot create a file here: {exc.strerror or exc}"
                ) from exc
            try:
                self._temp_file = os.fdopen(fd, "w+b")
            except BaseException:
                os.close(fd)
                raise
            return
        self._temp_path = None
        raise OutputError(str(directory), "cannot create a temporary file here (all names taken)")

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._finished:
            return
        self._abort()
        if exc_type is None:
            raise RuntimeError("WheelWriter left without finish(): nothing was written")

    # -- building ---------------------------------------------------------------------------

    def add(self, name: str, data: bytes, mode: int) -> None:
        """Write one member: ``name`` a posix path in the archive, ``mode`` its Unix permissions.

        Only the execute bits of ``mode`` matter (see :func:`normalized_mode`). RECORD and its
        signatures are skipped (:meth:`finish` writes a new RECORD). The member is compressed
        in the background and written in order; ``data`` must not change afterwards. Raises
        :class:`ValueError` for an unsafe, directory, duplicate or out-of-order name, and
        :class:`OutputError` when the file cannot be written (here or in :meth:`finish`).
        """
        if self._accept(name):
            self._submit(name, data, mode, None)

    def _accept(self, name: str) -> bool:
        """Check a name before writing it; False for members the output leaves out."""
        if self._finished or self._temp_file is None:
            raise RuntimeError("WheelWriter.add() needs an entered, unfinished writer")
        check_member_name(name)
        top, _, rest = name.partition("/")
        if top.endswith(".dist-info") and rest in ("RECORD", *_DROPPED):
            return False
        key = archive_key(name)
        if self._last_key is not None and key <= self._last_key:
            raise ValueError(
                f"wheel member {name!r} added after {self._last_key[2]!r}: members must be"
                " added once each, in archive_key order"
            )
        self._last_key = key
        return True

    def add_compressed(self, name: str, member: CompressedMember, data: bytes, mode: int) -> None:
        """Write a member from its already compressed bytes (``data`` is the uncompressed form).

        With ``settings.recompress`` (or a member kind the copy does not handle) this is
        :meth:`add`. Otherwise the stored bytes are copied as they are, which is what makes a
        retag-only repair of a big wheel fast; ``data`` still feeds RECORD.
        """
        if self.settings.recompress:
            self.add(name, data, mode)
        elif self._accept(name):
            self._submit(name, data, mode, member)

    def add_stored(
        self, name: str, member: CompressedMember, sha256: str, size: int, mode: int
    ) -> None:
        """Write a member from its final compressed bytes, with the sha256 (hex) and size of
        what they inflate to (a grafted library, compressed at the writer's level by the
        rewrite): copied as they are, also with ``settings.recompress``."""
        if self._accept(name):
            self._submit(name, b"", mode, member, record_line_for_digest(name, sha256, size))

    def _submit(
        self, name: str, data: bytes, mode: int, stored: CompressedMember | None, row: str = ""
    ) -> None:
        """Queue a member (compressed on the pool, or ``stored``) and its RECORD row (``row``,
        or hashed from ``data`` on the pool)."""
        info = self._zip_info(name, normalized_mode(mode))
        if stored is None:
            self._deflater.submit(info, data, self.settings.compression_level)
        else:
            self._deflater.submit_stored(
                info, stored.compress_type, stored.crc, stored.file_size, stored.data
            )
        self._record_rows.append(row or self._deflater.run(record_line, name, data))
        self._write_ready()

    def finish(self, dist_info: str) -> Path:
        """Write RECORD last and move the archive onto the destination; return that path.

        ``dist_info`` is the ``<name>-<version>.dist-info`` directory of the output. Raises
        :class:`OutputError` when the output cannot be written (the destination is untouched).
        """
        if self._temp_file is None or self._temp_path is None:
            raise RuntimeError("WheelWriter.finish() needs an entered, unfinished writer")
        check_member_name(dist_info)
        record_path = f"{dist_info}/RECORD"
        try:
            rows = [r if isinstance(r, str) else r.result() for r in self._record_rows]
            record = record_from_lines(rows, record_path).encode("utf-8")
            self._deflater.submit(
                self._zip_info(record_path, 0o644), record, self.settings.compression_level
            )
            self._write_ready(everything=True)
            self._deflater.close()
            self._close_archive()
            self._commit()
        except BaseException:
            self._abort()
            raise
        self._finished = True
        return self.destination

    # -- internals ----------------------------------------------------------------------------

    def _cannot_write(self, exc: OSError) -> OutputError:
        return OutputError(str(self.destination), f"cannot write: {exc.strerror or exc}")

    def _check_destination(self) -> None:
        if self.destination.is_dir():
            raise OutputError(str(self.destination), "is a directory")
        if not self.overwrite and os.path.lexists(self.destination):
            raise OutputError(str(self.destination), "already exists (not overwriting it)")

    def _open_archive(self) -> zipfile.ZipFile:
        if self._archive is None:
            assert self._temp_file is not None
            self._archive = zipfile.ZipFile(self._temp_file, "w")  # each entry has its method
        return self._archive

    def _zip_info(self, name: str, mode: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=zip_timestamp(self.settings.epoch))
        info.create_system = 3
        info.external_attr = (0o100000 | mode) << 16
        return info

    def _write_ready(self, *, everything: bool = False) -> None:
        """Write the members whose turn has come (all of them with ``everything``)."""
        try:
            for info, stored in self._deflater.ready(everything=everything):
                self._write_entry(info, stored)
        except BaseException:
            self._abort()
            raise

    def _write_entry(self, info: zipfile.ZipInfo, stored: DeflatedMember) -> None:
        """Write one member: local header, stored bytes; it joins the central directory."""
        info.compress_type, info.CRC = stored.compress_type, stored.crc
        info.compress_size, info.file_size = stored.compress_size, stored.file_size
        archive = self._open_archive()
        assert self._temp_file is not None
        try:
            # What zipfile does for one entry, with the data already compressed: local
            # header, data, then the entry joins the central directory written at close().
            info.header_offset = self._temp_file.tell()
            self._temp_file.write(info.FileHeader())
            for piece in stored.pieces:
                self._temp_file.write(piece)
            archive.filelist.append(info)
            archive.NameToInfo[info.filename] = info
            archive.start_dir = self._temp_file.tell()
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def _close_archive(self) -> None:
        assert self._temp_file is not None
        try:
            if self._archive is not None:
                self._archive.close()
                self._archive = None
            self._temp_file.flush()
            os.fsync(self._temp_file.fileno())
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def _commit(self) -> None:
        assert self._temp_file is not None
        assert self._temp_path is not None
        try:
            os.fchmod(self._temp_file.fileno(), 0o666 & ~_current_umask())
            self._temp_file.close()
            self._temp_file = None
            self._check_destination()
            if self.overwrite:
                self._temp_path.replace(self.destination)
            else:
                self._link_no_clobber(self._temp_path)
        except OSError as exc:
            raise self._cannot_write(exc) from exc
        self._temp_path = None
        self._sync_directory()

    def _link_no_clobber(self, source: Path) -> None:
        """Move ``source`` to the destination, failing rather than replacing an existing file."""
        exists = OutputError(str(self.destination), "already exists (not overwriting it)")
        try:
            os.link(source, self.destination)
        except FileExistsError as exc:
            raise exists from exc
        except OSError:
            # The filesystem has no hard links: fall back to check-then-rename.
            if os.path.lexists(self.destination):
                raise exists from None
            source.replace(self.destination)
            return
        # The output is complete under its final name; a leftover temporary name is harmless.
        with contextlib.suppress(OSError):
            source.unlink()

    def _sync_directory(self) -> None:
        """Make the rename durable; best effort (some filesystems refuse directory fsync)."""
        with contextlib.suppress(OSError):
            fd = os.open(self.destination.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _abort(self) -> None:
        self._deflater.close()
        if self._archive is not None:
            # Detach the ZipFile while its file is open: otherwise its __del__ would try to
            # finish the archive later. The file is about to be deleted, so errors do not matter.
            with contextlib.suppress(Exception):
                self._archive.close()
            self._archive = None
        if self._temp_file is not None:
            with contextlib.suppress(OSError):
                self._temp_file.close()
            self._temp_file = None
        self._remove_temp()
        self._record_rows.clear()

    def _remove_temp(self) -> None:
        if self._temp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp_path.unlink()
            self._temp_path = None
