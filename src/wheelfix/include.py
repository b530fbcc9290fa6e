"""Stage 2 addition for ``repair --include LIB``: libraries no DT_NEEDED names, as extra trees.

A plugin or backend the wheel opens with ``dlopen`` is named by no DT_NEEDED entry, so the
normal resolve stage never sees it. :func:`resolve_includes` finds each ``--include`` value
(a value with a ``/`` is a path, as for ``dlopen``; anything else is a soname looked up with
the emulated search of ``resolve.py``: ``AUDITWHEEL_LD_LIBRARY_PATH``, ``LD_LIBRARY_PATH``,
ld.so.conf and the default directories, or ``--ldpaths``, under ``--sysroot``) and resolves
its dependencies as the loader would when loading it.

Each included library becomes one more :class:`~wheelfix.resolve.ElfTree` of the audit,
keyed by the host file's path, whose root is an :class:`IncludedRoot`: a stand-in for the
``dlopen`` call, an object that needs just this library and has no RPATH of its own. The
policy stage counts such trees like the wheel's own top-level files (the included library's
symbol versions and its dependencies count for the tag), and the graft stage
(:func:`plan_includes`, pure) grafts the library under the name ``dlopen`` asks for, with its
SONAME unchanged, and its dependencies under hashed names as usual.
"""

from __future__ import annotations

import glob
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from wheelfix.elf import ElfHeader, ElfInfo, Soname, read_header
from wheelfix.errors import (
    InputFileError,
    InvalidElfError,
    LibraryNotFoundError,
    NameCollisionError,
    PolicyError,
)
from wheelfix.hostfile import open_regular
from wheelfix.ldpaths import SearchPaths
from wheelfix.libc import detect_elf_libc
from wheelfix.nevergraft import NeverGraft
from wheelfix.notfound import not_found_reason
from wheelfix.resolve import (
    LIBPYTHON_RE,
    ElfTree,
    FileRoot,
    HostDir,
    LibraryCache,
    ResolvedLibrary,
    Resolver,
    compatible,
)
from wheelfix.scan import ScanResult
from wheelfix.wheel import MemberPath

if TYPE_CHECKING:
    from wheelfix.policy import Policy
    from wheelfix.results import Audit

__all__ = [
    "IncludePlan",
    "IncludedRoot",
    "included_names",
    "included_roots",
    "plan_includes",
    "resolve_includes",
]

_MAX_LINKS = 40
_SHARED_OBJECT = 3  # e_type ET_DYN


@dataclass(frozen=True)
class IncludedRoot(FileRoot):
    """The root of an included library's tree: the ``dlopen`` call that loads it.

    ``path`` is the included host file, ``info`` the stand-in caller: it needs only ``name``
    and has no RPATH, so the library is found as ``dlopen`` from such an object finds it.
    """

    request: str
    """The ``--include`` value as given (a soname, or a path)."""
    name: Soname
    """The file name it keeps in ``<dist>.libs/``: the soname asked for, or for a path its
    DT_SONAME (else its file name). ``dlopen(name)`` finds it there."""
    source: Path
    """The host file (its own symlinks followed)."""
    driver: str | None = None
    """The never-graft family it belongs to (grafted anyway, with a warning), or None."""


def _caller(name: Soname, header: ElfHeader) -> ElfInfo:
    """An object that loads ``name`` and nothing else, with no search path of its own."""
    empty: frozenset[str] = frozenset()
    return ElfInfo(header, None, (name,), None, (), (), (), (), empty, empty, False, False)


def _follow_links(path: str) -> str:
    """Follow the file's own symlinks (not its directories'), as the loader reports it."""
    for _ in range(_MAX_LINKS):
        if not Path(path).is_symlink():
            break
        target = str(Path(path).readlink())
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return path


def _describe(header: ElfHeader) -> str:
    return f"{header.arch or f'e_machine {header.machine}'} {header.elf_class}-bit"


def _from_path(request: str, wheel_header: ElfHeader, cache: LibraryCache) -> tuple[Path, ElfInfo]:
    """The host file a path ``--include`` names, checked: a shared library for the wheel."""
    source = Path(_follow_links(os.path.abspath(request)))
    try:
        with open_regular(source, "a shared library") as handle:
            head = handle.read(64)
    except InputFileError as exc:
        raise InputFileError(request, f"--include: {exc.reason}") from exc
    try:
        header = read_header(head, request, whole_file=False)
    except InvalidElfError:
        raise InvalidElfError(request, "--include: not an ELF file") from None
    if not compatible(header, wheel_header):
        raise PolicyError(
            request,
            f"--include: a {_describe(header)} ELF file, but the wheel's ELF files are"
            f" {_describe(wheel_header)} (the loader would refuse it)",
        )
    if header.file_type != _SHARED_OBJECT:
        raise InvalidElfError(request, "--include: not a shared library (an executable?)")
    return source, cache.info(source)


def _by_soname(
    request: str, paths: SearchPaths, scan: ScanResult, cache: LibraryCache
) -> ResolvedLibrary:
    """Where the emulated loader finds soname ``request`` (no --exclude, no never-graft)."""
    if LIBPYTHON_RE.match(request):
        raise PolicyError(request, "--include: libpython is never grafted into a wheel")
    lookup = Resolver((), scan.arch, paths, cache=cache)
    header = scan.elves[0].info.header
    tree = lookup.tree(FileRoot(request, _caller(Soname(request), header)), HostDir("/"))
    found = tree.libraries.get(Soname(request))
    if found is None or found.realpath is None or found.info is None:
        reason = not_found_reason(tree, [Soname(request)], paths, scan.arch)
        raise LibraryNotFoundError(request, f"--include: {reason}; or give the library's path")
    return found


