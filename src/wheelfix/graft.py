"""Stage 3, graft: decide which libraries to copy into ``<dist>.libs/`` and every ELF edit.

:func:`plan_graft` is pure: from the audit, the target policy and the libraries' hashes it
builds a :class:`GraftPlan` (one :class:`ElfEdit` per file, the new names, the script moves).
Carrying the plan out (reading, rewriting, writing) is the pipeline's job, through ``elf.py``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from wheelfix.elf import ElfEdit, ElfInfo, Soname, can_strip
from wheelfix.errors import LibraryNotFoundError, NameCollisionError, PolicyError
from wheelfix.include import plan_includes
from wheelfix.notfound import not_found_reason
from wheelfix.policy import Policy
from wheelfix.policy.android import android_edits
from wheelfix.resolve import LIBPYTHON_RE, HostDir, WheelDir
from wheelfix.rpaths import excluded_host_entries, libs_dir_entries, wheel_entries
from wheelfix.scan import ScannedElf
from wheelfix.wheel import MemberPath

if TYPE_CHECKING:
    from wheelfix.results import Audit


@dataclass(frozen=True)
class GraftedLibrary:
    """One host library copied into the wheel."""

    source: Path
    """The host file (symlinks followed)."""
    original: Soname
    """The name the wheel's ELF files asked for."""
    member: MemberPath
    """Where it goes in the wheel: ``<dist>.libs/<hashed name>``."""
    included: bool = False
    r"""``--include``\d: named as ``dlopen`` asks for it (no hash), its SONAME unchanged."""

    @property
    def new_name(self) -> Soname:
        """The hashed file name, which is also its new SONAME."""
        return Soname(posixpath.basename(self.member))


@dataclass(frozen=True)
class GraftPlan:
    """Everything repair will do to the wheel, decided before anything is written."""

    libs_dir: str
    """The directory grafted libraries go to, e.g. ``demo.libs``."""
    grafted: tuple[GraftedLibrary, ...]
    """Libraries to copy, sorted by member path."""
    edits: Mapping[MemberPath, ElfEdit]
    """Edits keyed by *output* member path (wheel ELFs and grafted libraries)."""
    moves: Mapping[MemberPath, MemberPath]
    """Wheel members that move (``.data/scripts`` executables) -> their new path."""
    shims: Mapping[MemberPath, bytes]
    """Python launchers written where moved executables were."""
    warnings: tuple[str, ...]
    """Things the user should know (libpython removed, strip skipped)."""


def hashed_name(filename: str, digest: str) -> str:
    """``libyaml-0.so.2.0.9`` + hash -> ``libyaml-0-8ec1a697.so.2.0.9`` (idempotent)."""
    base, dot, rest = filename.partition(".")
    short = digest[:8]
    if base.endswith(f"-{short}"):
        return filename
    return f"{base}-{short}{dot}{rest}"


def _script_target(elf: ScannedElf, dist: str) -> MemberPath | None:
    parts = PurePosixPath(elf.path).parts
    if len(parts) == 3 and parts[0].endswith(".data") and parts[1] == "scripts":
        return MemberPath(f"{dist}.scripts/{parts[2]}")
    return None


def script_shim(target: MemberPath) -> bytes:
    """A Python launcher that runs the moved executable from platlib with the same argv."""
    return (
        "#!python\n"
        "# Launcher written by wheelfix: the real executable lives in platlib so that it can\n"
        "# find the libraries grafted next to it.\n"
        "import os\nimport sys\nimport sysconfig\n\n"
        "if __name__ == '__main__':\n"
        f"    executable = os.path.join(sysconfig.get_path('platlib'), {target!r})\n"
        "    os.execv(executable, [executable, *sys.argv[1:]])\n"
    ).encode()


@dataclass(frozen=True)
class GraftOptions:
    """The repair flags that shape the plan."""

    lib_sdir: str = ".libs"
    """``-L``: suffix of the libs directory after the dist name."""
    strip: bool = False
    """``--strip``."""


