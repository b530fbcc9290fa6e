"""Scan and resolve stages: the ELF tables :mod:`wheelfix.elf.pyread` reads, as LIEF 1.0 reads them.

:class:`Image` is the file as LIEF's parser sees it (segments, sections, the dynamic table,
strings, address mapping); the functions below read the version requirements and
definitions and the GNU property notes from it (the dynamic symbols: :mod:`.pyread_symbols`). Every read is bounded by
the file; a table that runs off the end stops where LIEF stops. Pure :mod:`struct` (and
:mod:`array` for the long tables), no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wheelfix.elf.structs import EM_386, EM_X86_64, ElfHeader

__all__ = [
    "DT_AUXILIARY",
    "DT_FILTER",
    "DT_NEEDED",
    "DT_RPATH",
    "DT_RUNPATH",
    "DT_SONAME",
    "DT_STRSZ",
    "Image",
    "Segment",
    "Undecodable",
    "decode",
    "version_definitions",
    "version_requirements",
    "x86_isa_needed",
]

DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ = 0, 1, 4, 5, 6, 7, 8
DT_SYMENT, DT_SONAME, DT_RPATH, DT_REL, DT_RELSZ, DT_PLTREL = 11, 14, 15, 17, 18, 20
DT_JMPREL, DT_PLTRELSZ, DT_RUNPATH = 23, 2, 29
DT_GNU_HASH, DT_VERDEF, DT_VERDEFNUM = 0x6FFFFEF5, 0x6FFFFFFC, 0x6FFFFFFD
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
DT_AUXILIARY, DT_FILTER = 0x7FFFFFFD, 0x7FFFFFFF
DT_STRSZ = 10

_PT_LOAD, _PT_DYNAMIC, _PT_INTERP, _PT_NOTE = 1, 2, 3, 4
_SHT_STRTAB, _SHT_NOTE = 3, 7
_NB_MAX_SEGMENTS = 10000
_MAX_SEGMENT_SIZE = 3 << 30
_NB_MAX_DYNAMIC_ENTRIES = 1000
_NB_MAX_VERNEED = 1000000
_MAX_NOTE_DESCRIPTION = 1 << 20
_NOTE_ERROR_THRESHOLD = 6
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_VERSION_BUDGET = 1 << 20  # version entries read per file: real files have a few dozen

_NT_GNU_PROPERTY_TYPE_0 = 5
_GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002


class Undecodable(Exception):
    """A name LIEF's Python bindings could not hand over as ``str`` (not UTF-8)."""


@dataclass(frozen=True)
class Segment:
    """One program header, as LIEF keeps it."""

    p_type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    has_content: bool
    """False when LIEF stores no bytes for it (empty, or 3 GiB and more)."""


@dataclass(frozen=True)
class Section:
    """One section header (type, file range, name)."""

    sh_type: int
    offset: int
    size: int
    name: bytes


@dataclass(frozen=True)
class Image:
    """An ELF file as LIEF 1.0's parser lays it out (read once, then queried)."""

    data: bytes
    endian: str
    is64: bool
    segments: tuple[Segment, ...]
    sections: tuple[Section, ...]
    dynamic: tuple[tuple[int, int], ...]
    """(d_tag, d_val) of the first PT_DYNAMIC, up to and including DT_NULL."""
    raw_dynamic: tuple[tuple[int, int], ...]
    """The entries from there to the end of the mapped bytes (at most 1000; LIEF looks
    DT_STRTAB up past DT_NULL too)."""

    @classmethod
    def open(cls, data: bytes, header: ElfHeader) -> Image:
        endian = "<" if header.little_endian else ">"
        is64 = header.elf_class == 64
        segments = _segments(data, endian, is64)
        sections = _sections(data, endian, is64)
        raw: tuple[tuple[int, int], ...] = ()
        for segment in segments:
            if segment.p_type == _PT_DYNAMIC:
                raw = _dynamic_entries(data, endian, is64, segment, segments)
                break
        dynamic = raw[: next((i + 1 for i, (t, _v) in enumerate(raw) if t == DT_NULL), len(raw))]
        return cls(data, endian, is64, segments, sections, dynamic, raw)

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...] | None:
        """``fmt`` at ``offset``, or None when it does not fit in the file."""
        st = struct.Struct(self.endian + fmt)
        if offset < 0 or offset + st.size > len(self.data):
            return None
        return st.unpack_from(self.data, offset)

    def get(self, tag: int) -> int | None:
        """The value of the first dynamic entry with ``tag``."""
        return next((value for t, value in self.dynamic if t == tag), None)

    def to_offset(self, address: int) -> int | None:
        """File offset of a virtual address, through the first PT_LOAD whose memory holds it."""
        for seg in self.segments:
            if seg.p_type == _PT_LOAD and seg.vaddr <= address < seg.vaddr + seg.memsz:
                return (address - ((seg.vaddr - seg.offset) & _U64)) & _U64
        return None

    def dynstr_offset(self) -> int:
        """Where DT_STRTAB's strings start (LIEF: else the ``.dynstr`` section, else 0)."""
        address = next((v for t, v in self.raw_dynamic if t == DT_STRTAB), None)
        if address is None:
            return 0
        offset = self.to_offset(address)
        if offset is not None:
            return offset
        for section in self.sections:
            if section.name == b".dynstr" and section.sh_type == _SHT_STRTAB:
                return section.offset
        return 0

    def raw_string(self, offset: int, maxsize: int | None = None) -> bytes:
        """LIEF's ``peek_string_at``: to the NUL, the end of the file or ``maxsize`` - 1."""
        data = self.data
        if offset < 0 or offset >= len(data):
            return b""
        stop = len(data) if maxsize is None else min(len(data), offset + maxsize)
        nul = data.find(b"\0", offset, stop)
        return data[offset:nul] if nul >= 0 else data[offset : stop - 1]

    def string(self, offset: int) -> str:
        return decode(self.raw_string(offset))

    def interpreter(self) -> str | None:
        """PT_INTERP's string (the last one's, as LIEF), None when absent or empty."""
        found: bytes = b""
        has_interp = False
        for seg in self.segments:
            if seg.p_type == _PT_INTERP:
                has_interp = True
                if seg.has_content:
                    found = self.raw_string(seg.offset, min(seg.filesz, len(self.data)))
        return decode(found) if has_interp and found else None


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Undecodable from exc


