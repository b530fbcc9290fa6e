"""Graft stage, last step: check rewritten ELF bytes against the loader's invariants.

Runs on the bytes LIEF produced, before they enter the wheel, and reports every
broken invariant it can find instead of stopping at the first. It reads only the
program headers and what they point at (the dynamic section, the string table,
the version-needed chain, notes): the same view the kernel and ld.so get, so
section headers are never consulted (except section 0 when e_phnum is PN_XNUM).

Pure Python on top of :mod:`struct`; handles ELF32 and ELF64 in both byte
orders. Malformed input never raises: every problem, including a read outside
the file, comes back as a :class:`Violation`.

Rules (``Violation.rule``):

``header``
    ELF identification or program header table unusable (checking stops).
``load-alignment``
    ``PT_LOAD`` ``p_offset`` and ``p_vaddr`` not congruent modulo ``p_align``
    or the target page size, or ``p_align`` not a power of two.
``load-in-file``
    ``PT_LOAD`` file range runs past the end of the file.
``load-filesz``
    ``PT_LOAD`` ``p_filesz`` larger than ``p_memsz``.
``load-order``
    ``PT_LOAD`` entries not in ascending ``p_vaddr`` order.
``load-page-overlap``
    Two ``PT_LOAD`` memory ranges touch the same page at the target page size.
``dynamic-in-writable-load``
    ``PT_DYNAMIC`` outside the file, outside a writable ``PT_LOAD``, or its
    ``p_offset`` disagreeing with where its ``p_vaddr`` is loaded from.
``dynamic-parse``
    No ``DT_NULL`` within ``PT_DYNAMIC``.
``relro-in-load``
    ``PT_GNU_RELRO`` not inside one ``PT_LOAD``.
``phdr-covered``
    ``PT_PHDR`` not loaded by a ``PT_LOAD`` or not loaded from ``e_phoff``.
``dyn-address-mapped``
    A dynamic table address not backed by file bytes of a ``PT_LOAD``.
``string-offset``
    A dynamic string offset ``>= DT_STRSZ`` or not NUL-terminated in the table.
``verneed-parse``
    The ``DT_VERNEED`` chain is unreadable, loops, or disagrees with its counts.
``verneed-file-needed``
    A ``vn_file`` that names no ``DT_NEEDED`` entry.
``note-parse``
    ``PT_NOTE`` contents that do not parse into notes exactly filling ``p_filesz``.

Program headers are named by their index in the program header table, so
``PT_LOAD[3]`` is the fourth program header (which is a ``PT_LOAD``).
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["Violation", "describe", "page_size_for_machine", "verify_elf"]

EM_MIPS = 8
EM_PPC64 = 21
EM_AARCH64 = 183
EM_LOONGARCH = 258

_SMALL_PAGE = 0x1000
_LARGE_PAGE = 0x10000
_LARGE_PAGE_MACHINES = frozenset({EM_AARCH64, EM_PPC64, EM_LOONGARCH})

ET_EXEC = 2
ET_DYN = 3

PT_LOAD = 1
PT_DYNAMIC = 2
PT_NOTE = 4
PT_PHDR = 6
PT_GNU_RELRO = 0x6474E552
PF_W = 0x2

DT_NULL = 0
DT_NEEDED = 1
DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM = 0x6FFFFFF0
DT_VERNEED = 0x6FFFFFFE
DT_VERNEEDNUM = 0x6FFFFFFF

_PN_XNUM = 0xFFFF
_VERNEED_SIZE = 16  # Elf32_Verneed and Elf64_Verneed are the same
_VERNAUX_SIZE = 16
_MAX_VERSION_RECORDS = 1 << 16  # loop guard for the verneed/vernaux walk

_ADDRESS_TAGS: tuple[tuple[int, str], ...] = (
    (DT_STRTAB, "DT_STRTAB"),
    (DT_SYMTAB, "DT_SYMTAB"),
    (DT_HASH, "DT_HASH"),
    (DT_GNU_HASH, "DT_GNU_HASH"),
    (DT_VERNEED, "DT_VERNEED"),
    (DT_VERSYM, "DT_VERSYM"),
)
_STRING_TAGS: dict[int, str] = {
    DT_NEEDED: "DT_NEEDED",
    DT_SONAME: "DT_SONAME",
    DT_RPATH: "DT_RPATH",
    DT_RUNPATH: "DT_RUNPATH",
}


@dataclass(frozen=True)
class Violation:
    """One broken invariant: a stable rule id and a one-line explanation."""

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def describe(violations: Iterable[Violation]) -> str:
    """Join violations as ``"rule: detail; rule: detail"`` (empty string for none)."""
    return "; ".join(str(v) for v in violations)


def page_size_for_machine(e_machine: int) -> int:
    """Largest page size a loader for ``e_machine`` may run with.

    AArch64, PPC64 and LoongArch kernels are commonly configured with 64 KiB
    pages; everything else is assumed to use 4 KiB pages.
    """
    return _LARGE_PAGE if e_machine in _LARGE_PAGE_MACHINES else _SMALL_PAGE


class _MalformedError(ValueError):
    """A read fell outside the file; turned into a Violation by the caller."""


# Errors a check on hostile bytes could still hit; all become Violations.
_CONTAINED = (struct.error, IndexError, ValueError, OverflowError, KeyError, TypeError)


class _Reader:
    """Bounds-checked struct reads in one byte order."""

    def __init__(self, data: bytes, endian: str) -> None:
        self.data = data
        self.endian = endian

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        st = struct.Struct(self.endian + fmt)
        if offset < 0 or offset + st.size > len(self.data):
            raise _MalformedError(
                f"{st.size}-byte read at 0x{offset:x} is outside the 0x{len(self.data):x}-byte file"
            )
        return st.unpack_from(self.data, offset)


@dataclass(frozen=True)
class _Phdr:
    index: int
    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_align: int

    @property
    def name(self) -> str:
        kind = {
            PT_LOAD: "PT_LOAD",
            PT_DYNAMIC: "PT_DYNAMIC",
            PT_NOTE: "PT_NOTE",
            PT_PHDR: "PT_PHDR",
            PT_GNU_RELRO: "PT_GNU_RELRO",
        }.get(self.p_type, f"phdr type 0x{self.p_type:x}")
        return f"{kind}[{self.index}]"

    @property
    def span(self) -> str:
        return f"[0x{self.p_vaddr:x}, 0x{self.p_vaddr + self.p_memsz:x})"

    def file_backs(self, addr: int, size: int) -> bool:
        """True if ``[addr, addr+size)`` lies in this segment's file-backed memory."""
        return self.p_vaddr <= addr and addr + size <= self.p_vaddr + self.p_filesz


