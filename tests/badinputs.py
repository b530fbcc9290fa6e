"""Bad wheel inputs, each built from a valid wheel of real ELF files (gcc, cached).

:data:`BAD_INPUTS` maps a case name to its builder and to the error, exit code and reason it
must produce. ``test_wheel.py`` feeds them to the reader, ``test_cli_errors.py`` to the CLI.
"""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelbuild import compile_cached, make_wheel, python_wheel_tag
from wheelfix.errors import (
    InputFileError,
    InvalidElfError,
    InvalidWheelError,
    NonPlatformWheelError,
    NotAZipError,
    UnsafeWheelError,
    WheelfixError,
)

TAG = python_wheel_tag()  # cpXY-cpXY-linux_x86_64
LIB_C = "int answer(void) { return 42; }\n"
USER_C = "extern int missing_fn(void);\nint use_missing(void) { return missing_fn(); }\n"
MISSING_STUB_C = "int missing_fn(void) { return 1; }\n"


@dataclass(frozen=True)
class Elves:
    """Small real ELF files, compiled once and cached."""

    plain: bytes
    """A shared library that needs only libc.so.6."""
    needs_missing: bytes
    """A shared library that needs libwfmissing.so.1, which exists nowhere on the host."""


def build_elves(fixture_cache: Path, src: Path) -> Elves:
    """Compile (or take from the cache) the ELF files of :class:`Elves`; ``src`` is scratch."""
    for name, text in (("lib.c", LIB_C), ("user.c", USER_C), ("stub.c", MISSING_STUB_C)):
        (src / name).write_text(text)
    common = ["-shared", "-fPIC", "-O1", "-Wl,--no-as-needed"]
    plain = compile_cached(fixture_cache, [src / "lib.c"], "libplain.so", common)
    stub = compile_cached(
        fixture_cache,
        [src / "stub.c"],
        "libwfmissing.so.1",
        [*common, "-Wl,-soname,libwfmissing.so.1"],
    )
    user = compile_cached(
        fixture_cache,
        [src / "user.c"],
        "libuser.so",
        [*common, f"-L{stub.parent}", "-l:libwfmissing.so.1"],
    )
    return Elves(plain=plain.read_bytes(), needs_missing=user.read_bytes())


def good_wheel(
    directory: Path, elves: Elves, *, elf: bytes | None = None, name: str = "demo"
) -> Path:
    return make_wheel(
        directory,
        name,
        "1.0",
        {f"{name}/__init__.py": b"", f"{name}/libdemo.so": elf if elf is not None else elves.plain},
        tag=TAG,
    )


