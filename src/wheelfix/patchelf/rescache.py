"""``--build-resolution-cache``: the ``.note.nixos.ldcache`` note, built and dropped.

The note (name ``NixOS``, type 0x63a86cb6, read by Nixpkgs' patched glibc loader) records,
for every DT_NEEDED name without a slash, where the run path finds it: a NUL-terminated
``(needed, path-list)`` pair per library, sorted by name, then one more NUL. Each
path-list entry is ``=<dir>/<lib>`` for a library the run path finds at patch time, or
``?<dir>`` for a run-path component that cannot be searched now (empty or relative,
with a ``$`` token, missing, not a searchable directory, or holding ``glibc-hwcaps``), in
run-path order. DT_RUNPATH wins over DT_RPATH. A cache is built once: a second run that
would write the same note does nothing, and one that would write another fails.

:func:`build` leaves the new note to ``append`` (it goes into the appended segment with a
PT_NOTE). :func:`remove` is called by every edit that changes the run path or the
DT_NEEDED set: the note's bytes are zeroed (Nix scans files for store paths), its PT_NOTE
(and a PT_LOAD that holds exactly the note) and its section header are dropped.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Callable

from wheelfix.patchelf import PatchelfError
from wheelfix.patchelf.elfview import (
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    LDCACHE_SECTION,
    PT_LOAD,
    PT_NOTE,
)
from wheelfix.patchelf.state import Patch

NOTE_NAME = b"NixOS\0"
NT_NIXOS_LD_CACHE = 0x63A86CB6
PT_PHDR = 6
_PREFIX = "warning: --build-resolution-cache: "
_STALE = (
    "--build-resolution-cache: a resolution cache note is already present; "
    "rebuild from an unpatched binary"
)

Probe = Callable[[str], bool]


def needs_search_hint(directory: str) -> bool:
    """True for a run-path component that cannot be searched exhaustively at patch time."""
    if not directory.startswith("/") or "$" in directory:
        return True
    try:
        info = os.stat(directory)  # noqa: PTH116
    except OSError:
        return True
    if not stat.S_ISDIR(info.st_mode) or not os.access(directory, os.X_OK):
        return True
    return os.access(f"{directory}/glibc-hwcaps", os.F_OK)


def readable(path: str) -> bool:
    """True when the loader could open ``path`` now."""
    return os.access(path, os.R_OK)


def resolve(
    needed: list[str],
    run_path: list[str],
    hint: Probe = needs_search_hint,
    found: Probe = readable,
) -> dict[str, str]:
    """``{needed name: path list}`` for the names the run path searches (pure given the
    probes, which default to the host's file system)."""
    cache: dict[str, list[str]] = {}
    searched = [lib for lib in needed if "/" not in lib]
    for directory in run_path:
        if hint(directory):
            for lib in searched:
                cache.setdefault(lib, []).append(f"?{directory}")
            continue
        for lib in searched:
            path = f"{directory}/{lib}"
            if found(path):
                cache.setdefault(lib, []).append(f"={path}")
    return {lib: ":".join(paths) for lib, paths in cache.items()}


def descriptor(cache: dict[str, str]) -> bytes:
    """The note descriptor: pairs sorted by the library name's bytes, then a NUL."""
    pairs = sorted((_raw(lib), _raw(paths)) for lib, paths in cache.items())
    return b"".join(lib + b"\0" + paths + b"\0" for lib, paths in pairs) + b"\0"


def note(desc: bytes, end: str) -> bytes:
    """The whole note (header, padded name, padded descriptor) in byte order ``end``."""
    head = struct.pack(end + "III", len(NOTE_NAME), len(desc), NT_NIXOS_LD_CACHE)
    return head + _pad(NOTE_NAME) + _pad(desc)


def _pad(raw: bytes) -> bytes:
    return raw + bytes(-len(raw) % 4)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def build(state: Patch) -> None:
    """Run ``--build-resolution-cache`` on the file as the earlier options left it."""
    view = state.work.view
    existing = view.section(LDCACHE_SECTION)

    def give_up(warning: str) -> None:
        if existing is not None:
            raise PatchelfError(_STALE)
        state.warn(f"{_PREFIX}{warning}; no cache written\n")

    if view.section(".dynamic") is None or view.section(".dynstr") is None:
        give_up("no dynamic section (statically linked?)")
        return
    needed, run_path = _needed_and_run_path(state)
    if not needed or not run_path:
        give_up("no DT_NEEDED entries or run path to resolve")
        return
    cache = resolve(needed, run_path)
    if not cache:
        give_up("no libraries resolved against the run path")
        return
    for lib, paths in sorted(cache.items(), key=lambda item: _raw(item[0])):
        state.debug(f"resolved {lib} to {paths}\n")
    desc = descriptor(cache)
    if existing is not None:
        if _old_descriptor(state, existing.sh_offset, existing.sh_size) == desc:
            state.debug("resolution cache already up to date\n")
            return
        raise PatchelfError(_STALE)
    state.work.note = note(desc, view.end)
    state.changed = True


def _needed_and_run_path(state: Patch) -> tuple[list[str], list[str]]:
    """DT_NEEDED names (with pending and deferred edits) and the run path in force."""
    work = state.work
    view = work.view
    entries = work.new_entries + [(e.tag, e.value) for e in view.dynamic()]
    needed: list[str] = []
    runpath = rpath = None
    for tag, value in entries:
        if tag == DT_NEEDED:
            needed.append(view.string(value))
        elif tag == DT_RUNPATH:
            runpath = view.string(value)
        elif tag == DT_RPATH:
            rpath = view.string(value)
    renames = dict(state.plan.replace_needed)
    needed = [renames.get(n, n) for n in needed if n not in state.plan.remove_needed]
    text = runpath if runpath is not None else rpath
    return needed, text.split(":") if text else []


def _old_descriptor(state: Patch, offset: int, size: int) -> bytes:
    """The descriptor of the note already there; empty when it does not parse."""
    data = state.work.data
    if offset > len(data) or len(data) - offset < 12 or size < 12:
        return b""
    namesz, descsz, _ = state.work.view.unpack("III", offset)
    avail = min(size, len(data) - offset) - 12
    name_room = namesz + (-namesz % 4)
    if name_room > avail or descsz > avail - name_room:
        return b""
    start = offset + 12 + name_room
    return bytes(data[start : start + descsz])


def remove(state: Patch) -> None:
    """Drop the resolution cache note, if there is one (a run path or DT_NEEDED edit)."""
    work = state.work
    view = work.view
    section = view.section(LDCACHE_SECTION)
    if section is None:
        return
    offset, size = section.sh_offset, section.sh_size
    if offset <= len(work.data) and size <= len(work.data) - offset:
        work.data[offset : offset + size] = bytes(size)
    if section.index == view.e_shstrndx:
        raise PatchelfError(
            "cannot remove resolution cache note: section name table index points to it"
        )
    doomed = [
        s.index
        for s in view.segments
        if s.p_type in (PT_LOAD, PT_NOTE) and s.p_offset == offset and s.p_filesz == size
    ]
    _drop_segments(state, doomed)
    _drop_section(state, section.index, section.header_offset)
    work.refresh()
    state.changed = True


def _drop_segments(state: Patch, doomed: list[int]) -> None:
    """Remove program headers, closing the gap; e_phnum and PT_PHDR shrink with them."""
    if not doomed:
        return
    work = state.work
    view = work.view
    entsize = 56 if view.is64 else 32
    table = bytes(work.data[view.e_phoff : view.e_phoff + view.e_phnum * entsize])
    kept = [table[i * entsize : (i + 1) * entsize] for i in range(view.e_phnum) if i not in doomed]
    work.data[view.e_phoff : view.e_phoff + len(table)] = b"".join(kept).ljust(len(table), b"\0")
    work.pack("H", 56 if view.is64 else 44, len(kept))
    size = len(kept) * entsize
    for index, seg in enumerate(view.segments):
        if seg.p_type == PT_PHDR and index not in doomed:
            slot = index - sum(1 for d in doomed if d < index)
            at = view.e_phoff + slot * entsize + (32 if view.is64 else 16)
            work.pack("QQ" if view.is64 else "II", at, size, size)


def _drop_section(state: Patch, index: int, header_offset: int) -> None:
    """The last section header goes (e_shnum shrinks); another one becomes SHT_NULL, so
    no section index (st_shndx, sh_link) changes."""
    work = state.work
    view = work.view
    entsize = 64 if view.is64 else 40
    work.data[header_offset : header_offset + entsize] = bytes(entsize)
    if index == view.e_shnum - 1:
        work.pack("H", 60 if view.is64 else 48, view.e_shnum - 1)