@dataclass(frozen=True)
class _Elf:
    reader: _Reader
    is64: bool
    e_type: int
    e_machine: int
    e_phoff: int
    phdrs: tuple[_Phdr, ...]

    @property
    def data(self) -> bytes:
        return self.reader.data

    @property
    def address_mask(self) -> int:
        """Addresses wrap at the class width, as pointer arithmetic in ld.so does."""
        return (1 << 64) - 1 if self.is64 else (1 << 32) - 1

    @property
    def loads(self) -> tuple[_Phdr, ...]:
        return self.of_type(PT_LOAD)

    def of_type(self, p_type: int) -> tuple[_Phdr, ...]:
        return tuple(ph for ph in self.phdrs if ph.p_type == p_type)

    def host_load(self, addr: int, size: int) -> _Phdr | None:
        """The PT_LOAD whose file-backed memory holds ``[addr, addr+size)``."""
        for ph in self.loads:
            if ph.file_backs(addr, size) and ph.p_offset + (addr - ph.p_vaddr) + size <= len(
                self.data
            ):
                return ph
        return None

    def file_offset(self, addr: int, size: int) -> int | None:
        """File offset the loader reads ``[addr, addr+size)`` from, if it is file-backed."""
        ph = self.host_load(addr, size)
        return None if ph is None else ph.p_offset + (addr - ph.p_vaddr)


# --------------------------------------------------------------------------- header


