"""Scan stage helper: how many dynamic symbols an ELF file really has.

LIEF 1.0 reads the SysV ``.hash`` table with 4-byte words everywhere, but 64-bit s390x and
alpha use 8-byte words there, so on those files LIEF reports too many dynamic symbols (the
extra ones are garbage read past ``.dynsym``). ``elf.py`` asks this module for the true
count and keeps only that many of LIEF's symbols.

The count comes from the first source that exists, in the order readelf trusts them:

1. the ``SHT_DYNSYM`` section header: ``sh_size / sh_entsize``;
2. the ``DT_GNU_HASH`` table: one past the last symbol index any hash chain ends on;
3. the ``DT_HASH`` table: ``nchain``, read with 8-byte words on 64-bit s390x and alpha.

Pure Python on top of :mod:`struct`, ELF32 and ELF64 in both byte orders. Reads nothing but
the bytes it is given; a table that cannot be read gives ``None`` (no count), never raises.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["dynamic_symbol_count", "hash_word_size", "sysv_hash_matches"]

EM_S390 = 22
EM_ALPHA = 0x9026  # the unofficial number every alpha toolchain uses

_PT_LOAD = 1
_PT_DYNAMIC = 2
_SHT_DYNSYM = 11
_DT_NULL = 0
_DT_HASH = 4
_DT_GNU_HASH = 0x6FFFFEF5
_MAX_SYMBOLS = 1 << 24  # a sanity bound: no real object has 16 million dynamic symbols


class _Unreadable(Exception):
    """A table lies outside the file or is inconsistent."""


@dataclass(frozen=True)
class _File:
    data: bytes
    endian: str
    is64: bool
    machine: int

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        st = struct.Struct(self.endian + fmt)
        if offset < 0 or offset + st.size > len(self.data):
            raise _Unreadable
        return st.unpack_from(self.data, offset)


def hash_word_size(machine: int, is64: bool) -> int:
    """Size of one ``DT_HASH`` word: 8 on 64-bit s390x and alpha, 4 everywhere else."""
    return 8 if is64 and machine in (EM_S390, EM_ALPHA) else 4


def _file(data: bytes) -> _File | None:
    if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    endian = "<" if data[5] == 1 else ">"
    return _File(data, endian, data[4] == 2, struct.unpack_from(endian + "H", data, 18)[0])


def dynamic_symbol_count(data: bytes) -> int | None:
    """The number of ``.dynsym`` entries (including the null symbol 0), or None if unknown."""
    elf = _file(data)
    if elf is None:
        return None
    try:
        count = _from_sections(elf)
        if count is None:
            count = _from_hash_tables(elf)
    except (_Unreadable, struct.error, OverflowError):
        return None
    if count is None or count > _MAX_SYMBOLS:
        return None
    return count


def sysv_hash_matches(data: bytes) -> bool:
    """False when a ``DT_HASH`` table's ``nchain`` disagrees with the ``.dynsym`` count.

    LIEF 1.0 rebuilds the SysV table (when there is no GNU one) with 4-byte words on s390x
    too, which the s390x loader cannot read; ``elf.py`` refuses such a write.
    """
    elf = _file(data)
    if elf is None:
        return True
    try:
        listed = _from_sections(elf)
        if listed is None:
            return True
        loads, dynamic = _loads_and_dynamic(elf)
        table = _dynamic_tables(elf, dynamic).get(_DT_HASH)
        if table is None:
            return True
        word = hash_word_size(elf.machine, elf.is64)
        nchain = elf.unpack("Q" if word == 8 else "I", _to_offset(loads, table) + word)[0]
    except (_Unreadable, struct.error, OverflowError):
        return False
    return bool(nchain == listed)


def _from_sections(elf: _File) -> int | None:
    if elf.is64:
        e_shoff, e_shentsize, e_shnum = (
            elf.unpack("Q", 40)[0],
            *elf.unpack("HH", 58),
        )
        shdr_fmt = "IIQQQQIIQQ"
    else:
        e_shoff, e_shentsize, e_shnum = (
            elf.unpack("I", 32)[0],
            *elf.unpack("HH", 46),
        )
        shdr_fmt = "IIIIIIIIII"
    if e_shoff == 0 or e_shentsize < struct.calcsize(shdr_fmt):
        return None
    if e_shnum == 0:  # extended numbering: the count is section 0's sh_size
        e_shnum = elf.unpack(shdr_fmt, e_shoff)[5]
    entsize_default = 24 if elf.is64 else 16
    for index in range(min(e_shnum, _MAX_SYMBOLS)):
        fields = elf.unpack(shdr_fmt, e_shoff + index * e_shentsize)
        if fields[1] != _SHT_DYNSYM:
            continue
        sh_offset, sh_size, sh_entsize = fields[4], fields[5], fields[9]
        if sh_offset + sh_size > len(elf.data):
            raise _Unreadable
        return sh_size // (sh_entsize or entsize_default)
    return None


def _loads_and_dynamic(elf: _File) -> tuple[list[tuple[int, int, int]], tuple[int, int] | None]:
    """PT_LOAD (vaddr, offset, filesz) triples and PT_DYNAMIC's (offset, filesz)."""
    if elf.is64:
        e_phoff = elf.unpack("Q", 32)[0]
        e_phentsize, e_phnum = elf.unpack("HH", 54)
        fmt, idx = "IIQQQQQQ", (2, 3, 5)
    else:
        e_phoff = elf.unpack("I", 28)[0]
        e_phentsize, e_phnum = elf.unpack("HH", 42)
        fmt, idx = "IIIIIIII", (1, 2, 4)
    loads: list[tuple[int, int, int]] = []
    dynamic: tuple[int, int] | None = None
    for index in range(e_phnum):
        fields = elf.unpack(fmt, e_phoff + index * e_phentsize)
        offset, vaddr, filesz = fields[idx[0]], fields[idx[1]], fields[idx[2]]
        if fields[0] == _PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif fields[0] == _PT_DYNAMIC:
            dynamic = (offset, filesz)
    return loads, dynamic


