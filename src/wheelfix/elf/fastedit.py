"""Graft stage, write side, first choice: an :class:`ElfEdit` made by patching bytes, no LIEF.

The edits a repair makes (rename DT_NEEDED, DT_FILTER and DT_AUXILIARY entries with the
matching ``.gnu.version_r`` file names, drop an unversioned DT_NEEDED, set DT_SONAME, set
DT_RPATH in place of any DT_RUNPATH, or remove both) only touch ``.dynamic`` and
``.dynstr``. :func:`fast_edit` makes them with the byte editor of ``wheelfix patchelf``
(:mod:`wheelfix.patchelf.inplace` for the fields, :mod:`wheelfix.patchelf.append` when
``.dynstr`` or ``.dynamic`` must grow: they move into one new PT_LOAD at the end of the
file and no other byte the loader sees moves), much as patchelf does for auditwheel. A
100 MB library is then edited where it lies in memory, not parsed and rebuilt as by LIEF.

It returns None for what it does not do (a DT_NEEDED with version requirements to remove,
a DT_SONAME for a file that is not a shared library, a file without ``.dynamic`` or
``.dynstr``, an executable whose tables would have to move: its program headers would move
with them, and kernels before Linux 5.18 and qemu-user then hand it a wrong ``AT_PHDR``, or
anything the byte editor refuses): the caller falls back to LIEF
(:mod:`wheelfix.elf.lief_io`). Either way the caller reads the result back and verifies it.
Pure: bytes in, bytes out; the same input and edit always give the same bytes.
"""

from __future__ import annotations

import struct

from wheelfix.elf.model import ElfEdit
from wheelfix.errors import ElfWriteError
from wheelfix.patchelf import PatchelfError
from wheelfix.patchelf.append import page_size, relocate
from wheelfix.patchelf.elfview import (
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    ET_DYN,
    PT_INTERP,
    ElfView,
)
from wheelfix.patchelf.inplace import InPlace, verneed_files

__all__ = ["edit_in_place", "fast_edit", "has_interpreter"]

DT_FILTER = 0x7FFFFFFF
DT_AUXILIARY = 0x7FFFFFFD
_NAME_TAGS = (DT_NEEDED, DT_FILTER, DT_AUXILIARY)
"""Dynamic entries naming a library the loader opens (renamed alike)."""
_REFUSED = (PatchelfError, struct.error, ValueError, IndexError)
"""What the byte editor raises on a file it cannot edit."""


def fast_edit(data: bytes, edit: ElfEdit, name: str) -> bytes | None:
    """``data`` with ``edit`` applied (strip excepted: the caller strips first), or None
    when this needs LIEF (see the module docstring); ``data`` itself is not changed."""
    buf = bytearray(data)
    try:
        done = edit_in_place(buf, edit, name)
    except ElfWriteError:
        return None
    return bytes(buf) if done else None


def has_interpreter(data: bytes) -> bool:
    """True for a file with a PT_INTERP (an executable): :func:`edit_in_place` fails on it
    half-way when its tables must move (see the module docstring)."""
    try:
        return bool(ElfView(data).segments_of(PT_INTERP))
    except _REFUSED:
        return False


def edit_in_place(buf: bytearray, edit: ElfEdit, name: str) -> bool:
    """Apply ``edit`` to ``buf`` itself (grown at the end when tables move, never copied).

    False when the byte editor does not make this edit: ``buf`` is untouched. Raises
    :class:`ElfWriteError` when an edit fails half-way (``buf`` is then damaged: start
    again from the input, with LIEF)."""
    try:
        work = InPlace(buf)
        if not _applies(work, edit):
            return False
    except _REFUSED:
        return False
    try:
        _remove_needed(work, frozenset(edit.remove_needed))
        _rename(work, dict(edit.replace_needed))
        if edit.soname is not None:
            _set_soname(work, edit.soname)
        if edit.rpath is not None:
            _set_rpath(work, edit.rpath, DT_RUNPATH if edit.runpath else DT_RPATH)
        growth = work.growth()
        if not growth.is_empty:
            if work.view.segments_of(PT_INTERP):
                # The program headers would move with the tables: a kernel before Linux 5.18
                # and qemu-user then pass the program a wrong AT_PHDR (LIEF keeps them).
                raise PatchelfError("an executable's program headers would move")
            relocate(buf, growth, page_size(work.view.e_machine))
    except _REFUSED as exc:
        raise ElfWriteError(name, f"the byte editor failed ({exc})") from exc
    return True


def _applies(work: InPlace, edit: ElfEdit) -> bool:
    """True when every part of ``edit`` is one the byte editor makes."""
    view = work.view
    if view.section(".dynamic") is None or view.section(".dynstr") is None:
        return False
    view.strtab()  # raises for a table that is not NUL-terminated
    if edit.soname is not None and view.e_type != ET_DYN:
        return False
    versioned = verneed_files(view)
    if versioned and set(dict(edit.replace_needed)) & {name for _, name in versioned}:
        gnu_version_r = view.require(".gnu.version_r")
        if gnu_version_r.sh_link != view.require(".dynstr").index:
            return False  # its file names live in another table than the new strings
    return not {name for _, name in versioned} & set(edit.remove_needed)


def _remove_needed(work: InPlace, names: frozenset[str]) -> None:
    if not names:
        return
    view = work.view
    doomed = {e.slot for e in view.tagged(DT_NEEDED) if view.string(e.value) in names}
    work.remove_entries(doomed)


def _rename(work: InPlace, renames: dict[str, str]) -> None:
    """Point every library-naming entry and ``.gnu.version_r`` file name at its new name.

    The old strings stay in ``.dynstr`` (symbols and version records may share them)."""
    if not renames:
        return
    for entry in work.view.dynamic():
        if entry.tag not in _NAME_TAGS:
            continue
        new = renames.get(work.view.string(entry.value))
        if new is not None:
            work.set_entry(entry, value=work.add_string(new))
    work.refresh()
    for position, name in verneed_files(work.view):
        new = renames.get(name)
        if new is not None:
            work.pack("I", position, work.add_string(new))
    work.refresh()


def _set_soname(work: InPlace, soname: str) -> None:
    entries = work.view.tagged(DT_SONAME)
    index = work.add_string(soname)
    if entries:
        for entry in entries:
            work.set_entry(entry, value=index)
        work.refresh()
    else:
        work.insert_entries([(DT_SONAME, index)])


def _set_rpath(work: InPlace, rpath: str, tag: int = DT_RPATH) -> None:
    """One DT_RPATH (or ``tag``) of ``rpath`` and no other (``""``: neither)."""
    entries = [e for e in work.view.dynamic() if e.tag in (DT_RPATH, DT_RUNPATH)]
    if not rpath:
        work.remove_entries({e.slot for e in entries})
        return
    index = work.add_string(rpath)
    if entries:
        work.set_entry(entries[0], tag=tag, value=index)
        work.remove_entries({e.slot for e in entries[1:]})
        work.refresh()
    else:
        work.insert_entries([(tag, index)])