def _segments(data: bytes, endian: str, is64: bool) -> tuple[Segment, ...]:
    if is64:
        e_phoff = struct.unpack_from(endian + "Q", data, 32)[0]
        e_phnum = struct.unpack_from(endian + "H", data, 56)[0]
        st, idx = struct.Struct(endian + "IIQQQQQQ"), (2, 3, 5, 6)
    else:
        e_phoff = struct.unpack_from(endian + "I", data, 28)[0]
        e_phnum = struct.unpack_from(endian + "H", data, 44)[0]
        st, idx = struct.Struct(endian + "IIIIIIII"), (1, 2, 4, 5)
    found: list[Segment] = []
    if e_phoff == 0:
        return ()
    for index in range(min(e_phnum, _NB_MAX_SEGMENTS)):
        at = e_phoff + index * st.size
        if at + st.size > len(data):
            break
        fields = st.unpack_from(data, at)
        offset, vaddr, filesz, memsz = (fields[i] for i in idx)
        # LIEF keeps a segment whose bytes leave the file, without content
        has_content = 0 < filesz < _MAX_SEGMENT_SIZE and offset + min(filesz, len(data)) <= len(
            data
        )
        found.append(Segment(fields[0], offset, vaddr, filesz, memsz, has_content))
    return tuple(found)


def _sections(data: bytes, endian: str, is64: bool) -> tuple[Section, ...]:
    if is64:
        e_shoff = struct.unpack_from(endian + "Q", data, 40)[0]
        e_shnum, e_shstrndx = struct.unpack_from(endian + "HH", data, 60)
        st, idx = struct.Struct(endian + "IIQQQQIIQQ"), (0, 1, 4, 5)
    else:
        e_shoff = struct.unpack_from(endian + "I", data, 32)[0]
        e_shnum, e_shstrndx = struct.unpack_from(endian + "HH", data, 48)
        st, idx = struct.Struct(endian + "IIIIIIIIII"), (0, 1, 4, 5)
    if e_shoff == 0:
        return ()
    headers: list[tuple[int, ...]] = []
    for index in range(e_shnum):
        at = e_shoff + index * st.size
        if at + st.size > len(data):
            break
        fields = st.unpack_from(data, at)
        headers.append(tuple(fields[i] for i in idx))
    names_at = headers[e_shstrndx][2] if e_shstrndx < len(headers) else None
    image = Image(data, endian, is64, (), (), (), ())
    return tuple(
        Section(
            sh_type,
            offset,
            size,
            image.raw_string(names_at + sh_name) if names_at is not None else b"",
        )
        for sh_name, sh_type, offset, size in headers
    )


