"""Stage 2, resolve: an emulated ld.so search, the way glibc's loader really does it.

For a library needed by object N (loaded through the chain root -> ... -> N):

1. DT_RPATH of N, then of every object that loaded it, up to the root; only while N has no
   DT_RUNPATH, and skipping each loader that has a DT_RUNPATH of its own;
2. the environment (``AUDITWHEEL_LD_LIBRARY_PATH``, ``LD_LIBRARY_PATH``);
3. N's own DT_RUNPATH (never inherited);
4. ld.so.conf (or the musl path file), then the default directories.

A candidate must match the root's ELF class, byte order and machine, else the search goes on.
``$ORIGIN`` of a wheel member is its install directory inside the wheel, so libraries shipped
in the wheel resolve to the member. Within one tree a soname, once found, is reused (the loader
matches already-loaded objects by name), and libraries are loaded breadth first.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Union

from wheelfix.elf import ElfHeader, ElfInfo, Soname, read_header
from wheelfix.errors import InputFileError, InvalidElfError
from wheelfix.hostfile import open_regular, read_regular
from wheelfix.ldpaths import SearchPaths
from wheelfix.scan import ScannedElf, ScanResult
from wheelfix.wheel import DEFAULT_MAX_UNCOMPRESSED, MemberPath

LIBPYTHON_RE = re.compile(r"^libpython\d+\.\d+m?\.so(\.\d+)*$")
_COMPATIBLE_OSABI = frozenset({0, 3})
_MAX_LINKS = 40
_ARCH_LIB_TOKEN = {"x86_64": "lib64", "aarch64": "lib64", "ppc64le": "lib64", "s390x": "lib64"}


@dataclass(frozen=True)
class WheelDir:
    """A directory inside the installed wheel (relative to site-packages)."""

    path: PurePosixPath


@dataclass(frozen=True)
class HostDir:
    """A directory as the loader sees it on the target machine (absolute)."""

    path: str


SearchDir = Union[WheelDir, HostDir]


@dataclass(frozen=True)
class ResolvedLibrary:
    """One DT_NEEDED name and where the emulated loader found it."""

    soname: Soname
    """The name asked for."""
    realpath: Path | None
    """The host file it resolved to (symlinks followed), or None."""
    member: MemberPath | None
    """The wheel member it resolved to, or None."""
    info: ElfInfo | None
    """The library's own dynamic information, when found."""
    found_via: str
    """Which search step found it (``rpath``, ``env``, ``runpath``, ``system``, ``libpython``,
    ``excluded``, ``not found``)."""
    skipped: tuple[tuple[str, ElfHeader | None], ...] = ()
    """Files of this name the search met and passed over (another ELF class, byte order or
    machine; or no ELF file at all: None), as the loader sees their paths, in search order."""

    @property
    def found(self) -> bool:
        """True when the library resolved, in the wheel or on the host."""
        return self.realpath is not None or self.member is not None

    @property
    def needed(self) -> tuple[Soname, ...]:
        """The names the library makes the loader open (DT_NEEDED, filtees), when found."""
        return self.info.loaded_names if self.info is not None else ()


@dataclass(frozen=True)
class FileRoot:
    """An ELF file on disk at the top of a tree (``lddtree``), not a wheel member."""

    path: str
    """The file as given (absolute, for ``$ORIGIN``)."""
    info: ElfInfo
    """Its dynamic information."""


@dataclass(frozen=True)
class ElfTree:
    """The resolved dependency closure of one wheel ELF."""

    root: ScannedElf | FileRoot
    """The wheel ELF at the top."""
    libraries: Mapping[Soname, ResolvedLibrary]
    """Every library in the closure, by the name it was asked for, in load order."""
    excluded: frozenset[Soname]
    """Names skipped because of ``--exclude`` (not grafted, not followed)."""
    drivers: Mapping[Soname, str] = field(default_factory=dict)
    r"""Names on the never-graft list (GPU and display drivers) -> their family: left to the
    user's machine like ``--exclude``\d names, and reported."""
    excluded_dirs: Mapping[Soname, str] = field(default_factory=dict)
    """Excluded names found through an RPATH/RUNPATH entry -> the directory they were found
    in (as the loader sees it). Repair keeps such entries so the loader still finds them."""


class LibraryCache:
    """Host libraries read during one run, by real path (None: not a usable ELF)."""

    def __init__(
        self,
        parse: Callable[[bytes, str], ElfInfo] | None = None,
        max_size: int = DEFAULT_MAX_UNCOMPRESSED,
    ) -> None:
        self._headers: dict[Path, ElfHeader | None] = {}
        self._infos: dict[Path, ElfInfo] = {}
        self._parse = parse
        self._max_size = max_size

    def header(self, path: Path) -> ElfHeader | None:
        """The ELF header of a host file, or None when it is not an ELF file."""
        if path not in self._headers:
            try:
                with open_regular(path) as handle:
                    head = handle.read(64)
                self._headers[path] = read_header(head, str(path), whole_file=False)
            except (OSError, InvalidElfError, InputFileError):
                self._headers[path] = None
        return self._headers[path]

    def _parser(self) -> Callable[[bytes, str], ElfInfo]:
        if self._parse is None:
            from wheelfix.elf.pyread import parse_info  # pure Python, no LIEF

            self._parse = parse_info
        return self._parse

    def info(self, path: Path) -> ElfInfo:
        """The full dynamic information of a host library (parsed once per run)."""
        if path not in self._infos:
            try:
                data = read_regular(path, self._max_size, "a shared library")
            except InputFileError as exc:
                raise InvalidElfError(exc.subject, exc.reason) from exc
            self._infos[path] = self._parser()(data, str(path))
        return self._infos[path]


