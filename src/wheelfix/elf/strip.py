"""Graft stage, ``--strip``: remove symbol tables and debug sections, bytes and all.

``strip_file`` does what binutils' ``strip -s`` (``--strip-all``, which auditwheel's
``repair --strip`` runs) does to a shared library or executable, without moving a single
byte the loader sees:

* removed: ``SHT_SYMTAB`` and ``SHT_SYMTAB_SHNDX`` sections, the string tables only they link
  to, and the non-allocated sections BFD marks as debugging (``.debug*``, ``.zdebug*``,
  ``.gnu.debuglto_.debug_*``, ``.gnu.linkonce.wi.*``, ``.line*``, ``.stab*``, ``.gdb_index``),
  with any non-allocated relocation section that applies to one of them;
* kept: every allocated section, and the other non-allocated ones (``.comment``,
  ``.gnu_debuglink``, attributes, non-allocated notes...), as ``strip -s`` keeps them.

Everything up to the end of the last byte any segment (or allocated section, or kept
non-allocated section lying among them) covers is copied verbatim. After that the file is
rebuilt: the kept non-allocated sections in their original order, a fresh ``.shstrtab``, and
the section header table. Section indexes are renumbered in ``sh_link``, ``sh_info`` (for
relocation sections and ``SHF_INFO_LINK``) and ``e_shstrndx``; a removed section that comes
before an allocated one in the table becomes an ``SHT_NULL`` header instead, so the section
indexes in ``.dynsym`` (inside a segment, never rewritten) stay right. Only ``e_shoff``,
``e_shnum`` and ``e_shstrndx`` change in the ELF header.

Pure Python on top of :mod:`struct`, ELF32 and ELF64 in both byte orders, extended section
numbering included. In ``elf.py`` it runs before LIEF's write, as auditwheel strips before
patchelf: LIEF then never carries the symbol tables through its layout changes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

__all__ = ["StripError", "strip_file", "strippable"]

_ET_EXEC = 2
_ET_DYN = 3

_SHT_NULL = 0
_SHT_SYMTAB = 2
_SHT_STRTAB = 3
_SHT_RELA = 4
_SHT_NOBITS = 8
_SHT_REL = 9
_SHT_SYMTAB_SHNDX = 18
_SHF_ALLOC = 0x2
_SHF_INFO_LINK = 0x40
_SHN_LORESERVE = 0xFF00
_SHN_XINDEX = 0xFFFF

_DEBUG_PREFIXES = (
    b".debug",
    b".zdebug",
    b".gnu.debuglto_.debug_",
    b".gnu.linkonce.wi.",
    b".line",
    b".stab",
)


class StripError(ValueError):
    """The section header table cannot be read, or a section lies outside the file."""


@dataclass(frozen=True)
class _Section:
    name: bytes
    sh_name: int
    sh_type: int
    sh_flags: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    sh_info: int
    sh_addralign: int
    sh_entsize: int

    @property
    def alloc(self) -> bool:
        return bool(self.sh_flags & _SHF_ALLOC)

    @property
    def file_size(self) -> int:
        return 0 if self.sh_type in (_SHT_NOBITS, _SHT_NULL) else self.sh_size

    @property
    def links_section_by_info(self) -> bool:
        return self.sh_type in (_SHT_REL, _SHT_RELA) or bool(self.sh_flags & _SHF_INFO_LINK)


@dataclass(frozen=True)
class _Layout:
    endian: str
    is64: bool
    e_type: int
    segments_end: int
    """End of the header, the program header table and every segment's file bytes."""
    shstrndx: int
    sections: tuple[_Section, ...]

    @property
    def shdr_format(self) -> str:
        return self.endian + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII")


def strippable(data: bytes) -> bool:
    """True for the files ``strip_file`` handles: ET_EXEC and ET_DYN ELF files."""
    if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return False
    e_type = struct.unpack_from("<H" if data[5] == 1 else ">H", data, 16)[0]
    return e_type in (_ET_EXEC, _ET_DYN)


def strip_file(data: bytes) -> bytes:
    """``data`` without its symbol tables and debug sections (unchanged if it has none)."""
    if not strippable(data):
        raise StripError("not an ELF executable or shared library")
    try:
        layout = _read_layout(data)
    except struct.error as exc:
        raise StripError(f"unreadable headers ({exc})") from exc
    if not layout.sections:
        return data
    doomed = _doomed(layout)
    if not doomed:
        return data
    return _rebuild(data, layout, doomed)


# --------------------------------------------------------------------------- reading


