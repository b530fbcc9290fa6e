"""The values ELF stages pass each other: what a file says (ElfInfo) and what to change (ElfEdit).

Plain frozen dataclasses, no LIEF: the scan, resolve, policy, graft and report stages import
them without paying for LIEF's import. :mod:`wheelfix.elf.lief_io` fills and applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

from wheelfix.elf.structs import ElfHeader

__all__ = [
    "ElfEdit",
    "ElfInfo",
    "ElfSummary",
    "Soname",
    "can_strip",
    "expected_summary",
    "summary_of",
]

Soname = NewType("Soname", str)
"""A DT_NEEDED or DT_SONAME string, e.g. ``libyaml-0.so.2``."""


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
    runpath: bool = False
    """Write ``rpath`` as DT_RUNPATH instead (Android's loader ignores DT_RPATH)."""

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
        if edit.runpath:
            rpath, runpath = runpath, rpath
    return ElfSummary(
        needed=rename(info.needed),
        soname=edit.soname or info.soname,
        rpath=rpath,
        runpath=runpath,
        verneed_files=rename(tuple(lib for lib, _ in info.version_requirements)),
        filtees=rename((*info.filtees, *info.auxiliaries)),
    )


def summary_of(info: ElfInfo) -> ElfSummary:
    """The dynamic facts an edit controls, as ``info`` has them now."""
    return expected_summary(info, ElfEdit())


def can_strip(info: ElfInfo) -> bool:
    """Whether ``--strip`` applies: executables and shared libraries (``elfstrip.py``)."""
    return info.header.file_type in (2, 3)