def _info(name: str, *, mode: int = 0o644, compress: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = compress
    return info


def rewrite_zip(
    source: Path,
    target: Path,
    *,
    drop: Sequence[str] = (),
    add: Sequence[tuple[zipfile.ZipInfo, bytes]] = (),
    stored: Sequence[str] = (),
) -> Path:
    """Copy ``source`` into ``target``, dropping, storing uncompressed or appending members."""
    with (
        zipfile.ZipFile(source) as zin,
        zipfile.ZipFile(target, "w") as zout,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # duplicate names are the point of some inputs
        for item in zin.infolist():
            if item.filename in drop:
                continue
            info = _info(item.filename, mode=(item.external_attr >> 16) & 0o777)
            if item.filename in stored:
                info.compress_type = zipfile.ZIP_STORED
            zout.writestr(info, zin.read(item))
        for info, data in add:
            zout.writestr(info, data)
    return target


# --------------------------------------------------------------------------- bad inputs

Builder = Callable[[Path, Elves], Path]


def _missing(tmp: Path, elves: Elves) -> Path:
    return tmp / f"gone-1.0-{TAG}.whl"


def _directory(tmp: Path, elves: Elves) -> Path:
    path = tmp / f"dir-1.0-{TAG}.whl"
    path.mkdir()
    return path


def _not_a_zip(tmp: Path, elves: Elves) -> Path:
    path = tmp / f"notzip-1.0-{TAG}.whl"
    path.write_bytes(b"this is not a zip archive\n" * 20)
    return path


def _truncated_zip(tmp: Path, elves: Elves) -> Path:
    data = good_wheel(tmp / "src", elves).read_bytes()
    path = tmp / f"trunc-1.0-{TAG}.whl"
    path.write_bytes(data[: len(data) // 2])
    return path


def _bad_crc(tmp: Path, elves: Elves) -> Path:
    source = good_wheel(tmp / "src", elves)
    path = rewrite_zip(source, tmp / f"demo-1.0-{TAG}.whl", stored=["demo/libdemo.so"])
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("demo/libdemo.so")
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    data[start + 200] ^= 0xFF  # past the ELF magic: only the CRC notices
    path.write_bytes(bytes(data))
    return path


def _not_whl_name(tmp: Path, elves: Elves) -> Path:
    source = good_wheel(tmp / "src", elves)
    path = tmp / f"demo-1.0-{TAG}.zip"
    path.write_bytes(source.read_bytes())
    return path


def _invalid_name(tmp: Path, elves: Elves) -> Path:
    source = good_wheel(tmp / "src", elves)
    path = tmp / "demo.whl"
    path.write_bytes(source.read_bytes())
    return path


def _no_dist_info(tmp: Path, elves: Elves) -> Path:
    source = good_wheel(tmp / "src", elves)
    with zipfile.ZipFile(source) as zf:
        drop = [n for n in zf.namelist() if ".dist-info/" in n]
    return rewrite_zip(source, tmp / source.name, drop=drop)


def _no_wheel_file(tmp: Path, elves: Elves) -> Path:
    source = good_wheel(tmp / "src", elves)
    return rewrite_zip(source, tmp / source.name, drop=["demo-1.0.dist-info/WHEEL"])


def _with_member(name: str, *, mode: int = 0o644, data: bytes = b"x = 1\n") -> Builder:
    def build(tmp: Path, elves: Elves) -> Path:
        source = good_wheel(tmp / "src", elves)
        info = _info(name, mode=mode)
        if stat.S_ISLNK(mode):
            info.external_attr = mode << 16
        return rewrite_zip(source, tmp / source.name, add=[(info, data)])

    return build


def _duplicate(tmp: Path, elves: Elves) -> Path:
    source = good_wheel(tmp / "src", elves)
    return rewrite_zip(source, tmp / source.name, add=[(_info("demo/__init__.py"), b"again\n")])


def _zip_bomb(tmp: Path, elves: Elves) -> Path:
    source = good_wheel(tmp / "src", elves)
    info = _info("demo/data.bin", compress=zipfile.ZIP_BZIP2)
    return rewrite_zip(source, tmp / source.name, add=[(info, bytes(8 * 1024 * 1024))])


def _declared_huge(tmp: Path, elves: Elves) -> Path:
    """A small member whose central directory entry claims ~4 GB."""
    source = good_wheel(tmp / "src", elves)
    path = rewrite_zip(source, tmp / source.name, add=[(_info("demo/big.txt"), b"small\n" * 50)])
    data = bytearray(path.read_bytes())
    # the central directory entry of demo/big.txt (its name follows the 46-byte header)
    entry = data.index(b"demo/big.txt", data.index(b"PK\x01\x02")) - 46
    assert data[entry : entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, entry + 24, 0xFFFF0000)  # uncompressed size
    path.write_bytes(bytes(data))
    return path


def _truncated_elf(tmp: Path, elves: Elves) -> Path:
    return good_wheel(tmp, elves, elf=elves.plain[:1000])


def _phdrs_out_of_bounds(tmp: Path, elves: Elves) -> Path:
    data = bytearray(elves.plain)
    struct.pack_into("<Q", data, 32, len(data) - 16)  # e_phoff near the end of the file
    return good_wheel(tmp, elves, elf=bytes(data))


def _pure(tmp: Path, elves: Elves) -> Path:
    return make_wheel(tmp, "puredemo", "1.0", {"puredemo/__init__.py": b""}, tag="py3-none-any")


def missing_library(tmp: Path, elves: Elves) -> Path:
    return good_wheel(tmp, elves, elf=elves.needs_missing)


@dataclass(frozen=True)
class BadInput:
    build: Builder
    error: type[WheelfixError]
    code: int
    reason: str
    """The reason text (after ``<file>: ``); ``{wheel}`` is the file name."""
    member: str | None = None
    """For ELF errors, the member the message names (``<file>!<member>: reason``)."""


BAD_INPUTS: dict[str, BadInput] = {
    "missing": BadInput(_missing, InputFileError, 3, "No such file or directory"),
    "directory": BadInput(_directory, InputFileError, 3, "is a directory, not a wheel file"),
    "not_a_zip": BadInput(
        _not_a_zip, NotAZipError, 4, "not a zip archive (File is not a zip file)"
    ),
    "truncated_zip": BadInput(
        _truncated_zip, NotAZipError, 4, "not a zip archive (File is not a zip file)"
    ),
    "bad_crc": BadInput(
        _bad_crc,
        NotAZipError,
        4,
        "member 'demo/libdemo.so' is damaged (Bad CRC-32 for file 'demo/libdemo.so')",
    ),
    "not_whl_name": BadInput(
        _not_whl_name, InvalidWheelError, 5, "not a wheel: the file name does not end in .whl"
    ),
    "invalid_name": BadInput(
        _invalid_name,
        InvalidWheelError,
        5,
        "invalid wheel file name (Invalid wheel filename (wrong number of parts): 'demo')",
    ),
    "no_dist_info": BadInput(_no_dist_info, InvalidWheelError, 5, "no .dist-info directory"),
    "no_wheel_file": BadInput(
        _no_wheel_file, InvalidWheelError, 5, "demo-1.0.dist-info/WHEEL is missing"
    ),
    "dotdot_member": BadInput(
        _with_member("demo/../../evil.py"),
        UnsafeWheelError,
        6,
        "member 'demo/../../evil.py' climbs out of the wheel with '..'",
    ),
    "absolute_member": BadInput(
        _with_member("/etc/evil.conf"),
        UnsafeWheelError,
        6,
        "member '/etc/evil.conf' is an absolute path",
    ),
    "backslash_member": BadInput(
        _with_member("demo\\evil.py"),
        UnsafeWheelError,
        6,
        "member 'demo\\\\evil.py' contains a backslash",
    ),
    "duplicate_member": BadInput(
        _duplicate, UnsafeWheelError, 6, "duplicate member name 'demo/__init__.py'"
    ),
    "symlink_member": BadInput(
        _with_member("demo/link", mode=stat.S_IFLNK | 0o777, data=b"/etc/passwd"),
        UnsafeWheelError,
        6,
        "member 'demo/link' is a symbolic link",
    ),
    "zip_bomb": BadInput(
        _zip_bomb, UnsafeWheelError, 6, "member 'demo/data.bin' expands 8388608 bytes from"
    ),
    "declared_huge": BadInput(
        _declared_huge, UnsafeWheelError, 6, "member 'demo/big.txt' expands 4294901760 bytes from"
    ),
    "truncated_elf": BadInput(
        _truncated_elf,
        InvalidElfError,
        7,
        "PT_DYNAMIC lies outside the file",
        member="demo/libdemo.so",
    ),
    "phdrs_out_of_bounds": BadInput(
        _phdrs_out_of_bounds,
        InvalidElfError,
        7,
        "program headers lie outside the file",
        member="demo/libdemo.so",
    ),
    "pure": BadInput(
        _pure,
        NonPlatformWheelError,
        8,
        "This does not look like a platform wheel, no ELF executable or shared library file"
        " (including compiled Python C extension) found in the wheel archive"
        " (a pure Python wheel: --allow-pure-python-wheel accepts it)",
    ),
}


def subject(path: Path, bad: BadInput) -> str:
    return f"{path}!{bad.member}" if bad.member else str(path)
