"""The pipeline: run scan -> resolve -> policy (-> graft -> retag) in order, nothing more.

Callers pass the environment in (search-path options, environment variables, sysroot); the
pipeline reads no global state itself and never prints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable, Protocol

from wheelfix.elf import ElfEdit, apply_edit, page_size_for, parse_info, read_header
from wheelfix.errors import InputFileError, InvalidElfError, OutputError, VerificationError
from wheelfix.graft import (
    GraftedLibrary,
    GraftOptions,
    GraftPlan,
    check_output_names,
    libraries_to_hash,
    plan_graft,
)
from wheelfix.hostfile import open_regular, read_regular
from wheelfix.isolation import ElfWorker
from wheelfix.ldpaths import SearchPaths, load_search_paths
from wheelfix.libc import Libc, detect_elf_libc
from wheelfix.outdir import prepare_output_dir
from wheelfix.policy import Policy, PolicySet, policy_set
from wheelfix.policy.evaluate import Verdict, evaluate
from wheelfix.resolve import ElfTree, HostDir, LibraryCache, Resolver
from wheelfix.retag import platform_tags_after, retag_filename, retag_wheel_metadata
from wheelfix.scan import ElfParser, ScannedElf, ScanResult, scan_wheel
from wheelfix.target import choose_target, parse_plat, tags_to_write
from wheelfix.verify import describe, verify_elf
from wheelfix.wheel import (
    DEFAULT_MAX_UNCOMPRESSED,
    CompressedMember,
    Member,
    MemberPath,
    WheelReader,
)
from wheelfix.writer import WheelWriter, ZipSettings, archive_key


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
        scan,
        paths,
        exclude=options.exclude,
        cache=cache or LibraryCache(options.parse, options.max_uncompressed),
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
            result[path] = replace(tree, libraries=merged)
            break
    return result


def audit(path: Path, options: AuditOptions, *, verify_record: bool = False) -> Audit:
    """Audit one wheel file (``wheelfix show``; ``check`` also verifies every RECORD hash)."""
    with open_wheel(path, options) as reader:
        if verify_record:
            reader.verify_record()
        return audit_reader(reader, options)


def lddtree(path: Path, options: AuditOptions) -> ElfTree:
    """Resolve the dependency tree of one ELF file on disk (``wheelfix lddtree``)."""
    data = read_regular(path, options.max_uncompressed, "an ELF file")
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
    cache = LibraryCache(options.parse, options.max_uncompressed)
    resolver = Resolver((), arch, paths, exclude=options.exclude, cache=cache)
    return resolver.tree(root, HostDir(str(path.resolve().parent)))


class Progress(Protocol):
    """Receives one line per step of a repair (the CLI prints them on stderr)."""

    def __call__(self, message: str) -> None: ...


class _Quiet:
    """The default progress sink: says nothing."""

    def __call__(self, message: str) -> None:
        del message


QUIET = _Quiet()
"""A progress sink that prints nothing (the library's default)."""


@dataclass(frozen=True)
class RepairOptions:
    """How to repair: ``wheelfix repair``'s flags beyond the audit's."""

    wheel_dir: Path = Path("wheelhouse")
    """``-w``: where the repaired wheel goes."""
    plat: str = "auto"
    """``--plat``: the target tag, or ``auto``."""
    lib_sdir: str = ".libs"
    """``-L``: suffix of the grafted libraries' directory."""
    only_plat: bool = False
    """``--only-plat``: write only the requested tag."""
    update_tags: bool = True
    """False with ``--no-update-tags``."""
    strip: bool = False
    """``--strip``."""
    zip: ZipSettings = field(default_factory=ZipSettings)
    """Compression level and timestamp."""
    overwrite: bool = True
    """Replace an existing output file (atomically)."""
    isolate: bool = True
    """Rewrite ELF files in a worker process, so a LIEF crash becomes an error line."""


@dataclass(frozen=True)
class RepairResult:
    """What a repair produced."""

    output: Path
    """The repaired wheel."""
    target: Policy
    """The policy the wheel was repaired to."""
    plan: GraftPlan
    """Every copy and edit that was made."""


def repair(
    path: Path,
    audit_options: AuditOptions,
    options: RepairOptions,
    progress: Progress = QUIET,
    *,
    written: Collection[Path] = (),
) -> RepairResult:
    """Repair one wheel: audit, choose the target, graft, rewrite, retag, write atomically.

    ``written`` holds the outputs earlier wheels of the same run produced: a wheel that would
    replace one of them (two inputs of the same name from different directories) is refused.
    """
    requested = parse_plat(options.plat)
    if requested is not None and requested.libc is Libc.MUSL:
        audit_options = replace(audit_options, musl_policy=requested.base)
    with open_wheel(path, audit_options) as reader:
        result = audit_reader(reader, audit_options)
        target = choose_target(result, requested)
        progress(f"{path.name}: target {target.name}")
        digests = {p: _sha256_file(p) for p in libraries_to_hash(result, target)}
        plan = plan_graft(result, target, digests, GraftOptions(options.lib_sdir, options.strip))
        check_output_names(str(path), (m.path for m in reader.members), plan)
        for warning in plan.warnings:
            progress(f"warning: {warning}")
        name = reader.name
        platforms = platform_tags_after(
            name.platforms,
            tags_to_write(result, target, only_plat=options.only_plat),
            update=options.update_tags,
        )
        output = options.wheel_dir / retag_filename(name, platforms)
        _check_output_path(path, output, written)
        for stale in prepare_output_dir(options.wheel_dir):
            progress(f"removed {stale.name}, left by a killed wheelfix run")
        with (
            ElfWorker() as worker,
            WheelWriter(output, options.zip, overwrite=options.overwrite) as writer,
        ):
            rewrite = _Rewriter(worker.apply_edit if options.isolate else apply_edit, progress)
            members = _wheel_members(reader, plan, platforms, rewrite) + _grafts(
                plan, rewrite, audit_options.max_uncompressed
            )
            # Stream: each member is read, rewritten and written in output order, one at a time.
            for member in sorted(members, key=lambda m: archive_key(m.name)):
                stored = member.stored() if member.stored is not None else None
                if stored is not None:
                    writer.add_compressed(member.name, stored, member.produce(), member.mode)
                else:
                    writer.add(member.name, member.produce(), member.mode)
            writer.finish(reader.dist_info)
    return RepairResult(output=output, target=target, plan=plan)


def _check_output_path(source: Path, output: Path, written: Collection[Path]) -> None:
    if output in written:
        raise OutputError(
            str(output), "was already written by this run from another input of the same name"
        )
    try:
        same = output.exists() and output.samefile(source)
    except OSError:
        same = False
    if same:
        raise OutputError(
            str(output), "is the input wheel itself (choose a -w directory other than its own)"
        )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path, "a shared library") as handle:
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        except OSError as exc:
            raise InputFileError(str(path), f"cannot read ({exc.strerror})") from exc
    hexdigest: str = digest.hexdigest()
    return hexdigest


