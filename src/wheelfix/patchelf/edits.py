"""What each patchelf option does to one file, in patchelf's order.

:func:`patch` runs the options of one invocation over one file's bytes: ``--print-*``
output goes through ``emit``, edits are made in place when they fit (``inplace``) and
otherwise collected into one :class:`~wheelfix.patchelf.lief_ops.Rewrite` that ``main``
hands to LIEF. The rpath options live in ``rpath``.
"""

from __future__ import annotations

from wheelfix.patchelf import PatchelfError
from wheelfix.patchelf.args import Options
from wheelfix.patchelf.elfview import (
    DF_1_NODEFLIB,
    DT_DEBUG,
    DT_FLAGS_1,
    DT_NEEDED,
    DT_SONAME,
    DT_VERNEEDNUM,
    ET_DYN,
    PF_R,
    PF_W,
    PF_X,
    PT_GNU_STACK,
    PT_NULL,
    string_at,
)
from wheelfix.patchelf.inplace import InPlace, verneed_files
from wheelfix.patchelf.lief_ops import Rewrite
from wheelfix.patchelf.rescache import build as build_cache
from wheelfix.patchelf.rescache import remove as remove_cache
from wheelfix.patchelf.rpath import modify_rpath
from wheelfix.patchelf.state import Emit, Patch, add_entry

OS_ABIS = {
    0: "System V", 1: "HP-UX", 2: "NetBSD", 3: "Linux", 4: "GNU Hurd", 6: "Solaris",
    7: "AIX", 8: "IRIX", 9: "FreeBSD", 10: "Tru64", 12: "OpenBSD", 13: "OpenVMS",
}  # fmt: skip
_ABI_NAMES = {
    "system v": 0, "system-v": 0, "sysv": 0, "hp-ux": 1, "netbsd": 2, "linux": 3, "gnu": 3,
    "gnu hurd": 4, "gnu-hurd": 4, "hurd": 4, "solaris": 6, "aix": 7, "irix": 8,
    "freebsd": 9, "tru64": 10, "openbsd": 12, "openvms": 13,
}  # fmt: skip


def patch(data: bytes, opts: Options, emit: Emit, debug: Emit, warn: Emit) -> Patch:
    """Run every option over one file; the result says what is left for LIEF."""
    plan = Rewrite(page_size=opts.page_size)
    state = Patch(InPlace(data), opts, emit, debug, plan=plan, warn=warn)
    _headers(state, data)
    if opts.print_rpath:
        modify_rpath(state, "print")
    if opts.print_execstack or opts.clear_execstack or opts.set_execstack:
        _execstack(state)
    for op in ("shrink", "remove", "set", "add"):
        if getattr(opts, f"{op}_rpath"):
            modify_rpath(state, op)
            break
    if opts.print_needed:
        for name in state.work.view.needed():
            emit(name)
    _remove_needed(state, opts.remove_needed)
    _replace_needed(state, opts.replace_needed)
    _add_needed(state, opts.sorted_add_needed)
    _clear_versions(state, opts.clear_symbol_version)
    _flags(state)
    if opts.rename_symbols is not None:
        _rename_symbols(state, opts.rename_symbols)
    return state


def _headers(state: Patch, data: bytes) -> None:
    """The first steps: interpreter and OS ABI printing, OS ABI, soname, interpreter."""
    opts = state.opts
    if opts.print_interpreter:
        state.emit(state.work.view.interpreter())
    if opts.print_os_abi:
        abi = data[7]
        state.emit(OS_ABIS.get(abi, f"0x{abi:02X}"))
    if opts.new_os_abi is not None:
        _set_os_abi(state, opts.new_os_abi)
    if opts.print_soname:
        _print_soname(state)
    if opts.new_soname is not None:
        _set_soname(state, opts.new_soname)
    if opts.new_interpreter:
        _set_interpreter(state, opts.new_interpreter)


def _flags(state: Patch) -> None:
    """--no-default-lib, --add-debug-tag, --build-resolution-cache."""
    opts = state.opts
    if opts.no_default_lib:
        _no_default_lib(state)
    if opts.add_debug_tag and not state.work.view.tagged(DT_DEBUG):
        add_entry(state, DT_DEBUG, 0)
    if opts.build_resolution_cache:
        build_cache(state)


