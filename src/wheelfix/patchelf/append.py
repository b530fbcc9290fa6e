"""Write side, growth: move the tables that outgrew their place into one segment at the end.

When ``.dynstr``, ``.dynamic`` or ``.interp`` must grow (or a program header must be
added), :func:`relocate` writes, past the end of the file, one new PT_LOAD holding a new
program header table followed by the grown tables, and points everything at it: e_phoff,
PT_PHDR, PT_INTERP, PT_DYNAMIC, DT_STRTAB/DT_STRSZ and the section headers. Nothing else
moves, so no address, relocation or symbol value changes (unlike LIEF, which shifts a
PIE file by a page), and the old ``.dynstr`` bytes are zeroed so stale strings vanish.

A resolution cache note (``--build-resolution-cache``) goes into the same segment, with a
PT_NOTE and a ``.note.nixos.ldcache`` section. The section header table is written again
after the segment (``shtable``), so it stays the last thing in the file. A file that
already ends with such a segment (from an earlier edit) gets that segment rebuilt in
place, so repeated edits never add more segments. The new segment's offset and
address are congruent modulo the largest ``p_align`` of the file (which glibc before 2.35
checks), and its address lies above every existing segment's memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import overload

from wheelfix.patchelf.elfview import (
    DT_STRTAB,
    LDCACHE_SECTION,
    PF_R,
    PF_W,
    PT_DYNAMIC,
    PT_GNU_STACK,
    PT_INTERP,
    PT_LOAD,
    PT_NOTE,
    SHT_NOBITS,
    SHT_NOTE,
    ElfView,
    Segment,
)
from wheelfix.patchelf.shtable import Move, NewSection, pack_header, trailer

PT_PHDR = 6
DT_STRSZ = 10
SHF_ALLOC = 2
_ITEMS = (".interp", ".dynstr", ".dynamic", LDCACHE_SECTION)
_ITEM_ALIGN = {".interp": 1, ".dynstr": 1, ".dynamic": 8, LDCACHE_SECTION: 4}


@dataclass(frozen=True)
class Growth:
    """New contents for the tables that must move (None: keep where it is)."""

    interp: bytes | None = None
    dynstr: bytes | None = None
    dynamic: bytes | None = None
    stack_flags: int | None = None
    """Add a PT_GNU_STACK with these flags."""
    note: bytes | None = None
    """A resolution cache note to add (PT_NOTE and ``.note.nixos.ldcache``)."""

    @property
    def is_empty(self) -> bool:
        """True when nothing has to move."""
        return self == Growth()


def page_size(machine: int, forced: int | None = None) -> int:
    """patchelf's page size: ``--page-size``, else by machine (64 KiB for AArch64, PPC,
    MIPS, IA-64, Alpha, TILE-Gx, LoongArch; 8 KiB for SPARC; otherwise 4 KiB)."""
    if forced:
        return forced
    if machine in (2, 43):  # EM_SPARC, EM_SPARCV9
        return 0x2000
    if machine in (8, 20, 21, 50, 183, 191, 258, 0x9026):
        return 0x10000
    return 0x1000


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


def owned_tail(view: ElfView) -> Segment | None:
    """The last PT_LOAD, when it holds the program header table, lies above every other
    segment and is followed by nothing but the section headers and ``.shstrtab``: a
    segment :func:`relocate` wrote and may rebuild."""
    loads = view.segments_of(PT_LOAD)
    if len(loads) < 2:
        return None
    last = max(loads, key=lambda s: s.p_offset)
    others = [s for s in loads if s is not last]
    if not (last.p_offset <= view.e_phoff < last.p_offset + last.p_filesz):
        return None
    if not _only_trailer_after(view, last.p_offset + last.p_filesz):
        return None
    if any(s.p_offset + s.p_filesz > last.p_offset for s in others):
        return None
    if any(s.p_vaddr + s.p_memsz > last.p_vaddr for s in others):
        return None
    return last


def _only_trailer_after(view: ElfView, end: int) -> bool:
    """True when the file past ``end`` holds only the section headers and ``.shstrtab``."""
    if end == len(view.data):
        return True
    table_end = view.e_shoff + view.e_shnum * (64 if view.is64 else 40)
    if view.e_shoff < end or table_end != len(view.data):
        return False
    return not any(
        s.sh_offset >= end and s.index != view.e_shstrndx and s.sh_type != SHT_NOBITS
        for s in view.sections[1:]
    )


@overload
def relocate(data: bytes, growth: Growth, page: int) -> bytes: ...
@overload
def relocate(data: bytearray, growth: Growth, page: int) -> bytearray: ...
def relocate(data: bytes | bytearray, growth: Growth, page: int) -> bytes | bytearray:
    """Apply ``growth``; see the module docstring. A ``bytearray`` is grown in place and
    returned (a big file is not copied)."""
    view = ElfView(data)
    tail = owned_tail(view)
    items = _items(view, growth, tail)
    kept = [s for s in view.segments if tail is None or s.index != tail.index]
    loads = [s for s in kept if s.p_type == PT_LOAD]
    align = max([page, *(s.p_align for s in loads)])
    if tail is not None:
        base_off, base_vaddr = tail.p_offset, tail.p_vaddr
        out = bytearray(data[:base_off])
    else:
        base_off = _align_up(len(data), page)
        top = _align_up(max(s.p_vaddr + s.p_memsz for s in loads), page)
        base_vaddr = top + (base_off - top) % align
        pad = bytes(base_off - len(data))
        out = data if isinstance(data, bytearray) else bytearray(data)
        out += pad
    add_stack = growth.stack_flags is not None and not view.segments_of(PT_GNU_STACK)
    entsize = 56 if view.is64 else 32
    count = len(kept) + 1 + int(add_stack) + int(growth.note is not None)
    place, pos = {}, count * entsize
    for name in _ITEMS:
        if name in items:
            pos = _align_up(pos, _ITEM_ALIGN[name])
            place[name] = pos
            pos += len(items[name])
    body = bytearray(pos)
    for name, at in place.items():
        body[at : at + len(items[name])] = items[name]
    flags = PF_R | (PF_W if ".dynamic" in place else 0)
    new_load = (PT_LOAD, flags, base_off, base_vaddr, pos, pos, align)
    table = _phdrs(view, kept, new_load, place, items, count * entsize)
    if add_stack and growth.stack_flags is not None:
        table.append((PT_GNU_STACK, growth.stack_flags, 0, 0, 0, 0, 1))
    if growth.note is not None:
        at = place[LDCACHE_SECTION]
        size = len(growth.note)
        table.append((PT_NOTE, PF_R, base_off + at, base_vaddr + at, size, size, 4))
    for index, fields in enumerate(table):
        _pack_phdr(view, body, index * entsize, fields)
    out += body
    _pack_header(view, out, base_off, count)
    _fix_dynamic(view, out, place, items, base_off, base_vaddr)
    _clobber_old_dynstr(view, out, place, tail)
    moves: dict[str, Move] = {
        name: (base_vaddr + at, base_off + at, len(items[name])) for name, at in place.items()
    }
    added = None
    if growth.note is not None and view.section(LDCACHE_SECTION) is None:
        added = NewSection(LDCACHE_SECTION, SHT_NOTE, SHF_ALLOC, moves[LDCACHE_SECTION], 4)
    headers = trailer(view, len(out), moves, added, base_off)
    pack_header(view, out, headers)
    out += headers.data
    return out if isinstance(data, bytearray) else bytes(out)


def _items(view: ElfView, growth: Growth, tail: Segment | None) -> dict[str, bytes]:
    """What goes into the segment: new contents, plus tables already living in the tail."""
    items: dict[str, bytes] = {}
    wanted = {
        ".interp": growth.interp,
        ".dynstr": growth.dynstr,
        ".dynamic": growth.dynamic,
        LDCACHE_SECTION: growth.note,
    }
    for name in _ITEMS:
        new = wanted[name]
        section = view.section(name)
        if new is not None:
            items[name] = new
        elif (
            tail is not None
            and section is not None
            and tail.p_offset <= section.sh_offset < tail.p_offset + tail.p_filesz
        ):
            offset, size = view.span(section)
            items[name] = bytes(view.data[offset : offset + size])
    return items


Phdr = tuple[int, int, int, int, int, int, int]
"""(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align)."""


def _phdrs(
    view: ElfView,
    kept: list[Segment],
    new_load: Phdr,
    place: dict[str, int],
    items: dict[str, bytes],
    table_size: int,
) -> list[Phdr]:
    """The kept program headers pointed at the moved tables, with the new PT_LOAD after
    the last old one."""
    base_off, base_vaddr = new_load[2], new_load[3]
    note = view.section(LDCACHE_SECTION)
    table: list[Phdr] = []
    last_load = max(i for i, s in enumerate(kept) if s.p_type == PT_LOAD)
    for index, seg in enumerate(kept):
        fields: Phdr = (
            seg.p_type, seg.p_flags, seg.p_offset, seg.p_vaddr, seg.p_filesz, seg.p_memsz,
            seg.p_align,
        )  # fmt: skip
        name = {PT_INTERP: ".interp", PT_DYNAMIC: ".dynamic"}.get(seg.p_type)
        if seg.p_type == PT_NOTE and note is not None and seg.p_offset == note.sh_offset:
            name = LDCACHE_SECTION
        if seg.p_type == PT_PHDR:
            fields = (PT_PHDR, seg.p_flags, base_off, base_vaddr, table_size, table_size, 8)
        elif name is not None and name in place:
            size, at = len(items[name]), place[name]
            fields = (seg.p_type, seg.p_flags, base_off + at, base_vaddr + at, size, size,
                      seg.p_align)  # fmt: skip
        table.append(fields)
        if index == last_load:
            table.append(new_load)
    return table


def _pack_phdr(view: ElfView, out: bytearray, at: int, fields: Phdr) -> None:
    p_type, flags, offset, vaddr, filesz, memsz, align = fields
    if view.is64:
        struct.pack_into(view.end + "IIQQQQQQ", out, at, p_type, flags, offset, vaddr, vaddr,
                         filesz, memsz, align)  # fmt: skip
    else:
        struct.pack_into(view.end + "IIIIIIII", out, at, p_type, offset, vaddr, vaddr, filesz,
                         memsz, flags, align)  # fmt: skip


def _pack_header(view: ElfView, out: bytearray, phoff: int, phnum: int) -> None:
    if view.is64:
        struct.pack_into(view.end + "Q", out, 32, phoff)
        struct.pack_into(view.end + "H", out, 56, phnum)
    else:
        struct.pack_into(view.end + "I", out, 28, phoff)
        struct.pack_into(view.end + "H", out, 44, phnum)


def _fix_dynamic(
    view: ElfView, out: bytearray, place: dict[str, int], items: dict[str, bytes],
    base_off: int, base_vaddr: int,
) -> None:  # fmt: skip
    if ".dynstr" not in place:
        return
    if ".dynamic" in place:
        start, size = base_off + place[".dynamic"], len(items[".dynamic"])
    else:
        start, size = view.span(view.require(".dynamic"))
    fmt, entsize = ("qQ", 16) if view.is64 else ("iI", 8)
    for at in range(start, start + size - entsize + 1, entsize):
        tag, _ = struct.unpack_from(view.end + fmt, out, at)
        if tag == 0:
            break
        if tag == DT_STRTAB:
            struct.pack_into(view.end + fmt, out, at, tag, base_vaddr + place[".dynstr"])
        elif tag == DT_STRSZ:
            struct.pack_into(view.end + fmt, out, at, tag, len(items[".dynstr"]))


def _clobber_old_dynstr(
    view: ElfView, out: bytearray, place: dict[str, int], tail: Segment | None
) -> None:
    """Zero the old ``.dynstr`` when it moved out of the original part of the file."""
    section = view.section(".dynstr")
    if ".dynstr" not in place or section is None:
        return
    if tail is not None and section.sh_offset >= tail.p_offset:
        return
    offset, size = view.span(section)
    out[offset : offset + size] = bytes(size)