def _to_offset(loads: list[tuple[int, int, int]], addr: int) -> int:
    for vaddr, offset, filesz in loads:
        if vaddr <= addr < vaddr + filesz:
            return offset + addr - vaddr
    raise _Unreadable


def _from_hash_tables(elf: _File) -> int | None:
    loads, dynamic = _loads_and_dynamic(elf)
    tables = _dynamic_tables(elf, dynamic)
    if _DT_GNU_HASH in tables:
        return _gnu_hash_count(elf, _to_offset(loads, tables[_DT_GNU_HASH]))
    if _DT_HASH in tables:
        word = hash_word_size(elf.machine, elf.is64)
        # nbucket, nchain: nchain is the symbol count
        return elf.unpack("Q" if word == 8 else "I", _to_offset(loads, tables[_DT_HASH]) + word)[0]
    return None


def _dynamic_tables(elf: _File, dynamic: tuple[int, int] | None) -> dict[int, int]:
    """DT_HASH and DT_GNU_HASH addresses (the first of each) from PT_DYNAMIC."""
    tables: dict[int, int] = {}
    if dynamic is None:
        return tables
    dyn_fmt = "qQ" if elf.is64 else "iI"
    dyn_size = struct.calcsize(dyn_fmt)
    offset, filesz = dynamic
    for entry in range(filesz // dyn_size):
        tag, value = elf.unpack(dyn_fmt, offset + entry * dyn_size)
        if tag == _DT_NULL:
            break
        if tag in (_DT_HASH, _DT_GNU_HASH):
            tables.setdefault(tag, value)
    return tables


def _gnu_hash_count(elf: _File, table: int) -> int:
    nbuckets, symoffset, bloom_size, _shift = elf.unpack("IIII", table)
    buckets = table + 16 + bloom_size * (8 if elf.is64 else 4)
    chains = buckets + 4 * nbuckets
    last = 0
    for bucket in range(nbuckets):
        last = max(last, elf.unpack("I", buckets + 4 * bucket)[0])
    if last < symoffset:  # every bucket is empty: only the unhashed symbols exist
        return symoffset
    # walk the chain of the highest-starting bucket to its end (low bit set)
    for index in range(last, last + _MAX_SYMBOLS):
        if elf.unpack("I", chains + 4 * (index - symoffset))[0] & 1:
            return index + 1
    raise _Unreadable