def _ident(data: bytes) -> tuple[bool, str] | Violation:
    if len(data) < 16 or data[:4] != b"\x7fELF":
        return Violation("header", "not an ELF file (bad magic or shorter than e_ident)")
    if data[4] not in (1, 2):
        return Violation("header", f"EI_CLASS {data[4]} is neither ELFCLASS32 nor ELFCLASS64")
    if data[5] not in (1, 2):
        return Violation("header", f"EI_DATA {data[5]} is neither ELFDATA2LSB nor ELFDATA2MSB")
    return data[4] == 2, "<" if data[5] == 1 else ">"


def _extended_phnum(reader: _Reader, is64: bool, e_shoff: int) -> int:
    """Real program header count when e_phnum is PN_XNUM: sh_info of section 0."""
    if e_shoff == 0:
        raise _MalformedError("e_phnum is PN_XNUM but there is no section header 0")
    (sh_info,) = reader.unpack("I", e_shoff + (44 if is64 else 28))
    return sh_info


def _read_phdr(reader: _Reader, is64: bool, offset: int, index: int) -> _Phdr:
    if is64:
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = reader.unpack(
            "IIQQQQQQ", offset
        )
    else:
        p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, p_align = reader.unpack(
            "IIIIIIII", offset
        )
    return _Phdr(index, p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align)


def _parse_header(data: bytes) -> _Elf | Violation:
    ident = _ident(data)
    if isinstance(ident, Violation):
        return ident
    is64, endian = ident
    reader = _Reader(data, endian)
    ehsize = 64 if is64 else 52
    if len(data) < ehsize:
        return Violation("header", f"file is {len(data)} bytes, shorter than the ELF header")
    fields = reader.unpack("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH", 16)
    e_type, e_machine, e_phoff, e_shoff = fields[0], fields[1], fields[4], fields[5]
    e_phentsize, e_phnum = fields[8], fields[9]
    if e_phnum == _PN_XNUM:
        e_phnum = _extended_phnum(reader, is64, e_shoff)
    entsize = 56 if is64 else 32
    if e_phnum and e_phentsize != entsize:
        return Violation("header", f"e_phentsize {e_phentsize} != {entsize}")
    table_end = e_phoff + e_phnum * entsize
    if e_phnum and table_end > len(data):
        return Violation(
            "header",
            f"program header table [0x{e_phoff:x}, 0x{table_end:x}) runs past "
            f"end of file 0x{len(data):x}",
        )
    phdrs = tuple(_read_phdr(reader, is64, e_phoff + i * entsize, i) for i in range(e_phnum))
    elf = _Elf(reader, is64, e_type, e_machine, e_phoff, phdrs)
    if e_type in (ET_EXEC, ET_DYN) and not elf.loads:
        return Violation("header", f"e_type {e_type} has no PT_LOAD program header")
    return elf


# --------------------------------------------------------------------------- loads


def _check_loads(elf: _Elf, page: int) -> Iterator[Violation]:
    for ph in elf.loads:
        yield from _check_one_load(ph, len(elf.data), page)
    for prev, cur in zip(elf.loads, elf.loads[1:]):
        if cur.p_vaddr < prev.p_vaddr:
            yield Violation(
                "load-order",
                f"{cur.name}: p_vaddr 0x{cur.p_vaddr:x} is below {prev.name}'s 0x{prev.p_vaddr:x}",
            )
    yield from _check_page_overlap(elf.loads, page)


