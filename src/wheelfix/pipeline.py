"""The pipeline: run scan -> resolve -> policy (-> graft -> retag) in order, nothing more.

Callers pass the environment in (search-path options, environment variables, sysroot); the
pipeline reads no global state itself and never prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from wheelfix.elf import parse_info
from wheelfix.errors import InputFileError, InvalidElfError
from wheelfix.ldpaths import SearchPaths, load_search_paths
from wheelfix.libc import Libc, detect_elf_libc
from wheelfix.policy import PolicySet, policy_set
from wheelfix.policy.evaluate import Verdict, evaluate
from wheelfix.resolve import ElfTree, HostDir, LibraryCache, Resolver
from wheelfix.scan import ElfParser, ScannedElf, ScanResult, scan_wheel
from wheelfix.wheel import DEFAULT_MAX_UNCOMPRESSED, Member, MemberPath, WheelReader


@dataclass(frozen=True)
class AuditOptions:
    """How to audit: the knobs ``show``, ``check`` and ``repair`` share."""

    ldpaths: str | None = None
    """``--ldpaths``: replaces ld.so.conf and the default directories."""
    sysroot: Path | None = None
    """``--sysroot``: look every host path up under this directory."""
    environ: Mapping[str, str] = field(default_factory=dict)
    """The environment to read ``LD_LIBRARY_PATH`` and ``AUDITWHEEL_LD_LIBRARY_PATH`` from."""
    exclude: Sequence[str] = ()
    """``--exclude`` globs (soname or resolved path)."""
    disable_isa_ext_check: bool = False
    """``--disable-isa-ext-check``."""
    musl_policy: str | None = None
    """Which musllinux policy to evaluate (``musllinux_1_1``/``1_2``); default the newest."""
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED
    """Zip-bomb guard: the most uncompressed bytes a wheel may declare."""
    parse: ElfParser = parse_info
    """How ELF bytes are parsed (swappable for a crash-isolated parser)."""


@dataclass(frozen=True)
class Audit:
    """Everything known about one wheel after scan, resolve and policy evaluation."""

    scan: ScanResult
    """Stage 1 result."""
    paths: SearchPaths
    """The search lists that were used."""
    trees: Mapping[MemberPath, ElfTree]
    """Stage 2 result: one resolved tree per wheel ELF."""
    verdict: Verdict
    """Policy result."""


def open_wheel(path: Path, options: AuditOptions) -> WheelReader:
    """Open and validate a wheel (the caller closes it)."""
    return WheelReader(path, max_uncompressed=options.max_uncompressed)


def audit_reader(
    reader: WheelReader, options: AuditOptions, cache: LibraryCache | None = None
) -> Audit:
    """Scan, resolve and evaluate an opened wheel."""
    scan = scan_wheel(reader, options.parse)
    elf_class = scan.elves[0].info.header.elf_class
    paths = load_search_paths(
        scan.libc,
        scan.arch,
        elf_class,
        ldpaths=options.ldpaths,
        environ=options.environ,
        sysroot=options.sysroot,
    )
    resolver = Resolver.for_scan(
        scan, paths, exclude=options.exclude, cache=cache or LibraryCache(options.parse)
    )
    trees = {elf.path: resolver.tree(elf) for elf in scan.elves}
    trees = borrow_loader_resolution(scan, trees)
    policies: PolicySet = policy_set(scan.libc, scan.arch, options.musl_policy)
    verdict = evaluate(scan, trees, policies, disable_isa_ext_check=options.disable_isa_ext_check)
    return Audit(scan=scan, paths=paths, trees=trees, verdict=verdict)


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
            result[path] = ElfTree(root=tree.root, libraries=merged, excluded=tree.excluded)
            break
    return result


def audit(path: Path, options: AuditOptions) -> Audit:
    """Audit one wheel file (``wheelfix show``)."""
    with open_wheel(path, options) as reader:
        return audit_reader(reader, options)


def lddtree(path: Path, options: AuditOptions) -> ElfTree:
    """Resolve the dependency tree of one ELF file on disk (``wheelfix lddtree``)."""
    try:
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise InputFileError(str(path), "is a directory, not an ELF file") from exc
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read ({exc.strerror or exc})") from exc
    info = options.parse(data, str(path))
    arch = info.header.arch
    if arch is None:
        raise InvalidElfError(
            str(path), f"unsupported architecture (e_machine {info.header.machine})"
        )
    libc = detect_elf_libc(info, path.name) or Libc.GLIBC
    paths = load_search_paths(
        libc,
        arch,
        info.header.elf_class,
        ldpaths=options.ldpaths,
        environ=options.environ,
        sysroot=options.sysroot,
    )
    member = Member(
        path=MemberPath(str(path)),
        size=len(data),
        mode=0o755,
        install_path=PurePosixPath(path.name),
        scheme="platlib",
    )
    root = ScannedElf(member=member, info=info, python_version=None)
    resolver = Resolver((), arch, paths, exclude=options.exclude, cache=LibraryCache(options.parse))
    return resolver.tree(root, HostDir(str(path.resolve().parent)))
