"""Tests for writer.py: deterministic, atomic wheel output with a fresh RECORD."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import stat
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from wheelfix import deflate as deflate_module
from wheelfix import writer as writer_module
from wheelfix.deflate import CHUNK_SIZE, compress_member
from wheelfix.errors import OutputError
from wheelfix.record import hash_digest, parse_record
from wheelfix.wheel import MemberPath, WheelReader
from wheelfix.writer import (
    WheelWriter,
    ZipSettings,
    archive_key,
    archive_order,
    normalized_mode,
    zip_timestamp,
)

DIST_INFO = "demo-1.0.dist-info"
WHEEL_TEXT = (
    b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
    b"Tag: cp311-cp311-manylinux_2_17_x86_64\n"
)
WHEEL_NAME = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"

# Listed out of archive order (``ordered`` sorts them: the writer streams and needs order),
# with a stale RECORD and a signature to drop.
MEMBERS: list[tuple[str, bytes, int]] = [
    (f"{DIST_INFO}/WHEEL", WHEEL_TEXT, 0o644),
    (f"{DIST_INFO}/RECORD", b"stale,,\n", 0o644),
    ("demo/_ext.so", b"\x7fELF" + bytes(range(256)) * 40, 0o775),
    (f"{DIST_INFO}/METADATA", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n", 0o600),
    (f"{DIST_INFO}/RECORD.jws", b"{}", 0o644),
    ("demo.libs/libfoo-12345678.so.1", b"\x7fELF libfoo" * 100, 0o755),
    ("demo/__init__.py", b"", 0o644),
    ("demo-1.0.data/scripts/tool", b"#!/bin/sh\necho hi\n", 0o700),
    ("demo/sub/data,with comma.txt", b"x" * 5000, 0o444),
]


def ordered(members: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes, int]]:
    return sorted(members, key=lambda member: archive_key(member[0]))


def write_wheel(
    path: Path,
    settings: ZipSettings | None = None,
    members: list[tuple[str, bytes, int]] = MEMBERS,
) -> Path:
    with WheelWriter(path, settings or ZipSettings()) as out:
        for name, data, mode in ordered(members):
            out.add(name, data, mode)
        return out.finish(DIST_INFO)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# -- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (None, (1980, 1, 1, 0, 0, 0)),
        (0, (1980, 1, 1, 0, 0, 0)),
        (-5, (1980, 1, 1, 0, 0, 0)),
        (315532800, (1980, 1, 1, 0, 0, 0)),
        (315532801, (1980, 1, 1, 0, 0, 0)),
        (315532802, (1980, 1, 1, 0, 0, 2)),
        (650203201, (1990, 8, 9, 12, 0, 0)),
        (650203200, (1990, 8, 9, 12, 0, 0)),
        (1700000000, (2023, 11, 14, 22, 13, 20)),
        (1700000001, (2023, 11, 14, 22, 13, 20)),
        (10**12, (2107, 12, 31, 23, 59, 58)),
        (10**30, (2107, 12, 31, 23, 59, 58)),
    ],
)
def test_zip_timestamp(epoch: int | None, expected: tuple[int, ...]) -> None:
    assert zip_timestamp(epoch) == expected


@pytest.mark.parametrize(
    ("epoch", "seconds"), [(0, 315532800), (315532801, 315532800), (650203201, 650203200)]
)
def test_zip_timestamp_matches_auditwheel_expectations(epoch: int, seconds: int) -> None:
    import calendar

    assert calendar.timegm((*zip_timestamp(epoch), 0, 0, 0)) == seconds


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (0o644, 0o644),
        (0o600, 0o644),
        (0o444, 0o644),
        (0o000, 0o644),
        (0o755, 0o755),
        (0o700, 0o755),
        (0o744, 0o755),
        (0o001, 0o755),
        (0o4755, 0o755),
        (0o100644, 0o644),
        (0o100755, 0o755),
    ],
)
def test_normalized_mode(mode: int, expected: int) -> None:
    assert normalized_mode(mode) == expected


def test_archive_order() -> None:
    names = [
        f"{DIST_INFO}/RECORD",
        f"{DIST_INFO}/WHEEL",
        "z.py",
        f"{DIST_INFO}/METADATA",
        "demo-1.0.data/scripts/tool",
        "a/b.py",
        "demo-1.0.dist-infox",
        f"{DIST_INFO}/licenses/ZLICENSE",
    ]
    assert archive_order(names, DIST_INFO) == [
        "a/b.py",
        "demo-1.0.data/scripts/tool",
        "demo-1.0.dist-infox",
        "z.py",
        f"{DIST_INFO}/METADATA",
        f"{DIST_INFO}/WHEEL",
        f"{DIST_INFO}/licenses/ZLICENSE",
        f"{DIST_INFO}/RECORD",
    ]


def test_zip_settings_validation() -> None:
    with pytest.raises(ValueError, match="compression level"):
        ZipSettings(compression_level=10)
    with pytest.raises(ValueError, match="compression level"):
        ZipSettings(compression_level=-1)


# -- output ---------------------------------------------------------------------------------


def test_output_layout_and_attributes(tmp_path: Path) -> None:
    dest = write_wheel(tmp_path / WHEEL_NAME)
    assert dest == tmp_path / WHEEL_NAME
    assert leftovers(tmp_path) == []
    with zipfile.ZipFile(dest) as zf:
        infos = zf.infolist()
        names = [info.filename for info in infos]
        expected_names = [
            "demo-1.0.data/scripts/tool",
            "demo.libs/libfoo-12345678.so.1",
            "demo/__init__.py",
            "demo/_ext.so",
            "demo/sub/data,with comma.txt",
            f"{DIST_INFO}/METADATA",
            f"{DIST_INFO}/WHEEL",
            f"{DIST_INFO}/RECORD",
        ]
        assert names == expected_names
        assert zf.testzip() is None
        modes = {info.filename: info.external_attr >> 16 for info in infos}
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert not info.is_dir()
            assert stat.S_ISREG(modes[info.filename])
        assert modes["demo/_ext.so"] == 0o100755
        assert modes["demo-1.0.data/scripts/tool"] == 0o100755
        assert modes[f"{DIST_INFO}/METADATA"] == 0o100644
        assert modes["demo/sub/data,with comma.txt"] == 0o100644
        assert modes[f"{DIST_INFO}/RECORD"] == 0o100644
        contents = {name: zf.read(name) for name in names}
    added = {name: data for name, data, _ in MEMBERS}
    for name in names[:-1]:
        assert contents[name] == added[name]


def test_record_rows_match_contents(tmp_path: Path) -> None:
    dest = write_wheel(tmp_path / WHEEL_NAME)
    with zipfile.ZipFile(dest) as zf:
        names = zf.namelist()
        record_text = zf.read(f"{DIST_INFO}/RECORD").decode("utf-8")
        contents = {name: zf.read(name) for name in names}
    assert record_text.endswith(f"{DIST_INFO}/RECORD,,\n")
    assert "\r" not in record_text
    assert "stale" not in record_text
    record = parse_record(record_text)
    # rows in archive order, RECORD itself last
    assert list(record) == names
    assert record[f"{DIST_INFO}/RECORD"] == ("", None)
    for name in names[:-1]:
        assert record[name] == (hash_digest(contents[name]), len(contents[name]))
    assert f"{DIST_INFO}/RECORD.jws" not in names


def test_reader_accepts_output(tmp_path: Path) -> None:
    dest = write_wheel(tmp_path / WHEEL_NAME)
    with WheelReader(dest) as reader:
        assert reader.dist_info == DIST_INFO
        assert reader.read(MemberPath("demo/__init__.py")) == b""
        modes = {member.path: member.mode for member in reader.members}
    assert modes[MemberPath("demo/_ext.so")] == 0o755


def test_byte_identical_for_same_inputs(tmp_path: Path) -> None:
    outputs = []
    for sub, members in (("one", MEMBERS), ("two", MEMBERS), ("three", list(reversed(MEMBERS)))):
        (tmp_path / sub).mkdir()
        outputs.append(write_wheel(tmp_path / sub / WHEEL_NAME, members=members).read_bytes())
    # the same inputs twice, and the same members listed in another order (then sorted)
    assert outputs[0] == outputs[1] == outputs[2]


def test_add_out_of_archive_order_is_refused(tmp_path: Path) -> None:
    with WheelWriter(tmp_path / WHEEL_NAME, ZipSettings()) as out:
        out.add("demo/b.py", b"", 0o644)
        with pytest.raises(ValueError, match="archive_key order"):
            out.add("demo/a.py", b"", 0o644)
        out.add(f"{DIST_INFO}/METADATA", b"", 0o644)
        with pytest.raises(ValueError, match="archive_key order"):
            out.add("demo/c.py", b"", 0o644)  # .dist-info members come last
        out.finish(DIST_INFO)
    with zipfile.ZipFile(tmp_path / WHEEL_NAME) as zf:
        assert zf.namelist() == ["demo/b.py", f"{DIST_INFO}/METADATA", f"{DIST_INFO}/RECORD"]


@pytest.mark.parametrize("level", [0, 1, 9])
def test_byte_identical_per_compression_level(tmp_path: Path, level: int) -> None:
    settings = ZipSettings(compression_level=level, epoch=1700000000)
    a = write_wheel(tmp_path / "a.whl", settings)
    b = write_wheel(tmp_path / "b.whl", settings)
    assert a.read_bytes() == b.read_bytes()
    expected = zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(a) as zf:
        assert {info.compress_type for info in zf.infolist()} == {expected}


def test_epoch_changes_only_timestamps(tmp_path: Path) -> None:
    a = write_wheel(tmp_path / "a.whl", ZipSettings(epoch=None))
    b = write_wheel(tmp_path / "b.whl", ZipSettings(epoch=1700000000))
    assert a.read_bytes() != b.read_bytes()
    assert a.stat().st_size == b.stat().st_size
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        infos_a, infos_b = za.infolist(), zb.infolist()
        assert [i.filename for i in infos_a] == [i.filename for i in infos_b]
        for ia, ib in zip(infos_a, infos_b):
            assert za.read(ia) == zb.read(ib)
            assert ia.CRC == ib.CRC
            assert ia.compress_size == ib.compress_size
            assert ia.external_attr == ib.external_attr
            assert ia.date_time == (1980, 1, 1, 0, 0, 0)
            assert ib.date_time == (2023, 11, 14, 22, 13, 20)


def test_output_file_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        dest = write_wheel(tmp_path / WHEEL_NAME)
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640


def test_overwrite_replaces_existing(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    dest.write_bytes(b"old")
    write_wheel(dest)
    assert zipfile.is_zipfile(dest)
    assert leftovers(tmp_path) == []


def test_overwrite_false_refuses_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    dest.write_bytes(b"old")
    with pytest.raises(OutputError) as info, WheelWriter(dest, ZipSettings(), overwrite=False):
        pytest.fail("entered despite an existing destination")
    assert info.value.subject == str(dest)
    assert info.value.exit_code == 11
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_overwrite_false_refuses_file_appearing_before_finish(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    refused = pytest.raises(OutputError, match="already exists")
    with refused, WheelWriter(dest, ZipSettings(), overwrite=False) as out:
        for name, data, mode in ordered(MEMBERS):
            out.add(name, data, mode)
        dest.write_bytes(b"raced")
        out.finish(DIST_INFO)
    assert dest.read_bytes() == b"raced"
    assert leftovers(tmp_path) == []


def test_overwrite_false_writes_new_file(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    with WheelWriter(dest, ZipSettings(), overwrite=False) as out:
        for name, data, mode in ordered(MEMBERS):
            out.add(name, data, mode)
        out.finish(DIST_INFO)
    assert zipfile.is_zipfile(dest)
    assert leftovers(tmp_path) == []


def test_temp_file_lives_next_to_destination(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    with WheelWriter(dest, ZipSettings()) as out:
        parts = leftovers(tmp_path)
        assert len(parts) == 1
        assert parts[0].startswith(f".{WHEEL_NAME}.{os.getpid()}.")
        for name, data, mode in ordered(MEMBERS):
            out.add(name, data, mode)
        out.finish(DIST_INFO)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_exception_inside_with_removes_temp(tmp_path: Path, error: BaseException) -> None:
    dest = tmp_path / WHEEL_NAME
    with pytest.raises(type(error)), WheelWriter(dest, ZipSettings()) as out:
        out.add("demo/__init__.py", b"", 0o644)
        assert len(leftovers(tmp_path)) == 1
        raise error
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_existing_destination(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    dest.write_bytes(b"previous")
    with pytest.raises(RuntimeError), WheelWriter(dest, ZipSettings()):
        raise RuntimeError("boom")
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


def test_leaving_without_finish_is_an_error(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    with pytest.raises(RuntimeError, match="finish"), WheelWriter(dest, ZipSettings()) as out:
        out.add("demo/__init__.py", b"", 0o644)
    assert list(tmp_path.iterdir()) == []


def _enospc(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullDisk(io.FileIO):
    """The temporary file on a full disk: every write fails (unbuffered, so it fails at once)."""

    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _OsFullDisk:
    """The ``os`` module as writer.py sees it, handing out :class:`_FullDisk` files."""

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    @staticmethod
    def fdopen(fd: int, mode: str = "r", *args: object, **kwargs: object) -> io.FileIO:
        assert mode == "w+b", mode
        return _FullDisk(fd, "r+")


@pytest.mark.parametrize(
    ("target", "attribute"),
    [
        (writer_module, "os"),  # the members' writes
        (Path, "replace"),  # the rename onto the destination (os.replace underneath)
        (os, "fsync"),
    ],
    ids=["file-write", "os-replace", "os-fsync"],
)
def test_disk_full_becomes_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: object, attribute: str
) -> None:
    dest = tmp_path / WHEEL_NAME
    monkeypatch.setattr(target, attribute, _OsFullDisk() if attribute == "os" else _enospc)
    with pytest.raises(OutputError) as info:
        write_wheel(dest)
    assert info.value.subject == str(dest)
    assert info.value.reason == f"cannot write: {os.strerror(errno.ENOSPC)}"
    assert info.value.exit_code == 11
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_disk_full_keeps_existing_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / WHEEL_NAME
    dest.write_bytes(b"previous")
    monkeypatch.setattr(writer_module, "os", _OsFullDisk())
    with pytest.raises(OutputError):
        write_wheel(dest)
    monkeypatch.undo()
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


def test_interrupt_during_finish_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module, "record_from_lines", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_wheel(tmp_path / WHEEL_NAME)
    assert list(tmp_path.iterdir()) == []


def test_parent_is_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    with pytest.raises(OutputError) as info, WheelWriter(blocker / WHEEL_NAME, ZipSettings()):
        pytest.fail("entered an impossible directory")
    assert info.value.subject == str(blocker)
    assert "not a directory" in info.value.reason


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(OutputError) as info, WheelWriter(missing / WHEEL_NAME, ZipSettings()):
        pytest.fail("entered a missing directory")
    assert info.value.subject == str(missing)
    assert "does not exist" in info.value.reason


def test_destination_is_a_directory(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    dest.mkdir()
    with pytest.raises(OutputError, match="directory"), WheelWriter(dest, ZipSettings()):
        pytest.fail("entered with a directory as destination")
    assert [p.name for p in tmp_path.iterdir()] == [WHEEL_NAME]


@pytest.mark.parametrize(
    "name", ["", "dir/", "/abs.py", "a/../b.py", "a\\b.py", "a//b.py", "./a.py", "nul\x00.py"]
)
def test_add_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with WheelWriter(tmp_path / WHEEL_NAME, ZipSettings()) as out:
        with pytest.raises(ValueError, match="not a valid"):
            out.add(name, b"", 0o644)
        out.add("ok.py", b"", 0o644)
        out.finish(DIST_INFO)


def test_add_rejects_duplicates(tmp_path: Path) -> None:
    with WheelWriter(tmp_path / WHEEL_NAME, ZipSettings()) as out:
        out.add("a.py", b"", 0o644)
        with pytest.raises(ValueError, match="once each"):
            out.add("a.py", b"x", 0o644)
        out.finish(DIST_INFO)


def test_record_only_wheel(tmp_path: Path) -> None:
    dest = write_wheel(tmp_path / WHEEL_NAME, members=[])
    with zipfile.ZipFile(dest) as zf:
        assert zf.namelist() == [f"{DIST_INFO}/RECORD"]
        assert zf.read(f"{DIST_INFO}/RECORD") == f"{DIST_INFO}/RECORD,,\n".encode()


# --------------------------------------------------------------------------- copying stored bytes


def _source_wheel(path: Path, level: int) -> Path:
    """A zip whose members were compressed by someone else, at ``level``."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo/big.txt", b"wheelfix " * 20000, zipfile.ZIP_DEFLATED, level)
        zf.writestr("demo/raw.bin", bytes(range(256)) * 8, zipfile.ZIP_STORED)
        zf.writestr(f"{DIST_INFO}/WHEEL", WHEEL_TEXT)
        zf.writestr(f"{DIST_INFO}/RECORD", b"")
    return path