def _check_one_load(ph: _Phdr, file_size: int, page: int) -> Iterator[Violation]:
    skew = ph.p_offset - ph.p_vaddr
    misaligned = True
    if ph.p_align > 1 and ph.p_align & (ph.p_align - 1):
        yield Violation(
            "load-alignment", f"{ph.name}: p_align 0x{ph.p_align:x} is not a power of two"
        )
    elif ph.p_align > 1 and skew % ph.p_align:
        yield Violation(
            "load-alignment",
            f"{ph.name}: p_offset 0x{ph.p_offset:x} != p_vaddr 0x{ph.p_vaddr:x} "
            f"mod p_align 0x{ph.p_align:x}",
        )
    else:
        misaligned = False
    if not misaligned and skew % page:
        yield Violation(
            "load-alignment",
            f"{ph.name}: p_offset 0x{ph.p_offset:x} != p_vaddr 0x{ph.p_vaddr:x} "
            f"mod page size 0x{page:x}",
        )
    if ph.p_offset + ph.p_filesz > file_size:
        yield Violation(
            "load-in-file",
            f"{ph.name}: file range [0x{ph.p_offset:x}, 0x{ph.p_offset + ph.p_filesz:x}) "
            f"runs past end of file 0x{file_size:x}",
        )
    if ph.p_filesz > ph.p_memsz:
        yield Violation(
            "load-filesz",
            f"{ph.name}: p_filesz 0x{ph.p_filesz:x} > p_memsz 0x{ph.p_memsz:x}",
        )


def _check_page_overlap(loads: Sequence[_Phdr], page: int) -> Iterator[Violation]:
    """Each page of the address space may be mapped by at most one PT_LOAD.

    ld.so maps every PT_LOAD separately with page granularity, so a page
    touched by two segments gets the contents and protection of only one of
    them. Compared in virtual address space, which is what gets mapped.
    """
    ordered = sorted((ph for ph in loads if ph.p_memsz > 0), key=lambda ph: ph.p_vaddr)
    reach: _Phdr | None = None  # the segment reaching furthest so far
    for ph in ordered:
        if reach is not None:
            last_page = (reach.p_vaddr + reach.p_memsz - 1) // page
            first_page = ph.p_vaddr // page
            if last_page >= first_page:
                yield Violation(
                    "load-page-overlap",
                    f"{reach.name} {reach.span} and {ph.name} {ph.span} share the page at "
                    f"0x{first_page * page:x} (page size 0x{page:x})",
                )
        if reach is None or ph.p_vaddr + ph.p_memsz > reach.p_vaddr + reach.p_memsz:
            reach = ph


# --------------------------------------------------------------------------- segments


def _check_dynamic_segment(elf: _Elf) -> Iterator[Violation]:
    rule = "dynamic-in-writable-load"
    for ph in elf.of_type(PT_DYNAMIC):
        if ph.p_offset + ph.p_filesz > len(elf.data):
            yield Violation(
                rule,
                f"{ph.name}: file range [0x{ph.p_offset:x}, 0x{ph.p_offset + ph.p_filesz:x}) "
                f"runs past end of file 0x{len(elf.data):x}",
            )
        hosts = [load for load in elf.loads if load.file_backs(ph.p_vaddr, ph.p_filesz)]
        writable = [load for load in hosts if load.p_flags & PF_W]
        if not hosts:
            yield Violation(rule, f"{ph.name} {ph.span} is not file-backed by any PT_LOAD")
            continue
        # MIPS keeps .dynamic read-only (DT_MIPS_RLD_MAP replaces writing DT_DEBUG).
        if not writable and elf.e_machine != EM_MIPS:
            yield Violation(rule, f"{ph.name} {ph.span} is in {hosts[0].name}, which lacks PF_W")
        host = (writable or hosts)[0]
        loaded_from = host.p_offset + (ph.p_vaddr - host.p_vaddr)
        if loaded_from != ph.p_offset:
            yield Violation(
                rule,
                f"{ph.name}: p_offset 0x{ph.p_offset:x} but p_vaddr 0x{ph.p_vaddr:x} is "
                f"loaded from file offset 0x{loaded_from:x}",
            )


def _check_relro(elf: _Elf, page: int) -> Iterator[Violation]:
    """PT_GNU_RELRO must lie in the pages one PT_LOAD maps.

    Page-rounded because lld pads p_memsz of PT_GNU_RELRO up to a page boundary
    past the end of its PT_LOAD; ld.so rounds the range to pages before
    mprotect anyway.
    """
    for ph in elf.of_type(PT_GNU_RELRO):
        if not any(
            load.p_vaddr // page * page <= ph.p_vaddr
            and ph.p_vaddr + ph.p_memsz <= _align_up(load.p_vaddr + load.p_memsz, page)
            for load in elf.loads
        ):
            yield Violation(
                "relro-in-load", f"{ph.name} {ph.span} is not inside the pages of one PT_LOAD"
            )


