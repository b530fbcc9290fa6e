"""The pipeline: run scan -> resolve -> policy (-> graft -> retag) in order, nothing more.

Callers pass the environment in (search-path options, environment variables, sysroot); the
pipeline reads no global state itself and never prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

from wheelfix.cache import GraftCache
from wheelfix.elf.pyread import parse_info
from wheelfix.errors import (
    CheckFailedError,
    InvalidElfError,
    NonPlatformWheelError,
    OutputError,
    PolicyError,
)
from wheelfix.graft import GraftOptions, GraftPlan, libraries_to_hash, plan_graft
from wheelfix.hostfile import read_regular
from wheelfix.ldpaths import load_search_paths
from wheelfix.libc import Libc, detect_elf_libc, split_platform
from wheelfix.options import QUIET, AuditOptions, ElfParser, Progress, RepairOptions
from wheelfix.outdir import copy_unchanged, prepare_output_dir
from wheelfix.outnames import check_output_names
from wheelfix.pkgdb import PackageIndex
from wheelfix.policy import Policy, PolicySet, policy_set
from wheelfix.policy.blockers import BlockerKind, blockers
from wheelfix.policy.evaluate import evaluate
from wheelfix.provenance import Provenance, find_provenance, provenance_members
from wheelfix.resolve import ElfTree, FileRoot, HostDir, LibraryCache, Resolver
from wheelfix.results import Audit, CheckResult
from wheelfix.retag import platform_tags_after, retag_filename
from wheelfix.rewrite import (
    GraftDigests,
    MemberSink,
    RepairSession,
    RewriteQueue,
    output_members,
    write_members,
)
from wheelfix.scan import scan_wheel
from wheelfix.target import choose_target, parse_plat, tags_to_write
from wheelfix.wheel import WheelReader, is_pure_wheel_name
from wheelfix.wheeltrees import resolve_wheel, settle_libc
from wheelfix.writer import WheelWriter


def _parser(options: AuditOptions) -> ElfParser:
    if options.parse is not None:
        return options.parse
    return parse_info  # pure Python: the audit never imports LIEF


def open_wheel(path: Path, options: AuditOptions) -> WheelReader:
    """Open and validate a wheel (the caller closes it)."""
    return WheelReader(path, max_uncompressed=options.max_uncompressed)


def audit_reader(
    reader: WheelReader,
    options: AuditOptions,
    cache: LibraryCache | None = None,
    include: Sequence[str] = (),
) -> Audit:
    """Scan, resolve and evaluate an opened wheel (``include``: ``repair --include``)."""
    scan = scan_wheel(reader, _parser(options))
    cache = cache or LibraryCache(_parser(options), options.max_uncompressed)
    paths, trees = resolve_wheel(scan, options, cache, include)
    if scan.libc_guessed:
        # Neither the tag nor the wheel's own ELF files named a libc: their dependencies may
        # (an extension that calls no libc function links only its libraries).
        libc = settle_libc(scan, trees)
        scan = replace(scan, libc=libc, libc_guessed=False)
        if libc is not Libc.GLIBC:
            paths, trees = resolve_wheel(scan, options, cache, include)
    android = scan.name.platforms[0] if scan.libc is Libc.ANDROID else None
    policies: PolicySet = policy_set(
        scan.libc, scan.arch, options.musl_policy, android_platform=android, wheel=str(scan.wheel)
    )
    verdict = evaluate(scan, trees, policies, disable_isa_ext_check=options.disable_isa_ext_check)
    return Audit(scan=scan, paths=paths, trees=trees, verdict=verdict)


def audit(path: Path, options: AuditOptions, *, verify_record: bool = False) -> Audit:
    """Audit one wheel file (``wheelfix show``; ``check`` also verifies every RECORD hash)."""
    with open_wheel(path, options) as reader:
        if verify_record:
            reader.verify_record()
        return audit_reader(reader, options)


def check(path: Path, options: AuditOptions, plat: str | None = None) -> CheckResult:
    """``wheelfix check``: verify the wheel satisfies its own tags (or ``plat``).

    Every RECORD hash is verified. Raises :class:`CheckFailedError` naming what stands between
    the wheel and the tag, :class:`PolicyError` for a tag that is no policy of this wheel's
    architecture and libc.
    """
    try:
        result = audit(path, options, verify_record=True)
    except NonPlatformWheelError:
        if options.allow_pure and is_pure_wheel_name(path):
            return CheckResult(path.name, (), "pure", pure=True)
        raise
    policies = result.verdict.policies
    if plat is not None:
        targets = [plat]
    else:
        targets = [p for p in result.scan.name.platforms if not p.startswith("linux_")]
        if not targets:
            newest = policies.newest
            raise CheckFailedError(
                str(path),
                "has no manylinux/musllinux platform tag (PyPI refuses linux_* wheels);"
                f" as built it is consistent with {result.verdict.show_overall.name}"
                f" ({newest.name} is blocked by: {_why(result, newest)})",
            )
    for target in targets:
        current = result
        parts = split_platform(target) or split_platform(f"{target}_{policies.arch}")
        if (
            policies.find(target) is None
            and policies.libc is Libc.MUSL
            and parts is not None
            and parts[0].startswith("musllinux_")
        ):
            # One musllinux policy is evaluated at a time: evaluate the one this tag names.
            current = audit(path, replace(options, musl_policy=parts[0]))
        policy = current.verdict.policies.find(target)
        if policy is None:
            raise PolicyError(
                str(path),
                f"{target!r} is not a policy for this wheel's"
                f" architecture and libc ({policies.arch}, {policies.libc.value})"
                + ("" if parts else "; unknown platform tag"),
            )
        if policy > current.verdict.show_overall:
            hint = ""
            if any(b.kind is BlockerKind.LIBRARIES for b in blockers(current.verdict, policy)):
                hint = f" (`wheelfix repair {path}` grafts them)"
            raise CheckFailedError(
                str(path), f"does not satisfy {target}: {_why(current, policy)}{hint}"
            )
    return CheckResult(path.name, tuple(targets), result.verdict.show_overall.name)


def _why(result: Audit, target: Policy) -> str:
    found = blockers(result.verdict, target)
    return "; ".join(b.describe() for b in found) or (
        f"best tag is {result.verdict.show_overall.name}"
    )


def lddtree(path: Path, options: AuditOptions) -> ElfTree:
    """Resolve the dependency tree of one ELF file on disk (``wheelfix lddtree``)."""
    data = read_regular(path, options.max_uncompressed, "an ELF file")
    info = _parser(options)(data, str(path))
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
    cache = LibraryCache(_parser(options), options.max_uncompressed)
    resolver = Resolver((), arch, paths, exclude=options.exclude, cache=cache)
    return resolver.tree(FileRoot(str(path), info), HostDir(str(path.resolve().parent)))


SinkFactory = Callable[[Path], AbstractContextManager[MemberSink]]
"""Opens the destination of one repaired wheel, given its output path."""


def _open_writer(options: RepairOptions, output: Path) -> WheelWriter:
    return WheelWriter(output, options.zip, overwrite=options.overwrite)


@dataclass(frozen=True)
class RepairResult:
    """What a repair produced."""

    output: Path
    """The repaired wheel."""
    target: Policy | None
    """The policy the wheel was repaired to (None: a pure wheel, copied unchanged)."""
    plan: GraftPlan | None
    """Every copy and edit that was made (None: a pure wheel)."""
    audit: Audit | None = None
    """What the input looked like (None: a pure wheel)."""
    provenance: Provenance | None = None
    """The grafted libraries' packages and license files."""
    seconds: Mapping[str, float] = field(default_factory=dict)
    """Wall-clock seconds per stage: ``audit``, ``graft``, ``write``, ``total``."""


