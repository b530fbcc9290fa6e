"""Scan and graft stages: the one place LIEF reads and writes ELF files.

Reading turns ELF bytes into an :class:`~wheelfix.elf.model.ElfInfo` (no LIEF type leaves this
module). Writing (:func:`lief_write`) turns an :class:`~wheelfix.elf.model.ElfEdit` into new ELF
bytes in a single LIEF write: the fallback of :mod:`wheelfix.elf.editing`, which patches
bytes where it can and checks every result (:func:`apply_edit` runs it with this fallback).
Pure-Python header checks (:mod:`wheelfix.elf.structs`) run before LIEF sees any byte.
"""

from __future__ import annotations

import struct
import warnings
from typing import Any

import lief

from wheelfix.elf.dynsyms import dynamic_symbol_count, hash_word_size, sysv_hash_matches
from wheelfix.elf.editing import rewrite_elf
from wheelfix.elf.model import ElfEdit, ElfInfo, Soname
from wheelfix.elf.pyread import first_dynamic_segment
from wheelfix.elf.structs import EM_386, EM_X86_64, LARGE_PAGE_MACHINES, ElfHeader, read_header
from wheelfix.errors import ElfWriteError, InvalidElfError

__all__ = ["apply_edit", "lief_write", "parse_info"]

lief.logging.disable()

_GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
_NT_GNU_PROPERTY_TYPE_0 = 5
_PYFPE_SYMBOLS = frozenset({"PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter"})
_EXTENSION_PREFIXES = ("PyInit_", "_cffi_pypyinit_", "init")


def _read_config() -> Any:
    config = lief.ELF.ParserConfig()
    config.parse_relocations = False
    config.parse_symtab_symbols = False
    config.parse_overlay = False
    config.parse_dyn_symbols = True
    config.parse_symbol_versions = True
    config.parse_notes = True
    return config


def parse_info(data: bytes, name: str) -> ElfInfo:
    """Read everything the audit needs from one ELF file's bytes."""
    with warnings.catch_warnings():
        # LIEF's bindings warn (RuntimeWarning) on unknown enum values such as OS-specific
        # DT tags; they are not errors and must not reach the user's terminal.
        warnings.simplefilter("ignore")
        return _parse_info(data, name)


def _parse_info(data: bytes, name: str) -> ElfInfo:
    header = read_header(data, name)
    dynamic = first_dynamic_segment(data, header)
    dyn_offset, dyn_size = dynamic if dynamic is not None else (0, 0)
    has_dynamic = dynamic is not None
    if has_dynamic and dyn_offset + dyn_size > len(data):
        raise InvalidElfError(name, "PT_DYNAMIC lies outside the file")
    binary = lief.ELF.parse(data, _read_config())
    if binary is None:
        raise InvalidElfError(name, "LIEF cannot parse this ELF file")
    if has_dynamic and dyn_size > 0 and len(binary.dynamic_entries) == 0:
        raise InvalidElfError(name, "the dynamic section cannot be parsed")
    try:
        return _info_from_binary(binary, header, dynamic_symbol_count(data))
    except (UnicodeDecodeError, TypeError, ValueError, IndexError, OverflowError) as exc:
        # LIEF hands back undecodable names as bytes or raises while decoding them: either
        # way the dynamic tables are damaged.
        raise InvalidElfError(name, f"corrupt dynamic tables ({type(exc).__name__})") from exc


def _dynamic_string(binary: Any, tag: Any) -> Any | None:
    return binary.get(tag) if binary.has(tag) else None


def _info_from_binary(binary: Any, header: ElfHeader, symbol_count: int | None) -> ElfInfo:
    tags = lief.ELF.DynamicEntry.TAG
    needed = tuple(Soname(e.name) for e in binary.dynamic_entries if e.tag == tags.NEEDED)
    filtees = tuple(Soname(e.name) for e in binary.dynamic_entries if e.tag == tags.FILTER)
    auxiliaries = tuple(Soname(e.name) for e in binary.dynamic_entries if e.tag == tags.AUXILIARY)
    soname_entry = _dynamic_string(binary, tags.SONAME)
    rpath_entry = _dynamic_string(binary, tags.RPATH)
    runpath_entry = _dynamic_string(binary, tags.RUNPATH)
    requirements = tuple(
        (Soname(req.name), tuple(aux.name for aux in req.get_auxiliary_symbols()))
        for req in binary.symbols_version_requirement
    )
    definitions = tuple(
        aux.name
        for definition in binary.symbols_version_definition
        for aux in list(definition.auxiliary_symbols)[:1]
    )
    undefined: set[str] = set()
    ucs2 = pyfpe = False
    inits: set[str] = set()
    weak = lief.ELF.Symbol.BINDING.WEAK
    func = lief.ELF.Symbol.TYPE.FUNC
    # LIEF overcounts on s390x (8-byte .hash words); the rest of its list is garbage
    for symbol in list(binary.dynamic_symbols)[:symbol_count]:
        sym_name = symbol.name
        if not sym_name:
            continue
        if symbol.shndx == 0:
            if symbol.binding != weak:
                undefined.add(sym_name)
            ucs2 = ucs2 or (sym_name.startswith("PyUnicodeUCS2_") and symbol.type == func)
            pyfpe = pyfpe or sym_name in _PYFPE_SYMBOLS
        elif symbol.type == func and sym_name.startswith(_EXTENSION_PREFIXES):
            inits.add(sym_name)
    return ElfInfo(
        header=header,
        interpreter=binary.interpreter if binary.has_interpreter else None,
        needed=needed,
        soname=Soname(soname_entry.name) if soname_entry is not None else None,
        rpath=tuple(rpath_entry.paths) if rpath_entry is not None else (),
        runpath=tuple(runpath_entry.paths) if runpath_entry is not None else (),
        version_requirements=requirements,
        version_definitions=definitions,
        undefined_symbols=frozenset(undefined),
        init_symbols=frozenset(inits),
        uses_pyfpe=pyfpe,
        uses_ucs2=ucs2,
        x86_isa_needed=_x86_isa_needed(binary, header),
        has_dynamic=len(binary.dynamic_entries) > 0,
        filtees=filtees,
        auxiliaries=auxiliaries,
    )


