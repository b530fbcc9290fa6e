"""Scan and resolve stages: the dynamic symbols of an :class:`~.pyread_tables.Image`, as LIEF reads them.

LIEF 1.0 counts ``.dynsym`` entries itself (``DYNSYM_COUNT.AUTO``: the relocation tables, the
``SHT_DYNSYM`` section and the hash tables, reconciled with its own thresholds) and reads
that many; :mod:`wheelfix.elf.pyread` then cuts the list to the true count, as ``lief_io``
does. Both steps are reproduced here so the two readers agree on every file. Pure
:mod:`struct` and :mod:`array`, no I/O.
"""

from __future__ import annotations

import struct
import sys
from array import array

from wheelfix.elf.pyread_tables import (
    DT_GNU_HASH,
    DT_HASH,
    DT_JMPREL,
    DT_PLTREL,
    DT_PLTRELSZ,
    DT_REL,
    DT_RELA,
    DT_RELASZ,
    DT_RELSZ,
    DT_SYMTAB,
    Image,
)

__all__ = ["dynamic_symbols", "symbol_name"]

_SHT_DYNSYM = 11
_NB_MAX_SYMBOLS = 1000000
_DELTA_NB_SYMBOLS = 3000
_U32 = 0xFFFFFFFF
_ODD = bytes(i & 1 for i in range(256))


def dynamic_symbols(image: Image, strtab: int) -> list[tuple[int, int, int]]:
    """(name offset, st_info, st_shndx) of the dynamic symbols LIEF reads, in table order.

    The name offset is where the name starts in the file, or -1 for a symbol LIEF reads with
    an empty name (``st_name`` 0 or past the end); :func:`symbol_name` reads it. Names are
    left unread here: a library like libLLVM has 170,000 symbols and the scan needs few.
    """
    table = image.get(DT_SYMTAB)  # LIEF 1.0 does without DT_SYMENT
    if table is None:
        return []
    offset = image.to_offset(table)
    if offset is None or strtab == 0:
        return []
    size = len(image.data)
    st = struct.Struct(image.endian + ("IBBHQQ" if image.is64 else "IIIBBH"))
    available = max(0, (size - offset) // st.size) if offset <= size else 0
    count = min(_lief_symbol_count(image), available)
    region = image.data[offset : offset + count * st.size]
    if image.is64:  # st_name, st_info, st_other, st_shndx, st_value, st_size
        fields = [(f[0], f[1], f[3]) for f in st.iter_unpack(region)]
    else:  # st_name, st_value, st_size, st_info, st_other, st_shndx
        fields = [(f[0], f[3], f[5]) for f in st.iter_unpack(region)]
    return [
        (strtab + name if name > 0 and strtab + name < size else -1, info, shndx)
        for name, info, shndx in fields
    ]


def symbol_name(data: bytes, at: int) -> bytes:
    """The NUL-terminated name at ``at`` (as LIEF cuts one that runs to the end of the file)."""
    if at < 0:
        return b""
    nul = data.find(b"\0", at)
    return data[at:nul] if nul >= 0 else data[at : len(data) - 1]


def _lief_symbol_count(image: Image) -> int:
    """LIEF's DYNSYM_COUNT.AUTO: relocations, the SHT_DYNSYM section and the hash tables."""
    nb_reloc = _count_from_relocations(image)
    nb_section = _count_from_section(image)
    nb_hash = _count_from_hash(image)
    if nb_hash > 0 and nb_section == nb_hash:
        return nb_hash
    candidate = nb_reloc
    if nb_reloc < nb_section < _NB_MAX_SYMBOLS and nb_section - nb_reloc < _DELTA_NB_SYMBOLS:
        candidate = nb_section
    if nb_hash == 0:
        return candidate
    if candidate < nb_hash < _NB_MAX_SYMBOLS and nb_hash - candidate < _DELTA_NB_SYMBOLS:
        candidate = nb_hash
    return candidate


def _count_from_section(image: Image) -> int:
    symsize = 24 if image.is64 else 16
    for section in image.sections:
        if section.sh_type == _SHT_DYNSYM:
            return (section.size // symsize) & _U32
    return 0


def _count_from_relocations(image: Image) -> int:
    rela, rel = (24, 16) if image.is64 else (12, 8)
    tables = [(DT_RELA, DT_RELASZ, rela), (DT_REL, DT_RELSZ, rel)]
    pltrel = image.get(DT_PLTREL)
    uses_rela = pltrel == DT_RELA if pltrel is not None else image.is64
    tables.append((DT_JMPREL, DT_PLTRELSZ, rela if uses_rela else rel))
    count = 0
    for address_tag, size_tag, entsize in tables:
        address, size = image.get(address_tag), image.get(size_tag)
        if address is None or size is None:
            continue
        offset = image.to_offset(address)
        if offset is not None:
            count = max(count, _max_symbol_index(image, offset, size, entsize) + 1 & _U32)
    return count


def _max_symbol_index(image: Image, offset: int, size: int, entsize: int) -> int:
    """The largest ELF_R_SYM over the relocation entries that fit in the file."""
    data = image.data
    entries = min((size // entsize) & _U32, max(0, (len(data) - offset) // entsize))
    if offset > len(data) or entries <= 0:
        return 0
    words = array("I")
    words.frombytes(data[offset : offset + entries * entsize])
    if (image.endian == "<") != (sys.byteorder == "little"):
        words.byteswap()
    per_entry = entsize // 4
    if image.is64:  # r_info is the second 8-byte word; the symbol is its high half
        return max(words[(3 if image.endian == "<" else 2) :: per_entry])
    return max(words[1::per_entry]) >> 8


def _count_from_hash(image: Image) -> int:
    if image.get(DT_HASH) is not None:
        offset = image.to_offset(image.get(DT_HASH) or 0)
        if offset is None:
            return 0
        nchain = image.unpack("I", offset + 4)
        return nchain[0] if nchain is not None else 0
    if image.get(DT_GNU_HASH) is not None:
        offset = image.to_offset(image.get(DT_GNU_HASH) or 0)
        return _gnu_hash_count(image, offset) if offset is not None else 0
    return 0


def _gnu_hash_count(image: Image, offset: int) -> int:
    head = image.unpack("III", offset)
    if head is None:
        return 0
    nbuckets, symndx, maskwords = head
    if maskwords & (maskwords - 1):  # LIEF 1.0 takes any power of two (4096 in libLLVM)
        return 0
    data = image.data
    pos = offset + 16 + (8 if image.is64 else 4) * maskwords
    readable = min(nbuckets, max(0, (len(data) - pos) // 4)) if pos <= len(data) else 0
    buckets = array("I")
    buckets.frombytes(data[pos : pos + 4 * readable])
    if (image.endian == "<") != (sys.byteorder == "little"):
        buckets.byteswap()
    max_bucket = max(buckets, default=0)
    if max_bucket == 0:
        return 0
    pos += 4 * readable + 4 * ((max_bucket - symndx) & _U32)
    if pos + 4 > len(data):
        return 0
    low = 0 if image.endian == "<" else 3  # the byte holding each word's low bit
    stop = pos + (len(data) - pos) // 4 * 4
    last = data[pos + low : stop : 4].translate(_ODD).find(1)
    if last < 0:
        return 0
    return (max_bucket + last + 1) & _U32
