"""Verifier checks of the dynamic section: every table address backed by file bytes, every
string offset inside DT_STRTAB, and the DT_VERNEED chain consistent with DT_NEEDED.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from wheelfix.elf.image import (
    DT_GNU_HASH,
    DT_HASH,
    DT_NEEDED,
    DT_NULL,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    DT_STRTAB,
    DT_SYMTAB,
    DT_VERNEED,
    DT_VERNEEDNUM,
    DT_VERSYM,
    PT_DYNAMIC,
    ElfImage,
    Violation,
)

__all__ = ["Dynamic", "check_dyn_addresses", "check_dyn_strings", "check_verneed", "read_dynamic"]

_VERNEED_SIZE = 16  # Elf32_Verneed and Elf64_Verneed are the same
_VERNAUX_SIZE = 16
MAX_VERSION_RECORDS = 1 << 16  # loop guard for the verneed/vernaux walk

_ADDRESS_TAGS: tuple[tuple[int, str], ...] = (
    (DT_STRTAB, "DT_STRTAB"),
    (DT_SYMTAB, "DT_SYMTAB"),
    (DT_HASH, "DT_HASH"),
    (DT_GNU_HASH, "DT_GNU_HASH"),
    (DT_VERNEED, "DT_VERNEED"),
    (DT_VERSYM, "DT_VERSYM"),
)
_STRING_TAGS: dict[int, str] = {
    DT_NEEDED: "DT_NEEDED",
    DT_SONAME: "DT_SONAME",
    DT_RPATH: "DT_RPATH",
    DT_RUNPATH: "DT_RUNPATH",
}


# --------------------------------------------------------------------------- dynamic


@dataclass
class Dynamic:
    entries: list[tuple[int, int]] = field(default_factory=list)
    last: dict[int, int] = field(default_factory=dict)  # single-valued tags: last one wins
    strtab: bytes | None = None  # the string table bytes that are actually file-backed
    needed: list[bytes] = field(default_factory=list)
    needed_complete: bool = True  # False once a DT_NEEDED string was unreadable


def read_dynamic(elf: ElfImage, dyn: Dynamic) -> Iterator[Violation]:
    segments = elf.of_type(PT_DYNAMIC)
    if not segments:
        return
    ph = segments[0]
    start = elf.file_offset(ph.p_vaddr, ph.p_filesz)
    if start is None:  # already reported; still read what tools would read
        if ph.p_offset + ph.p_filesz > len(elf.data):
            return
        start = ph.p_offset
    fmt = "QQ" if elf.is64 else "II"
    entsize = 16 if elf.is64 else 8
    for pos in range(start, start + ph.p_filesz - entsize + 1, entsize):
        tag, value = elf.reader.unpack(fmt, pos)
        if tag == DT_NULL:
            return
        dyn.entries.append((tag, value))
        dyn.last[tag] = value
    yield Violation("dynamic-parse", f"{ph.name}: no DT_NULL within p_filesz 0x{ph.p_filesz:x}")


def check_dyn_addresses(elf: ElfImage, dyn: Dynamic) -> Iterator[Violation]:
    for tag, name in _ADDRESS_TAGS:
        addr = dyn.last.get(tag)
        if addr is not None and elf.host_load(addr, 1) is None:
            yield Violation(
                "dyn-address-mapped", f"{name} 0x{addr:x} is not file-backed by any PT_LOAD"
            )
    strtab, strsz = dyn.last.get(DT_STRTAB), dyn.last.get(DT_STRSZ)
    if strtab is None:
        return
    host = elf.host_load(strtab, 1)
    if host is None:
        return
    start = host.p_offset + (strtab - host.p_vaddr)
    backed = min(host.p_offset + host.p_filesz, len(elf.data)) - start
    if strsz is not None and strsz > backed:
        yield Violation(
            "dyn-address-mapped",
            f"DT_STRTAB [0x{strtab:x}, 0x{strtab + strsz:x}) runs past the file-backed end "
            f"of {host.name}",
        )
    dyn.strtab = elf.data[start : start + min(backed, strsz if strsz is not None else 0)]


def _string(dyn: Dynamic, offset: int, what: str) -> bytes | Violation:
    strsz = dyn.last.get(DT_STRSZ)
    if strsz is None:
        return Violation("string-offset", f"{what} uses the string table but DT_STRSZ is missing")
    if offset >= strsz:
        return Violation("string-offset", f"{what} offset 0x{offset:x} >= DT_STRSZ 0x{strsz:x}")
    table = dyn.strtab
    if table is None:
        return Violation("string-offset", f"{what} offset 0x{offset:x} has no readable DT_STRTAB")
    nul = table.find(b"\0", offset)
    if nul < 0:
        return Violation(
            "string-offset",
            f"{what} string at 0x{offset:x} is not NUL-terminated within the string table",
        )
    return table[offset:nul]


def check_dyn_strings(dyn: Dynamic) -> Iterator[Violation]:
    if DT_STRTAB in dyn.last and dyn.strtab is None:
        return  # DT_STRTAB unmapped: reported by dyn-address-mapped
    for tag, value in dyn.entries:
        name = _STRING_TAGS.get(tag)
        if name is None:
            continue
        text = _string(dyn, value, name)
        if isinstance(text, Violation):
            dyn.needed_complete = dyn.needed_complete and tag != DT_NEEDED
            yield text
        elif tag == DT_NEEDED:
            dyn.needed.append(text)


@dataclass
class _VerneedWalk:
    records: int = 0
    seen: set[int] = field(default_factory=set)


def check_verneed(elf: ElfImage, dyn: Dynamic) -> Iterator[Violation]:
    addr = dyn.last.get(DT_VERNEED)
    if addr is None or elf.host_load(addr, 1) is None:
        return  # absent, or unmapped (reported by dyn-address-mapped)
    if DT_STRTAB in dyn.last and dyn.strtab is None:
        return  # names unreadable: reported by dyn-address-mapped
    expected = dyn.last.get(DT_VERNEEDNUM)
    if expected is None:
        yield Violation("verneed-parse", "DT_VERNEED without DT_VERNEEDNUM")
    walk = _VerneedWalk()
    count = 0
    while True:
        count += 1
        step = yield from _verneed_entry(elf, dyn, walk, addr, count)
        if step is None:
            return
        if step == 0:
            break
        addr = (addr + step) & elf.address_mask
    if expected is not None and count != expected:
        yield Violation(
            "verneed-parse",
            f"verneed chain has {count} entries but DT_VERNEEDNUM is {expected}",
        )


def _visit(elf: ElfImage, walk: _VerneedWalk, addr: int, what: str) -> int | Violation:
    """File offset of the 16-byte version record at ``addr``, or why it cannot be read."""
    walk.records += 1
    if walk.records > MAX_VERSION_RECORDS:
        return Violation("verneed-parse", f"more than {MAX_VERSION_RECORDS} version records")
    if addr in walk.seen:
        return Violation("verneed-parse", f"{what} at 0x{addr:x} revisited: the chain loops")
    walk.seen.add(addr)
    offset = elf.file_offset(addr, _VERNEED_SIZE)
    if offset is None:
        return Violation("verneed-parse", f"{what} at 0x{addr:x} is not file-backed")
    return offset


def _verneed_entry(
    elf: ElfImage, dyn: Dynamic, walk: _VerneedWalk, addr: int, number: int
) -> Generator[Violation, None, int | None]:
    """Check one Elf_Verneed; return its vn_next (0 ends the chain), None to stop."""
    what = f"Elf_Verneed #{number}"
    offset = _visit(elf, walk, addr, what)
    if isinstance(offset, Violation):
        yield offset
        return None
    vn_version, vn_cnt, vn_file, vn_aux, vn_next = elf.reader.unpack("HHIII", offset)
    if vn_version != 1:
        yield Violation("verneed-parse", f"{what}: vn_version {vn_version} != 1")
    name = _string(dyn, vn_file, f"{what} vn_file")
    if isinstance(name, Violation):
        yield name
    elif dyn.needed_complete and name not in dyn.needed:
        yield Violation(
            "verneed-file-needed", f"{what}: vn_file {_show(name)} is not a DT_NEEDED entry"
        )
    aux_addr = (addr + vn_aux) & elf.address_mask
    aux_count = yield from _vernaux_chain(elf, dyn, walk, aux_addr, what)
    if aux_count is None:
        return None
    if aux_count != vn_cnt:
        yield Violation(
            "verneed-parse", f"{what}: vernaux chain has {aux_count} entries, vn_cnt {vn_cnt}"
        )
    return vn_next


def _vernaux_chain(
    elf: ElfImage, dyn: Dynamic, walk: _VerneedWalk, addr: int, owner: str
) -> Generator[Violation, None, int | None]:
    """Check an Elf_Vernaux chain; return how many entries it has, None to stop."""
    count = 0
    while True:
        count += 1
        what = f"{owner} Elf_Vernaux #{count}"
        offset = _visit(elf, walk, addr, what)
        if isinstance(offset, Violation):
            yield offset
            return None
        _hash, _flags, _other, vna_name, vna_next = elf.reader.unpack("IHHII", offset)
        name = _string(dyn, vna_name, f"{what} vna_name")
        if isinstance(name, Violation):
            yield name
        if vna_next == 0:
            return count
        addr = (addr + vna_next) & elf.address_mask


def _show(name: bytes) -> str:
    return repr(name.decode("utf-8", "backslashreplace"))
