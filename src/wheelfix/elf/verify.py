"""Graft stage, last step: check rewritten ELF bytes against the loader's invariants.

Runs on the bytes LIEF produced, before they enter the wheel, and reports every
broken invariant it can find instead of stopping at the first. It reads only the
program headers and what they point at (the dynamic section, the string table,
the version-needed chain, notes): the same view the kernel and ld.so get, so
section headers are never consulted (except section 0 when e_phnum is PN_XNUM).

Pure Python on top of :mod:`struct`; handles ELF32 and ELF64 in both byte
orders. Malformed input never raises: every problem, including a read outside
the file, comes back as a :class:`Violation`.

Rules (``Violation.rule``):

``header``
    ELF identification or program header table unusable (checking stops).
``load-alignment``
    ``PT_LOAD`` ``p_offset`` and ``p_vaddr`` not congruent modulo ``p_align``
    or the target page size, or ``p_align`` not a power of two.
``load-in-file``
    ``PT_LOAD`` file range runs past the end of the file.
``load-filesz``
    ``PT_LOAD`` ``p_filesz`` larger than ``p_memsz``.
``load-order``
    ``PT_LOAD`` entries not in ascending ``p_vaddr`` order.
``load-page-overlap``
    Two ``PT_LOAD`` memory ranges touch the same page at the target page size.
``dynamic-in-writable-load``
    ``PT_DYNAMIC`` outside the file, outside a writable ``PT_LOAD``, or its
    ``p_offset`` disagreeing with where its ``p_vaddr`` is loaded from.
``dynamic-parse``
    No ``DT_NULL`` within ``PT_DYNAMIC``.
``relro-in-load``
    ``PT_GNU_RELRO`` not inside one ``PT_LOAD``.
``phdr-covered``
    ``PT_PHDR`` not loaded by a ``PT_LOAD`` or not loaded from ``e_phoff``.
``dyn-address-mapped``
    A dynamic table address not backed by file bytes of a ``PT_LOAD``.
``string-offset``
    A dynamic string offset ``>= DT_STRSZ`` or not NUL-terminated in the table.
``verneed-parse``
    The ``DT_VERNEED`` chain is unreadable, loops, or disagrees with its counts.
``verneed-file-needed``
    A ``vn_file`` that names no ``DT_NEEDED`` entry.
``note-parse``
    ``PT_NOTE`` contents that do not parse into notes exactly filling ``p_filesz``.

Program headers are named by their index in the program header table, so
``PT_LOAD[3]`` is the fourth program header (which is a ``PT_LOAD``).
"""

from __future__ import annotations

from collections.abc import Iterator

from wheelfix.elf.image import CONTAINED, Violation, describe, parse_image
from wheelfix.elf.structs import page_size_for
from wheelfix.elf.verify_dynamic import (
    Dynamic,
    check_dyn_addresses,
    check_dyn_strings,
    check_verneed,
    read_dynamic,
)
from wheelfix.elf.verify_segments import (
    check_dynamic_segment,
    check_loads,
    check_notes,
    check_phdr,
    check_relro,
)

__all__ = ["Violation", "describe", "verify_elf"]

# --------------------------------------------------------------------------- driver


def _run(out: list[Violation], rule: str, stage: Iterator[Violation]) -> None:
    """Collect a stage's violations; a stray parsing error becomes one more."""
    try:
        out.extend(stage)
    except CONTAINED as exc:
        out.append(Violation(rule, f"malformed data: {exc}"))


def verify_elf(data: bytes, page_size: int | None = None) -> tuple[Violation, ...]:
    """Check ELF bytes against the loader's invariants.

    Empty tuple means the file passes. ``page_size`` is the target page size
    used for the page-overlap and page-congruence checks; ``None`` picks
    :func:`~wheelfix.elf.structs.page_size_for` of the file's ``e_machine``. A
    ``page_size`` that is not a positive power of two raises ``ValueError``
    (that is a caller bug, not a property of ``data``).
    """
    if page_size is not None and (page_size <= 0 or page_size & (page_size - 1)):
        raise ValueError(f"page_size must be a positive power of two, got {page_size!r}")
    data = bytes(data)
    try:
        parsed = parse_image(data)
    except CONTAINED as exc:
        return (Violation("header", f"malformed data: {exc}"),)
    if isinstance(parsed, Violation):
        return (parsed,)
    elf = parsed
    page = page_size if page_size is not None else page_size_for(elf.e_machine)
    out: list[Violation] = []
    _run(out, "load-in-file", check_loads(elf, page))
    _run(out, "dynamic-in-writable-load", check_dynamic_segment(elf))
    _run(out, "relro-in-load", check_relro(elf, page))
    _run(out, "phdr-covered", check_phdr(elf))
    dyn = Dynamic()
    _run(out, "dynamic-parse", read_dynamic(elf, dyn))
    _run(out, "dyn-address-mapped", check_dyn_addresses(elf, dyn))
    _run(out, "string-offset", check_dyn_strings(dyn))
    _run(out, "verneed-parse", check_verneed(elf, dyn))
    _run(out, "note-parse", check_notes(elf))
    return tuple(out)
