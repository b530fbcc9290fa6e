"""Write side, section headers: the section header table re-emitted at the end of the file.

When ``append`` lays out its segment, the section header table is written again after it,
so the file keeps the usual shape (headers last; tools such as the patchelf suite's
``pad-to-page`` rely on it). :func:`trailer` builds those bytes from the old table: moved
sections get their new address, offset and size, a new section (the resolution cache note)
is added at the end, and ``.shstrtab`` is written along when it needs the new name or lived
past the point the file is cut at.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wheelfix.patchelf.elfview import ElfView

Move = tuple[int, int, int]
"""(sh_addr, sh_offset, sh_size) of a section's new place."""


@dataclass(frozen=True)
class NewSection:
    """A section header to add at the end of the table."""

    name: str
    sh_type: int
    sh_flags: int
    place: Move
    sh_addralign: int


@dataclass(frozen=True)
class Trailer:
    """Bytes to append to the file, and the ELF header fields that point into them."""

    data: bytes
    e_shoff: int
    e_shnum: int


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


def trailer(
    view: ElfView, start: int, moves: dict[str, Move], added: NewSection | None, cut: int
) -> Trailer:
    """The section headers (and ``.shstrtab`` when it must move) to write at file offset
    ``start``; sections at or past ``cut`` are not in the file any more unless moved."""
    entsize = 64 if view.is64 else 40
    table = bytearray(view.data[view.e_shoff : view.e_shoff + view.e_shnum * entsize])
    for name, place in moves.items():
        section = view.section(name)
        if section is not None:
            _place(view, table, section.index * entsize, place)
    names = view.names
    shstrtab = view.sections[view.e_shstrndx]
    name_index = 0
    if added is not None:
        raw = added.name.encode("ascii") + b"\0"
        name_index = names.find(raw)
        if name_index < 0:
            name_index, names = len(names), names + raw
    out = bytearray()
    if names != view.names or shstrtab.sh_offset >= cut:
        _place(view, table, shstrtab.index * entsize, (0, start, len(names)))
        out += names
    if added is not None:
        fmt = "IIQQQQIIQQ" if view.is64 else "IIIIIIIIII"
        addr, offset, size = added.place
        table += struct.pack(
            view.end + fmt, name_index, added.sh_type, added.sh_flags, addr, offset, size,
            0, 0, added.sh_addralign, 0,
        )  # fmt: skip
    out += bytes(_align_up(start + len(out), 8) - start - len(out))
    shoff = start + len(out)
    out += table
    return Trailer(bytes(out), shoff, len(table) // entsize)


def _place(view: ElfView, table: bytearray, at: int, place: Move) -> None:
    addr, offset, size = place
    if view.is64:
        struct.pack_into(view.end + "QQQ", table, at + 16, addr, offset, size)
    else:
        struct.pack_into(view.end + "III", table, at + 12, addr, offset, size)


def pack_header(view: ElfView, out: bytearray, found: Trailer) -> None:
    """Point e_shoff and e_shnum of ``out`` at the trailer's table."""
    if view.is64:
        struct.pack_into(view.end + "Q", out, 40, found.e_shoff)
        struct.pack_into(view.end + "H", out, 60, found.e_shnum)
    else:
        struct.pack_into(view.end + "I", out, 32, found.e_shoff)
        struct.pack_into(view.end + "H", out, 48, found.e_shnum)
