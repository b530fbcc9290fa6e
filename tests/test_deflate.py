"""Tests for deflate.py: chunked parallel deflate, CRC combining, the ordered deflater.

Most tests pin the zlib engine (the chunked stream, the fallback where libdeflate is not
installed); the ``libdeflate`` tests at the end check the default engine.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wheelfix import deflate as deflate_module
from wheelfix.deflate import (
    CHUNK_SIZE,
    WINDOW,
    OrderedDeflater,
    PendingMember,
    chunk_bounds,
    compress_member,
    crc32_combine,
    submit_member,
)

C = CHUNK_SIZE


@pytest.fixture(autouse=True)
def zlib_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunked zlib engine, unless the test is about libdeflate."""
    if "libdeflate" not in request.node.name:
        monkeypatch.setattr(deflate_module, "_LIBDEFLATE", None)


SYNC_FLUSH_TAIL = b"\x00\x00\xff\xff"  # the empty stored block a sync flush ends with


def _random(size: int, seed: int = 1) -> bytes:
    """Incompressible bytes, the same on every run."""
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def _text(size: int) -> bytes:
    words = b"wheelfix grafts libraries and rewrites ELF files in process "
    return (words * (size // len(words) + 1))[:size]


def _mixed(size: int) -> bytes:
    """Compressible text with random runs, so matches cross every chunk boundary."""
    out = bytearray(_text(size))
    for start in range(0, size, 50_000):
        run = _random(min(3000, size - start), seed=start)
        out[start : start + len(run)] = run
    return bytes(out)


SIZES = [0, 1, 2, WINDOW, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 3 * C + C // 2]
KINDS = {"random": _random, "zeros": bytes, "text": _text, "mixed": _mixed}


# --------------------------------------------------------------------------- crc32_combine


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (b"", b""),
        (b"abc", b""),
        (b"", b"defg"),
        (b"abc", b"defg"),
        (b"\x00" * 1000, b"\xff" * 3),
        (bytes(range(256)) * 3, bytes(range(255, -1, -1)) * 17),
    ],
)
def test_crc32_combine_matches_zlib(a: bytes, b: bytes) -> None:
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_crc32_combine_random_splits() -> None:
    data = _random(300_000, seed=42)
    for cut in [*range(0, 300_001, 7919), 299_999, 300_000]:
        left, right = data[:cut], data[cut:]
        got = crc32_combine(zlib.crc32(left), zlib.crc32(right), len(right))
        assert got == zlib.crc32(data), cut


def test_crc32_combine_many_pieces_and_huge_lengths() -> None:
    data = _random(5 * C + 12345, seed=3)
    crc = 0
    for start, end in chunk_bounds(len(data), 100_003):
        crc = crc32_combine(crc, zlib.crc32(data[start:end]), end - start)
    assert crc == zlib.crc32(data)
    # lengths past 4 GiB (the power table wraps): shifting by 2**32 bytes twice is
    # shifting by 2**33 bytes once, and by 3 * 2**31 bytes is 2**31 then 2**32.
    shifted = crc32_combine(crc32_combine(0x1234ABCD, 0, 1 << 32), 0, 1 << 32)
    assert shifted == crc32_combine(0x1234ABCD, 0, 1 << 33)
    three = crc32_combine(crc32_combine(0x1234ABCD, 0, 1 << 31), 0, 1 << 32)
    assert three == crc32_combine(0x1234ABCD, 0, 3 << 31)
    assert crc32_combine(0x1234ABCD, 0x55AA55AA, 0) == 0x1234ABCD ^ 0x55AA55AA


def test_crc32_combine_rejects_negative_length() -> None:
    with pytest.raises(ValueError, match="negative"):
        crc32_combine(0, 0, -1)


# --------------------------------------------------------------------------- chunk_bounds


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, [(0, 0)]),
        (1, [(0, 1)]),
        (C - 1, [(0, C - 1)]),
        (C, [(0, C)]),
        (C + 1, [(0, C), (C, C + 1)]),
        (2 * C, [(0, C), (C, 2 * C)]),
    ],
)
def test_chunk_bounds(size: int, expected: list[tuple[int, int]]) -> None:
    assert chunk_bounds(size) == expected


def test_chunk_bounds_rejects_bad_chunk_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        chunk_bounds(10, 0)


# --------------------------------------------------------------------------- compress_member