def _dynamic_entries(
    data: bytes, endian: str, is64: bool, dynamic: Segment, segments: tuple[Segment, ...]
) -> tuple[tuple[int, int], ...]:
    """PT_DYNAMIC's entries, read as LIEF 1.0 reads them: through the first PT_LOAD whose
    file-backed memory holds its whole address range (what the loader sees there), else at
    its file offset."""
    st = struct.Struct(endian + ("qQ" if is64 else "iI"))
    offset, end = dynamic.offset, len(data)
    for load in segments:
        mapped = min(load.filesz, load.memsz)
        start, stop = dynamic.vaddr, dynamic.vaddr + dynamic.filesz
        if load.p_type == _PT_LOAD and load.vaddr <= start and stop <= load.vaddr + mapped:
            if not load.has_content:
                return ()
            offset = load.offset + dynamic.vaddr - load.vaddr
            end = load.offset + min(load.filesz, len(data) - load.offset)
            break
    # LIEF 1.0 reads on to DT_NULL whatever PT_DYNAMIC's size says, within the bytes it maps
    count = min(_NB_MAX_DYNAMIC_ENTRIES, max(0, (end - offset) // st.size))
    return tuple(st.unpack_from(data, offset + i * st.size) for i in range(count))


# --------------------------------------------------------------------------- versions


def version_requirements(image: Image, strtab: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``.gnu.version_r``: (file, version names) for entries with at least one version."""
    address, number = image.get(DT_VERNEED), image.get(DT_VERNEEDNUM)
    if address is None or number is None:
        return ()
    base = image.to_offset(address)
    if base is None:
        return ()
    found: list[tuple[str, tuple[str, ...]]] = []
    budget = _VERSION_BUDGET
    entry = 0
    for _ in range(min(_NB_MAX_VERNEED, number & _U32)):
        header = image.unpack("HHIII", base + entry)
        if header is None:
            break
        _version, count, file_name, aux, following = header
        file = image.string(strtab + file_name) if strtab else ""
        if count > 0 and aux > 0:
            versions: list[str] = []
            next_aux = 0
            for _ in range(count):
                budget -= 1
                if budget < 0:
                    raise ValueError("version tables loop")
                vernaux = image.unpack("IHHII", base + entry + aux + next_aux)
                if vernaux is None:
                    break
                versions.append(image.string(strtab + vernaux[3]) if strtab else "")
                if vernaux[4] == 0:
                    break
                next_aux = (next_aux + vernaux[4]) & _U32
            found.append((file, tuple(versions)))
        if following == 0:
            break
        entry = (entry + following) & _U32
        budget -= 1
        if budget < 0:
            raise ValueError("version tables loop")
    return tuple(found)


def version_definitions(image: Image, strtab: int) -> tuple[str, ...]:
    """The first ``.gnu.version_d`` name of each definition (the library's own name first)."""
    address, number = image.get(DT_VERDEF), image.get(DT_VERDEFNUM)
    if address is None or number is None:
        return ()
    pos = image.to_offset(address)
    if pos is None:
        return ()
    names: list[str] = []
    for index in range(number & _U32):
        if index >= _VERSION_BUDGET:
            raise ValueError("version tables loop")
        verdef = image.unpack("HHHHIII", pos)
        if verdef is None:
            break
        count, aux, following = verdef[3], verdef[5], verdef[6]
        if count > 0 and strtab != 0:
            verdaux = image.unpack("II", pos + aux)
            if verdaux is not None:
                names.append(image.string(strtab + verdaux[0]))
        if following == 0:
            break
        pos += following
    return tuple(names)


# --------------------------------------------------------------------------- notes


def x86_isa_needed(image: Image, header: ElfHeader) -> int:
    """GNU_PROPERTY_X86_ISA_1_NEEDED bits of the GNU property notes (x86 only)."""
    if header.machine not in (EM_X86_64, EM_386):
        return 0
    align = 8 if image.is64 else 4
    needed = 0
    ranges = [(s.offset, s.filesz) for s in image.segments if s.p_type == _PT_NOTE]
    ranges += [(s.offset, s.size) for s in image.sections if s.sh_type == _SHT_NOTE]
    for offset, size in ranges:
        for desc in _gnu_property_notes(image, offset, size):
            at = 0
            while at + 8 <= len(desc):
                pr_type, pr_datasz = struct.unpack_from(image.endian + "II", desc, at)
                at += 8
                if pr_type == _GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz >= 4:
                    needed |= struct.unpack_from(image.endian + "I", desc, at)[0]
                at += (pr_datasz + align - 1) // align * align
    return needed


def _gnu_property_notes(image: Image, offset: int, size: int) -> list[bytes]:
    """Descriptors of the NT_GNU_PROPERTY_TYPE_0 "GNU" notes LIEF reads in a note range."""
    data = image.data
    pos, last, errors = offset, offset + size, 0
    found: list[bytes] = []
    while pos < len(data) and pos < last:
        start = pos
        head = image.unpack("III", pos)
        if head is None:
            break
        namesz, descsz, note_type = head
        pos += 12
        if namesz == 0 or pos + namesz > len(data):
            errors += 1
        else:
            name = data[pos : pos + namesz]
            pos = (pos + namesz + 3) // 4 * 4
            if descsz > 0:
                chunks = (min(descsz, _MAX_NOTE_DESCRIPTION) - 1) // 4 + 1
                chunks = min(chunks, max(0, (len(data) - pos) // 4))
                desc = data[pos : pos + 4 * chunks]
                pos = (pos + 4 * chunks + 3) // 4 * 4
            else:
                desc = b""
            if note_type == _NT_GNU_PROPERTY_TYPE_0 and name.rstrip(b"\0") == b"GNU":
                found.append(desc)
        if errors > _NOTE_ERROR_THRESHOLD or pos <= start:
            break
    return found
