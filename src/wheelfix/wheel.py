"""Input side of every stage: open a wheel safely and read its members into memory on demand.

Nothing is extracted to disk. The reader validates the archive once, up front (names, sizes,
duplicates, symlinks, the file name, the ``.dist-info`` directory, ``WHEEL`` and ``RECORD``),
so later stages can trust what it hands them.
"""

from __future__ import annotations

import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NewType

from packaging.tags import Tag
from packaging.utils import (
    BuildTag,
    InvalidWheelFilename,
    NormalizedName,
    parse_wheel_filename,
)

from wheelfix.errors import (
    InputFileError,
    InvalidWheelError,
    NotAZipError,
    UnsafeWheelError,
)
from wheelfix.hostfile import open_regular
from wheelfix.record import matches_record_hash, parse_record

MemberPath = NewType("MemberPath", str)
"""A posix path inside the wheel archive, e.g. ``pkg/_ext.cpython-311-x86_64-linux-gnu.so``."""

DEFAULT_MAX_UNCOMPRESSED = 8 * 1024**3
"""Refuse wheels that declare more than this many uncompressed bytes in total (zip bomb guard)."""

_ZIP_MEMBER_FAILURES = (
    zipfile.BadZipFile,  # bad CRC, bad local header
    zlib.error,  # corrupt deflate stream
    EOFError,  # truncated data
    RuntimeError,  # encrypted member
    NotImplementedError,  # unsupported zip version, compression method or flags
    OSError,  # seeks outside the file
    ValueError,
)
"""What zipfile raises for a damaged or unsupported member."""

DEFAULT_MAX_RATIO = 1000
"""Refuse members whose declared size exceeds their compressed size by more than this factor."""


@dataclass(frozen=True)
class WheelName:
    """The parts of a wheel file name (PEP 427), parsed by packaging."""

    filename: str
    """The file name as given, e.g. ``demo-1.0-cp311-cp311-linux_x86_64.whl``."""
    distribution: str
    """The name part as written in the file name (used for ``<dist>.libs``)."""
    normalized_name: NormalizedName
    """The PEP 503 normalized project name."""
    version: str
    """The version part as written in the file name."""
    build: BuildTag
    """The optional build tag: ``()`` when absent."""
    tags: frozenset[Tag]
    """Every interpreter-abi-platform tag the name expands to."""

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platform tags, sorted, e.g. ``('linux_x86_64',)``."""
        return tuple(sorted({tag.platform for tag in self.tags}))

    @property
    def prefix(self) -> str:
        """Everything before the platform part: ``name-version[-build]-py-abi``."""
        return self.filename[: -len(".whl")].rsplit("-", 1)[0]


@dataclass(frozen=True)
class Member:
    """One regular file in the archive."""

    path: MemberPath
    """Its name in the archive."""
    size: int
    """Declared uncompressed size in bytes."""
    mode: int
    """Unix permission bits (``0o644`` when the archive carries none)."""
    install_path: PurePosixPath
    """Where an installer puts it, relative to site-packages (``.data/<scheme>/`` unwrapped)."""
    scheme: str
    """``platlib``/``purelib`` for the wheel root, else the ``.data`` scheme name."""


@dataclass(frozen=True)
class CompressedMember:
    """A member's bytes as stored in the archive, with what a zip entry needs to carry them."""

    compress_type: int
    """``zipfile.ZIP_STORED`` or ``zipfile.ZIP_DEFLATED``."""
    crc: int
    """CRC-32 of the uncompressed bytes."""
    file_size: int
    """Uncompressed size."""
    data: bytes
    """The stored bytes."""


def parse_wheel_name(path: Path) -> WheelName:
    """Parse and validate a wheel file name."""
    filename = path.name
    if not filename.endswith(".whl"):
        raise InvalidWheelError(str(path), "not a wheel: the file name does not end in .whl")
    try:
        name, _version, build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise InvalidWheelError(str(path), f"invalid wheel file name ({exc})") from exc
    return WheelName(
        filename=filename,
        distribution=filename.split("-", 1)[0],
        normalized_name=name,
        version=filename.split("-")[1],
        build=build,
        tags=frozenset(tags),
    )