@pytest.mark.parametrize("recompress", [False, True])
def test_add_compressed_copies_stored_bytes_unless_recompressing(
    tmp_path: Path, recompress: bool
) -> None:
    source = _source_wheel(tmp_path / WHEEL_NAME, level=1)
    settings = ZipSettings(compression_level=9, recompress=recompress)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with WheelReader(source) as reader, WheelWriter(out_dir / WHEEL_NAME, settings) as out:
        for name in ("demo/big.txt", "demo/raw.bin", f"{DIST_INFO}/WHEEL"):
            stored = reader.read_compressed(MemberPath(name))
            assert stored is not None
            out.add_compressed(name, stored, reader.read(MemberPath(name)), 0o644)
        out.finish(DIST_INFO)
        inputs = {name: reader.read_compressed(MemberPath(name)) for name in ("demo/big.txt",)}
    with WheelReader(out_dir / WHEEL_NAME) as result:  # verifies RECORD hashes on read
        assert result.read(MemberPath("demo/big.txt")) == b"wheelfix " * 20000
        copied = result.read_compressed(MemberPath("demo/big.txt"))
        stored_raw = result.read_compressed(MemberPath("demo/raw.bin"))
    with zipfile.ZipFile(out_dir / WHEEL_NAME) as zf:
        assert zf.testzip() is None  # every CRC matches
    assert copied is not None and stored_raw is not None
    original = inputs["demo/big.txt"]
    assert original is not None
    if recompress:
        assert copied.data != original.data  # level 9 now, not the input's level 1
        assert stored_raw.compress_type == zipfile.ZIP_DEFLATED
    else:
        assert copied.data == original.data  # byte for byte what the input stored
        assert stored_raw.compress_type == zipfile.ZIP_STORED


