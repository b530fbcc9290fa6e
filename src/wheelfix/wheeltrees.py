"""Stage 2 for a whole wheel: the search paths, one resolved tree per ELF, and the libc.

:func:`resolve_wheel` builds the :class:`~wheelfix.ldpaths.SearchPaths` for the scanned
wheel, resolves every wheel ELF (with the never-graft list and ``--exclude``), and lets
in-wheel libraries borrow their loader's resolution. :func:`settle_libc` decides the libc
from the dependencies when neither the tag nor the wheel's own ELF files name one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Callable

from wheelfix.errors import UndetectableLibcError
from wheelfix.include import included_names, resolve_includes
from wheelfix.ldpaths import SearchPaths, load_search_paths
from wheelfix.libc import Libc, detect_elf_libc
from wheelfix.nevergraft import NeverGraft
from wheelfix.options import AuditOptions
from wheelfix.resolve import ElfTree, LibraryCache, Resolver
from wheelfix.scan import ScanResult
from wheelfix.wheel import MemberPath

__all__ = ["borrow_loader_resolution", "resolve_wheel", "settle_libc"]


def _driver_family(never: NeverGraft) -> Callable[[str], str | None]:
    def family(soname: str) -> str | None:
        found = never.match(soname)
        return found.name if found is not None else None

    return family


def settle_libc(scan: ScanResult, trees: Mapping[MemberPath, ElfTree]) -> Libc:
    """The libc the wheel's dependencies link (glibc when none does and no extension needs
    one); :class:`UndetectableLibcError` for an extension nothing ties to a libc."""
    votes = {
        detect_elf_libc(lib.info, str(lib.realpath or name))
        for tree in trees.values()
        for name, lib in tree.libraries.items()
        if lib.info is not None
    } - {None}
    if len(votes) == 1:
        return next(iter(votes))  # type: ignore[return-value]
    extensions = sorted(e.path for e in scan.elves if e.python_version is not None)
    if extensions and not votes:
        # auditwheel stops here too (with a traceback): nothing says which libc to check.
        raise UndetectableLibcError(
            f"{scan.wheel}!{extensions[0]}",
            "couldn't detect libc for python extension: neither it nor its libraries link a"
            " C library, and the wheel's platform tag names none",
        )
    return Libc.GLIBC


def resolve_wheel(
    scan: ScanResult, options: AuditOptions, cache: LibraryCache, include: Sequence[str] = ()
) -> tuple[SearchPaths, dict[MemberPath, ElfTree]]:
    """The search paths and one resolved tree per wheel ELF (and per ``include``d library,
    keyed by its host file: ``include.py``)."""
    elf_class = scan.elves[0].info.header.elf_class
    paths = load_search_paths(
        scan.libc,
        scan.arch,
        elf_class,
        ldpaths=options.ldpaths,
        environ=options.environ,
        sysroot=options.sysroot,
    )
    included = resolve_includes(
        include, scan, paths, cache, exclude=options.exclude, graft_anyway=options.graft_anyway
    )
    # An included driver library is grafted, so the wheel's own DT_NEEDED users use it too.
    graft_anyway = (*options.graft_anyway, *included_names(included.values()))
    resolver = Resolver.for_scan(
        scan,
        paths,
        exclude=options.exclude,
        cache=cache,
        never_graft=_driver_family(NeverGraft.load(graft_anyway)),
    )
    trees = {elf.path: resolver.tree(elf) for elf in scan.elves}
    return paths, {**borrow_loader_resolution(scan, trees), **included}


def borrow_loader_resolution(
    scan: ScanResult, trees: Mapping[MemberPath, ElfTree]
) -> dict[MemberPath, ElfTree]:
    """Let an in-wheel library use how its loader's tree resolved its needs.

    A library shipped in the wheel may rely on the RPATH of the extension that loads it. Seen
    on its own, its needs look unresolved; inside the loader's tree they are found. For each
    such library, take the resolution from a tree that contains it.
    """
    result = dict(trees)
    for path, tree in trees.items():
        if all(lib.found for lib in tree.libraries.values()):
            continue
        for other in trees.values():
            containing = [lib for lib in other.libraries.values() if lib.member == path]
            if not containing:
                continue
            merged = dict(tree.libraries)
            todo = [n for n, lib in tree.libraries.items() if not lib.found]
            while todo:
                name = todo.pop()
                borrowed = other.libraries.get(name)
                if borrowed is None or (name in merged and merged[name].found):
                    continue
                merged[name] = borrowed
                todo.extend(borrowed.needed)
            result[path] = replace(tree, libraries=merged)
            break
    return result
