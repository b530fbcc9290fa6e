"""Scan and resolve stages: ELF bytes -> :class:`~wheelfix.elf.model.ElfInfo` in pure Python.

The audit (``show``, ``check`` and the audit half of ``repair``) reads every wheel ELF and every
host library it resolves through here, with :mod:`struct` alone: no LIEF import (~0.4 s), and
a large library costs a few table reads instead of a full LIEF model. The result is the one
:func:`wheelfix.elf.lief_io.parse_info` computes, field for field, because LIEF 1.0's read
rules are followed where they are not the loader's: program and section headers at their
``sizeof`` stride, the first ``PT_DYNAMIC`` read through the ``PT_LOAD`` that maps its
addresses (else at its offset) on to ``DT_NULL`` whatever its size (at most 1000 entries),
strings up to a NUL or the end of the file (never bounded by ``DT_STRSZ``), addresses mapped
through the first ``PT_LOAD`` whose memory range holds them, LIEF's dynamic-symbol count
(cut to :func:`~wheelfix.elf.dynsyms.dynamic_symbol_count`, as ``lief_io`` does), notes from
``PT_NOTE`` segments and ``SHT_NOTE`` sections. The tables live in :mod:`.pyread_tables`
and :mod:`.pyread_symbols`.

Corrupt input raises :class:`~wheelfix.errors.InvalidElfError` with a one-line reason, with
the same messages as ``lief_io`` where both refuse a file; no other exception leaves here.
"""

from __future__ import annotations

import struct

from wheelfix.elf.dynsyms import dynamic_symbol_count
from wheelfix.elf.model import ElfInfo, Soname
from wheelfix.elf.pyread_symbols import dynamic_symbols, symbol_name
from wheelfix.elf.pyread_tables import (
    DT_AUXILIARY,
    DT_FILTER,
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    Image,
    Undecodable,
    decode,
    version_definitions,
    version_requirements,
    x86_isa_needed,
)
from wheelfix.elf.structs import ElfHeader, read_header
from wheelfix.errors import InvalidElfError

__all__ = ["first_dynamic_segment", "parse_info", "read_dynamic"]

_PT_DYNAMIC = 2
_PYFPE_SYMBOLS = frozenset({"PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter"})
_EXTENSION_PREFIXES = ("PyInit_", "_cffi_pypyinit_", "init")
_EXTENSION_PREFIXES_RAW = tuple(prefix.encode("ascii") for prefix in _EXTENSION_PREFIXES)
_STB_WEAK = 2
_STT_FUNC = 2


def parse_info(data: bytes, name: str) -> ElfInfo:
    """Read everything the audit needs from one ELF file's bytes (no LIEF)."""
    return _parse(data, name, symbols=True)


def read_dynamic(data: bytes, name: str) -> ElfInfo:
    """:func:`parse_info` without the dynamic symbol table: the symbol fields are empty.

    What a rewrite's read-back compares (``ElfSummary``: NEEDED, SONAME, RPATH, RUNPATH,
    version needs, filtees) and the header; the symbol walk is most of the time parse_info
    takes on a big library (libLLVM: 170k symbols).
    """
    return _parse(data, name, symbols=False)


def _parse(data: bytes, name: str, *, symbols: bool) -> ElfInfo:
    header = read_header(data, name)
    dynamic = first_dynamic_segment(data, header)
    if dynamic is not None and dynamic[0] + dynamic[1] > len(data):
        raise InvalidElfError(name, "PT_DYNAMIC lies outside the file")
    try:
        image = Image.open(data, header)
        if dynamic is not None and dynamic[1] > 0 and not image.dynamic:
            raise InvalidElfError(name, "the dynamic section cannot be parsed")
        return _info(image, header, dynamic_symbol_count(data) if symbols else 0)
    except Undecodable as exc:
        raise InvalidElfError(name, "corrupt dynamic tables (UnicodeDecodeError)") from exc
    except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as exc:
        raise InvalidElfError(name, f"corrupt dynamic tables ({type(exc).__name__})") from exc