def _check_phdr(elf: _Elf) -> Iterator[Violation]:
    for ph in elf.of_type(PT_PHDR):
        offset = elf.file_offset(ph.p_vaddr, ph.p_memsz)
        if offset is None:
            yield Violation(
                "phdr-covered", f"{ph.name} {ph.span} is not file-backed by any PT_LOAD"
            )
        elif offset != elf.e_phoff:
            yield Violation(
                "phdr-covered",
                f"{ph.name}: p_vaddr 0x{ph.p_vaddr:x} is loaded from file offset "
                f"0x{offset:x}, not e_phoff 0x{elf.e_phoff:x}",
            )


def _note_error(reader: _Reader, start: int, size: int, align: int) -> str | None:
    pos, end = start, start + size
    while pos < end:
        if end - pos < 12:
            return f"0x{end - pos:x} trailing bytes at +0x{pos - start:x} are not a note header"
        namesz, descsz, _ = reader.unpack("III", pos)
        desc = pos + _align_up(12 + namesz, align)
        stop = desc + descsz
        if stop > end:
            return (
                f"note at +0x{pos - start:x} (namesz 0x{namesz:x}, descsz 0x{descsz:x}) "
                f"runs past p_filesz 0x{size:x}"
            )
        # The final note's padding may be left out of p_filesz.
        pos = min(pos + _align_up(stop - pos, align), end)
    return None


def _check_notes(elf: _Elf) -> Iterator[Violation]:
    for ph in elf.of_type(PT_NOTE):
        if ph.p_offset + ph.p_filesz > len(elf.data):
            yield Violation(
                "note-parse",
                f"{ph.name}: file range [0x{ph.p_offset:x}, 0x{ph.p_offset + ph.p_filesz:x}) "
                f"runs past end of file 0x{len(elf.data):x}",
            )
            continue
        align = 8 if ph.p_align == 8 else 4
        error = _note_error(elf.reader, ph.p_offset, ph.p_filesz, align)
        if error is not None:
            yield Violation("note-parse", f"{ph.name}: {error}")


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


# --------------------------------------------------------------------------- dynamic


@dataclass
class _Dynamic:
    entries: list[tuple[int, int]] = field(default_factory=list)
    last: dict[int, int] = field(default_factory=dict)  # single-valued tags: last one wins
    strtab: bytes | None = None  # the string table bytes that are actually file-backed
    needed: list[bytes] = field(default_factory=list)
    needed_complete: bool = True  # False once a DT_NEEDED string was unreadable


def _read_dynamic(elf: _Elf, dyn: _Dynamic) -> Iterator[Violation]:
    segments = elf.of_type(PT_DYNAMIC)
    if not segments:
        return
    ph = segments[0]
    start = elf.file_offset(ph.p_vaddr, ph.p_filesz)
    if start is None:  # already reported; still read what tools would read
        if ph.p_offset + ph.p_filesz > len(elf.data):
            return
        start = ph.p_offset
    fmt = "QQ" if elf.is64 else "II"
    entsize = 16 if elf.is64 else 8
    for pos in range(start, start + ph.p_filesz - entsize + 1, entsize):
        tag, value = elf.reader.unpack(fmt, pos)
        if tag == DT_NULL:
            return
        dyn.entries.append((tag, value))
        dyn.last[tag] = value
    yield Violation("dynamic-parse", f"{ph.name}: no DT_NULL within p_filesz 0x{ph.p_filesz:x}")