def repair(
    path: Path,
    audit_options: AuditOptions,
    options: RepairOptions,
    progress: Progress = QUIET,
    *,
    written: Collection[Path] = (),
    sink: SinkFactory | None = None,
    session: RepairSession | None = None,
) -> RepairResult:
    """Repair one wheel: audit, choose the target, graft, rewrite, retag, write atomically.

    ``written`` holds the outputs earlier wheels of the same run produced: a wheel that would
    replace one of them (two inputs of the same name from different directories) is refused.
    ``sink`` opens where the members go for an output path (default: the atomic
    :class:`~wheelfix.writer.WheelWriter`; tests pass a fake). ``session`` is what the
    repairs of one run share (parsed host libraries, hashes, the LIEF worker processes).
    """
    open_sink = sink or partial(_open_writer, options)
    try:
        return _repair(
            path,
            audit_options,
            options,
            progress,
            written,
            open_sink,
            session or RepairSession(options.jobs, owned=True),
        )
    except NonPlatformWheelError:
        if audit_options.allow_pure and is_pure_wheel_name(path):
            copied = copy_unchanged(path, options.wheel_dir, audit_options.max_uncompressed)
            return RepairResult(output=copied, target=None, plan=None)
        raise


def _repair(
    path: Path,
    audit_options: AuditOptions,
    options: RepairOptions,
    progress: Progress,
    written: Collection[Path],
    open_sink: SinkFactory,
    session: RepairSession,
) -> RepairResult:
    started = time.monotonic()
    requested = parse_plat(options.plat)
    if requested is not None and requested.libc is Libc.MUSL:
        audit_options = replace(audit_options, musl_policy=requested.base)
    packages = PackageIndex(audit_options.sysroot)
    # Read while the audit runs (and joined before the workers fork: no thread then).
    prefetch = threading.Thread(target=packages.prefetch, name="wheelfix-pkgdb", daemon=True)
    prefetch.start()
    with open_wheel(path, audit_options) as reader:
        libraries = session.libraries(_parser(audit_options), audit_options.max_uncompressed)
        try:
            result = audit_reader(reader, audit_options, libraries, options.include)
        finally:
            prefetch.join()
        audited = time.monotonic()
        target = choose_target(result, requested)
        progress(f"{path.name}: target {target.name}")
        hashes = session.sha256_all(libraries_to_hash(result, target))
        plan = plan_graft(result, target, hashes, GraftOptions(options.lib_sdir, options.strip))
        provenance = find_provenance(
            plan,
            packages,
            audit_options.sysroot,
            reader.dist_info,
            licenses=options.licenses,
        )
        extra = [(m.member, f"the license file {m.source}") for m in provenance.licenses]
        if options.sbom and plan.grafted:
            extra.append((provenance.sbom_member, "the SBOM"))
        check_output_names(str(path), (m.path for m in reader.members), plan, extra)
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
        from wheelfix.elf.worker import rewrite_in_process

        planned = time.monotonic()
        # Entered before the workers fork, so an interrupt from here on stops them.
        with session if session.owned else nullcontext():
            # The workers fork before the writer starts its threads (once per session).
            submit = (
                session.worker(len(plan.edits)).submit if options.isolate and plan.edits else None
            )
            with open_sink(output) as destination:
                queue = RewriteQueue(
                    submit or rewrite_in_process,
                    progress,
                    level=options.zip.compression_level,
                    cache=GraftCache(options.cache_dir, options.cache_max_bytes)
                    if options.cache_dir is not None
                    else None,
                )
                digests = GraftDigests()
                members = output_members(
                    reader,
                    plan,
                    platforms,
                    queue,
                    max_file_size=audit_options.max_uncompressed,
                    license_paths=provenance.license_paths,
                    digests=digests,
                    source_digests=hashes,
                ) + provenance_members(provenance, plan, digests, output.name, sbom=options.sbom)
                # Stream: each member is read, rewritten and written in output order, one at a time.
                write_members(members, destination, reader.dist_info)
    # Said once the wheel is written: on a failed repair the error line stays the only one.
    for warning in provenance.warnings:
        progress(f"warning: {warning}")
    done = time.monotonic()
    seconds = {
        "audit": audited - started,
        "graft": planned - audited,
        "write": done - planned,
        "total": done - started,
    }
    return RepairResult(output, target, plan, result, provenance, seconds)


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