class _Rewriter:
    """Apply one ElfEdit (in-process or in the worker), then verify the new bytes."""

    def __init__(
        self, edit_bytes: Callable[[bytes, ElfEdit, str], bytes], progress: Progress
    ) -> None:
        self._edit_bytes = edit_bytes
        self._progress = progress

    def __call__(self, data: bytes, edit: ElfEdit, label: str) -> bytes:
        self._progress(f"rewriting {label}")
        out = self._edit_bytes(data, edit, label)
        page_size = page_size_for(read_header(out, label).machine)
        problems = verify_elf(out, page_size)
        if problems:
            raise VerificationError(
                label, f"rewritten file breaks a loader rule: {describe(problems)}"
            )
        return out


@dataclass(frozen=True)
class _OutputMember:
    """One member of the repaired wheel, produced on demand (so only one is in memory)."""

    name: str
    mode: int
    produce: Callable[[], bytes]
    stored: Callable[[], CompressedMember | None] | None = None
    """For members that do not change: their compressed bytes in the input, to copy as-is."""


def _wheel_member_bytes(
    reader: WheelReader,
    member: Member,
    edit: ElfEdit | None,
    platforms: Sequence[str],
    rewrite: _Rewriter,
) -> bytes:
    data = reader.read(member.path)
    if member.path == f"{reader.dist_info}/WHEEL":
        data = retag_wheel_metadata(data.decode("utf-8"), platforms).encode("utf-8")
    if edit is not None:
        data = rewrite(data, edit, f"{reader.path}!{member.path}")
    return data


def _wheel_members(
    reader: WheelReader, plan: GraftPlan, platforms: Sequence[str], rewrite: _Rewriter
) -> list[_OutputMember]:
    """The input's members as they go out: moved, rewritten, retagged; plus script launchers."""
    out = []
    for member in reader.members:
        out_path = plan.moves.get(member.path, member.path)
        edit = plan.edits.get(out_path)
        produce = partial(_wheel_member_bytes, reader, member, edit, platforms, rewrite)
        unchanged = edit is None and member.path != f"{reader.dist_info}/WHEEL"
        stored = partial(reader.read_compressed, member.path) if unchanged else None
        out.append(_OutputMember(out_path, member.mode, produce, stored))
        if member.path in plan.shims:
            shim = plan.shims[member.path]
            out.append(_OutputMember(member.path, member.mode, partial(bytes, shim)))
    return out


def _graft_bytes(library: GraftedLibrary, edit: ElfEdit, rewrite: _Rewriter, limit: int) -> bytes:
    data = read_regular(library.source, limit, "a shared library")
    return rewrite(data, edit, str(library.source))


def _grafts(plan: GraftPlan, rewrite: _Rewriter, limit: int) -> list[_OutputMember]:
    """The grafted libraries, each once (two sonames may name the same file)."""
    unique = {library.member: library for library in plan.grafted}
    return [
        _OutputMember(name, 0o755, partial(_graft_bytes, library, plan.edits[name], rewrite, limit))
        for name, library in unique.items()
    ]
