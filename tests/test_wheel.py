"""The wheel reader: names, members, schemes, and every kind of bad input it must refuse.

:data:`BAD_INPUTS` builds each bad input from a valid wheel; ``test_cli_errors.py`` runs the
same inputs through the CLI.
"""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from wheelbuild import compile_cached, make_wheel, python_wheel_tag
from wheelfix.errors import (
    InputFileError,
    InvalidElfError,
    InvalidWheelError,
    LibraryNotFoundError,
    NonPlatformWheelError,
    NotAZipError,
    UnsafeWheelError,
    WheelfixError,
)
from wheelfix.options import AuditOptions
from wheelfix.pipeline import audit
from wheelfix.wheel import MemberPath, WheelReader, parse_wheel_name

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


@pytest.fixture(scope="module")
def elves(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Elves:
    return build_elves(fixture_cache, tmp_path_factory.mktemp("wheel-src"))


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
    "missing": BadInput(_missing, InputFileError, 3, "no such file"),
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
        "not a platform wheel: no ELF executable or shared library"
        " (including compiled Python extensions) found",
    ),
}


def subject(path: Path, bad: BadInput) -> str:
    return f"{path}!{bad.member}" if bad.member else str(path)


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_its_error(name: str, elves: Elves, tmp_path: Path) -> None:
    bad = BAD_INPUTS[name]
    path = bad.build(tmp_path, elves)
    with pytest.raises(bad.error) as info:
        audit(path, AuditOptions(environ={}))
    error = info.value
    assert type(error) is bad.error
    assert error.exit_code == bad.code
    assert error.subject == subject(path, bad)
    if name in ("zip_bomb", "declared_huge"):
        assert error.reason.startswith(bad.reason)
        assert error.reason.endswith("(zip bomb guard)")
    else:
        assert error.reason == bad.reason
    assert "\n" not in error.reason


def test_exit_codes_are_distinct_per_kind() -> None:
    codes: dict[type[WheelfixError], int] = {b.error: b.code for b in BAD_INPUTS.values()}
    codes[LibraryNotFoundError] = LibraryNotFoundError.exit_code
    assert len(set(codes.values())) == len(codes)
    assert {e: e.exit_code for e in codes} == codes


def test_total_declared_size_guard(elves: Elves, tmp_path: Path) -> None:
    wheel = good_wheel(tmp_path, elves)
    with pytest.raises(UnsafeWheelError, match="declares more than 100 uncompressed bytes"):
        WheelReader(wheel, max_uncompressed=100)
    with WheelReader(wheel) as reader:  # the default limit is far away
        assert reader.members


def test_missing_library_is_reported_not_raised(elves: Elves, tmp_path: Path) -> None:
    result = audit(missing_library(tmp_path, elves), AuditOptions(environ={}))
    libs = result.verdict.external[result.verdict.policies.highest.name].libs
    assert libs == {"libwfmissing.so.1": None}
    assert result.verdict.show_overall.name == "linux_x86_64"


# --------------------------------------------------------------------------- good wheels


@pytest.mark.parametrize(
    ("filename", "platforms", "prefix", "build"),
    [
        (f"demo-1.0-{TAG}.whl", (TAG.split("-")[2],), f"demo-1.0-{TAG.rsplit('-', 1)[0]}", ()),
        (
            "Demo_Pkg-2.0.1-1abc-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ("manylinux2014_x86_64", "manylinux_2_17_x86_64"),
            "Demo_Pkg-2.0.1-1abc-cp39-abi3",
            (1, "abc"),
        ),
        ("pure-1.0-py2.py3-none-any.whl", ("any",), "pure-1.0-py2.py3-none", ()),
    ],
)
def test_parse_wheel_name(
    filename: str, platforms: tuple[str, ...], prefix: str, build: tuple[object, ...]
) -> None:
    name = parse_wheel_name(Path("/somewhere") / filename)
    assert name.filename == filename
    assert name.platforms == platforms
    assert name.prefix == prefix
    assert name.build == build
    assert name.distribution == filename.split("-", maxsplit=1)[0]
    assert name.version == filename.split("-")[1]


@pytest.mark.parametrize(
    "filename",
    [
        "demo.whl",
        "demo-1.0.whl",
        "demo-1.0-py3-none.whl",
        "de mo-1.0-py3-none-any.whl",
        "demo-1.0-py3-none-any.tar.gz",
    ],
)
def test_parse_wheel_name_rejects(filename: str) -> None:
    with pytest.raises(InvalidWheelError) as info:
        parse_wheel_name(Path(filename))
    assert info.value.exit_code == 5


