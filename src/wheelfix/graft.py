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

from wheelfix.elf import ElfEdit, Soname, can_strip
from wheelfix.errors import LibraryNotFoundError
from wheelfix.policy import Policy
from wheelfix.resolve import LIBPYTHON_RE, WheelDir, expand_dst
from wheelfix.scan import ScannedElf
from wheelfix.wheel import MemberPath

if TYPE_CHECKING:
    from wheelfix.pipeline import Audit


@dataclass(frozen=True)
class GraftedLibrary:
    """One host library copied into the wheel."""

    source: Path
    """The host file (symlinks followed)."""
    original: Soname
    """The name the wheel's ELF files asked for."""
    member: MemberPath
    """Where it goes in the wheel: ``<dist>.libs/<hashed name>``."""

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


def _relative_dir(target: str, start: PurePosixPath) -> str:
    rel = posixpath.relpath(target, str(start) if str(start) != "." else ".")
    return "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"


def _kept_rpath(elf: ScannedElf, install_dir: PurePosixPath, arch: str) -> list[str]:
    """Existing RPATH/RUNPATH entries that point inside the wheel (others are dropped)."""
    kept = []
    for entry in (*elf.info.rpath, *elf.info.runpath):
        expanded = expand_dst(entry, WheelDir(install_dir), "lib", arch)
        if isinstance(expanded, WheelDir) and entry not in kept:
            kept.append(entry)
    return kept


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
    dist = scan.reader.name.distribution
    libs_dir = f"{dist}{options.lib_sdir}"
    warnings: list[str] = []
    needs: dict[MemberPath, dict[Soname, Path]] = {}
    for elf in scan.elves:
        refs = audit.verdict.per_elf[elf.path][target.name]
        missing = sorted(name for name, path in refs.libs.items() if path is None)
        if missing:
            raise LibraryNotFoundError(
                f"{scan.reader.path}!{elf.path}",
                f"needs {', '.join(missing)}, which cannot be found"
                " (set LD_LIBRARY_PATH or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude)",
            )
        if refs.libs:
            needs[elf.path] = {n: p for n, p in refs.libs.items() if p is not None}

    grafted, conflicts = _grafted_libraries(needs, digests, libs_dir)
    warnings.extend(conflicts)
    by_name = {g.original: g for g in grafted}
    edits: dict[MemberPath, ElfEdit] = {}
    moves: dict[MemberPath, MemberPath] = {}
    shims: dict[MemberPath, bytes] = {}
    for elf in scan.elves:
        out_path = elf.path
        install_dir = elf.install_path.parent
        if elf.path in needs:
            moved = _script_target(elf, dist)
            if moved is not None:
                moves[elf.path], shims[elf.path] = moved, script_shim(moved)
                out_path, install_dir = moved, PurePosixPath(moved).parent
        strip = options.strip and can_strip(elf.info)
        if options.strip and not strip:
            warnings.append(
                f"{elf.path}: left unstripped (a non-PIE executable: stripping LIEF's output of"
                " those breaks them)"
            )
        libpython = tuple(n for n in elf.info.needed if LIBPYTHON_RE.match(n))
        for name in libpython:
            warnings.append(
                f"{elf.path}: removing the DT_NEEDED entry {name} (linking with"
                " libpython is forbidden in manylinux/musllinux wheels)"
            )
        edit = ElfEdit(remove_needed=libpython, strip=strip)
        if elf.path in needs:
            rpath = [
                *_kept_rpath(elf, elf.install_path.parent, scan.arch),
                _relative_dir(libs_dir, install_dir),
            ]
            edit = ElfEdit(
                replace_needed=_renames(elf.info.needed, by_name),
                remove_needed=libpython,
                rpath=":".join(dict.fromkeys(rpath)),
                strip=strip,
            )
        if not edit.is_empty:
            edits[out_path] = edit
    for library in grafted:
        info = _library_info(audit, library)
        renames = _renames(info, by_name)
        edits[library.member] = ElfEdit(
            replace_needed=renames,
            soname=library.new_name,
            rpath="$ORIGIN" if renames else "",
            strip=options.strip,
        )
    return GraftPlan(libs_dir, grafted, edits, moves, shims, tuple(warnings))


def _renames(
    needed: tuple[Soname, ...], by_name: Mapping[Soname, GraftedLibrary]
) -> tuple[tuple[Soname, Soname], ...]:
    return tuple((n, by_name[n].new_name) for n in needed if n in by_name)


def _grafted_libraries(
    needs: Mapping[MemberPath, Mapping[Soname, Path]], digests: Mapping[Path, str], libs_dir: str
) -> tuple[tuple[GraftedLibrary, ...], tuple[str, ...]]:
    chosen: dict[Soname, GraftedLibrary] = {}
    conflicts: list[str] = []
    for elf, libs in sorted(needs.items()):
        for name, source in libs.items():
            if name in chosen:
                if chosen[name].source != source:
                    conflicts.append(
                        f"{elf} resolves {name} to {source}, but {chosen[name].source} is grafted"
                        " (one copy per soname; the first one found wins)"
                    )
                continue
            new_name = hashed_name(source.name, digests[source])
            chosen[name] = GraftedLibrary(source, name, MemberPath(f"{libs_dir}/{new_name}"))
    grafted = tuple(sorted(chosen.values(), key=lambda g: (g.member, g.original)))
    return grafted, tuple(conflicts)


def _library_info(audit: Audit, library: GraftedLibrary) -> tuple[Soname, ...]:
    for tree in audit.trees.values():
        resolved = tree.libraries.get(library.original)
        if resolved is not None and resolved.info is not None:
            return resolved.info.needed
    return ()


def libraries_to_hash(audit: Audit, target: Policy) -> list[Path]:
    """Host files whose hash names them in the wheel (the union of external libraries)."""
    paths = {
        path
        for refs in audit.verdict.per_elf.values()
        for path in refs[target.name].libs.values()
        if path is not None
    }
    return sorted(paths)
