"""Read side of ``wheelfix patchelf``: an ELF file's headers and dynamic tables, pure struct.

:class:`ElfView` checks the file the way patchelf's loader does (same checks, same
messages) and gives the section, segment, dynamic-entry and string views every edit needs.
It never changes the bytes; ``inplace`` writes through the offsets it reports.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wheelfix.patchelf import PatchelfError

ET_EXEC, ET_DYN = 2, 3
PT_NULL, PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 0, 1, 2, 3, 4
PT_GNU_STACK = 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOTE, SHT_NOBITS, SHT_DYNSYM = 1, 2, 3, 7, 8, 11
SHN_LORESERVE = 0xFF00

DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME, DT_RPATH = 0, 1, 5, 14, 15
DT_DEBUG, DT_RUNPATH = 21, 29
DT_FLAGS_1 = 0x6FFFFFFB
DT_VERNEEDNUM = 0x6FFFFFFF
DF_1_NODEFLIB = 0x800
STRING_TAGS = frozenset({DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH})
LDCACHE_SECTION = ".note.nixos.ldcache"
"""The section of the resolution cache note (``--build-resolution-cache``)."""


@dataclass(frozen=True)
class Segment:
    """One program header and where it sits in the file."""

    index: int
    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_align: int
    header_offset: int
    """File offset of this program header entry."""


@dataclass(frozen=True)
class Section:
    """One section header."""

    index: int
    name: str
    sh_type: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    header_offset: int
    """File offset of this section header entry."""


@dataclass(frozen=True)
class DynEntry:
    """One ``.dynamic`` entry before the first DT_NULL."""

    slot: int
    """Index in ``.dynamic``."""
    tag: int
    value: int
    offset: int
    """File offset of the entry."""


class ElfView:
    """A checked, read-only view of one ELF file's bytes."""

    def __init__(self, data: bytes | bytearray, extra_strings: bytes = b"") -> None:
        self.data = data
        self.extra_strings = extra_strings
        """Strings appended to ``.dynstr`` that are not in the file yet (see ``inplace``)."""
        self._strtab: tuple[int, bytes] | None = None
        """:meth:`strtab`, read once per view (a writer that changes strings makes a new view)."""
        _check_ident(data)
        self.is64 = data[4] == 2
        self.end = "<" if data[5] == 1 else ">"
        if len(data) < (64 if self.is64 else 52):
            raise PatchelfError("missing ELF header")
        fmt = "HHIQQQIHHHHHH" if self.is64 else "HHIIIIIHHHHHH"
        (self.e_type, self.e_machine, _, _, self.e_phoff, self.e_shoff, _, _,
         phentsize, self.e_phnum, shentsize, self.e_shnum, self.e_shstrndx) = struct.unpack_from(
            self.end + fmt, data, 16
        )  # fmt: skip
        self.word = 8 if self.is64 else 4
        if self.e_type not in (ET_EXEC, ET_DYN):
            raise PatchelfError("wrong ELF type")
        if self.e_phoff + self.e_phnum * phentsize > len(data):
            raise PatchelfError("program header table out of bounds")
        if self.e_shnum == 0:
            raise PatchelfError(
                "no section headers. The input file is probably a statically linked, "
                "self-decompressing binary"
            )
        if self.e_shoff + self.e_shnum * shentsize > len(data):
            raise PatchelfError("section header table out of bounds")
        if phentsize != (56 if self.is64 else 32):
            raise PatchelfError("program headers have wrong size")
        if shentsize != (64 if self.is64 else 40):
            raise PatchelfError("section headers have wrong size")
        self.segments = tuple(self._segment(i) for i in range(self.e_phnum))
        self.names = self._section_names()
        self.sections = tuple(self._section(i) for i in range(self.e_shnum))

    # ------------------------------------------------------------------ headers

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        """``struct.unpack_from`` in the file's byte order."""
        return struct.unpack_from(self.end + fmt, self.data, offset)

    def _segment(self, index: int) -> Segment:
        at = self.e_phoff + index * (56 if self.is64 else 32)
        if self.is64:
            p_type, flags, off, vaddr, _, filesz, memsz, align = self.unpack("IIQQQQQQ", at)
        else:
            p_type, off, vaddr, _, filesz, memsz, flags, align = self.unpack("IIIIIIII", at)
        return Segment(index, p_type, flags, off, vaddr, filesz, memsz, align, at)

    def _section_names(self) -> bytes:
        if self.e_shstrndx >= self.e_shnum:
            raise PatchelfError("string table index out of bounds")
        raw = self._raw_section(self.e_shstrndx)
        offset, size = raw[4], raw[5]
        if offset > len(self.data):
            raise PatchelfError("string table offset out of bounds")
        if size > len(self.data) or offset > len(self.data) - size:
            raise PatchelfError("data region extends past file end")
        if size == 0:
            raise PatchelfError("string table size is zero")
        if self.data[offset + size - 1] != 0:
            raise PatchelfError("string table is not zero terminated")
        return bytes(self.data[offset : offset + size])

    def _raw_section(self, index: int) -> tuple[int, ...]:
        at = self.e_shoff + index * (64 if self.is64 else 40)
        fmt = "IIQQQQIIQQ" if self.is64 else "IIIIIIIIII"
        return (*self.unpack(fmt, at), at)
        # name, type, flags, addr, offset, size, link, info, addralign, entsize, at

    def _section(self, index: int) -> Section:
        name, sh_type, _, addr, offset, size, link, _, _, _, at = self._raw_section(index)
        if index == 0:
            text = ""
        elif name >= len(self.names):
            raise PatchelfError("section name offset out of bounds")
        else:
            text = self.names[name : self.names.index(b"\0", name)].decode("latin-1")
        return Section(index, text, sh_type, addr, offset, size, link, at)

    def section(self, name: str) -> Section | None:
        """The first section called ``name`` (index 0 excluded), or None."""
        return next((s for s in self.sections[1:] if s.name == name), None)

    def require(self, name: str) -> Section:
        """The section called ``name``; patchelf's error when it is missing."""
        found = self.section(name)
        if found is None:
            extra = ""
            if name in (".interp", ".dynamic", ".dynstr"):
                extra = ". The input file is most likely statically linked"
            raise PatchelfError(f"cannot find section '{name}'{extra}")
        return found

    def span(self, section: Section, align: int = 1) -> tuple[int, int]:
        """``(offset, size)`` of a section's bytes, checked against the file."""
        offset, size = section.sh_offset, section.sh_size
        if offset > len(self.data) or size > len(self.data) - offset:
            raise PatchelfError("data offset extends past file end")
        if offset % align:
            raise PatchelfError("section content is not naturally aligned")
        return offset, size

    def segments_of(self, p_type: int) -> list[Segment]:
        """Program headers of one type, in table order."""
        return [s for s in self.segments if s.p_type == p_type]

    # ------------------------------------------------------------------ dynamic

    @property
    def dyn_size(self) -> int:
        """Size of one Elf_Dyn."""
        return 2 * self.word

    def dynamic_span(self) -> tuple[int, int]:
        """``(offset, number of slots)`` of ``.dynamic``."""
        offset, size = self.span(self.require(".dynamic"), self.word)
        return offset, size // self.dyn_size

    def dynamic(self) -> list[DynEntry]:
        """The ``.dynamic`` entries before the first DT_NULL."""
        offset, slots = self.dynamic_span()
        fmt = "qQ" if self.is64 else "iI"
        out = []
        for slot in range(slots):
            at = offset + slot * self.dyn_size
            tag, value = self.unpack(fmt, at)
            if tag == DT_NULL:
                break
            out.append(DynEntry(slot, tag, value, at))
        return out

    def free_slots(self) -> int:
        """How many DT_NULL slots follow the terminator (entries that can be added)."""
        offset, slots = self.dynamic_span()
        used = len(self.dynamic())
        fmt = "qQ" if self.is64 else "iI"
        spare = 0
        for slot in range(used + 1, slots):
            if self.unpack(fmt, offset + slot * self.dyn_size) != (0, 0):
                break
            spare += 1
        return spare

    def strtab(self) -> tuple[int, bytes]:
        """``(offset, bytes)`` of ``.dynstr``, checked to end in NUL."""
        if self._strtab is None:
            offset, size = self.span(self.require(".dynstr"))
            table = bytes(self.data[offset : offset + size])
            if not table or table[-1] != 0:
                raise PatchelfError("string table is not NUL-terminated")
            self._strtab = offset, table + self.extra_strings
        return self._strtab

    def string(self, index: int) -> str:
        """The ``.dynstr`` string at ``index``."""
        _, table = self.strtab()
        return string_at(table, index)

    def tagged(self, tag: int) -> list[DynEntry]:
        """Dynamic entries with one tag."""
        return [e for e in self.dynamic() if e.tag == tag]

    def needed(self) -> list[str]:
        """DT_NEEDED names in order."""
        return [self.string(e.value) for e in self.tagged(DT_NEEDED)]

    def interpreter(self) -> str:
        """The PT_INTERP string (as patchelf reads it, from ``.interp``)."""
        offset, size = self.span(self.require(".interp"))
        raw = bytes(self.data[offset : offset + max(size - 1, 0)])
        return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def string_at(table: bytes, index: int) -> str:
    """The NUL-terminated string at ``index`` of a string table."""
    if index >= len(table):
        raise PatchelfError("string table index out of bounds")
    return table[index : table.index(b"\0", index)].decode("utf-8", "surrogateescape")


def _check_ident(data: bytes | bytearray) -> None:
    if len(data) < 52:
        raise PatchelfError("missing ELF header")
    if data[:4] != b"\x7fELF":
        raise PatchelfError("not an ELF executable")
    if data[6] != 1:
        raise PatchelfError("unsupported ELF version")
    if data[4] not in (1, 2):
        raise PatchelfError("ELF executable is not 32 or 64 bit")