def first_dynamic_segment(data: bytes, header: ElfHeader) -> tuple[int, int] | None:
    """The first PT_DYNAMIC's (offset, filesz), walking e_phnum entries of e_phentsize."""
    end = "<" if header.little_endian else ">"
    if header.elf_class == 64:
        e_phoff = struct.unpack_from(end + "Q", data, 32)[0]
        e_phentsize, e_phnum = struct.unpack_from(end + "HH", data, 54)
        fmt, off_idx, size_idx = end + "IIQQQQQQ", 2, 5
    else:
        e_phoff = struct.unpack_from(end + "I", data, 28)[0]
        e_phentsize, e_phnum = struct.unpack_from(end + "HH", data, 42)
        fmt, off_idx, size_idx = end + "IIIIIIII", 1, 4
    for index in range(e_phnum):
        fields = struct.unpack_from(fmt, data, e_phoff + index * e_phentsize)
        if fields[0] == _PT_DYNAMIC:
            return int(fields[off_idx]), int(fields[size_idx])
    return None


def _info(image: Image, header: ElfHeader, symbol_count: int | None) -> ElfInfo:
    entries = image.dynamic
    strtab = image.dynstr_offset()

    def names(tag: int) -> tuple[Soname, ...]:
        return tuple(Soname(image.string(strtab + value)) for t, value in entries if t == tag)

    def first(tag: int) -> str | None:
        for t, value in entries:
            if t == tag:
                return image.string(strtab + value)
        return None

    soname = first(DT_SONAME)
    rpath = first(DT_RPATH)
    runpath = first(DT_RUNPATH)
    undefined: set[str] = set()
    inits: set[str] = set()
    ucs2 = pyfpe = False
    table = dynamic_symbols(image, strtab)[:symbol_count] if symbol_count != 0 else []
    data = image.data
    ascii_end = _ascii_strings_end(image, strtab)
    for at, info, shndx in table:
        if at < 0:
            continue
        is_func = info & 0xF == _STT_FUNC
        # lief_io reads the names of undefined symbols and defined functions only; of the
        # defined ones only init functions matter, so only names that start like one are read
        if shndx == 0:
            raw = symbol_name(data, at)
            if not raw:
                continue
            sym_name = decode(raw)
            if info >> 4 != _STB_WEAK:
                undefined.add(sym_name)
            ucs2 = ucs2 or (is_func and sym_name.startswith("PyUnicodeUCS2_"))
            pyfpe = pyfpe or sym_name in _PYFPE_SYMBOLS
        elif is_func and (at >= ascii_end or data.startswith(_EXTENSION_PREFIXES_RAW, at)):
            # (outside the all-ASCII string table the name is decoded, so that a name LIEF
            # cannot decode either fails as in lief_io)
            sym_name = decode(symbol_name(data, at))
            if sym_name.startswith(_EXTENSION_PREFIXES):
                inits.add(sym_name)
    return ElfInfo(
        header=header,
        interpreter=image.interpreter(),
        needed=names(DT_NEEDED),
        soname=Soname(soname) if soname is not None else None,
        rpath=_split_path(rpath),
        runpath=_split_path(runpath),
        version_requirements=tuple(
            (Soname(file), versions) for file, versions in version_requirements(image, strtab)
        ),
        version_definitions=version_definitions(image, strtab),
        undefined_symbols=frozenset(undefined),
        init_symbols=frozenset(inits),
        uses_pyfpe=pyfpe,
        uses_ucs2=ucs2,
        x86_isa_needed=x86_isa_needed(image, header),
        has_dynamic=bool(entries),
        filtees=names(DT_FILTER),
        auxiliaries=names(DT_AUXILIARY),
    )


def _ascii_strings_end(image: Image, strtab: int) -> int:
    """Where DT_STRTAB's strings end if all of them are ASCII and NUL-ended (a name that
    starts before is valid UTF-8 without reading it), else ``strtab`` (nothing is known)."""
    size = next((v for t, v in image.raw_dynamic if t == DT_STRSZ), 0)
    end = strtab + size
    if size <= 0 or strtab <= 0 or end > len(image.data):
        return strtab
    strings = image.data[strtab:end]
    return end if strings.endswith(b"\0") and strings.isascii() else strtab


def _split_path(value: str | None) -> tuple[str, ...]:
    """An RPATH/RUNPATH string split as LIEF splits it (``getline`` on ``:``)."""
    if value is None:
        return ()
    parts = value.split(":")
    if parts[-1] == "":  # getline yields no token after a trailing delimiter
        parts.pop()
    return tuple(parts)