@pytest.fixture(scope="module")
def pools() -> Iterator[dict[str, ThreadPoolExecutor | None]]:
    executors = {n: ThreadPoolExecutor(n) for n in (1, 2, 8)}
    yield {"inline": None, **{f"{n} threads": e for n, e in executors.items()}}
    for executor in executors.values():
        executor.shutdown()


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("size", SIZES)
def test_round_trip_crc_and_identity_across_thread_counts(
    pools: dict[str, ThreadPoolExecutor | None], kind: str, size: int
) -> None:
    data = KINDS[kind](size)
    results = {name: compress_member(data, 6, pool) for name, pool in pools.items()}
    first = results["inline"]
    for name, result in results.items():
        assert result == first, name  # same pieces, CRC and size on 1, 2 or 8 threads
    assert first.compress_type == zipfile.ZIP_DEFLATED
    assert first.file_size == size
    assert first.crc == zlib.crc32(data)
    assert first.compress_size == len(first.data)
    assert len(first.pieces) == max(1, -(-size // C))
    # one valid raw deflate stream, ended by a final block (nothing left over)
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(first.data) + inflater.flush() == data
    assert inflater.eof
    assert inflater.unused_data == b""
    for piece in first.pieces[:-1]:
        assert piece.endswith(SYNC_FLUSH_TAIL)


@pytest.mark.parametrize("size", [0, 1, 1000, C - 1, C])
@pytest.mark.parametrize("level", [1, 6, 9])
def test_one_piece_members_compress_exactly_as_zipfile(size: int, level: int) -> None:
    data = _mixed(size)
    # zipfile's own compressor for ZIP_DEFLATED members
    reference = zlib.compressobj(level, zlib.DEFLATED, -15)
    expected = reference.compress(data) + reference.flush()
    assert compress_member(data, level).data == expected


def test_pieces_are_primed_with_the_previous_window() -> None:
    # A 16 KiB random block repeated over 4 MiB: with the 32 KiB before it as dictionary,
    # each piece refers back into the previous one, as one stream would; without it, each
    # of pieces 2-4 would have to spell the block out again (16 KiB of incompressible bytes).
    block = _random(16384, seed=9)
    data = block * (4 * C // len(block))
    whole = zlib.compressobj(6, zlib.DEFLATED, -15)
    single = len(whole.compress(data) + whole.flush())
    result = compress_member(data, 6)
    assert len(result.pieces) == 4
    assert result.compress_size < single + 4096
    assert zlib.decompress(result.data, -15) == data


def test_chunked_stream_costs_little_against_one_stream() -> None:
    data = _mixed(3 * C)
    whole = zlib.compressobj(6, zlib.DEFLATED, -15)
    single = len(whole.compress(data) + whole.flush())
    assert compress_member(data, 6).compress_size <= single * 1.01 + 64


def test_level_zero_stores() -> None:
    data = _random(C + 5)
    result = compress_member(data, 0)
    assert result.compress_type == zipfile.ZIP_STORED
    assert result.data == data
    assert result.crc == zlib.crc32(data)
    assert result.file_size == len(data)


@pytest.mark.parametrize("level", [-1, 10])
def test_bad_level(level: int) -> None:
    with pytest.raises(ValueError, match="0-9"):
        compress_member(b"x", level)


def test_bytearray_and_memoryview_inputs() -> None:
    data = _mixed(C + 100)
    expected = compress_member(data, 6)
    assert compress_member(bytearray(data), 6) == expected  # type: ignore[arg-type]
    assert compress_member(memoryview(data), 6) == expected  # type: ignore[arg-type]


def test_a_failing_piece_fails_the_member(monkeypatch: pytest.MonkeyPatch) -> None:
    real = deflate_module.deflate_chunk

    def flaky(data: memoryview, start: int, end: int, level: int) -> tuple[bytes, int]:
        if start == C:
            raise MemoryError("piece 2")
        return real(data, start, end, level)

    monkeypatch.setattr(deflate_module, "deflate_chunk", flaky)
    with ThreadPoolExecutor(2) as pool:
        pending = submit_member(_text(3 * C), 6, pool)
        with pytest.raises(MemoryError, match="piece 2"):
            pending.result()


def test_ready_member_keeps_its_bytes() -> None:
    stored = PendingMember.ready(zipfile.ZIP_DEFLATED, 0xDEADBEEF, 5 * C, b"opaque")
    assert stored.done()
    result = stored.result()
    assert (result.compress_type, result.crc, result.file_size, result.data) == (
        zipfile.ZIP_DEFLATED,
        0xDEADBEEF,
        5 * C,
        b"opaque",
    )


# --------------------------------------------------------------------------- OrderedDeflater


def test_ordered_deflater_keeps_submission_order() -> None:
    deflater: OrderedDeflater[str] = OrderedDeflater(4, pending_bytes=1 << 40)
    members = {"big": _mixed(3 * C), "small": b"tiny", "empty": b"", "mid": _text(C + 1)}
    try:
        for name, data in members.items():
            deflater.submit(name, data, 6)
        out = list(deflater.ready(everything=True))
    finally:
        deflater.close()
    assert [name for name, _ in out] == list(members)
    for name, result in out:
        assert zlib.decompress(result.data, -15) == members[name]


def test_ordered_deflater_waits_only_when_over_budget() -> None:
    gate = threading.Event()
    deflater: OrderedDeflater[str] = OrderedDeflater(1, pending_bytes=10 * C)
    try:
        deflater.run(gate.wait)  # occupies the only thread: nothing compresses yet
        deflater.submit("a", _text(C), 6)
        deflater.submit("b", _text(C), 6)
        assert list(deflater.ready()) == []  # under budget and not done: the caller goes on
        gate.set()
        assert [name for name, _ in deflater.ready(everything=True)] == ["a", "b"]
    finally:
        gate.set()
        deflater.close()


def test_ordered_deflater_over_budget_writes_older_members_first() -> None:
    gate = threading.Event()
    deflater: OrderedDeflater[str] = OrderedDeflater(1, pending_bytes=0)
    try:
        deflater.submit("first", _text(2 * C), 6)
        deflater.run(gate.wait)  # runs after first's pieces, holds second's back
        deflater.submit("second", _text(2 * C), 6)
        # over budget: every member but the newest is waited for; the newest may stay
        assert [name for name, _ in deflater.ready()] == ["first"]
        gate.set()
        assert [name for name, _ in deflater.ready(everything=True)] == ["second"]
    finally:
        gate.set()
        deflater.close()


def test_ordered_deflater_close_drops_queued_work() -> None:
    gate = threading.Event()
    deflater: OrderedDeflater[str] = OrderedDeflater(1)
    deflater.run(gate.wait)
    deflater.submit("never", _text(4 * C), 6)
    gate.set()
    deflater.close()
    assert list(deflater.ready(everything=True)) == []


def test_ordered_deflater_rejects_zero_threads() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OrderedDeflater(0)


# --------------------------------------------------------------------------- libdeflate engine

try:
    import deflate as libdeflate
except ImportError:  # the zlib fallback's machines
    libdeflate = None

needs_libdeflate = pytest.mark.skipif(
    not deflate_module.ENGINE.startswith("libdeflate"),
    reason="the deflate package (libdeflate) is not installed, or WHEELFIX_DEFLATE=zlib",
)


@needs_libdeflate
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("size", [0, 1, C - 1, C + 1, 3 * C + 17])
def test_libdeflate_member_is_one_stream_identical_on_any_pool(
    pools: dict[str, ThreadPoolExecutor | None], kind: str, size: int
) -> None:
    assert deflate_module.ENGINE.startswith("libdeflate")
    data = KINDS[kind](size)
    results = {name: compress_member(data, 6, pool) for name, pool in pools.items()}
    first = results["inline"]
    assert all(result == first for result in results.values())
    assert len(first.pieces) == 1
    assert first.crc == zlib.crc32(data) and first.file_size == size
    assert zlib.decompress(first.data, -15) == data  # zlib reads libdeflate's stream
    assert first.data == bytes(libdeflate.deflate_compress(data, 6))


@needs_libdeflate
def test_libdeflate_is_smaller_than_zlib_on_machine_code() -> None:
    # the deflate package's own extension module: machine code, present wherever it runs
    (extension,) = Path(libdeflate.__file__).parent.glob("_deflate*.so")
    data = extension.read_bytes()
    ours = compress_member(data, 6)
    reference = zlib.compressobj(6, zlib.DEFLATED, -15)
    theirs = reference.compress(data) + reference.flush()
    assert ours.compress_size <= len(theirs)
    assert zlib.decompress(ours.data, -15) == data


@needs_libdeflate
def test_libdeflate_level_0_stores() -> None:
    stored = compress_member(b"abc" * 1000, 0)
    assert stored.compress_type == zipfile.ZIP_STORED and stored.data == b"abc" * 1000


def test_zlib_fallback_is_chosen_by_the_environment() -> None:
    """``WHEELFIX_DEFLATE=zlib`` (and a missing ``deflate`` package) give the chunked zlib stream."""
    code = (
        "import zlib\n"
        "from wheelfix import deflate\n"
        "data = bytes(range(256)) * 9000\n"
        "member = deflate.compress_member(data, 6)\n"
        "assert zlib.decompress(member.data, -15) == data\n"
        "print(deflate.ENGINE, len(member.pieces))\n"
    )
    env = {**os.environ, "WHEELFIX_DEFLATE": "zlib"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    engine, pieces = proc.stdout.rsplit(maxsplit=1)
    assert engine == f"zlib {zlib.ZLIB_RUNTIME_VERSION}"
    assert int(pieces) == 3  # 2,304,000 bytes in 1 MiB pieces