def _set_os_abi(state: Patch, name: str) -> None:
    abi = _ABI_NAMES.get(name.strip().lower())
    if abi is None:
        raise PatchelfError("unrecognized OS ABI")
    if state.work.data[7] == abi:
        state.debug("current and requested OS ABIs are equal\n")
        return
    state.work.data[7] = abi
    state.changed = True


def _print_soname(state: Patch) -> None:
    view = state.work.view
    if view.e_type != ET_DYN:
        state.debug("this is not a dynamic library\n")
        return
    view.require(".dynamic")
    view.strtab()
    entries = view.tagged(DT_SONAME)
    if not entries:
        state.debug("no DT_SONAME found\n")
        return
    name = view.string(entries[-1].value)
    if name:
        state.emit(name)
    else:
        state.debug("DT_SONAME is empty\n")


def _set_soname(state: Patch, new: str) -> None:
    work = state.work
    if work.view.e_type != ET_DYN:
        state.debug("this is not a dynamic library\n")
        return
    work.view.require(".dynamic")
    work.view.strtab()
    entries = work.view.tagged(DT_SONAME)
    if entries and work.view.string(entries[-1].value) == new:
        state.debug("current and proposed new SONAMEs are equal keeping DT_SONAME entry\n")
        return
    state.debug(f"new SONAME is '{new}'\n")
    if not entries:
        add_entry(state, DT_SONAME, work.add_string(new))
        return
    entry = entries[-1]
    found = work.find_string(new)
    if found is None and not (
        work.exclusive(entry.value, {"dyn14"}) and work.overwrite_string(entry.value, new)
    ):
        found = work.add_string(new)
    if found is not None:
        work.set_entry(entry, value=found)
    work.refresh()
    state.changed = True


def _set_interpreter(state: Patch, new: str) -> None:
    work = state.work
    if work.view.interpreter() == new:
        state.debug("given interpreter is already set\n")
        return
    offset, size = work.view.span(work.view.require(".interp"))
    raw = new.encode("utf-8", "surrogateescape") + b"\0"
    if len(raw) <= size and b"\0" not in raw[:-1]:
        work.data[offset : offset + size] = raw + b"\0" * (size - len(raw))
        state.changed = True
    else:
        work.new_interp = raw
        state.changed = True


def _execstack(state: Patch) -> None:
    work, opts = state.work, state.opts
    stacks = work.view.segments_of(PT_GNU_STACK)
    if opts.print_execstack:
        flag = "?" if not stacks else "X" if stacks[0].p_flags & PF_X else "-"
        state.emit(f"execstack: {flag}")
        return
    want_x = opts.set_execstack
    if stacks:
        flags = stacks[0].p_flags
        if bool(flags & PF_X) == want_x:
            state.debug("execstack already in requested state\n")
            return
        work.set_segment_flags(stacks[0].index, flags | PF_X if want_x else flags & ~PF_X)
        state.changed = True
        return
    flags = PF_R | PF_W | (PF_X if want_x else 0)
    spare = work.view.segments_of(PT_NULL)
    if spare:
        work.make_gnu_stack(spare[0].index, flags)
        state.changed = True
    else:
        work.stack_flags = flags
        state.changed = True


def _remove_needed(state: Patch, names: set[str]) -> None:
    if not names:
        return
    work = state.work
    work.view.strtab()
    doomed = {e.slot: work.view.string(e.value) for e in work.view.tagged(DT_NEEDED)}
    doomed = {slot: name for slot, name in doomed.items() if name in names}
    versioned = {name for _, name in verneed_files(work.view)} & set(doomed.values())
    if doomed:
        remove_cache(state)
    if versioned:  # the .gnu.version_r entries must go too: LIEF re-lays them out
        state.defer(remove_needed=tuple(sorted(set(doomed.values()))))
        return
    if work.remove_entries(set(doomed)):
        state.changed = True