def _check_dyn_addresses(elf: _Elf, dyn: _Dynamic) -> Iterator[Violation]:
    for tag, name in _ADDRESS_TAGS:
        addr = dyn.last.get(tag)
        if addr is not None and elf.host_load(addr, 1) is None:
            yield Violation(
                "dyn-address-mapped", f"{name} 0x{addr:x} is not file-backed by any PT_LOAD"
            )
    strtab, strsz = dyn.last.get(DT_STRTAB), dyn.last.get(DT_STRSZ)
    if strtab is None:
        return
    host = elf.host_load(strtab, 1)
    if host is None:
        return
    start = host.p_offset + (strtab - host.p_vaddr)
    backed = min(host.p_offset + host.p_filesz, len(elf.data)) - start
    if strsz is not None and strsz > backed:
        yield Violation(
            "dyn-address-mapped",
            f"DT_STRTAB [0x{strtab:x}, 0x{strtab + strsz:x}) runs past the file-backed end "
            f"of {host.name}",
        )
    dyn.strtab = elf.data[start : start + min(backed, strsz if strsz is not None else 0)]


def _string(dyn: _Dynamic, offset: int, what: str) -> bytes | Violation:
    strsz = dyn.last.get(DT_STRSZ)
    if strsz is None:
        return Violation("string-offset", f"{what} uses the string table but DT_STRSZ is missing")
    if offset >= strsz:
        return Violation("string-offset", f"{what} offset 0x{offset:x} >= DT_STRSZ 0x{strsz:x}")
    table = dyn.strtab
    if table is None:
        return Violation("string-offset", f"{what} offset 0x{offset:x} has no readable DT_STRTAB")
    nul = table.find(b"\0", offset)
    if nul < 0:
        return Violation(
            "string-offset",
            f"{what} string at 0x{offset:x} is not NUL-terminated within the string table",
        )
    return table[offset:nul]


def _check_dyn_strings(dyn: _Dynamic) -> Iterator[Violation]:
    if DT_STRTAB in dyn.last and dyn.strtab is None:
        return  # DT_STRTAB unmapped: reported by dyn-address-mapped
    for tag, value in dyn.entries:
        name = _STRING_TAGS.get(tag)
        if name is None:
            continue
        text = _string(dyn, value, name)
        if isinstance(text, Violation):
            dyn.needed_complete = dyn.needed_complete and tag != DT_NEEDED
            yield text
        elif tag == DT_NEEDED:
            dyn.needed.append(text)


@dataclass
class _VerneedWalk:
    records: int = 0
    seen: set[int] = field(default_factory=set)


def _check_verneed(elf: _Elf, dyn: _Dynamic) -> Iterator[Violation]:
    addr = dyn.last.get(DT_VERNEED)
    if addr is None or elf.host_load(addr, 1) is None:
        return  # absent, or unmapped (reported by dyn-address-mapped)
    if DT_STRTAB in dyn.last and dyn.strtab is None:
        return  # names unreadable: reported by dyn-address-mapped
    expected = dyn.last.get(DT_VERNEEDNUM)
    if expected is None:
        yield Violation("verneed-parse", "DT_VERNEED without DT_VERNEEDNUM")
    walk = _VerneedWalk()
    count = 0
    while True:
        count += 1
        step = yield from _verneed_entry(elf, dyn, walk, addr, count)
        if step is None:
            return
        if step == 0:
            break
        addr = (addr + step) & elf.address_mask
    if expected is not None and count != expected:
        yield Violation(
            "verneed-parse",
            f"verneed chain has {count} entries but DT_VERNEEDNUM is {expected}",
        )


def _visit(elf: _Elf, walk: _VerneedWalk, addr: int, what: str) -> int | Violation:
    """File offset of the 16-byte version record at ``addr``, or why it cannot be read."""
    walk.records += 1
    if walk.records > _MAX_VERSION_RECORDS:
        return Violation("verneed-parse", f"more than {_MAX_VERSION_RECORDS} version records")
    if addr in walk.seen:
        return Violation("verneed-parse", f"{what} at 0x{addr:x} revisited: the chain loops")
    walk.seen.add(addr)
    offset = elf.file_offset(addr, _VERNEED_SIZE)
    if offset is None:
        return Violation("verneed-parse", f"{what} at 0x{addr:x} is not file-backed")
    return offset