def is_pure_wheel_name(path: Path) -> bool:
    """Whether the file name says pure Python: every tag's platform is ``any``."""
    try:
        tags = parse_wheel_filename(path.name)[3]
    except InvalidWheelFilename:
        return False
    return bool(tags) and all(tag.platform == "any" for tag in tags)


def _check_member_name(wheel: str, name: str) -> None:
    reason = None
    if "\x00" in name:
        reason = "contains a NUL byte"
    elif "\\" in name:
        reason = "contains a backslash"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        reason = "is an absolute path"
    elif ".." in PurePosixPath(name).parts:
        reason = "climbs out of the wheel with '..'"
    elif not name.rstrip("/") or str(PurePosixPath(name)) != name.rstrip("/"):
        reason = "is not a normalized path (empty, '.' or '//' parts)"
    if reason is not None:
        raise UnsafeWheelError(wheel, f"member {name!r} {reason}")


class WheelReader:
    """A validated wheel, open for reading. Use as a context manager."""

    def __init__(
        self,
        path: Path,
        *,
        max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
        max_ratio: int = DEFAULT_MAX_RATIO,
    ) -> None:
        self.path = path
        # Opened before the name is parsed: a missing file is not a bad name.
        handle = open_regular(path, "a wheel file")
        try:
            self.name = parse_wheel_name(path)
            self._zip = self._open_zip(path, handle)
            self._handle = handle
        except BaseException:
            handle.close()
            raise
        self._max_uncompressed = max_uncompressed
        self._max_ratio = max_ratio
        try:
            self.members: tuple[Member, ...] = ()
            self._record: dict[str, tuple[str, int | None]] = {}
            self.dist_info = ""
            self._load()
        except BaseException:
            self.close()
            raise

    # -- opening and validation -------------------------------------------------------------

    @staticmethod
    def _open_zip(path: Path, handle: BinaryIO) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError) as exc:
            # ValueError covers undecodable names flagged as UTF-8.
            raise NotAZipError(str(path), f"not a zip archive ({exc})") from exc
        except OSError as exc:
            raise InputFileError(str(path), f"cannot read ({exc.strerror or exc})") from exc

    def _load(self) -> None:
        wheel = str(self.path)
        infos = self._zip.infolist()
        seen: set[str] = set()
        total = 0
        members = []
        for info in infos:
            name = info.filename
            _check_member_name(wheel, name)
            if name in seen:
                raise UnsafeWheelError(wheel, f"duplicate member name {name!r}")
            seen.add(name)
            if info.is_dir():
                continue
            mode = (info.external_attr >> 16) & 0xFFFF
            if stat.S_ISLNK(mode):
                raise UnsafeWheelError(wheel, f"member {name!r} is a symbolic link")
            total += info.file_size
            if total > self._max_uncompressed:
                raise UnsafeWheelError(
                    wheel,
                    f"declares more than {self._max_uncompressed} uncompressed bytes"
                    " (zip bomb guard; raise the limit with WHEELFIX_MAX_UNCOMPRESSED=<bytes>)",
                )
            if info.file_size > max(info.compress_size, 1) * self._max_ratio and (
                info.file_size > 1024 * 1024
            ):
                raise UnsafeWheelError(
                    wheel,
                    f"member {name!r} expands {info.file_size} bytes from"
                    f" {info.compress_size} (zip bomb guard)",
                )
            members.append((name, info.file_size, mode & 0o777 or 0o644))
        self.dist_info = self._find_dist_info(seen)
        self.members = tuple(
            Member(
                path=MemberPath(name),
                size=size,
                mode=mode,
                install_path=_install_path(name, self._data_dir),
                scheme=_scheme(name, self._data_dir, self.root_is_purelib),
            )
            for name, size, mode in members
        )

    def _find_dist_info(self, names: set[str]) -> str:
        wheel = str(self.path)
        tops = {n.split("/", 1)[0] for n in names if "/" in n}
        dist_infos = sorted(t for t in tops if t.endswith(".dist-info"))
        if not dist_infos:
            raise InvalidWheelError(wheel, "no .dist-info directory")
        if len(dist_infos) > 1:
            raise InvalidWheelError(wheel, f"several .dist-info directories: {dist_infos}")
        dist_info = dist_infos[0]
        self._data_dir = dist_info[: -len(".dist-info")] + ".data"
        wheel_meta = self._read_text(f"{dist_info}/WHEEL", names)
        headers = HeaderParser().parsestr(wheel_meta)
        if not headers.get("Wheel-Version") or not headers.get_all("Tag"):
            raise InvalidWheelError(wheel, f"{dist_info}/WHEEL lacks Wheel-Version or Tag")
        self.wheel_metadata = wheel_meta
        self.root_is_purelib = headers.get("Root-Is-Purelib", "false").strip().lower() == "true"
        record_name = f"{dist_info}/RECORD"
        if record_name not in names:
            raise InvalidWheelError(wheel, f"{record_name} is missing")
        try:
            self._record = parse_record(self._read_text(record_name, names))
        except InvalidWheelError as exc:
            raise InvalidWheelError(wheel, f"{record_name}: {exc.reason}") from exc
        return dist_info

    def _read_text(self, name: str, names: set[str]) -> str:
        if name not in names:
            raise InvalidWheelError(str(self.path), f"{name} is missing")
        try:
            return self._read_raw(MemberPath(name)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidWheelError(str(self.path), f"{name} is not UTF-8 text") from exc

    # -- reading ------------------------------------------------------------------------------

    def read(self, name: MemberPath) -> bytes:
        """Read one member fully, checking it against its RECORD hash when RECORD has one.

        Zip damage becomes :class:`NotAZipError`; a hash mismatch (a tampered or badly built
        wheel) becomes :class:`InvalidWheelError`.
        """
        data = self._read_raw(name)
        expected = self._record.get(name, ("", None))[0]
        if expected and not matches_record_hash(expected, data):
            raise InvalidWheelError(
                str(self.path), f"member {name!r} does not match its RECORD hash"
            )
        return data

    def _read_raw(self, name: MemberPath) -> bytes:
        try:
            return self._zip.read(name)
        except _ZIP_MEMBER_FAILURES as exc:
            raise NotAZipError(str(self.path), f"member {name!r} is damaged ({exc})") from exc

    def read_compressed(self, name: MemberPath) -> CompressedMember | None:
        """A member's stored (compressed) bytes, to copy it without recompressing.

        None when the member uses anything but ``stored``/``deflated`` or zip64 extras, or its
        local header disagrees with the central directory: the caller then recompresses.
        """
        info = self._zip.getinfo(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return None
        if info.flag_bits & 0x1 or info.compress_size >= 0xFFFFFFFF:
            return None
        try:
            handle = self._zip.fp
            assert handle is not None
            handle.seek(info.header_offset)
            header = handle.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                return None
            name_length, extra_length = struct.unpack_from("<HH", header, 26)
            handle.seek(info.header_offset + 30 + name_length + extra_length)
            data = handle.read(info.compress_size)
        except (OSError, ValueError):
            return None
        if len(data) != info.compress_size:
            return None
        return CompressedMember(info.compress_type, info.CRC, info.file_size, data)

    def read_head(self, name: MemberPath, size: int) -> bytes:
        """Read the first ``size`` bytes of a member (cheap magic checks)."""
        try:
            with self._zip.open(name) as handle:
                return handle.read(size)
        except _ZIP_MEMBER_FAILURES as exc:
            raise NotAZipError(str(self.path), f"member {name!r} is damaged ({exc})") from exc

    def verify_record(self) -> None:
        """Read every member once, so each is checked against RECORD (``check`` does this)."""
        for member in self.members:
            self.read(member.path)

    def zipinfo(self, name: MemberPath) -> zipfile.ZipInfo:
        """The archive entry of a member (for copying it unchanged into the output)."""
        return self._zip.getinfo(name)

    def close(self) -> None:
        """Release the archive (and the file it was read from)."""
        self._zip.close()
        self._handle.close()

    def __enter__(self) -> WheelReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _install_path(name: str, data_dir: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.parts[0] == data_dir and len(path.parts) >= 3:
        scheme = path.parts[1]
        rest = PurePosixPath(*path.parts[2:])
        if scheme in ("purelib", "platlib"):
            return rest
        return PurePosixPath(f"<{scheme}>") / rest
    return path


def _scheme(name: str, data_dir: str, root_is_purelib: bool) -> str:
    parts = PurePosixPath(name).parts
    if parts[0] == data_dir and len(parts) >= 3:
        return parts[1]
    return "purelib" if root_is_purelib else "platlib"