def _replace_needed(state: Patch, renames: dict[str, str]) -> None:
    if not renames:
        return
    work = state.work
    work.view.strtab()
    deferred: dict[str, str] = {}
    for entry in work.view.tagged(DT_NEEDED):
        old = work.view.string(entry.value)
        new = renames.get(old)
        if new is None or new == old:
            continue
        state.debug(f"replacing DT_NEEDED entry '{old}' with '{new}'\n")
        remove_cache(state)
        found = work.find_string(new)
        if found is None and not (
            work.exclusive(entry.value, {"dyn1", "needfile"})
            and work.overwrite_string(entry.value, new)
        ):
            found = work.add_string(new)
        if found is not None:
            work.set_entry(entry, value=found)
        state.changed = True
        work.refresh()
    if work.view.tagged(DT_VERNEEDNUM):
        dynstr = work.view.require(".dynstr").index
        linked = work.view.require(".gnu.version_r").sh_link == dynstr
        for position, name in verneed_files(work.view):
            new = renames.get(name)
            if new is None or new == name or name in deferred:
                continue
            if not linked:
                deferred[name] = new
                continue
            found = work.add_string(new)
            work.pack("I", position, found)
            state.changed = True
    if deferred:
        state.defer(replace_needed=state.plan.replace_needed + tuple(deferred.items()))


def _add_needed(state: Patch, names: list[str]) -> None:
    if not names:
        return
    work = state.work
    work.view.require(".dynamic")
    work.view.strtab()
    view = work.view
    _, slots = view.dynamic_span()
    if len(view.dynamic()) >= slots:
        raise PatchelfError("setSubstr: write extends past end of section")
    remove_cache(state)
    work.insert_entries([(DT_NEEDED, work.add_string(name)) for name in names])
    state.changed = True


def _clear_versions(state: Patch, symbols: set[str]) -> None:
    if not symbols:
        return
    view = state.work.view
    _, table = view.strtab()
    dynsym_off, dynsym_size = view.span(view.require(".dynsym"))
    _, versym_size = view.span(view.require(".gnu.version"), 2)
    entsize = 24 if view.is64 else 16
    count = dynsym_size // entsize
    if count != versym_size // 2:
        raise PatchelfError("versym size mismatch")
    for index in range(count):
        name = string_at(table, view.unpack("I", dynsym_off + index * entsize)[0])
        if name in symbols:
            state.debug(f"clearing symbol version for {name}\n")
            state.work.set_versym(index, 1)
    state.changed = True


def _no_default_lib(state: Patch) -> None:
    flags = state.work.view.tagged(DT_FLAGS_1)
    if flags:
        if flags[0].value & DF_1_NODEFLIB:
            return
        state.work.set_entry(flags[0], value=flags[0].value | DF_1_NODEFLIB)
        state.work.refresh()
        state.changed = True
    else:
        add_entry(state, DT_FLAGS_1, DF_1_NODEFLIB)


def _rename_symbols(state: Patch, renames: dict[str, str]) -> None:
    view = state.work.view
    dynsym_off, dynsym_size = view.span(view.require(".dynsym"))
    _, table = view.strtab()
    entsize = 24 if view.is64 else 16
    hits = []
    for index in range(dynsym_size // entsize):
        name = string_at(table, view.unpack("I", dynsym_off + index * entsize)[0])
        if name in renames:
            state.debug(f"renaming dynamic symbol {name} to {renames[name]}\n")
            hits.append((name, renames[name]))
    if hits:
        _check_hash_tables(state.work)
        state.defer(rename_symbols=tuple(dict(hits).items()))


def _check_hash_tables(work: InPlace) -> None:
    """patchelf's header checks on ``.gnu.hash`` and ``.hash`` before rebuilding them."""
    view = work.view
    gnu = view.section(".gnu.hash")
    if gnu is not None:
        offset, size = view.span(gnu)
        if size < 16:
            raise PatchelfError(".gnu.hash section is too small")
        buckets, _, maskwords, _ = view.unpack("IIII", offset)
        avail = size - 16
        bloom = maskwords * view.word
        if not buckets or not maskwords or bloom > avail or 4 * buckets > avail - bloom:
            raise PatchelfError(".gnu.hash table header out of range")
    sysv = view.section(".hash")
    if sysv is not None:
        offset, size = view.span(sysv)
        if size < 8:
            raise PatchelfError(".hash section is too small")
        nbucket, nchain = view.unpack("II", offset)
        if 4 * (nbucket + nchain) > size - 8:
            raise PatchelfError(".hash table header out of range")
