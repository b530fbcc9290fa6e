"""The verifier's view of an ELF file: program headers and what they point at, read with
:mod:`struct` and bounds-checked, as the kernel and ld.so see them.

Every read outside the file raises :class:`MalformedError`; the checks turn those (and the
other :data:`CONTAINED` errors) into :class:`Violation` values, so hostile bytes never raise.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CONTAINED",
    "DT_GNU_HASH",
    "DT_HASH",
    "DT_NEEDED",
    "DT_NULL",
    "DT_RPATH",
    "DT_RUNPATH",
    "DT_SONAME",
    "DT_STRSZ",
    "DT_STRTAB",
    "DT_SYMTAB",
    "DT_VERNEED",
    "DT_VERNEEDNUM",
    "DT_VERSYM",
    "ET_DYN",
    "ET_EXEC",
    "PF_W",
    "PT_DYNAMIC",
    "PT_GNU_RELRO",
    "PT_LOAD",
    "PT_NOTE",
    "PT_PHDR",
    "ElfImage",
    "MalformedError",
    "Phdr",
    "Reader",
    "Violation",
    "describe",
    "parse_image",
]

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


class MalformedError(ValueError):
    """A read fell outside the file; turned into a Violation by the caller."""


# Errors a check on hostile bytes could still hit; all become Violations.
CONTAINED = (struct.error, IndexError, ValueError, OverflowError, KeyError, TypeError)


class Reader:
    """Bounds-checked struct reads in one byte order."""

    def __init__(self, data: bytes, endian: str) -> None:
        self.data = data
        self.endian = endian

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        st = struct.Struct(self.endian + fmt)
        if offset < 0 or offset + st.size > len(self.data):
            raise MalformedError(
                f"{st.size}-byte read at 0x{offset:x} is outside the 0x{len(self.data):x}-byte file"
            )
        return st.unpack_from(self.data, offset)


@dataclass(frozen=True)
class Phdr:
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
class ElfImage:
    reader: Reader
    is64: bool
    e_type: int
    e_machine: int
    e_phoff: int
    phdrs: tuple[Phdr, ...]

    @property
    def data(self) -> bytes:
        return self.reader.data

    @property
    def address_mask(self) -> int:
        """Addresses wrap at the class width, as pointer arithmetic in ld.so does."""
        return (1 << 64) - 1 if self.is64 else (1 << 32) - 1

    @property
    def loads(self) -> tuple[Phdr, ...]:
        return self.of_type(PT_LOAD)

    def of_type(self, p_type: int) -> tuple[Phdr, ...]:
        return tuple(ph for ph in self.phdrs if ph.p_type == p_type)

    def host_load(self, addr: int, size: int) -> Phdr | None:
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


def _extended_phnum(reader: Reader, is64: bool, e_shoff: int) -> int:
    """Real program header count when e_phnum is PN_XNUM: sh_info of section 0."""
    if e_shoff == 0:
        raise MalformedError("e_phnum is PN_XNUM but there is no section header 0")
    (sh_info,) = reader.unpack("I", e_shoff + (44 if is64 else 28))
    return sh_info


def _read_phdr(reader: Reader, is64: bool, offset: int, index: int) -> Phdr:
    if is64:
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = reader.unpack(
            "IIQQQQQQ", offset
        )
    else:
        p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, p_align = reader.unpack(
            "IIIIIIII", offset
        )
    return Phdr(index, p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align)


def parse_image(data: bytes) -> ElfImage | Violation:
    ident = _ident(data)
    if isinstance(ident, Violation):
        return ident
    is64, endian = ident
    reader = Reader(data, endian)
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
    elf = ElfImage(reader, is64, e_type, e_machine, e_phoff, phdrs)
    if e_type in (ET_EXEC, ET_DYN) and not elf.loads:
        return Violation("header", f"e_type {e_type} has no PT_LOAD program header")
    return elf