def _x86_isa_needed(binary: Any, header: ElfHeader) -> int:
    if header.machine not in (EM_X86_64, EM_386):
        return 0
    end = "<" if header.little_endian else ">"
    align = 8 if header.elf_class == 64 else 4
    needed = 0
    for note in binary.notes:
        if note.original_type != _NT_GNU_PROPERTY_TYPE_0 or note.name != "GNU":
            continue
        desc = bytes(note.description)
        offset = 0
        while offset + 8 <= len(desc):
            pr_type, pr_datasz = struct.unpack_from(end + "II", desc, offset)
            offset += 8
            if pr_type == _GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz >= 4:
                needed |= struct.unpack_from(end + "I", desc, offset)[0]
            offset += (pr_datasz + align - 1) // align * align
    return needed


def apply_edit(data: bytes, edit: ElfEdit, name: str) -> bytes:
    """Apply ``edit`` (bytes patched, else one LIEF write) and check the result; raise
    ElfWriteError on mismatch (:func:`wheelfix.elf.editing.rewrite_elf`)."""
    return rewrite_elf([data], edit, name, lief_write)


def lief_write(data: bytes, edit: ElfEdit, name: str) -> bytes:
    """``edit`` made by one LIEF parse and write of ``data`` (not checked: see
    :func:`wheelfix.elf.editing.rewrite_elf`)."""
    with warnings.catch_warnings():
        # LIEF's bindings warn on unknown enum values (OS-specific DT tags); not errors
        warnings.simplefilter("ignore")
        return _lief_write(data, edit, read_header(data, name), name)


def _lief_write(data: bytes, edit: ElfEdit, header: ElfHeader, name: str) -> bytes:
    config = lief.ELF.ParserConfig()
    if header.machine in LARGE_PAGE_MACHINES:
        config.page_size = 0x10000
    try:
        binary = _parse_for_writing(data, config, name)
        _edit_dynamic(binary, edit)
        tags = lief.ELF.DynamicEntry.TAG
        if hash_word_size(header.machine, header.elf_class == 64) == 8 and binary.has(
            tags.GNU_HASH
        ):
            # LIEF 1.0 would rebuild .hash with 4-byte words; the loader uses DT_GNU_HASH
            binary.remove(tags.HASH)
        out = bytes(binary.write_to_bytes())
    except (MemoryError, ValueError, RuntimeError, TypeError, UnicodeDecodeError) as exc:
        raise ElfWriteError(
            name, f"LIEF failed to rewrite it ({type(exc).__name__}: {exc})"
        ) from exc
    if sysv_hash_matches(data) and not sysv_hash_matches(out):
        # LIEF 1.0 rebuilds a lone .hash with 4-byte words, also where they are 8 (s390x)
        raise ElfWriteError(name, "LIEF wrote a SysV hash table this machine cannot read")
    return out


def _parse_for_writing(data: bytes, config: Any, name: str) -> Any:
    """Parse with a dynamic symbol count LIEF gets right, or LIEF writes garbage symbols back."""
    count = dynamic_symbol_count(data)
    methods = config.DYNSYM_COUNT
    read = []
    for method in (methods.AUTO, methods.SECTION, methods.RELOCATIONS):
        config.count_mtd = method
        binary = lief.ELF.parse(data, config)
        if binary is None:
            raise ElfWriteError(name, "LIEF cannot parse this ELF file for writing")
        if count is None or len(binary.dynamic_symbols) == count:
            return binary
        read.append(str(len(binary.dynamic_symbols)))
    raise ElfWriteError(
        name, f"LIEF cannot read its {count} dynamic symbols (it reads {'/'.join(read)})"
    )


def _edit_dynamic(binary: Any, edit: ElfEdit) -> None:
    tags = lief.ELF.DynamicEntry.TAG
    for old, new in edit.replace_needed:
        for entry in binary.dynamic_entries:
            if entry.tag in (tags.FILTER, tags.AUXILIARY) and entry.name == old:
                entry.name = new
        library = binary.get_library(old)
        if library is None:
            continue
        library.name = new
        requirement = binary.find_version_requirement(old)
        if requirement is not None:
            requirement.name = new
    for old in edit.remove_needed:
        binary.remove_library(old)
        if binary.find_version_requirement(old) is not None:
            binary.remove_version_requirement(old)
    if edit.soname is not None:
        if binary.has(tags.SONAME):
            binary.get(tags.SONAME).name = edit.soname
        else:
            binary.add(lief.ELF.DynamicSharedObject(edit.soname))
    if edit.rpath is not None:
        binary.remove(tags.RPATH)
        binary.remove(tags.RUNPATH)
        if edit.rpath:
            entry = lief.ELF.DynamicEntryRunPath if edit.runpath else lief.ELF.DynamicEntryRpath
            binary.add(entry(edit.rpath))
