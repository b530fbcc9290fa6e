#!/usr/bin/env python3
"""Which deflate to use: stdlib zlib against libdeflate, zlib-ng and ISA-L on grafted libraries.

Compresses every file (default: the libraries a repair of the LLVM wheel grafts, as
``wheelfix show --json`` lists them) as one raw deflate stream at level 6 (what auditwheel
and wheelfix use; ISA-L stops at level 3, so it runs at 3), one file after another on one
thread, and reports the median of N runs of the total time, MB/s and the total size. Then:

* "2 threads": the same work with two files compressed at once, which only helps a library
  that releases the GIL;
* "chunked": can the library produce what ``wheelfix.deflate`` needs (a raw stream primed
  with a preset dictionary and ended with a sync flush, so pieces join into one stream)?
* ``wheelfix.deflate`` itself (stdlib zlib, 1 MiB pieces) with 1 and 2 threads.

A library that is not installed is listed as such. Install them with
``pip install deflate zlib-ng isal``.

    python benchmarks/deflate_libs.py [-n 3] [FILE ...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
LLVM_WHEEL = HERE / ".cache" / "wheels" / "llvmext-1.0-cp311-cp311-linux_x86_64.whl"
Compress = Callable[[bytes], bytes]


def zlib_like(module: ModuleType, level: int) -> Compress:
    def compress(data: bytes) -> bytes:
        compressor = module.compressobj(level, module.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush()

    return compress


def libdeflate(module: ModuleType, level: int) -> Compress:
    return lambda data: module.deflate_compress(data, level)


# (label, module, level, how to compress, version attribute)
LIBRARIES = (
    ("stdlib zlib", "zlib", 6, zlib_like, "ZLIB_RUNTIME_VERSION"),
    ("zlib-ng (`zlib_ng`)", "zlib_ng.zlib_ng", 6, zlib_like, "ZLIBNG_VERSION"),
    ("ISA-L (`isal`)", "isal.isal_zlib", 3, zlib_like, "ISAL_VERSION"),
    ("libdeflate (`deflate`)", "deflate", 6, libdeflate, "__version__"),
)


def chunkable(module: ModuleType) -> bool:
    """Raw stream + preset dictionary + sync flush, joined: does it decompress to the input?"""
    if not hasattr(module, "compressobj"):
        return False
    data = os.urandom(4096) * 8
    first = module.compressobj(3, 8, -15)  # level 3: the highest ISA-L has
    try:
        head = first.compress(data[:16384]) + first.flush(module.Z_SYNC_FLUSH)
        second = module.compressobj(3, 8, -15, zdict=data[:16384])
        tail = second.compress(data[16384:]) + second.flush(module.Z_FINISH)
    except (TypeError, ValueError, AttributeError):
        return False
    return zlib.decompress(head + tail, -15) == data


def timed(work: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Median wall time of ``repeat`` runs of ``work`` and what it returned (a size)."""
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


def one_thread(compress: Compress, blobs: list[bytes]) -> Callable[[], int]:
    return lambda: sum(len(compress(blob)) for blob in blobs)


def two_threads(compress: Compress, blobs: list[bytes]) -> Callable[[], int]:
    def work() -> int:
        with ThreadPoolExecutor(2) as pool:
            return sum(len(out) for out in pool.map(compress, blobs))

    return work


def chunked(threads: int, blobs: list[bytes]) -> Callable[[], int]:
    from wheelfix.deflate import compress_member

    def work() -> int:
        with ThreadPoolExecutor(threads) as pool:
            return sum(compress_member(blob, 6, pool).compress_size for blob in blobs)

    return work


def default_files() -> list[Path]:
    if not LLVM_WHEEL.exists():
        sys.exit(f"{LLVM_WHEEL} is missing: run benchmarks/build_real_wheels.sh first")
    proc = subprocess.run(
        [sys.executable, "-m", "wheelfix", "show", "--json", str(LLVM_WHEEL)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [Path(p) for p in json.loads(proc.stdout)["external_libs"].values()]


def row(label: str, level: object, seconds: float, size: int, total: int, extra: str) -> str:
    return (
        f"| {label} | {level} | {seconds:.2f} | {total / seconds / 1e6:.0f} | "
        f"{size / 1e6:.2f} MB ({100 * size / total:.2f} %) | {extra} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("-n", "--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    files = args.files or default_files()
    blobs = [path.read_bytes() for path in files]
    total = sum(len(blob) for blob in blobs)
    biggest = sorted(blobs, key=len)[-2:]  # two files for the two-thread run
    pair_total = sum(len(b) for b in biggest)
    lines = [
        f"{len(files)} files, {total / 1e6:.1f} MB ({', '.join(p.name for p in files)}); "
        f"median of {args.repeat}; {len(os.sched_getaffinity(0))} usable cores. "
        f"2 threads = the two biggest files ({pair_total / 1e6:.1f} MB) at once, against the "
        "same two on one thread.",
        "",
        "| library | level | s (1 thread unless said) | MB/s | size (of input) | version; 2 threads on "
        "the two biggest (speed-up); pieces join into one stream |",
        "|---|---|---|---|---|---|",
    ]
    for label, name, level, make, version_attr in LIBRARIES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            lines.append(f"| {label} | {level} | - | - | - | not installed |")
            continue
        print(f"[deflate_libs] {label}", file=sys.stderr, flush=True)
        compress = make(module, level)
        seconds, size = timed(one_thread(compress, blobs), args.repeat)
        pair_one, _ = timed(one_thread(compress, biggest), args.repeat)
        pair_two, _ = timed(two_threads(compress, biggest), args.repeat)
        version = getattr(module, version_attr, "?")
        extra = (
            f"{version}; {pair_two:.2f} s vs {pair_one:.2f} s ({pair_one / pair_two:.2f}x); "
            f"{'yes' if chunkable(module) else 'no'}"
        )
        lines.append(row(label, level, seconds, size, total, extra))
    for threads in (1, 2):
        print(f"[deflate_libs] wheelfix.deflate, {threads} threads", file=sys.stderr, flush=True)
        seconds, size = timed(chunked(threads, blobs), args.repeat)
        label = f"`wheelfix.deflate` (stdlib zlib, 1 MiB pieces), {threads} thread(s)"
        lines.append(row(label, 6, seconds, size, total, "pieces in parallel"))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
