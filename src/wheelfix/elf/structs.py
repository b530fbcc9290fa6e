"""ELF facts read with :mod:`struct` alone: identification, machine numbers, page sizes.

The scan stage (magic bytes, headers), the resolver (compatibility of host candidates), the
verifier and the LIEF module all read headers through here, before and without LIEF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wheelfix.errors import InvalidElfError

__all__ = [
    "ELF_MAGIC",
    "EM_386",
    "EM_AARCH64",
    "EM_ARM",
    "EM_LOONGARCH",
    "EM_PPC64",
    "EM_RISCV",
    "EM_S390",
    "EM_X86_64",
    "LARGE_PAGE_MACHINES",
    "ElfHeader",
    "is_elf",
    "machine_to_arch",
    "page_size_for",
    "read_header",
]

ELF_MAGIC = b"\x7fELF"

EM_386 = 3
EM_MIPS = 8
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258

LARGE_PAGE_MACHINES = frozenset({EM_AARCH64, EM_PPC64, EM_LOONGARCH})
"""Machines whose kernels may use 64 KiB pages: segments must be aligned for those
(lief-project/LIEF#1366)."""


@dataclass(frozen=True)
class ElfHeader:
    """The ELF identification and header fields that decide compatibility."""

    elf_class: int
    """32 or 64."""
    little_endian: bool
    """True for ELFDATA2LSB."""
    osabi: int
    """EI_OSABI (0 = SYSV, 3 = GNU/Linux)."""
    file_type: int
    """e_type: 2 = EXEC, 3 = DYN."""
    machine: int
    """e_machine, e.g. 62 for x86-64."""
    flags: int
    """e_flags (ARM float ABI lives here)."""

    @property
    def arch(self) -> str | None:
        """The wheel platform architecture this header belongs to, or None if unsupported."""
        return machine_to_arch(self)


def machine_to_arch(header: ElfHeader) -> str | None:
    """Map an ELF header to a wheel architecture name (``x86_64``, ``aarch64``, ...)."""
    m, bits = header.machine, header.elf_class
    simple = {
        (EM_X86_64, 64): "x86_64",
        (EM_386, 32): "i686",
        (EM_AARCH64, 64): "aarch64",
        (EM_S390, 64): "s390x",
        (EM_RISCV, 64): "riscv64",
        (EM_LOONGARCH, 64): "loongarch64",
    }
    if (m, bits) in simple:
        return simple[(m, bits)]
    if m == EM_PPC64 and bits == 64:
        return "ppc64le" if header.little_endian else "ppc64"
    if m == EM_ARM and bits == 32 and header.little_endian:
        eabi5 = (header.flags & 0xFF000000) == 0x05000000
        hard_float = bool(header.flags & 0x400)
        return "armv7l" if eabi5 and hard_float else None
    return None


def page_size_for(machine: int) -> int:
    """The largest page size a loader may use for this machine."""
    return 0x10000 if machine in LARGE_PAGE_MACHINES else 0x1000


def is_elf(head: bytes) -> bool:
    """True when the bytes start with the ELF magic."""
    return head[:4] == ELF_MAGIC


def read_header(data: bytes, name: str, *, whole_file: bool = True) -> ElfHeader:
    """Parse and sanity-check the ELF header in pure Python, before LIEF sees the bytes.

    With ``whole_file`` False, ``data`` is only the start of the file, so the program header
    table is not checked against its length.
    """
    if len(data) < 52 or not is_elf(data):
        raise InvalidElfError(name, "truncated or not an ELF file")
    ei_class, ei_data, ei_version, ei_osabi = data[4], data[5], data[6], data[7]
    if ei_class not in (1, 2) or ei_data not in (1, 2) or ei_version != 1:
        raise InvalidElfError(name, "bad ELF identification bytes")
    end = "<" if ei_data == 1 else ">"
    if ei_class == 2:
        if len(data) < 64:
            raise InvalidElfError(name, "truncated ELF header")
        e_type, e_machine, _v, _entry, e_phoff, _shoff, e_flags, _eh, e_phentsize, e_phnum = (
            struct.unpack_from(end + "HHIQQQIHHH", data, 16)
        )
        min_phent = 56
    else:
        e_type, e_machine, _v, _entry, e_phoff, _shoff, e_flags, _eh, e_phentsize, e_phnum = (
            struct.unpack_from(end + "HHIIIIIHHH", data, 16)
        )
        min_phent = 32
    if e_phnum and e_phentsize < min_phent:
        raise InvalidElfError(name, "program header entries are too small")
    if whole_file and e_phnum and e_phoff + e_phnum * e_phentsize > len(data):
        raise InvalidElfError(name, "program headers lie outside the file")
    return ElfHeader(
        elf_class=64 if ei_class == 2 else 32,
        little_endian=ei_data == 1,
        osabi=ei_osabi,
        file_type=e_type,
        machine=e_machine,
        flags=e_flags,
    )
