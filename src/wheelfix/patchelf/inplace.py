"""Write side, first choice: edits that fit where the old bytes are, by struct patching.

:class:`InPlace` owns a ``bytearray`` and changes single fields without moving anything:
a ``.dynamic`` entry's tag or value, an entry added in a spare DT_NULL slot, a string
written over an old one that nothing else uses, a string re-pointed at an equal string (or
suffix) already in ``.dynstr``, a program header flag, the OS ABI byte, ``.gnu.version``
entries. Whatever does not fit is left to ``lief_ops``.
"""

from __future__ import annotations

import struct

from wheelfix.patchelf import PatchelfError
from wheelfix.patchelf.append import Growth
from wheelfix.patchelf.elfview import DynEntry, ElfView, Section, string_at

_MAX_RECORDS = 1 << 16  # loop guard for version chains
# DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_CONFIG, DT_DEPAUDIT, DT_AUDIT, DT_AUXILIARY,
# DT_FILTER: the dynamic tags whose value is a .dynstr index.
_STRING_TAGS = frozenset(
    {1, 14, 15, 29, 0x6FFFFEFA, 0x6FFFFEFB, 0x6FFFFEFC, 0x7FFFFFFD, 0x7FFFFFFF}
)


class InPlace:
    """A mutable ELF image with a fresh :class:`ElfView` after every structural change."""

    def __init__(self, data: bytes | bytearray) -> None:
        # a bytearray is edited in place (the caller hands it over), bytes are copied
        self.data = data if isinstance(data, bytearray) else bytearray(data)
        self.view = ElfView(self.data)
        self.extra_strings = bytearray()
        """Strings for ``.dynstr`` that did not fit: the table moves (``append``)."""
        self.new_entries: list[tuple[int, int]] = []
        """Entries for the top of ``.dynamic`` that found no spare slot."""
        self.new_interp: bytes | None = None
        """A new ``.interp`` too long for the old one."""
        self.stack_flags: int | None = None
        """Flags of a PT_GNU_STACK to add (no slot for it in the program headers)."""
        self.note: bytes | None = None
        """A resolution cache note to add (``rescache``)."""

    def refresh(self) -> None:
        """Re-read the headers after bytes changed."""
        self.view = ElfView(self.data, bytes(self.extra_strings))

    def growth(self) -> Growth:
        """What must move to the end of the file for the edits that did not fit."""
        dynstr = dynamic = None
        if self.extra_strings:
            offset, size = self.view.span(self.view.require(".dynstr"))
            dynstr = bytes(self.data[offset : offset + size]) + bytes(self.extra_strings)
        if self.new_entries:
            fmt = "qQ" if self.view.is64 else "iI"
            entries = self.new_entries + [(e.tag, e.value) for e in self.view.dynamic()]
            entries += [(0, 0)] * 8  # the terminator and spare slots for later edits
            dynamic = b"".join(struct.pack(self.view.end + fmt, *e) for e in entries)
        return Growth(self.new_interp, dynstr, dynamic, self.stack_flags, self.note)

    def _table_size(self) -> int:
        return self.view.require(".dynstr").sh_size

    def add_string(self, text: str) -> int:
        """Index of ``text`` in ``.dynstr``: an existing copy, or a new appended one."""
        found = self.find_string(text)
        if found is not None:
            return found
        index = self._table_size() + len(self.extra_strings)
        self.extra_strings += text.encode("utf-8", "surrogateescape") + b"\0"
        self.refresh()
        return index

    def pack(self, fmt: str, offset: int, *values: int) -> None:
        """``struct.pack_into`` in the file's byte order."""
        struct.pack_into(self.view.end + fmt, self.data, offset, *values)

    # ------------------------------------------------------------------ dynamic

    def set_entry(self, entry: DynEntry, tag: int | None = None, value: int | None = None) -> None:
        """Change one ``.dynamic`` entry's tag and/or value."""
        fmt = "qQ" if self.view.is64 else "iI"
        self.pack(
            fmt,
            entry.offset,
            entry.tag if tag is None else tag,
            entry.value if value is None else value,
        )

    def insert_entries(self, entries: list[tuple[int, int]]) -> bool:
        """Put ``entries`` at the top of ``.dynamic``, as patchelf orders them: in spare
        DT_NULL slots, or (when there are too few) in a moved ``.dynamic`` (see growth)."""
        if not entries:
            return True
        if self.view.free_slots() < len(entries):
            self.new_entries = entries + self.new_entries
            return True
        offset, _ = self.view.dynamic_span()
        size = self.view.dyn_size
        used = len(self.view.dynamic()) + 1  # with the terminator
        moved = bytes(self.data[offset : offset + used * size])
        start = offset + len(entries) * size
        self.data[start : start + len(moved)] = moved
        fmt = "qQ" if self.view.is64 else "iI"
        for index, (tag, value) in enumerate(entries):
            self.pack(fmt, offset + index * size, tag, value)
        self.refresh()
        return True

    def remove_entries(self, doomed: set[int]) -> bool:
        """Drop the entries whose slots are in ``doomed``, shifting later ones up."""
        if not doomed:
            return False
        offset, _ = self.view.dynamic_span()
        size = self.view.dyn_size
        kept = [e for e in self.view.dynamic() if e.slot not in doomed]
        total = len(self.view.dynamic())
        fmt = "qQ" if self.view.is64 else "iI"
        for index, entry in enumerate(kept):
            self.pack(fmt, offset + index * size, entry.tag, entry.value)
        for index in range(len(kept), total):
            self.pack(fmt, offset + index * size, 0, 0)
        self.refresh()
        return True

    # ------------------------------------------------------------------ strings

    def find_string(self, text: str) -> int | None:
        """Index of ``text`` as a whole string or a suffix in ``.dynstr``, if present."""
        _, table = self.view.strtab()
        raw = text.encode("utf-8", "surrogateescape") + b"\0"
        found = table.find(raw)
        return None if found < 0 else found

    def string_references(self) -> list[tuple[str, int]]:
        """Every ``.dynstr`` index the file uses: ``(kind, index)``."""
        view = self.view
        dynstr = view.require(".dynstr")
        refs = [(f"dyn{e.tag}", e.value) for e in view.dynamic() if e.tag in _STRING_TAGS]
        dynsym = view.section(".dynsym")
        if dynsym is not None:
            offset, size = view.span(dynsym)
            entsize = 24 if view.is64 else 16
            refs += [
                ("sym", view.unpack("I", offset + i * entsize)[0]) for i in range(size // entsize)
            ]
        for name in (".gnu.version_r", ".gnu.version_d"):
            found = view.section(name)
            if found is not None and found.sh_link == dynstr.index:
                refs += _version_names(view, found, name)
        return refs

    def exclusive(self, index: int, allowed: set[str]) -> bool:
        """True when no reference of a kind outside ``allowed`` shares the string at
        ``index`` (points into it or at its terminator)."""
        _, table = self.view.strtab()
        end = table.index(b"\0", index)
        return all(
            kind in allowed or not index <= ref <= end for kind, ref in self.string_references()
        )

    def overwrite_string(self, index: int, text: str, filler: bytes = b"\0") -> bool:
        """Write ``text`` over the string at ``index`` if it fits; the rest of the old
        string is overwritten with ``filler``. False when it does not fit."""
        table_offset, table = self.view.strtab()
        old_len = table.index(b"\0", index) - index
        raw = text.encode("utf-8", "surrogateescape")
        if len(raw) > old_len or index >= self._table_size():
            return False
        start = table_offset + index
        self.data[start : start + old_len] = filler * old_len
        self.data[start : start + len(raw) + 1] = raw + b"\0"
        self.refresh()  # the view's copy of the strings is stale
        return True

    def taint_string(self, index: int) -> None:
        """Overwrite an unused old string with ``X`` bytes, as patchelf does to old rpaths."""
        table_offset, table = self.view.strtab()
        if index >= self._table_size():
            return
        old_len = table.index(b"\0", index) - index
        start = table_offset + index
        self.data[start : start + old_len] = b"X" * old_len
        self.refresh()  # the view's copy of the strings is stale

    # ------------------------------------------------------------------ other fields

    def set_segment_flags(self, index: int, flags: int) -> None:
        """Change one program header's ``p_flags``."""
        segment = self.view.segments[index]
        self.pack("I", segment.header_offset + 4, flags)
        self.refresh()

    def make_gnu_stack(self, index: int, flags: int) -> None:
        """Turn the PT_NULL program header ``index`` into a PT_GNU_STACK."""
        segment = self.view.segments[index]
        fields = [0x6474E551, flags, 0, 0, 0, 0, 0, 1]
        if self.view.is64:
            self.pack("IIQQQQQQ", segment.header_offset, *fields)
        else:
            p_type, p_flags, *rest = fields
            self.pack("IIIIIIII", segment.header_offset, p_type, *rest[:5], p_flags, rest[5])
        self.refresh()

    def set_versym(self, symbol_index: int, value: int) -> None:
        """Set one ``.gnu.version`` entry."""
        offset, _ = self.view.span(self.view.require(".gnu.version"), 2)
        self.pack("H", offset + 2 * symbol_index, value)


def _version_names(view: ElfView, section: Section, kind: str) -> list[tuple[str, int]]:
    """String indices used by a verneed chain (kinds ``needfile``, ``needaux``) or a verdef
    chain (``def``)."""
    offset, size = view.span(section)
    out: list[tuple[str, int]] = []
    pos, records = 0, 0
    while pos + 16 <= size and records < _MAX_RECORDS:
        if kind == ".gnu.version_r":
            _, count, name, aux, step = view.unpack("HHIII", offset + pos)
            out.append(("needfile", name))
        else:
            _, _, _, count, _, aux, step = view.unpack("HHHHIII", offset + pos)
        apos = pos + aux
        for _ in range(count):
            if apos + 8 > size:
                break
            if kind == ".gnu.version_r":
                _, _, _, name, astep = view.unpack("IHHII", offset + apos)
                out.append(("needaux", name))
            else:
                name, astep = view.unpack("II", offset + apos)
                out.append(("def", name))
            records += 1
            if astep == 0:
                break
            apos += astep
        if step == 0:
            break
        pos += step
        records += 1
    return out


def verneed_files(view: ElfView) -> list[tuple[int, str]]:
    """``(file offset of vn_file, name)`` for every Elf_Verneed, as patchelf walks them
    (DT_VERNEEDNUM entries; names from the linked string table, bounds-checked)."""
    counts = [e.value for e in view.dynamic() if e.tag == 0x6FFFFFFF]
    if not counts or not counts[-1]:
        return []
    section = view.require(".gnu.version_r")
    offset, size = view.span(section)
    strings = view.sections[section.sh_link] if section.sh_link < len(view.sections) else None
    if strings is None:
        raise PatchelfError("string table index out of bounds")
    str_off, str_size = view.span(strings)
    table = bytes(view.data[str_off : str_off + str_size])
    if not table or table[-1] != 0:
        raise PatchelfError("string table is not NUL-terminated")
    out, pos = [], 0
    for _ in range(counts[-1]):
        if pos + 16 > size:
            break
        _, _, name, _, step = view.unpack("HHIII", offset + pos)
        out.append((offset + pos + 4, string_at(table, name)))
        if step == 0:
            break
        pos += step
    return out
