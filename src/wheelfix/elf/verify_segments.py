"""Verifier checks of the program headers: PT_LOAD layout and page overlap at the target page
size, PT_DYNAMIC inside a writable load, PT_GNU_RELRO, PT_PHDR and PT_NOTE contents.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from wheelfix.elf.image import (
    PF_W,
    PT_DYNAMIC,
    PT_GNU_RELRO,
    PT_NOTE,
    PT_PHDR,
    ElfImage,
    Phdr,
    Reader,
    Violation,
)
from wheelfix.elf.structs import EM_MIPS

__all__ = [
    "align_up",
    "check_dynamic_segment",
    "check_loads",
    "check_notes",
    "check_one_load",
    "check_page_overlap",
    "check_phdr",
    "check_relro",
]

# --------------------------------------------------------------------------- loads


def check_loads(elf: ElfImage, page: int) -> Iterator[Violation]:
    for ph in elf.loads:
        yield from check_one_load(ph, len(elf.data), page)
    for prev, cur in zip(elf.loads, elf.loads[1:]):
        if cur.p_vaddr < prev.p_vaddr:
            yield Violation(
                "load-order",
                f"{cur.name}: p_vaddr 0x{cur.p_vaddr:x} is below {prev.name}'s 0x{prev.p_vaddr:x}",
            )
    yield from check_page_overlap(elf.loads, page)


def check_one_load(ph: Phdr, file_size: int, page: int) -> Iterator[Violation]:
    skew = ph.p_offset - ph.p_vaddr
    misaligned = True
    if ph.p_align > 1 and ph.p_align & (ph.p_align - 1):
        yield Violation(
            "load-alignment", f"{ph.name}: p_align 0x{ph.p_align:x} is not a power of two"
        )
    elif ph.p_align > 1 and skew % ph.p_align:
        yield Violation(
            "load-alignment",
            f"{ph.name}: p_offset 0x{ph.p_offset:x} != p_vaddr 0x{ph.p_vaddr:x} "
            f"mod p_align 0x{ph.p_align:x}",
        )
    else:
        misaligned = False
    if not misaligned and skew % page:
        yield Violation(
            "load-alignment",
            f"{ph.name}: p_offset 0x{ph.p_offset:x} != p_vaddr 0x{ph.p_vaddr:x} "
            f"mod page size 0x{page:x}",
        )
    if ph.p_offset + ph.p_filesz > file_size:
        yield Violation(
            "load-in-file",
            f"{ph.name}: file range [0x{ph.p_offset:x}, 0x{ph.p_offset + ph.p_filesz:x}) "
            f"runs past end of file 0x{file_size:x}",
        )
    if ph.p_filesz > ph.p_memsz:
        yield Violation(
            "load-filesz",
            f"{ph.name}: p_filesz 0x{ph.p_filesz:x} > p_memsz 0x{ph.p_memsz:x}",
        )


def check_page_overlap(loads: Sequence[Phdr], page: int) -> Iterator[Violation]:
    """Each page of the address space may be mapped by at most one PT_LOAD.

    ld.so maps every PT_LOAD separately with page granularity, so a page
    touched by two segments gets the contents and protection of only one of
    them. Compared in virtual address space, which is what gets mapped.
    """
    ordered = sorted((ph for ph in loads if ph.p_memsz > 0), key=lambda ph: ph.p_vaddr)
    reach: Phdr | None = None  # the segment reaching furthest so far
    for ph in ordered:
        if reach is not None:
            last_page = (reach.p_vaddr + reach.p_memsz - 1) // page
            first_page = ph.p_vaddr // page
            if last_page >= first_page:
                yield Violation(
                    "load-page-overlap",
                    f"{reach.name} {reach.span} and {ph.name} {ph.span} share the page at "
                    f"0x{first_page * page:x} (page size 0x{page:x})",
                )
        if reach is None or ph.p_vaddr + ph.p_memsz > reach.p_vaddr + reach.p_memsz:
            reach = ph


# --------------------------------------------------------------------------- segments


def check_dynamic_segment(elf: ElfImage) -> Iterator[Violation]:
    rule = "dynamic-in-writable-load"
    for ph in elf.of_type(PT_DYNAMIC):
        if ph.p_offset + ph.p_filesz > len(elf.data):
            yield Violation(
                rule,
                f"{ph.name}: file range [0x{ph.p_offset:x}, 0x{ph.p_offset + ph.p_filesz:x}) "
                f"runs past end of file 0x{len(elf.data):x}",
            )
        hosts = [load for load in elf.loads if load.file_backs(ph.p_vaddr, ph.p_filesz)]
        writable = [load for load in hosts if load.p_flags & PF_W]
        if not hosts:
            yield Violation(rule, f"{ph.name} {ph.span} is not file-backed by any PT_LOAD")
            continue
        # MIPS keeps .dynamic read-only (DT_MIPS_RLD_MAP replaces writing DT_DEBUG).
        if not writable and elf.e_machine != EM_MIPS:
            yield Violation(rule, f"{ph.name} {ph.span} is in {hosts[0].name}, which lacks PF_W")
        host = (writable or hosts)[0]
        loaded_from = host.p_offset + (ph.p_vaddr - host.p_vaddr)
        if loaded_from != ph.p_offset:
            yield Violation(
                rule,
                f"{ph.name}: p_offset 0x{ph.p_offset:x} but p_vaddr 0x{ph.p_vaddr:x} is "
                f"loaded from file offset 0x{loaded_from:x}",
            )


def check_relro(elf: ElfImage, page: int) -> Iterator[Violation]:
    """PT_GNU_RELRO must lie in the pages one PT_LOAD maps.

    Page-rounded because lld pads p_memsz of PT_GNU_RELRO up to a page boundary
    past the end of its PT_LOAD; ld.so rounds the range to pages before
    mprotect anyway.
    """
    for ph in elf.of_type(PT_GNU_RELRO):
        if not any(
            load.p_vaddr // page * page <= ph.p_vaddr
            and ph.p_vaddr + ph.p_memsz <= align_up(load.p_vaddr + load.p_memsz, page)
            for load in elf.loads
        ):
            yield Violation(
                "relro-in-load", f"{ph.name} {ph.span} is not inside the pages of one PT_LOAD"
            )


def check_phdr(elf: ElfImage) -> Iterator[Violation]:
    for ph in elf.of_type(PT_PHDR):
        offset = elf.file_offset(ph.p_vaddr, ph.p_memsz)
        if offset is None:
            yield Violation(
                "phdr-covered", f"{ph.name} {ph.span} is not file-backed by any PT_LOAD"
            )
        elif offset != elf.e_phoff:
            yield Violation(
                "phdr-covered",
                f"{ph.name}: p_vaddr 0x{ph.p_vaddr:x} is loaded from file offset "
                f"0x{offset:x}, not e_phoff 0x{elf.e_phoff:x}",
            )


def _note_error(reader: Reader, start: int, size: int, align: int) -> str | None:
    pos, end = start, start + size
    while pos < end:
        if end - pos < 12:
            return f"0x{end - pos:x} trailing bytes at +0x{pos - start:x} are not a note header"
        namesz, descsz, _ = reader.unpack("III", pos)
        desc = pos + align_up(12 + namesz, align)
        stop = desc + descsz
        if stop > end:
            return (
                f"note at +0x{pos - start:x} (namesz 0x{namesz:x}, descsz 0x{descsz:x}) "
                f"runs past p_filesz 0x{size:x}"
            )
        # The final note's padding may be left out of p_filesz.
        pos = min(pos + align_up(stop - pos, align), end)
    return None


def check_notes(elf: ElfImage) -> Iterator[Violation]:
    for ph in elf.of_type(PT_NOTE):
        if ph.p_offset + ph.p_filesz > len(elf.data):
            yield Violation(
                "note-parse",
                f"{ph.name}: file range [0x{ph.p_offset:x}, 0x{ph.p_offset + ph.p_filesz:x}) "
                f"runs past end of file 0x{len(elf.data):x}",
            )
            continue
        align = 8 if ph.p_align == 8 else 4
        error = _note_error(elf.reader, ph.p_offset, ph.p_filesz, align)
        if error is not None:
            yield Violation("note-parse", f"{ph.name}: {error}")


def align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align
