"""Rewrite checks: the page size a rewritten ELF file is verified at (pure, bytes only).

Linux loaders may run AArch64, PPC64 and LoongArch files on 64 KiB pages, so those are checked
at 64 KiB (``structs.page_size_for``). Android's loader maps pages of 4 KiB or 16 KiB only, and
the NDK aligns segments to 16 KiB (r27 and later) or 4 KiB (older): an Android file, known by its
``.note.android.ident`` section, is checked at its own PT_LOAD alignment, between 4 and 16 KiB,
so a 16 KiB-aligned Bionic library is not refused for a page size no Android device has.
"""

from __future__ import annotations

import struct

from wheelfix.elf.structs import page_size_for
from wheelfix.patchelf import PatchelfError
from wheelfix.patchelf.elfview import PT_LOAD, ElfView

__all__ = ["ANDROID_NOTE_SECTION", "is_android_elf", "verify_page_size"]

ANDROID_NOTE_SECTION = ".note.android.ident"
"""The section the NDK's crtbegin objects put in every Android ELF file."""

_ANDROID_PAGES = (0x1000, 0x4000)
"""The smallest and largest page size Android uses."""


def is_android_elf(data: bytes) -> bool:
    """True when the file carries the NDK's Android ident note."""
    try:
        return ElfView(data).section(ANDROID_NOTE_SECTION) is not None
    except (PatchelfError, struct.error, ValueError, IndexError):
        return False


def verify_page_size(data: bytes, machine: int) -> int:
    """The page size to verify ``data`` (a rewritten file of ``machine``) at."""
    default = page_size_for(machine)
    try:
        view = ElfView(data)
    except (PatchelfError, struct.error, ValueError, IndexError):
        return default
    if view.section(ANDROID_NOTE_SECTION) is None:
        return default
    aligns = [s.p_align for s in view.segments if s.p_type == PT_LOAD and s.p_align > 0]
    low, high = _ANDROID_PAGES
    return max(low, min(high, min(aligns, default=low)))