def plan_graft(
    audit: Audit, target: Policy, digests: Mapping[Path, str], options: GraftOptions
) -> GraftPlan:
    """Decide every copy and edit needed to bring the wheel to ``target``."""
    scan = audit.scan
    dist = scan.name.distribution
    libs_dir = f"{dist}{options.lib_sdir}"
    included = plan_includes(audit, target)
    warnings: list[str] = [*driver_warnings(audit), *included.warnings]
    drivers = {name for tree in audit.trees.values() for name in tree.drivers}
    needs = _wheel_needs(audit, target, dlopen_anywhere=bool(included.names))
    grafted = _grafted_libraries({**needs, **included.needs}, digests, libs_dir, included.names)
    by_source = {g.source: g for g in grafted}
    edits: dict[MemberPath, ElfEdit] = {}
    moves: dict[MemberPath, MemberPath] = {}
    shims: dict[MemberPath, bytes] = {}
    for elf in scan.elves:
        out_path, install_path = elf.path, elf.install_path
        if elf.path in needs:
            moved = _script_target(elf, dist)
            if moved is not None:
                moves[elf.path], shims[elf.path] = moved, script_shim(moved)
                out_path, install_path = moved, PurePosixPath(moved)
        strip = options.strip and can_strip(elf.info)
        if options.strip and not strip:
            warnings.append(
                f"{elf.path}: left unstripped (a non-PIE executable: stripping LIEF's output of"
                " those breaks them)"
            )
        libpython = _libpython(elf.info.needed, target)
        warnings.extend(_libpython_warning(elf.path, name) for name in libpython)
        edit = ElfEdit(remove_needed=libpython, strip=strip)
        if elf.path in needs:
            tree = audit.trees[elf.path]
            kept, uncovered = excluded_host_entries(
                elf.info,
                WheelDir(elf.install_path.parent),
                scan.arch,
                tree.excluded,
                tree.excluded_dirs,
            )
            warnings.extend(
                _excluded_warning(elf.path, name) for name in uncovered if name not in drivers
            )
            to_libs = libs_dir_entries(install_path, libs_dir, scan.name.tags)
            if to_libs is None:
                raise PolicyError(
                    f"{scan.wheel}!{elf.path}",
                    "is installed outside site-packages and the path from there to the"
                    f" grafted libraries in {libs_dir}/ depends on the Python version: only"
                    " a wheel for one CPython or PyPy version can be repaired",
                )
            rpath = [
                *wheel_entries(elf.info, elf.install_path.parent, scan.arch),
                *kept,
                *to_libs,
            ]
            edit = ElfEdit(
                replace_needed=_renames(elf.info.loaded_names, needs[elf.path], by_source),
                remove_needed=libpython,
                rpath=":".join(dict.fromkeys(rpath)),
                strip=strip,
            )
        if not edit.is_empty:
            edits[out_path] = edit
    for library in grafted:
        context = _library_context(audit, library.source)
        warnings.extend(context.conflicts)
        renames = _renames(context.info.loaded_names, context.resolved, by_source)
        libpython = _libpython(context.info.needed, target)
        warnings.extend(_libpython_warning(library.member, name) for name in libpython)
        kept, uncovered = excluded_host_entries(
            context.info,
            HostDir(str(library.source.parent)),
            scan.arch,
            context.excluded,
            context.excluded_dirs,
        )
        warnings.extend(
            _excluded_warning(library.member, name) for name in uncovered if name not in drivers
        )
        rpath = [*(["$ORIGIN"] if renames else []), *kept]
        edits[library.member] = ElfEdit(
            replace_needed=renames,
            remove_needed=libpython,
            soname=None if library.included else library.new_name,
            rpath=":".join(rpath),
            strip=options.strip,
        )
    return GraftPlan(
        libs_dir,
        grafted,
        android_edits(edits, target, str(scan.wheel)),  # Android: DT_RUNPATH, API level >= 24
        moves,
        shims,
        tuple(warnings),
    )


def _wheel_needs(
    audit: Audit, target: Policy, *, dlopen_anywhere: bool
) -> dict[MemberPath, dict[Soname, Path]]:
    """Each wheel ELF that gets an RPATH -> the external libraries it loads (name -> file).

    A missing library stops the repair here. libpython alone has no path; with ``--include``
    every ELF may be the one that dlopens the included library, so each gets the RPATH.
    """
    scan = audit.scan
    needs: dict[MemberPath, dict[Soname, Path]] = {}
    for elf in scan.elves:
        refs = audit.verdict.per_elf[elf.path][target.name]
        missing = sorted(
            name
            for name, path in refs.libs.items()
            if path is None and not LIBPYTHON_RE.match(name)
        )
        if missing:
            raise LibraryNotFoundError(
                f"{scan.wheel}!{elf.path}",
                not_found_reason(audit.trees.get(elf.path), missing, audit.paths, scan.arch),
            )
        found = {n: p for n, p in refs.libs.items() if p is not None}
        if found or dlopen_anywhere:
            needs[elf.path] = found
    return needs


def _libpython(needed: tuple[Soname, ...], target: Policy) -> tuple[Soname, ...]:
    # (linking libpython is normal on Android: the entry stays)
    return () if target.is_android else tuple(n for n in needed if LIBPYTHON_RE.match(n))