def test_add_compressed_is_deterministic(tmp_path: Path) -> None:
    source = _source_wheel(tmp_path / WHEEL_NAME, level=3)
    outputs = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        settings = ZipSettings(recompress=False, epoch=1700000000)
        with (
            WheelReader(source) as reader,
            WheelWriter(tmp_path / sub / WHEEL_NAME, settings) as out,
        ):
            for name in ("demo/big.txt", "demo/raw.bin"):
                stored = reader.read_compressed(MemberPath(name))
                assert stored is not None
                out.add_compressed(name, stored, reader.read(MemberPath(name)), 0o644)
            out.add(f"{DIST_INFO}/WHEEL", WHEEL_TEXT, 0o644)
            out.finish(DIST_INFO)
        outputs.append((tmp_path / sub / WHEEL_NAME).read_bytes())
    assert outputs[0] == outputs[1]


# --------------------------------------------------------------------------- parallel deflate

C = CHUNK_SIZE


def _noise(size: int, seed: int) -> bytes:
    """Incompressible bytes, the same on every run."""
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


BIG_MEMBERS: list[tuple[str, bytes, int]] = [
    ("demo.libs/libbig-00000000.so", (b"\x7fELF" + bytes(range(200)) * 7) * 4000, 0o755),
    ("demo.libs/librandom-11111111.so", _noise(2 * C + 17, 1), 0o755),
    ("demo.libs/libexact-22222222.so", _noise(1000, 2) * (C // 1000) + bytes(C % 1000), 0o755),
    ("demo.libs/libminus-33333333.so", bytes(C - 1), 0o755),
    ("demo.libs/libplus-44444444.so", (b"wheelfix %d\n" * 9 % tuple(range(9)) * C)[: C + 1], 0o755),
    ("demo/_tiny.so", b"\x7fELF", 0o755),
    ("demo/empty.py", b"", 0o644),
    (f"{DIST_INFO}/WHEEL", WHEEL_TEXT, 0o644),
]


def _write_threads(path: Path, threads: int, pending_bytes: int = 256 << 20) -> Path:
    path.parent.mkdir(exist_ok=True)
    with WheelWriter(path, ZipSettings(), threads=threads, pending_bytes=pending_bytes) as out:
        for name, data, mode in ordered(BIG_MEMBERS):
            out.add(name, data, mode)
        return out.finish(DIST_INFO)


@pytest.fixture(scope="module")
def parallel_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("parallel")
    runs = {f"{n} threads": (n, 256 << 20) for n in (1, 2, 8)}
    runs["8 threads, no budget"] = (8, 0)  # every member waited for before the next
    return {
        label: _write_threads(root / label.replace(" ", "_") / WHEEL_NAME, *args).read_bytes()
        for label, args in runs.items()
    }


def test_output_is_byte_identical_across_thread_counts(parallel_wheels: dict[str, bytes]) -> None:
    outputs = set(parallel_wheels.values())
    assert len(outputs) == 1, sorted(parallel_wheels)


def test_parallel_output_reads_back_in_archive_order(
    parallel_wheels: dict[str, bytes], tmp_path: Path
) -> None:
    path = tmp_path / WHEEL_NAME
    path.write_bytes(parallel_wheels["8 threads"])
    expected = dict((name, data) for name, data, _ in BIG_MEMBERS)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every CRC matches
        names = zf.namelist()
        assert names == [name for name, _, _ in ordered(BIG_MEMBERS)] + [f"{DIST_INFO}/RECORD"]
        for name, data in expected.items():
            assert zf.read(name) == data, name
            info = zf.getinfo(name)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.file_size == len(data)
            assert zlib.crc32(data) == info.CRC
    with WheelReader(path) as reader:  # verifies every RECORD hash
        reader.verify_record()


def test_big_members_are_stored_as_chunked_stream(
    parallel_wheels: dict[str, bytes], tmp_path: Path
) -> None:
    path = tmp_path / WHEEL_NAME
    path.write_bytes(parallel_wheels["2 threads"])
    with WheelReader(path) as reader:
        for name, data, _ in BIG_MEMBERS:
            stored = reader.read_compressed(MemberPath(name))
            assert stored is not None
            assert stored.data == compress_member(data, 6).data, name
            if deflate_module.ENGINE.startswith("libdeflate"):  # one libdeflate stream
                assert len(compress_member(data, 6).pieces) == 1
            elif len(data) < C:  # zlib, one piece: exactly what zipfile itself would store
                whole = zlib.compressobj(6, zlib.DEFLATED, -15)
                assert stored.data == whole.compress(data) + whole.flush(), name


def _unzip() -> str:
    found = shutil.which("unzip")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("unzip is missing (.ci/run installs it)")
        pytest.skip("unzip is not installed (apt-get install unzip)")
    return found


def test_unzip_accepts_parallel_output(parallel_wheels: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / WHEEL_NAME
    path.write_bytes(parallel_wheels["8 threads"])
    proc = subprocess.run([_unzip(), "-t", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No errors detected" in proc.stdout
    for name, _, _ in BIG_MEMBERS:
        assert f"testing: {name}" in proc.stdout


def test_unzip_extracts_the_same_bytes(parallel_wheels: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / WHEEL_NAME
    path.write_bytes(parallel_wheels["1 threads"])
    out = tmp_path / "x"
    subprocess.run([_unzip(), "-q", str(path), "-d", str(out)], check=True)
    for name, data, _ in BIG_MEMBERS:
        assert (out / name).read_bytes() == data, name


def test_threads_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WheelWriter(tmp_path / WHEEL_NAME, ZipSettings(), threads=0)


def test_failed_compression_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> tuple[bytes, int]:
        raise MemoryError("no room for the piece")

    dest = tmp_path / WHEEL_NAME
    dest.write_bytes(b"previous")
    monkeypatch.setattr(deflate_module, "deflate_chunk", broken)  # the zlib engine
    monkeypatch.setattr(deflate_module, "_libdeflate_member", broken)  # libdeflate's
    with pytest.raises(MemoryError, match="no room"):
        _write_threads(dest, threads=2)
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


def test_interrupt_while_members_are_in_flight(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    with pytest.raises(KeyboardInterrupt), WheelWriter(dest, ZipSettings(), threads=2) as out:
        for name, data, mode in ordered(BIG_MEMBERS)[:3]:
            out.add(name, data, mode)
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_stored_level_zero_in_parallel(tmp_path: Path) -> None:
    dest = tmp_path / WHEEL_NAME
    with WheelWriter(dest, ZipSettings(compression_level=0), threads=4) as out:
        for name, data, mode in ordered(BIG_MEMBERS):
            out.add(name, data, mode)
        out.finish(DIST_INFO)
    with zipfile.ZipFile(dest) as zf:
        assert zf.testzip() is None
        for name, data, _ in BIG_MEMBERS:
            assert zf.getinfo(name).compress_type == zipfile.ZIP_STORED
            assert zf.getinfo(name).compress_size == len(data)
            assert zf.read(name) == data
