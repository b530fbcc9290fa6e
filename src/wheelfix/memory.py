"""Command line helper: large freed blocks go back to the system at once (glibc only).

glibc's malloc serves blocks above its mmap threshold (128 KiB at start) with ``mmap`` and
unmaps them when freed, but each such free raises the threshold to the block's size (up to
32 MiB). After the first few libraries, a repair's blocks of 1-30 MB (members, library
bytes, compressed pieces) then come from the heap arenas, which keep what is freed: lxml's
repair peaked at 148 MiB that way, 95 MiB with the threshold fixed. ``mallopt`` with
``M_MMAP_THRESHOLD`` fixes it (and turns the adjustment off); the worker processes, forked
later, inherit the setting. Elsewhere (musl, no ``ctypes``) nothing is done. In-process,
through ``ctypes``: no program is run.
"""

from __future__ import annotations

__all__ = ["MMAP_THRESHOLD", "return_large_blocks"]

MMAP_THRESHOLD = 128 * 1024
"""Blocks of at least this size are mapped and unmapped one by one (glibc's initial value)."""

_M_MMAP_THRESHOLD = -3
"""``mallopt``'s parameter number for the threshold (``<malloc.h>``)."""


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD`; True when it was set."""
    try:
        import ctypes
    except ImportError:  # a Python built without _ctypes
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if getattr(libc, "gnu_get_libc_version", None) is None:  # not glibc: leave it alone
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
