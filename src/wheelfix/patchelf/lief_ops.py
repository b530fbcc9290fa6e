"""Write side, second choice: edits that need room, done by LIEF in a worker process.

The only module of ``wheelfix.patchelf`` that imports LIEF (lazily, in the worker). A
:class:`Rewrite` lists the edits ``inplace`` could not make; :func:`rewrite` applies them in
one LIEF write in a forked child (``multiprocessing``), so a LIEF crash on hostile input
becomes a :class:`PatchelfError` instead of killing the command, with the address-space cap
and output-size limit of ``wheelfix.elf.worker``. No LIEF object leaves the child.
"""

from __future__ import annotations

import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from wheelfix.patchelf import PatchelfError

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]

DT_RPATH = 15


@dataclass(frozen=True)
class Rewrite:
    """Edits for LIEF, applied in this order."""

    remove_needed: tuple[str, ...] = ()
    """DT_NEEDED entries to drop together with their ``.gnu.version_r`` entries."""
    replace_needed: tuple[tuple[str, str], ...] = ()
    """DT_NEEDED renames (old, new); the matching ``.gnu.version_r`` file names follow."""
    add_needed: tuple[str, ...] = ()
    """DT_NEEDED names to put first, in this order."""
    soname: str | None = None
    """New DT_SONAME (added when missing)."""
    rpath: str | None = None
    """New value of every DT_RPATH/DT_RUNPATH entry; one is added when there is none."""
    rpath_tag: int = 29
    """The tag to add when the file has neither (DT_RUNPATH, or DT_RPATH with --force-rpath)."""
    interpreter: str | None = None
    """New PT_INTERP string."""
    add_entries: tuple[tuple[int, int], ...] = ()
    """Non-string ``.dynamic`` entries to add (DT_DEBUG, DT_FLAGS_1)."""
    rename_symbols: tuple[tuple[str, str], ...] = ()
    """``.dynsym`` renames (the hash tables are rebuilt)."""
    gnu_stack_flags: int | None = None
    """Add a PT_GNU_STACK program header with these flags."""
    page_size: int | None = None
    """Layout page size (``--page-size``); None for the machine's default."""

    @property
    def is_empty(self) -> bool:
        """True when LIEF has nothing to do."""
        return self == Rewrite(page_size=self.page_size)


def rewrite(data: bytes, plan: Rewrite) -> bytes:
    """Apply ``plan`` to ``data`` in a worker process; the rewritten bytes."""
    from wheelfix.elf.worker import size_limit  # imports LIEF: only when LIEF is needed

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            out: bytes = pool.submit(_capped_rewrite, data, plan).result()
        except BrokenProcessPool:
            raise PatchelfError("LIEF crashed on this file (the worker process died)") from None
    if not out:
        raise PatchelfError("LIEF produced an empty file")
    if len(out) > size_limit(len(data)):
        raise PatchelfError(f"LIEF wrote {len(out)} bytes for a {len(data)}-byte file")
    return out


def _capped_rewrite(data: bytes, plan: Rewrite) -> bytes:
    """In the worker: cap the address space, then rewrite."""
    from wheelfix.elf.worker import memory_budget

    if resource is not None:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _vm_size() + memory_budget(len(data))
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        if soft == resource.RLIM_INFINITY or limit < soft:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _rewrite(data, plan)
    except MemoryError:
        raise PatchelfError("LIEF ran out of memory on this file") from None


def _vm_size() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _rewrite(data: bytes, plan: Rewrite) -> bytes:
    import lief

    lief.logging.disable()
    config = lief.ELF.ParserConfig()
    if plan.page_size is not None:
        config.page_size = plan.page_size
    elif data[18:20] in (b"\xb7\x00", b"\x15\x00", b"\x02\x01"):  # AArch64, PPC64, LoongArch
        config.page_size = 0x10000
    binary = lief.ELF.parse(list(data), config)
    if binary is None:
        raise PatchelfError("LIEF cannot parse this ELF file")
    try:
        _needed(lief, binary, plan)
        _strings(lief, binary, plan)
        _others(lief, binary, plan)
        return bytes(binary.write_to_bytes())
    except (ValueError, RuntimeError, TypeError, UnicodeDecodeError) as exc:
        raise PatchelfError(
            f"LIEF failed to rewrite the file ({type(exc).__name__}: {exc})"
        ) from exc


def _needed(lief: Any, binary: Any, plan: Rewrite) -> None:
    for name in plan.remove_needed:
        binary.remove_library(name)
        if binary.find_version_requirement(name) is not None:
            binary.remove_version_requirement(name)
    for old, new in plan.replace_needed:
        for entry in binary.dynamic_entries:
            if entry.tag == lief.ELF.DynamicEntry.TAG.NEEDED and entry.name == old:
                entry.name = new
        requirement = binary.find_version_requirement(old)
        if requirement is not None:
            requirement.name = new
    for name in reversed(plan.add_needed):  # each one goes first
        binary.add_library(name)


def _strings(lief: Any, binary: Any, plan: Rewrite) -> None:
    tags = lief.ELF.DynamicEntry.TAG
    if plan.soname is not None:
        if binary.has(tags.SONAME):
            binary.get(tags.SONAME).name = plan.soname
        else:
            binary.add(lief.ELF.DynamicSharedObject(plan.soname))
    if plan.rpath is not None:
        found = False
        for entry in binary.dynamic_entries:
            if entry.tag == tags.RPATH:
                entry.rpath = plan.rpath
                found = True
            elif entry.tag == tags.RUNPATH:
                entry.runpath = plan.rpath
                found = True
        if not found:
            new = (
                lief.ELF.DynamicEntryRpath(plan.rpath)
                if plan.rpath_tag == DT_RPATH
                else lief.ELF.DynamicEntryRunPath(plan.rpath)
            )
            binary.add(new)
    if plan.interpreter is not None:
        binary.interpreter = plan.interpreter


def _others(lief: Any, binary: Any, plan: Rewrite) -> None:
    for tag, value in plan.add_entries:
        binary.add(lief.ELF.DynamicEntry(lief.ELF.DynamicEntry.TAG.from_value(tag), value))
    renames = dict(plan.rename_symbols)
    if renames:
        for symbol in binary.dynamic_symbols:
            new = renames.get(symbol.name)
            if new is not None:
                symbol.name = new
    if plan.gnu_stack_flags is not None:
        segment = lief.ELF.Segment()
        segment.type = lief.ELF.Segment.TYPE.GNU_STACK
        segment.flags = lief.ELF.Segment.FLAGS(plan.gnu_stack_flags)
        segment.alignment = 1
        binary.add(segment)