def _read_layout(data: bytes) -> _Layout:
    endian = "<" if data[5] == 1 else ">"
    is64 = data[4] == 2
    if is64:
        fields = struct.unpack_from(endian + "HHIQQQIHHHHHH", data, 16)
    else:
        fields = struct.unpack_from(endian + "HHIIIIIHHHHHH", data, 16)
    e_type, e_phoff, e_shoff = fields[0], fields[4], fields[5]
    e_ehsize, e_phentsize, e_phnum = fields[7], fields[8], fields[9]
    e_shentsize, e_shnum, e_shstrndx = fields[10], fields[11], fields[12]
    shdr_format = endian + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    if e_shoff == 0:
        return _Layout(endian, is64, e_type, len(data), 0, ())
    if e_shentsize != struct.calcsize(shdr_format):
        raise StripError(f"e_shentsize {e_shentsize} is not the standard size")
    if e_shoff + struct.calcsize(shdr_format) > len(data):
        raise StripError("the section header table lies outside the file")
    first = struct.unpack_from(shdr_format, data, e_shoff)
    # extended numbering: the real values are in section 0
    e_shnum = e_shnum or first[5]
    e_shstrndx = first[6] if e_shstrndx == _SHN_XINDEX else e_shstrndx
    e_phnum = first[7] if e_phnum == 0xFFFF else e_phnum
    if e_shoff + e_shnum * e_shentsize > len(data):
        raise StripError("the section header table lies outside the file")
    raw = [struct.unpack_from(shdr_format, data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    segments_end = max(e_ehsize, e_phoff + e_phnum * e_phentsize)
    for offset, filesz in _segments(data, endian, is64, e_phoff, e_phentsize, e_phnum):
        segments_end = max(segments_end, offset + filesz)
    if segments_end > len(data):
        raise StripError("a segment runs past the end of the file")
    if not 0 < e_shstrndx < e_shnum or raw[e_shstrndx][1] != _SHT_STRTAB:
        raise StripError("e_shstrndx names no string table")
    names = _section_names(data, raw[e_shstrndx])
    sections = tuple(_Section(names(f[0]), *f) for f in raw)
    for section in sections:
        if section.sh_offset + section.file_size > len(data):
            raise StripError(f"section {section.name!r} lies outside the file")
    return _Layout(endian, is64, e_type, segments_end, e_shstrndx, sections)


def _segments(
    data: bytes, endian: str, is64: bool, e_phoff: int, e_phentsize: int, e_phnum: int
) -> list[tuple[int, int]]:
    """(p_offset, p_filesz) of every program header with file bytes, whatever its type."""
    ph_format, at = (endian + "IIQQQQQQ", (2, 5)) if is64 else (endian + "IIIIIIII", (1, 4))
    found = []
    for index in range(e_phnum):
        ph = struct.unpack_from(ph_format, data, e_phoff + index * e_phentsize)
        if ph[at[1]]:
            found.append((ph[at[0]], ph[at[1]]))
    return found


def _section_names(data: bytes, shstrtab: tuple[int, ...]) -> _Names:
    offset, size = shstrtab[4], shstrtab[5]
    if offset + size > len(data):
        raise StripError("the section name table lies outside the file")
    return _Names(data[offset : offset + size])


@dataclass(frozen=True)
class _Names:
    table: bytes

    def __call__(self, offset: int) -> bytes:
        if offset >= len(self.table):
            raise StripError(f"section name offset {offset} is outside .shstrtab")
        end = self.table.find(b"\0", offset)
        return self.table[offset : end if end >= 0 else len(self.table)]


# --------------------------------------------------------------------------- deciding


def _is_debug(section: _Section) -> bool:
    name = section.name
    return not section.alloc and (name.startswith(_DEBUG_PREFIXES) or name == b".gdb_index")


def _doomed(layout: _Layout) -> frozenset[int]:
    """Indexes of the sections ``strip -s`` removes."""
    sections = layout.sections
    doomed = {
        i
        for i, s in enumerate(sections)
        if i and not s.alloc and (s.sh_type in (_SHT_SYMTAB, _SHT_SYMTAB_SHNDX) or _is_debug(s))
    }
    # non-allocated relocations for removed sections, or against a removed symbol table
    for i, s in enumerate(sections):
        if (
            not s.alloc
            and s.sh_type in (_SHT_REL, _SHT_RELA)
            and (s.sh_info in doomed or s.sh_link in doomed)
        ):
            doomed.add(i)
    # string tables that only removed sections link to (.strtab)
    linked = {s.sh_link for i, s in enumerate(sections) if i not in doomed}
    for i, s in enumerate(sections):
        if (
            s.sh_type == _SHT_STRTAB
            and not s.alloc
            and i != layout.shstrndx
            and i not in linked
            and any(sections[j].sh_link == i for j in doomed)
        ):
            doomed.add(i)
    return frozenset(doomed)


# --------------------------------------------------------------------------- writing


def _align(value: int, alignment: int) -> int:
    return value if alignment <= 1 else (value + alignment - 1) // alignment * alignment


class _StringTable:
    """A section name table; a name that ends another one shares its bytes, as in ld's."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.offsets: dict[bytes, int] = {b"": 0}

    def build(self, names: list[bytes]) -> None:
        for name in sorted(set(names), key=lambda n: (-len(n), n)):
            if name in self.offsets:
                continue
            start = len(self.data)
            self.data += name + b"\0"
            for i in range(len(name)):
                self.offsets.setdefault(name[i:], start + i)


def _rebuild(data: bytes, layout: _Layout, doomed: frozenset[int]) -> bytes:
    sections = layout.sections
    last_alloc = max((i for i, s in enumerate(sections) if s.alloc), default=0)
    # a removed header before the last allocated one becomes SHT_NULL (keeps .dynsym indexes)
    placeholders = {i for i in doomed if i < last_alloc}
    kept = [i for i in range(len(sections)) if i not in doomed or i in placeholders]
    new_index = {old: new for new, old in enumerate(kept)}

    # bytes before keep_end stay verbatim; kept non-allocated sections starting there too
    keep_end = layout.segments_end
    for i in sorted(kept, key=lambda i: sections[i].sh_offset):
        s = sections[i]
        if i in placeholders or i == layout.shstrndx or s.file_size == 0:
            continue
        if s.alloc or s.sh_offset < keep_end:
            keep_end = max(keep_end, s.sh_offset + s.file_size)
    out = bytearray(data[:keep_end])

    names = _StringTable()
    names.build([sections[i].name for i in kept if i not in placeholders])
    headers: list[_Section] = []
    for i in kept:
        s = sections[i]
        if i in placeholders:
            headers.append(_Section(b"", 0, _SHT_NULL, 0, 0, 0, 0, 0, 0, 0, 0))
            continue
        s = replace(
            s,
            sh_name=names.offsets[s.name],
            sh_link=_renumber(s.sh_link, new_index),
            sh_info=_renumber(s.sh_info, new_index) if s.links_section_by_info else s.sh_info,
        )
        if i == layout.shstrndx:
            s = replace(s, sh_offset=len(out), sh_size=len(names.data))
            out += names.data
        elif s.file_size and s.sh_offset >= keep_end and not s.alloc:
            start = _align(len(out), s.sh_addralign)
            out += bytes(start - len(out)) + data[s.sh_offset : s.sh_offset + s.file_size]
            s = replace(s, sh_offset=start)
        elif s.sh_type == _SHT_NOBITS and s.sh_offset > len(out) and not s.alloc:
            s = replace(s, sh_offset=len(out))
        headers.append(s)

    shoff = _align(len(out), 8 if layout.is64 else 4)
    out += bytes(shoff - len(out))
    count = len(headers)
    shstrndx = new_index[layout.shstrndx]
    # extended numbering lives in section 0 (its sh_info, PN_XNUM's e_phnum, is kept)
    headers[0] = replace(
        headers[0],
        sh_size=count if count >= _SHN_LORESERVE else 0,
        sh_link=shstrndx if shstrndx >= _SHN_LORESERVE else 0,
    )
    for s in headers:
        out += struct.pack(
            layout.shdr_format,
            s.sh_name,
            s.sh_type,
            s.sh_flags,
            s.sh_addr,
            s.sh_offset,
            s.sh_size,
            s.sh_link,
            s.sh_info,
            s.sh_addralign,
            s.sh_entsize,
        )
    e_shnum = 0 if count >= _SHN_LORESERVE else count
    e_shstrndx = _SHN_XINDEX if shstrndx >= _SHN_LORESERVE else shstrndx
    if layout.is64:
        struct.pack_into(layout.endian + "Q", out, 40, shoff)
        struct.pack_into(layout.endian + "HH", out, 60, e_shnum, e_shstrndx)
    else:
        struct.pack_into(layout.endian + "I", out, 32, shoff)
        struct.pack_into(layout.endian + "HH", out, 48, e_shnum, e_shstrndx)
    return bytes(out)


def _renumber(index: int, new_index: dict[int, int]) -> int:
    """A section index after the removal; 0 when it named a removed section."""
    return new_index.get(index, 0)
