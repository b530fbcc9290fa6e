"""Graft stage, write side: an :class:`~wheelfix.elf.model.ElfEdit` turned into checked bytes.

:func:`rewrite_elf` strips the file when asked (:mod:`wheelfix.elf.strip`), makes the edit
with the byte editor (:mod:`wheelfix.elf.fastedit`) or, for what that does not do, with the
caller's fallback (LIEF: :func:`wheelfix.elf.lief_io.lief_write`, which the caller imports
only when it is needed), then reads the result back with the pure-Python reader
(:mod:`wheelfix.elf.pyread`) and compares its DT_NEEDED, DT_SONAME, DT_RPATH/DT_RUNPATH,
filtee and ``.gnu.version_r`` names with the plan. No LIEF is imported here.
"""

from __future__ import annotations

from typing import Callable

from wheelfix.elf.fastedit import edit_in_place, fast_edit, has_interpreter
from wheelfix.elf.model import ElfEdit, ElfInfo, can_strip, expected_summary, summary_of
from wheelfix.elf.pyread import read_dynamic as read_back
from wheelfix.elf.strip import StripError, strip_file
from wheelfix.errors import ElfWriteError

__all__ = ["Writer", "rewrite_elf"]

Writer = Callable[[bytes, ElfEdit, str], bytes]
"""Makes an edit the byte editor does not: ``(data, edit, name) -> new bytes``."""


def rewrite_elf(source: list[bytes], edit: ElfEdit, name: str, fallback: Writer) -> bytes:
    """``edit`` applied to the input, which ``source`` (a one-item list) hands over: this
    takes it out, so when the caller keeps no other reference a big library is in memory
    at most twice. ``fallback`` makes what the byte editor does not. Raises ElfWriteError
    when an edit fails or the result is not what was planned."""
    before, out = _edited(source, edit, name, fallback)
    if not out:
        raise ElfWriteError(name, "LIEF produced an empty file")
    wanted = expected_summary(before, edit)
    got = summary_of(read_back(out, name))
    if got != wanted:
        raise ElfWriteError(
            name, f"rewritten file does not match the plan: wanted {wanted}, got {got}"
        )
    return out


def _input(source: list[bytes], edit: ElfEdit, name: str) -> tuple[bytes, ElfInfo]:
    """The input's bytes (stripped if asked) and what it says before the edit."""
    data = source.pop()
    before = read_back(data, name)
    if edit.strip and can_strip(before):
        # bytes and all, before the other edits (as auditwheel strips before patchelf)
        try:
            data = strip_file(data)
        except StripError as exc:
            raise ElfWriteError(name, f"cannot strip it ({exc})") from exc
    return data, before


def _edited(
    source: list[bytes], edit: ElfEdit, name: str, fallback: Writer
) -> tuple[ElfInfo, bytes]:
    """What the input says, and the byte editor's result (else the fallback's). The input
    is referenced from this frame alone, so it goes as soon as its copy is edited."""
    data, before = _input(source, edit, name)
    if edit == ElfEdit(strip=edit.strip):
        return before, data  # a strip-only edit leaves nothing else to do
    if has_interpreter(data):  # an executable (small): edited on a copy, LIEF may need it
        patched = fast_edit(data, edit, name)
        return before, patched if patched is not None else fallback(data, edit, name)
    buf = bytearray(data)
    del data
    if edit_in_place(buf, edit, name):  # raises ElfWriteError if it fails half-way
        return before, bytes(buf)
    data = bytes(buf)  # untouched
    del buf
    return before, fallback(data, edit, name)