def _libpython_warning(path: str, name: str) -> str:
    return (
        f"Removing {name} dependency from {path}. Linking with libpython is forbidden for"
        " manylinux/musllinux wheels."
    )


def _renames(
    needed: tuple[Soname, ...],
    resolved: Mapping[Soname, Path],
    by_source: Mapping[Path, GraftedLibrary],
) -> tuple[tuple[Soname, Soname], ...]:
    """DT_NEEDED renames of one file: each name goes to the graft of the file *it* resolved to."""
    return tuple(
        (n, by_source[resolved[n]].new_name)
        for n in needed
        if n in resolved and resolved[n] in by_source and by_source[resolved[n]].new_name != n
    )


def _grafted_libraries(
    needs: Mapping[MemberPath, Mapping[Soname, Path]],
    digests: Mapping[Path, str],
    libs_dir: str,
    kept: Mapping[Path, Soname],
) -> tuple[GraftedLibrary, ...]:
    """One graft per distinct host file: a soname is not an identity.

    Two ELF files may resolve the same soname to different files (their own RPATHs); each file
    is grafted under its own content-hashed name, so each ELF keeps the library it was built
    to load. Files with identical bytes and names share one member; ``kept`` ones are unhashed.
    """
    chosen: dict[Path, GraftedLibrary] = {}
    digest_of_member: dict[MemberPath, str] = {}
    for _elf, libs in sorted(needs.items()):
        for name, source in sorted(libs.items()):
            if source in chosen:
                continue
            keep = kept.get(source)
            member = MemberPath(f"{libs_dir}/{keep or hashed_name(source.name, digests[source])}")
            if digest_of_member.setdefault(member, digests[source]) != digests[source]:
                raise NameCollisionError(
                    str(source),
                    f"its grafted name {member} is taken by a different file with the same"
                    " name and hash prefix",
                )
            chosen[source] = GraftedLibrary(source, keep or name, member, keep is not None)
    return tuple(sorted(chosen.values(), key=lambda g: (g.member, str(g.source))))


@dataclass(frozen=True)
class _LibraryContext:
    """What the trees say about one grafted host file."""

    info: ElfInfo
    resolved: Mapping[Soname, Path]
    """Each name it loads -> the host file that name resolved to."""
    excluded: frozenset[Soname]
    excluded_dirs: Mapping[Soname, str]
    conflicts: tuple[str, ...]


def _library_context(audit: Audit, source: Path) -> _LibraryContext:
    """A grafted file's dynamic info and how the trees resolved the names it loads.

    The copy gets one set of renames. If two trees resolved one of its names differently
    (possible only through inherited RPATHs), the first tree in member order wins, with a
    warning.
    """
    info: ElfInfo | None = None
    resolved: dict[Soname, Path] = {}
    excluded: set[Soname] = set()
    excluded_dirs: dict[Soname, str] = {}
    conflicts: list[str] = []
    for tree_path, tree in sorted(audit.trees.items()):
        mine = [lib for lib in tree.libraries.values() if lib.realpath == source and lib.info]
        if not mine:
            continue
        info = info or mine[0].info
        assert info is not None
        excluded.update(tree.excluded)
        for name, directory in tree.excluded_dirs.items():
            excluded_dirs.setdefault(name, directory)
        for name in info.loaded_names:
            found = tree.libraries.get(name)
            if found is None or found.realpath is None:
                continue
            if name in resolved and resolved[name] != found.realpath:
                conflicts.append(
                    f"{tree_path} loads {source}, whose {name} resolves to {found.realpath}"
                    f" there but to {resolved[name]} elsewhere; the grafted copy uses the latter"
                )
                continue
            resolved.setdefault(name, found.realpath)
    assert info is not None, f"{source} is grafted but in no tree"
    return _LibraryContext(info, resolved, frozenset(excluded), excluded_dirs, tuple(conflicts))


def driver_warnings(audit: Audit) -> list[str]:
    """One line per wheel ELF and driver library it loads: why it is not grafted."""
    return [
        f"{path}: {name} is a driver library ({family}): never grafted, it must come from the"
        f" user's machine (--graft-anyway '{name}' grafts it all the same)"
        for path, tree in sorted(audit.trees.items())
        for name, family in sorted(tree.drivers.items())
    ]


def _excluded_warning(path: str, name: str) -> str:
    return (
        f"{path}: {name} is excluded (--exclude), not grafted: the target system must"
        " provide it on its library path"
    )


def libraries_to_hash(audit: Audit, target: Policy) -> list[Path]:
    """Host files whose hash names them in the wheel (the union of external libraries)."""
    paths = {
        path
        for refs in audit.verdict.per_elf.values()
        for path in refs[target.name].libs.values()
        if path is not None
    }
    return sorted(paths)