def compatible(candidate: ElfHeader, root: ElfHeader) -> bool:
    """Whether the loader would accept ``candidate`` into ``root``'s process."""
    return (
        candidate.elf_class == root.elf_class
        and candidate.little_endian == root.little_endian
        and candidate.machine == root.machine
        and (candidate.osabi in _COMPATIBLE_OSABI or candidate.osabi == root.osabi)
    )


@dataclass(frozen=True)
class _Node:
    """An object in the tree: a wheel member or a host file, with its search context."""

    info: ElfInfo
    origin: SearchDir


class Resolver:
    """Builds :class:`ElfTree` values for the ELF files of one scanned wheel."""

    def __init__(
        self,
        elves: Iterable[ScannedElf],
        arch: str,
        paths: SearchPaths,
        *,
        exclude: Iterable[str] = (),
        cache: LibraryCache | None = None,
        never_graft: Callable[[str], str | None] | None = None,
    ) -> None:
        self._arch = arch
        self._paths = paths
        self._exclude = tuple(exclude)
        self._never_graft = never_graft
        self._cache = cache if cache is not None else LibraryCache()
        self._members = {e.install_path: e for e in elves}
        self._lib_token = _ARCH_LIB_TOKEN.get(arch, "lib")

    @classmethod
    def for_scan(cls, scan: ScanResult, paths: SearchPaths, **kwargs: Any) -> Resolver:
        """A resolver over the ELF members of a scanned wheel."""
        return cls(scan.elves, scan.arch, paths, **kwargs)

    def tree(self, root: ScannedElf | FileRoot, origin: SearchDir | None = None) -> ElfTree:
        """Resolve the whole closure of ``root``, breadth first.

        ``origin`` is the directory ``$ORIGIN`` stands for: by default a wheel member's
        directory inside the wheel, a :class:`FileRoot`'s directory on the host.
        """
        if origin is None:
            origin = (
                WheelDir(root.install_path.parent)
                if isinstance(root, ScannedElf)
                else HostDir(posixpath.dirname(root.path))
            )
        start = _Node(root.info, origin)
        queue: list[tuple[_Node, tuple[_Node, ...]]] = [(start, ())]
        libraries: dict[Soname, ResolvedLibrary] = {}
        excluded: set[Soname] = set()
        excluded_dirs: dict[Soname, str] = {}
        drivers: dict[Soname, str] = {}
        while queue:
            node, loaders = queue.pop(0)
            optional = set(node.info.auxiliaries)
            for name in node.info.loaded_names:
                if name in libraries or name in excluded:
                    continue
                family = self._never_graft(name) if self._never_graft else None
                if family is not None:
                    drivers[name] = family
                if family is not None or self._is_excluded(name):
                    excluded.add(name)
                    found_in = self._excluded_dir(name, node, loaders, root.info.header)
                    if found_in is not None:
                        excluded_dirs[name] = found_in
                    continue
                library, child = self._find(name, node, loaders, root.info.header)
                if not library.found and name in optional:
                    continue  # a DT_AUXILIARY filtee the loader may do without
                if library.realpath is not None and self._is_excluded(str(library.realpath)):
                    excluded.add(name)
                    if child is not None and library.found_via in ("rpath", "runpath"):
                        excluded_dirs[name] = str(child.origin.path)
                    continue
                libraries[name] = library
                if child is not None:
                    queue.append((child, (*loaders, node)))
        return ElfTree(
            root=root,
            libraries=libraries,
            excluded=frozenset(excluded),
            drivers=drivers,
            excluded_dirs=excluded_dirs,
        )

    def _excluded_dir(
        self, name: Soname, node: _Node, loaders: tuple[_Node, ...], root: ElfHeader
    ) -> str | None:
        """Where an excluded library would be found through an RPATH/RUNPATH, if it is."""
        try:
            library, child = self._find(name, node, loaders, root)
        except InvalidElfError:
            return None  # excluded libraries need not be parseable
        if child is None or library.found_via not in ("rpath", "runpath"):
            return None
        return str(child.origin.path)

    def _is_excluded(self, value: str) -> bool:
        return any(fnmatch.fnmatch(value, pattern) for pattern in self._exclude)

    def search_dirs(self, node: _Node, loaders: tuple[_Node, ...]) -> list[tuple[str, SearchDir]]:
        """The directories searched for a library ``node`` needs, in order, with their step."""
        dirs: list[tuple[str, SearchDir]] = []
        if not node.info.runpath:
            for owner in (node, *reversed(loaders)):
                if owner.info.runpath:
                    continue
                dirs.extend(("rpath", d) for d in self._expand(owner.info.rpath, owner.origin))
        dirs.extend(("env", HostDir(p)) for p in self._paths.env)
        dirs.extend(("runpath", d) for d in self._expand(node.info.runpath, node.origin))
        dirs.extend(("system", HostDir(p)) for p in self._paths.system)
        return dirs

    def _expand(self, entries: Iterable[str], origin: SearchDir) -> list[SearchDir]:
        out: list[SearchDir] = []
        for entry in entries:
            expanded = expand_dst(entry, origin, self._lib_token, self._arch)
            if expanded is not None:
                out.append(expanded)
        return out

    def _find(
        self, name: Soname, node: _Node, loaders: tuple[_Node, ...], root: ElfHeader
    ) -> tuple[ResolvedLibrary, _Node | None]:
        if LIBPYTHON_RE.match(name):
            return ResolvedLibrary(name, None, None, None, "libpython"), None
        candidates = (
            [("path", HostDir(posixpath.dirname(name)))] if "/" in name else None
        ) or self.search_dirs(node, loaders)
        base = posixpath.basename(name)
        skipped: list[tuple[str, ElfHeader | None]] = []
        for step, directory in candidates:
            found = self._look_in(directory, base, root, skipped)
            if found is not None:
                library, origin = found
                resolved = ResolvedLibrary(name, library[0], library[1], library[2], step)
                assert library[2] is not None
                return resolved, _Node(library[2], origin)
        missing = ResolvedLibrary(name, None, None, None, "not found", tuple(skipped))
        return missing, None

    def _look_in(
        self,
        directory: SearchDir,
        name: str,
        root: ElfHeader,
        skipped: list[tuple[str, ElfHeader | None]],
    ) -> tuple[tuple[Path | None, MemberPath | None, ElfInfo | None], SearchDir] | None:
        if isinstance(directory, WheelDir):
            scanned = self._members.get(directory.path / name)
            if scanned is not None and not compatible(scanned.info.header, root):
                skipped.append((scanned.path, scanned.info.header))
            if scanned is None or not compatible(scanned.info.header, root):
                return None
            return (None, scanned.path, scanned.info), directory
        loader_path = posixpath.join(directory.path, name)
        candidate = self._paths.host(loader_path)
        if not candidate.is_file():
            return None
        file_path = self._host_file(self._follow_links(loader_path))
        header = self._cache.header(file_path)
        if header is None or not compatible(header, root):
            skipped.append((loader_path, header))
            return None
        # The loader's $ORIGIN for this library is the directory it was opened from.
        origin = HostDir(posixpath.dirname(loader_path))
        return (file_path, None, self._cache.info(file_path)), origin

    def _host_file(self, path: str) -> Path:
        """The host file for a target path, its last component left as it is."""
        return self._paths.host(posixpath.dirname(path)) / posixpath.basename(path)

    def _follow_links(self, path: str) -> str:
        """Follow the symlinks of the file itself (not of its directories), as auditwheel does.

        ``/lib/x86_64-linux-gnu/libyaml-0.so.2`` becomes ``.../libyaml-0.so.2.0.9``: the real
        file name, which names the grafted copy, while the directory stays the one searched.
        """
        for _ in range(_MAX_LINKS):
            host = self._host_file(path)
            if not host.is_symlink():
                break
            target = str(host.readlink())
            path = posixpath.normpath(
                target
                if target.startswith("/")
                else posixpath.join(posixpath.dirname(path), target)
            )
        return path


def expand_dst(entry: str, origin: SearchDir, lib_token: str, platform: str) -> SearchDir | None:
    """Expand ``$ORIGIN``, ``$LIB``, ``$PLATFORM`` in one RPATH/RUNPATH entry.

    Returns None for entries the loader could not use: relative paths (they depend on the
    process's working directory) and ``$ORIGIN`` paths that climb out of the wheel.
    """
    text = entry
    for token, value in (("LIB", lib_token), ("PLATFORM", platform)):
        text = text.replace(f"${{{token}}}", value).replace(f"${token}", value)
    uses_origin = "$ORIGIN" in text or "${ORIGIN}" in text
    if not uses_origin:
        return HostDir(posixpath.normpath(text)) if text.startswith("/") else None
    base = str(origin.path) if isinstance(origin, WheelDir) else origin.path
    text = text.replace("${ORIGIN}", base).replace("$ORIGIN", base)
    if isinstance(origin, HostDir):
        return HostDir(posixpath.normpath(text))
    normal = posixpath.normpath(text)
    if normal.startswith("/"):
        return HostDir(normal)
    if normal == ".." or normal.startswith("../"):
        return None
    return WheelDir(PurePosixPath(normal))