def _origin(source: Path, sysroot: Path | None) -> HostDir:
    """``$ORIGIN`` of a host file, as the target system spells its directory."""
    parent = str(source.parent)
    if sysroot is not None:
        relative = os.path.relpath(parent, sysroot)
        if relative == "." or not relative.startswith(".."):
            return HostDir(posixpath.normpath(posixpath.join("/", relative)))
    return HostDir(parent)


def _driver_family(never: NeverGraft) -> Callable[[str], str | None]:
    def family(soname: str) -> str | None:
        found = never.match(soname)
        return found.name if found is not None else None

    return family


def resolve_includes(
    requests: Sequence[str],
    scan: ScanResult,
    paths: SearchPaths,
    cache: LibraryCache,
    *,
    exclude: Sequence[str] = (),
    graft_anyway: Sequence[str] = (),
) -> dict[MemberPath, ElfTree]:
    """One tree per included library (keyed by its host file), checked for the wheel.

    ``exclude`` and the never-graft list apply to the included libraries' dependencies; the
    included library itself is grafted because it was asked for (a driver with a warning).
    """
    if not requests:
        return {}
    header = scan.elves[0].info.header
    found: dict[Path, tuple[str, Soname, ResolvedLibrary]] = {}
    for request in dict.fromkeys(requests):
        if "/" in request:
            source, info = _from_path(request, header, cache)
            name = info.soname or Soname(posixpath.basename(request))
            library = ResolvedLibrary(name, source, None, info, "include")
        else:
            library = _by_soname(request, paths, scan, cache)
            name, source = Soname(request), library.realpath  # type: ignore[assignment]
        assert library.info is not None
        libc = detect_elf_libc(library.info, name)
        if libc is not None and libc is not scan.libc:
            raise PolicyError(
                request, f"--include: links {libc.value}, but the wheel is {scan.libc.value}"
            )
        _check_unique(request, name, source, found)
        found[source] = (request, name, library)
    names = [glob.escape(name) for _request, name, _lib in found.values()]
    never = NeverGraft.load((*graft_anyway, *names))
    deps = Resolver.for_scan(
        scan, paths, exclude=exclude, cache=cache, never_graft=_driver_family(never)
    )
    drivers = NeverGraft.load(graft_anyway)
    trees: dict[MemberPath, ElfTree] = {}
    for source, (request, name, library) in sorted(found.items()):
        assert library.info is not None
        family = drivers.match(name)
        own = deps.tree(FileRoot(str(source), library.info), _origin(source, paths.sysroot))
        root = IncludedRoot(
            str(source),
            _caller(name, header),
            request,
            name,
            source,
            family.name if family is not None else None,
        )
        trees[MemberPath(str(source))] = ElfTree(
            root=root,
            libraries={name: library, **own.libraries},
            excluded=own.excluded,
            drivers=own.drivers,
            excluded_dirs=own.excluded_dirs,
        )
    return trees


def _check_unique(
    request: str,
    name: Soname,
    source: Path,
    found: Mapping[Path, tuple[str, Soname, ResolvedLibrary]],
) -> None:
    for other_source, (other, other_name, _library) in found.items():
        if other_source == source and other_name != name:
            raise NameCollisionError(
                request,
                f"--include: the same file as --include {other}, which names it {other_name}:"
                " a grafted file has one name",
            )
        if other_source != source and other_name == name:
            raise NameCollisionError(
                request,
                f"--include: {name} is also the name of --include {other} ({other_source}),"
                " a different file",
            )


def included_roots(trees: Iterable[ElfTree]) -> list[IncludedRoot]:
    """The included libraries' roots among an audit's trees, sorted by host file."""
    roots = [tree.root for tree in trees if isinstance(tree.root, IncludedRoot)]
    return sorted(roots, key=lambda root: str(root.source))


def included_names(trees: Iterable[ElfTree]) -> list[str]:
    """``--graft-anyway`` globs that match exactly the included libraries' names."""
    return [glob.escape(root.name) for root in included_roots(trees)]


@dataclass(frozen=True)
class IncludePlan:
    """What ``--include`` adds to the graft plan for one target policy."""

    needs: Mapping[MemberPath, Mapping[Soname, Path]]
    """Per included tree: the libraries to graft (the included one and its dependencies)."""
    names: Mapping[Path, Soname]
    """Included host file -> the name it keeps in the libs directory (unmangled)."""
    warnings: tuple[str, ...]
    """Included drivers, and included libraries the policy's whitelist already covers."""


def plan_includes(audit: Audit, target: Policy) -> IncludePlan:
    """The grafts ``--include`` asks for under ``target`` (pure; raises for missing needs)."""
    needs: dict[MemberPath, dict[Soname, Path]] = {}
    names: dict[Path, Soname] = {}
    warnings: list[str] = []
    for key, tree in sorted(audit.trees.items()):
        root = tree.root
        if not isinstance(root, IncludedRoot):
            continue
        refs = audit.verdict.per_elf[key][target.name]
        missing = sorted(n for n, p in refs.libs.items() if p is None and n != root.name)
        if missing:
            reason = not_found_reason(tree, missing, audit.paths, audit.scan.arch)
            raise LibraryNotFoundError(str(root.source), f"(--include {root.request}) {reason}")
        needs[key] = {n: p for n, p in refs.libs.items() if p is not None}
        if root.name not in refs.libs:
            warnings.append(
                f"--include {root.request}: {root.name} is on the {target.name} whitelist"
                " (every such system provides it), so it is not grafted"
            )
            continue
        names[root.source] = root.name
        if root.driver is not None:
            warnings.append(
                f"--include {root.request}: {root.name} is a driver library ({root.driver}),"
                " normally never grafted (it must match the user's machine); grafted because"
                " --include names it"
            )
    return IncludePlan(needs, names, tuple(warnings))