def _verneed_entry(
    elf: _Elf, dyn: _Dynamic, walk: _VerneedWalk, addr: int, number: int
) -> Generator[Violation, None, int | None]:
    """Check one Elf_Verneed; return its vn_next (0 ends the chain), None to stop."""
    what = f"Elf_Verneed #{number}"
    offset = _visit(elf, walk, addr, what)
    if isinstance(offset, Violation):
        yield offset
        return None
    vn_version, vn_cnt, vn_file, vn_aux, vn_next = elf.reader.unpack("HHIII", offset)
    if vn_version != 1:
        yield Violation("verneed-parse", f"{what}: vn_version {vn_version} != 1")
    name = _string(dyn, vn_file, f"{what} vn_file")
    if isinstance(name, Violation):
        yield name
    elif dyn.needed_complete and name not in dyn.needed:
        yield Violation(
            "verneed-file-needed", f"{what}: vn_file {_show(name)} is not a DT_NEEDED entry"
        )
    aux_addr = (addr + vn_aux) & elf.address_mask
    aux_count = yield from _vernaux_chain(elf, dyn, walk, aux_addr, what)
    if aux_count is None:
        return None
    if aux_count != vn_cnt:
        yield Violation(
            "verneed-parse", f"{what}: vernaux chain has {aux_count} entries, vn_cnt {vn_cnt}"
        )
    return vn_next


def _vernaux_chain(
    elf: _Elf, dyn: _Dynamic, walk: _VerneedWalk, addr: int, owner: str
) -> Generator[Violation, None, int | None]:
    """Check an Elf_Vernaux chain; return how many entries it has, None to stop."""
    count = 0
    while True:
        count += 1
        what = f"{owner} Elf_Vernaux #{count}"
        offset = _visit(elf, walk, addr, what)
        if isinstance(offset, Violation):
            yield offset
            return None
        _hash, _flags, _other, vna_name, vna_next = elf.reader.unpack("IHHII", offset)
        name = _string(dyn, vna_name, f"{what} vna_name")
        if isinstance(name, Violation):
            yield name
        if vna_next == 0:
            return count
        addr = (addr + vna_next) & elf.address_mask


def _show(name: bytes) -> str:
    return repr(name.decode("utf-8", "backslashreplace"))


# --------------------------------------------------------------------------- driver


def _run(out: list[Violation], rule: str, stage: Iterator[Violation]) -> None:
    """Collect a stage's violations; a stray parsing error becomes one more."""
    try:
        out.extend(stage)
    except _CONTAINED as exc:
        out.append(Violation(rule, f"malformed data: {exc}"))


def verify_elf(data: bytes, page_size: int | None = None) -> tuple[Violation, ...]:
    """Check ELF bytes against the loader's invariants.

    Empty tuple means the file passes. ``page_size`` is the target page size
    used for the page-overlap and page-congruence checks; ``None`` picks
    :func:`page_size_for_machine` of the file's ``e_machine``. A
    ``page_size`` that is not a positive power of two raises ``ValueError``
    (that is a caller bug, not a property of ``data``).
    """
    if page_size is not None and (page_size <= 0 or page_size & (page_size - 1)):
        raise ValueError(f"page_size must be a positive power of two, got {page_size!r}")
    data = bytes(data)
    try:
        parsed = _parse_header(data)
    except _CONTAINED as exc:
        return (Violation("header", f"malformed data: {exc}"),)
    if isinstance(parsed, Violation):
        return (parsed,)
    elf = parsed
    page = page_size if page_size is not None else page_size_for_machine(elf.e_machine)
    out: list[Violation] = []
    _run(out, "load-in-file", _check_loads(elf, page))
    _run(out, "dynamic-in-writable-load", _check_dynamic_segment(elf))
    _run(out, "relro-in-load", _check_relro(elf, page))
    _run(out, "phdr-covered", _check_phdr(elf))
    dyn = _Dynamic()
    _run(out, "dynamic-parse", _read_dynamic(elf, dyn))
    _run(out, "dyn-address-mapped", _check_dyn_addresses(elf, dyn))
    _run(out, "string-offset", _check_dyn_strings(dyn))
    _run(out, "verneed-parse", _check_verneed(elf, dyn))
    _run(out, "note-parse", _check_notes(elf))
    return tuple(out)
