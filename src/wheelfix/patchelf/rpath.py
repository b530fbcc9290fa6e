"""The rpath options of ``wheelfix patchelf``: print, remove, shrink, set and add.

Follows patchelf's ``modifyRPath``: DT_RUNPATH wins over DT_RPATH when reading; without
``--force-rpath`` a DT_RPATH is turned into DT_RUNPATH (and the other way round with it);
an unchanged value writes nothing; an old value nothing else uses is overwritten with
``X`` bytes (Nix scans files for store paths) and the new one goes in its place when it
fits. Otherwise the new string is left to LIEF. A change drops the resolution cache note
(``rescache``), as ``--remove-rpath`` always does.
"""

from __future__ import annotations

import os

from wheelfix.patchelf import PatchelfError
from wheelfix.patchelf.args import split_colons
from wheelfix.patchelf.elfview import DT_NEEDED, DT_RPATH, DT_RUNPATH, SHT_NOBITS, DynEntry
from wheelfix.patchelf.rescache import remove as remove_cache
from wheelfix.patchelf.state import Patch, add_entry


def modify_rpath(state: Patch, op: str) -> None:
    """Run one rpath operation (``print``, ``remove``, ``shrink``, ``set`` or ``add``)."""
    work, opts = state.work, state.opts
    view = work.view
    if view.require(".dynamic").sh_type == SHT_NOBITS:
        state.debug("no dynamic section\n")
        return
    rpath_entry, runpath_entry, current, needed = _read(state)
    if op == "print":
        state.emit(current or "")
        return
    if op == "remove":
        remove_cache(state)
        if current is None:
            state.debug("no RPATH to delete\n")
            return
        slots = {e.slot for e in view.dynamic() if e.tag in (DT_RPATH, DT_RUNPATH)}
        state.changed |= work.remove_entries(slots)
        return
    if op == "shrink":
        if current is None:
            remove_cache(state)
            state.debug("no RPATH to shrink\n")
            return
        new = shrink(current, needed, opts.allowed_prefixes, bytes(view.data[18:20]), state)
    elif op == "add":
        new = f"{current}:{opts.new_rpath}" if current else opts.new_rpath
    else:
        new = opts.new_rpath
    entries = _convert_tag(state, rpath_entry, runpath_entry)
    if current is not None and current == new:
        return
    remove_cache(state)
    state.changed = True
    _store(state, entries, current, new)


def _read(state: Patch) -> tuple[DynEntry | None, DynEntry | None, str | None, list[str]]:
    """The DT_RPATH and DT_RUNPATH entries, the rpath in force, and the DT_NEEDED names."""
    view = state.work.view
    view.strtab()
    rpath_entry = runpath_entry = None
    current: str | None = None
    needed: list[str] = []
    for entry in view.dynamic():
        if entry.tag == DT_RPATH:
            rpath_entry = entry
            if runpath_entry is None:
                current = view.string(entry.value)
        elif entry.tag == DT_RUNPATH:
            runpath_entry = entry
            current = view.string(entry.value)
        elif entry.tag == DT_NEEDED:
            needed.append(view.string(entry.value))
    return rpath_entry, runpath_entry, current, needed


def _convert_tag(
    state: Patch, rpath_entry: DynEntry | None, runpath_entry: DynEntry | None
) -> list[DynEntry]:
    """DT_RPATH -> DT_RUNPATH (or back with --force-rpath); the entries to update."""
    work, force = state.work, state.opts.force_rpath
    if not force and rpath_entry is not None and runpath_entry is None:
        work.set_entry(rpath_entry, tag=DT_RUNPATH)
        state.changed = True
    elif force and runpath_entry is not None:
        work.set_entry(runpath_entry, tag=DT_RPATH)
        state.changed = True
    work.refresh()
    return [
        e
        for e in work.view.dynamic()
        if e.slot in {x.slot for x in (rpath_entry, runpath_entry) if x}
    ]


def _store(state: Patch, entries: list[DynEntry], current: str | None, new: str) -> None:
    work = state.work
    shared = False
    if current is not None:
        index = entries[-1].value
        shared = not work.exclusive(index, {"dyn15", "dyn29"})
        if not shared:
            state.debug("Tainting old rpath with Xs\n")
            work.taint_string(index)
            if work.overwrite_string(index, new, b"X"):
                work.refresh()
                return
    state.debug(f"new rpath is '{new}'\n")
    index = work.add_string(new)
    if entries:
        for entry in entries:
            work.set_entry(entry, value=index)
        work.refresh()
        return
    add_entry(state, DT_RPATH if state.opts.force_rpath else DT_RUNPATH, index)


def shrink(rpath: str, needed: list[str], allowed: list[str], machine: bytes, state: Patch) -> str:
    """Keep the rpath directories that hold a needed library of the same machine."""
    found = [False] * len(needed)
    kept: list[str] = []
    for directory in split_colons(rpath):
        if directory and not directory.startswith("/"):
            kept.append(directory)
            continue
        if allowed and not any(directory.startswith(prefix) for prefix in allowed):
            state.debug(
                f"removing directory '{directory}' from RPATH because of non-allowed prefix\n"
            )
            continue
        hit = False
        for index, lib in enumerate(needed):
            if found[index]:
                continue
            other = _machine_of(f"{directory}/{lib}")
            if other is None:
                continue
            if other == machine:
                found[index] = hit = True
            else:
                state.debug(
                    f"ignoring library '{directory}/{lib}' because its machine type differs\n"
                )
        if hit:
            kept.append(directory)
        else:
            state.debug(f"removing directory '{directory}' from RPATH\n")
    return ":".join(kept)


def _machine_of(path: str) -> bytes | None:
    """The raw e_machine bytes of an ELF file; None when it does not exist."""
    try:
        with open(path, "rb") as handle:  # noqa: PTH123
            head = handle.read(52)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PatchelfError(f"opening '{path}': {os.strerror(exc.errno or 0)}") from None
    if len(head) < 52:
        raise PatchelfError(f"reading '{path}': Success")
    if head[:4] != b"\x7fELF":
        raise PatchelfError("not an ELF executable")
    if head[6] != 1:
        raise PatchelfError("unsupported ELF version")
    if head[4] not in (1, 2):
        raise PatchelfError("ELF executable is not 32 or 64 bit")
    return head[18:20]