def test_reader_members_schemes_and_modes(elves: Elves, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "datademo",
        "1.0",
        {
            "datademo/__init__.py": b"",
            "datademo/lib.so": elves.plain,
            "datademo-1.0.data/scripts/tool": b"#!/bin/sh\n",
            "datademo-1.0.data/purelib/extra/mod.py": b"",
            "datademo-1.0.data/platlib/native/x.so": elves.plain,
            "datademo-1.0.data/headers/x.h": b"",
        },
        tag=TAG,
        modes={"datademo-1.0.data/scripts/tool": 0o750},
    )
    with WheelReader(wheel) as reader:
        assert reader.dist_info == "datademo-1.0.dist-info"
        assert reader.root_is_purelib is False
        assert "Wheel-Version: 1.0" in reader.wheel_metadata
        members = {m.path: m for m in reader.members}
        assert set(members) == {
            "datademo/__init__.py",
            "datademo/lib.so",
            "datademo-1.0.data/scripts/tool",
            "datademo-1.0.data/purelib/extra/mod.py",
            "datademo-1.0.data/platlib/native/x.so",
            "datademo-1.0.data/headers/x.h",
            "datademo-1.0.dist-info/METADATA",
            "datademo-1.0.dist-info/WHEEL",
            "datademo-1.0.dist-info/RECORD",
        }
        expected = {
            "datademo/lib.so": (PurePosixPath("datademo/lib.so"), "platlib", 0o755),
            "datademo/__init__.py": (PurePosixPath("datademo/__init__.py"), "platlib", 0o644),
            "datademo-1.0.data/scripts/tool": (PurePosixPath("<scripts>/tool"), "scripts", 0o750),
            "datademo-1.0.data/purelib/extra/mod.py": (
                PurePosixPath("extra/mod.py"),
                "purelib",
                0o644,
            ),
            "datademo-1.0.data/platlib/native/x.so": (
                PurePosixPath("native/x.so"),
                "platlib",
                0o755,
            ),
            "datademo-1.0.data/headers/x.h": (PurePosixPath("<headers>/x.h"), "headers", 0o644),
        }
        for path, (install, scheme, mode) in expected.items():
            member = members[path]
            assert (member.install_path, member.scheme, member.mode) == (install, scheme, mode)
        assert members["datademo/lib.so"].size == len(elves.plain)
        assert reader.read(MemberPath("datademo/lib.so")) == elves.plain
        assert reader.read_head(MemberPath("datademo/lib.so"), 4) == b"\x7fELF"
        assert reader.zipinfo(MemberPath("datademo/lib.so")).file_size == len(elves.plain)


def test_reader_skips_directory_entries_and_defaults_mode(elves: Elves, tmp_path: Path) -> None:
    source = good_wheel(tmp_path / "src", elves)
    directory = zipfile.ZipInfo("demo/sub/", date_time=(1980, 1, 1, 0, 0, 0))
    no_mode = zipfile.ZipInfo("demo/nomode.txt", date_time=(1980, 1, 1, 0, 0, 0))
    no_mode.create_system = 0  # made on Windows: only the DOS archive bit, no unix mode
    no_mode.external_attr = 0x20
    wheel = rewrite_zip(source, tmp_path / source.name, add=[(directory, b""), (no_mode, b"x")])
    with WheelReader(wheel) as reader:
        members = {m.path: m for m in reader.members}
        assert "demo/sub/" not in members
        assert members["demo/nomode.txt"].mode == 0o644


def test_root_is_purelib_puts_elf_in_purelib(elves: Elves, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path, "mixed", "1.0", {"mixed/lib.so": elves.plain}, tag=TAG, root_is_purelib=True
    )
    with WheelReader(wheel) as reader:
        assert reader.root_is_purelib is True
        assert reader.members[0].scheme == "purelib"
    # As auditwheel: a Root-Is-Purelib wheel's root ELF files are audited...
    assert audit(wheel, AuditOptions(environ={})).scan.elves[0].path == "mixed/lib.so"
    # ...only ELF files under .data/purelib/ are refused.
    data = make_wheel(
        tmp_path / "data",
        "mixed",
        "1.0",
        {"mixed-1.0.data/purelib/mixed/lib.so": elves.plain},
        tag=TAG,
    )
    with pytest.raises(InvalidWheelError, match="found the following shared library/libraries"):
        audit(data, AuditOptions(environ={}))
