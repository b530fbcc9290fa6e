"""Scan and graft stages: the only module that imports LIEF.

Reading turns ELF bytes into an :class:`ElfInfo` (a plain frozen dataclass; no LIEF type leaves
this module). Writing (see :func:`apply_edit`) turns an :class:`ElfEdit` into new ELF bytes in a
single LIEF write, then re-parses the result to check the edits really landed.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from typing import Any, NewType

import lief

from wheelfix.dynsyms import dynamic_symbol_count, hash_word_size, sysv_hash_matches
from wheelfix.elfstrip import StripError, strip_file
from wheelfix.errors import ElfWriteError, InvalidElfError

lief.logging.disable()

Soname = NewType("Soname", str)
"""A DT_NEEDED or DT_SONAME string, e.g. ``libyaml-0.so.2``."""

ELF_MAGIC = b"\x7fELF"

EM_386 = 3
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258

_LARGE_PAGE_MACHINES = frozenset({EM_AARCH64, EM_PPC64, EM_LOONGARCH})
_GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
_NT_GNU_PROPERTY_TYPE_0 = 5
_PYFPE_SYMBOLS = frozenset({"PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter"})
_EXTENSION_PREFIXES = ("PyInit_", "_cffi_pypyinit_", "init")


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


@dataclass(frozen=True)
class ElfInfo:
    """What the scan stage needs to know about one ELF file."""

    header: ElfHeader
    """Identification fields."""
    interpreter: str | None
    """PT_INTERP, for executables."""
    needed: tuple[Soname, ...]
    """DT_NEEDED entries, in file order."""
    soname: Soname | None
    """DT_SONAME, if any."""
    rpath: tuple[str, ...]
    """DT_RPATH entries, unexpanded."""
    runpath: tuple[str, ...]
    """DT_RUNPATH entries, unexpanded."""
    version_requirements: tuple[tuple[Soname, tuple[str, ...]], ...]
    """``.gnu.version_r``: (library file name, version names) in file order."""
    version_definitions: tuple[str, ...]
    """``.gnu.version_d`` names (the first is the library's own base name)."""
    undefined_symbols: frozenset[str]
    """Undefined, non-weak dynamic symbols."""
    init_symbols: frozenset[str]
    """Defined functions that look like module init functions (``PyInit_x``, ``initx``...)."""
    uses_pyfpe: bool
    """True when ``PyFPE_jbuf`` and friends are referenced."""
    uses_ucs2: bool
    """True when ``PyUnicodeUCS2_*`` functions are referenced."""
    x86_isa_needed: int = 0
    """GNU_PROPERTY_X86_ISA_1_NEEDED bits (0 when absent)."""
    has_dynamic: bool = field(default=True)
    """True when the file has a PT_DYNAMIC segment."""
    filtees: tuple[Soname, ...] = ()
    """DT_FILTER names: libraries the loader must open for this filter object."""
    auxiliaries: tuple[Soname, ...] = ()
    """DT_AUXILIARY names: filtees the loader opens if it can (their absence is no error)."""

    @property
    def loaded_names(self) -> tuple[Soname, ...]:
        """Every library name the loader opens for this object: DT_NEEDED, then the filtees."""
        return (*self.needed, *self.filtees, *self.auxiliaries)

    def python_extension_version(self, filename: str) -> int | None:
        """3 (or 2) when this file is a Python extension for the module its name gives."""
        module = filename.rsplit("/", 1)[-1].split(".", 1)[0]
        if f"PyInit_{module}" in self.init_symbols:
            return 3
        if {f"init{module}", f"_cffi_pypyinit_{module}"} & self.init_symbols:
            return 2
        return None

    @property
    def x86_isa_level(self) -> int:
        """The x86-64 micro-architecture level required (1 = baseline)."""
        for bit, level in ((8, 4), (4, 3), (2, 2)):
            if self.x86_isa_needed & bit:
                return level
        return 1


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
    return 0x10000 if machine in _LARGE_PAGE_MACHINES else 0x1000


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


def _read_config() -> Any:
    config = lief.ELF.ParserConfig()
    config.parse_relocations = False
    config.parse_symtab_symbols = False
    config.parse_overlay = False
    config.parse_dyn_symbols = True
    config.parse_symbol_versions = True
    config.parse_notes = True
    return config


def _has_segment(data: bytes, header: ElfHeader, p_type: int) -> tuple[bool, int, int]:
    """Find a program header of ``p_type``: (found, offset, filesz)."""
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
        if fields[0] == p_type:
            return True, fields[off_idx], fields[size_idx]
    return False, 0, 0


def parse_info(data: bytes, name: str) -> ElfInfo:
    """Read everything the audit needs from one ELF file's bytes."""
    with warnings.catch_warnings():
        # LIEF's bindings warn (RuntimeWarning) on unknown enum values such as OS-specific
        # DT tags; they are not errors and must not reach the user's terminal.
        warnings.simplefilter("ignore")
        return _parse_info(data, name)


def _parse_info(data: bytes, name: str) -> ElfInfo:
    header = read_header(data, name)
    has_dynamic, dyn_offset, dyn_size = _has_segment(data, header, 2)
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
    auxiliaries = tuple(
        Soname(e.name) for e in binary.dynamic_entries if e.tag == tags.AUXILIARY
    )
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


@dataclass(frozen=True)
class ElfEdit:
    """Every change one ELF file needs, decided before anything is written."""

    replace_needed: tuple[tuple[Soname, Soname], ...] = ()
    """DT_NEEDED (and DT_FILTER/DT_AUXILIARY) renames (old, new); the matching
    ``.gnu.version_r`` file names follow."""
    remove_needed: tuple[Soname, ...] = ()
    """DT_NEEDED entries to drop, with their version requirements (libpython)."""
    soname: Soname | None = None
    """New DT_SONAME, if any."""
    rpath: str | None = None
    """New DT_RPATH (any DT_RUNPATH is removed); ``""`` removes both."""
    strip: bool = False
    """Remove ``.symtab``, ``.strtab`` and debug sections, as ``strip -s`` (``elfstrip.py``)."""

    @property
    def is_empty(self) -> bool:
        """True when the file needs no change at all."""
        return self == ElfEdit()


@dataclass(frozen=True)
class ElfSummary:
    """The dynamic facts an edit controls, read back after writing to check it landed."""

    needed: tuple[str, ...]
    soname: str | None
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    verneed_files: tuple[str, ...]
    filtees: tuple[str, ...] = ()


def expected_summary(info: ElfInfo, edit: ElfEdit) -> ElfSummary:
    """What the file's dynamic facts must be after ``edit`` (pure)."""
    renames = dict(edit.replace_needed)
    removed = set(edit.remove_needed)

    def rename(names: tuple[Soname, ...]) -> tuple[str, ...]:
        return tuple(renames.get(n, n) for n in names if n not in removed)

    rpath, runpath = info.rpath, info.runpath
    if edit.rpath is not None:
        rpath = tuple(p for p in edit.rpath.split(":") if p) if edit.rpath else ()
        runpath = ()
    return ElfSummary(
        needed=rename(info.needed),
        soname=edit.soname or info.soname,
        rpath=rpath,
        runpath=runpath,
        verneed_files=rename(tuple(lib for lib, _ in info.version_requirements)),
        filtees=rename((*info.filtees, *info.auxiliaries)),
    )


def _summary(info: ElfInfo) -> ElfSummary:
    return expected_summary(info, ElfEdit())


def can_strip(info: ElfInfo) -> bool:
    """Whether ``--strip`` applies: executables and shared libraries (``elfstrip.py``)."""
    return info.header.file_type in (2, 3)


def apply_edit(data: bytes, edit: ElfEdit, name: str) -> bytes:
    """Apply ``edit`` with one LIEF write and check the result; raise ElfWriteError on mismatch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _apply_edit(data, edit, name)


def _apply_edit(data: bytes, edit: ElfEdit, name: str) -> bytes:
    header = read_header(data, name)
    before = parse_info(data, name)
    if edit.strip and can_strip(before):
        # bytes and all, before LIEF's write (as auditwheel strips before patchelf)
        try:
            data = strip_file(data)
        except StripError as exc:
            raise ElfWriteError(name, f"cannot strip it ({exc})") from exc
    # a strip-only edit leaves nothing for LIEF to do
    out = data if edit == ElfEdit(strip=edit.strip) else _lief_write(data, edit, header, name)
    if not out:
        raise ElfWriteError(name, "LIEF produced an empty file")
    after = parse_info(out, name)
    wanted = expected_summary(before, edit)
    got = _summary(after)
    if got != wanted:
        raise ElfWriteError(
            name, f"rewritten file does not match the plan: wanted {wanted}, got {got}"
        )
    return out


def _lief_write(data: bytes, edit: ElfEdit, header: ElfHeader, name: str) -> bytes:
    config = lief.ELF.ParserConfig()
    if header.machine in _LARGE_PAGE_MACHINES:
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
            binary.add(lief.ELF.DynamicEntryRpath(edit.rpath))
