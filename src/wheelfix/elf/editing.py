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

from wheelfix.elf.fastedit import edit_in_place
from wheelfix.elf.model import ElfEdit, ElfInfo, can_strip, expected_summary, summary_of
from wheelfix.elf.pyread import parse_info as read_back
from wheelfix.elf.strip import StripError, strip_file
from wheelfix.errors import ElfWriteError

__all__ = ["Writer", "rewrite_elf"]

Writer = Callable[[bytes, ElfEdit, str], bytes]
"""Makes an edit the byte editor does not: ``(data, edit, name) -> new bytes``."""


def rewrite_elf(read: Callable[[], bytes], edit: ElfEdit, name: str, fallback: Writer) -> bytes:
    """``edit`` applied to the bytes ``read()`` returns, which this holds alone, so a big
    library is in memory at most twice; ``fallback`` makes what the byte editor does not.
    ``read`` is called again only if the byte editor fails half-way (the fallback then
    starts from the input). Raises ElfWriteError when the result is not what was planned."""
    before, out = _edited(read, edit, name, fallback)
    if not out:
        raise ElfWriteError(name, "LIEF produced an empty file")
    wanted = expected_summary(before, edit)
    got = summary_of(read_back(out, name))
    if got != wanted:
        raise ElfWriteError(
            name, f"rewritten file does not match the plan: wanted {wanted}, got {got}"
        )
    return out


def _input(read: Callable[[], bytes], edit: ElfEdit, name: str) -> tuple[bytes, ElfInfo]:
    """The input's bytes (stripped if asked) and what it says before the edit."""
    data = read()
    before = read_back(data, name)
    if edit.strip and can_strip(before):
        # bytes and all, before the other edits (as auditwheel strips before patchelf)
        try:
            data = strip_file(data)
        except StripError as exc:
            raise ElfWriteError(name, f"cannot strip it ({exc})") from exc
    return data, before


def _edited(
    read: Callable[[], bytes], edit: ElfEdit, name: str, fallback: Writer
) -> tuple[ElfInfo, bytes]:
    """What the input says, and the byte editor's result (else the fallback's). The input
    is referenced from this frame alone, so it goes as soon as its copy is edited."""
    data, before = _input(read, edit, name)
    if edit == ElfEdit(strip=edit.strip):
        return before, data  # a strip-only edit leaves nothing else to do
    buf = bytearray(data)
    try:
        patched = edit_in_place(buf, edit, name)
    except ElfWriteError:  # buf is damaged: the fallback starts again from the input
        patched = False
        data = _input(read, edit, name)[0]
    if patched:
        del data
        return before, bytes(buf)
    del buf
    return before, fallback(data, edit, name)
