"""Stages 3 and 4 carried out: the repaired wheel's members, produced one at a time.

:func:`output_members` turns the input wheel, the :class:`~wheelfix.graft.GraftPlan` and the
new platform tags into :class:`OutputMember` values: each member's name, mode and a function
that produces its bytes on demand (read, retag, rewrite in a worker, verify). Members that do
not change also offer their compressed bytes from the input, so they can be copied without
recompressing. :func:`write_members` streams them, in archive order, into any
:class:`MemberSink` (the atomic :class:`~wheelfix.writer.WheelWriter`, or a test's fake).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from wheelfix.cache import RewriteJob
from wheelfix.deflate import usable_cores
from wheelfix.elf import ElfEdit, read_header
from wheelfix.elf.pagesize import verify_page_size
from wheelfix.elf.verify import describe, verify_elf
from wheelfix.errors import InputFileError, VerificationError
from wheelfix.graft import GraftPlan
from wheelfix.hostfile import open_regular
from wheelfix.licenses import add_license_files
from wheelfix.options import ElfParser, Progress
from wheelfix.resolve import LibraryCache
from wheelfix.retag import retag_wheel_metadata
from wheelfix.rewrite_queue import RewriteQueue, Slot
from wheelfix.wheel import CompressedMember, Member, WheelReader
from wheelfix.writer import archive_key

if TYPE_CHECKING:
    from wheelfix.elf.worker import ElfWorker

__all__ = [
    "GraftDigests",
    "MemberSink",
    "OutputMember",
    "RepairSession",
    "RewriteQueue",
    "Rewriter",
    "output_members",
    "sha256_file",
    "write_members",
]

EditBytes = Callable[[bytes, ElfEdit, str], bytes]
"""Applies one :class:`ElfEdit` to ELF bytes (in-process, or in the crash-isolating worker)."""


class MemberSink(Protocol):
    """Where the repaired wheel's members go, in archive order."""

    def add(self, name: str, data: bytes, mode: int) -> None: ...

    def add_compressed(
        self, name: str, member: CompressedMember, data: bytes, mode: int
    ) -> None: ...

    def add_stored(
        self, name: str, member: CompressedMember, sha256: str, size: int, mode: int
    ) -> None: ...

    def finish(self, dist_info: str) -> Path: ...


class Rewriter:
    """Apply one ElfEdit, then verify the new bytes against the loader's rules."""

    def __init__(self, edit_bytes: EditBytes, progress: Progress) -> None:
        self._edit_bytes = edit_bytes
        self._progress = progress

    def __call__(self, data: bytes, edit: ElfEdit, label: str) -> bytes:
        self._progress(f"rewriting {label}")
        out = self._edit_bytes(data, edit, label)
        page_size = verify_page_size(out, read_header(out, label).machine)
        problems = verify_elf(out, page_size)
        if problems:
            raise VerificationError(
                label, f"rewritten file breaks a loader rule: {describe(problems)}"
            )
        return out


@dataclass(frozen=True)
class OutputMember:
    """One member of the repaired wheel, produced on demand (so only one is in memory)."""

    name: str
    """Its path in the output archive."""
    mode: int
    """Unix permission bits (only the execute bits matter)."""
    produce: Callable[[], bytes]
    """Returns the member's bytes."""
    stored: Callable[[], CompressedMember | None] | None = None
    """For members that do not change: their compressed bytes in the input, to copy as-is;
    for grafted libraries: their compressed bytes from the rewrite."""
    record: Callable[[], tuple[str, int]] | None = None
    """For members whose ``stored`` bytes are final: their sha256 (hex) and size, so the
    writer needs neither ``produce`` nor the uncompressed bytes."""


def sha256_file(path: Path) -> str:
    """The hex sha256 of a host file, read in blocks."""
    digest = hashlib.sha256()
    with open_regular(path, "a shared library") as handle:
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        except OSError as exc:
            raise InputFileError(str(path), f"cannot read ({exc.strerror})") from exc
    hexdigest: str = digest.hexdigest()
    return hexdigest


def _wheel_member_bytes(
    reader: WheelReader,
    member: Member,
    platforms: Sequence[str],
    license_paths: Sequence[str],
) -> bytes:
    data = reader.read(member.path)
    if member.path == f"{reader.dist_info}/WHEEL":
        data = retag_wheel_metadata(data.decode("utf-8"), platforms).encode("utf-8")
    if member.path == f"{reader.dist_info}/METADATA" and license_paths:
        text = data.decode("utf-8", "surrogateescape")
        data = add_license_files(text, license_paths).encode("utf-8", "surrogateescape")
    return data


def _member_job(reader: WheelReader, member: Member, edit: ElfEdit) -> RewriteJob:
    name = f"{reader.path}!{member.path}"
    return RewriteJob(name=name, edit=edit, data=reader.read(member.path))


def _rewritten_bytes(queue: RewriteQueue, slot: Slot, label: str) -> bytes:
    return queue.take(slot, label).data


def _wheel_members(
    reader: WheelReader,
    plan: GraftPlan,
    platforms: Sequence[str],
    queue: RewriteQueue,
    license_paths: Sequence[str],
) -> list[tuple[OutputMember, Slot | None]]:
    """The input's members as they go out: moved, rewritten, retagged; plus script launchers."""
    out: list[tuple[OutputMember, Slot | None]] = []
    changed_metadata = {f"{reader.dist_info}/WHEEL"}
    if license_paths:
        changed_metadata.add(f"{reader.dist_info}/METADATA")
    for member in reader.members:
        out_path = plan.moves.get(member.path, member.path)
        edit = plan.edits.get(out_path)
        if edit is not None:
            slot = queue.add(partial(_member_job, reader, member, edit), member.size)
            label = f"{reader.path}!{member.path}"
            produce = partial(_rewritten_bytes, queue, slot, label)
            out.append((OutputMember(out_path, member.mode, produce), slot))
        else:
            produce = partial(_wheel_member_bytes, reader, member, platforms, license_paths)
            unchanged = member.path not in changed_metadata
            stored = partial(reader.read_compressed, member.path) if unchanged else None
            out.append((OutputMember(out_path, member.mode, produce, stored), None))
        if member.path in plan.shims:
            shim = plan.shims[member.path]
            out.append((OutputMember(member.path, member.mode, partial(bytes, shim)), None))
    return out


def _graft_stored(queue: RewriteQueue, slot: Slot, label: str) -> CompressedMember | None:
    stored = queue.peek(slot, label).stored
    if stored is None:
        return None
    return CompressedMember(stored.compress_type, stored.crc, stored.file_size, stored.data)


def _graft_bytes(
    queue: RewriteQueue, slot: Slot, label: str, member: str, written: dict[str, str]
) -> bytes:
    result = queue.take(slot, label)
    written[member] = result.sha256
    return result.data


def _graft_record(
    queue: RewriteQueue, slot: Slot, label: str, member: str, written: dict[str, str]
) -> tuple[str, int]:
    result = queue.take(slot, label)
    written[member] = result.sha256
    return result.sha256, result.size


def _grafts(
    plan: GraftPlan,
    queue: RewriteQueue,
    limit: int,
    written: dict[str, str],
    source_digests: Mapping[Path, str],
) -> list[tuple[OutputMember, Slot | None]]:
    """The grafted libraries, each once (files with equal bytes share one member)."""
    unique = {library.member: library for library in plan.grafted}
    out: list[tuple[OutputMember, Slot | None]] = []
    for name, library in unique.items():
        job = RewriteJob(
            name=str(library.source),
            edit=plan.edits[name],
            source=library.source,
            limit=limit,
            level=queue.level,
            source_sha256=source_digests.get(library.source),
            cache=queue.cache,
        )
        slot = queue.add(partial(replace, job), job.size)
        label = str(library.source)
        produce = partial(_graft_bytes, queue, slot, label, str(name), written)
        stored = partial(_graft_stored, queue, slot, label)
        record = partial(_graft_record, queue, slot, label, str(name), written)
        out.append((OutputMember(name, 0o755, produce, stored, record), slot))
    return out


@dataclass
class GraftDigests:
    """The sha256 of each grafted member as written, filled while the members are produced
    (the SBOM, a later member in archive order, reads it)."""

    by_member: dict[str, str] = field(default_factory=dict)


def output_members(
    reader: WheelReader,
    plan: GraftPlan,
    platforms: Sequence[str],
    queue: RewriteQueue,
    *,
    max_file_size: int,
    license_paths: Sequence[str] = (),
    digests: GraftDigests | None = None,
    source_digests: Mapping[Path, str] | None = None,
) -> list[OutputMember]:
    """Every member of the repaired wheel from the input and the grafts (not RECORD, which
    the sink writes). ``license_paths`` go into METADATA as ``License-File`` headers;
    ``source_digests`` are the grafted files' sha256 (the cache key). Every rewrite is
    queued in archive order and the first ones are started before this returns."""
    written = digests.by_member if digests is not None else {}
    pairs = _wheel_members(reader, plan, platforms, queue, license_paths) + _grafts(
        plan, queue, max_file_size, written, source_digests or {}
    )
    pairs.sort(key=lambda pair: archive_key(pair[0].name))
    # Queue again in archive order: the writer asks for them in that order.
    ordered = [slot for _, slot in pairs if slot is not None]
    queue.reorder(ordered)
    queue.start()
    return [member for member, _ in pairs]


def write_members(members: Iterable[OutputMember], sink: MemberSink, dist_info: str) -> Path:
    """Stream ``members`` into ``sink`` in archive order, then finish it with RECORD."""
    for member in sorted(members, key=lambda m: archive_key(m.name)):
        stored = member.stored() if member.stored is not None else None
        if stored is not None and member.record is not None:
            sha256, size = member.record()
            sink.add_stored(member.name, stored, sha256, size, member.mode)
        elif stored is not None:
            sink.add_compressed(member.name, stored, member.produce(), member.mode)
        else:
            sink.add(member.name, member.produce(), member.mode)
    return sink.finish(dist_info)


class RepairSession:
    """What the repairs of one run share (``wheelfix repair a.whl b.whl ...``).

    The parsed host libraries (a :class:`LibraryCache` per parser and size limit), the
    grafted files' sha256 (by device, inode, size and mtime) and the rewriting worker processes,
    ``jobs`` of them, forked once, when the first wheel has something to rewrite. Use as a
    context manager and pass it to every :func:`wheelfix.pipeline.repair` of the run.
    """

    def __init__(self, jobs: int | None = None, *, owned: bool = False) -> None:
        self.jobs = jobs
        self.owned = owned
        """True: made by ``repair()`` for one wheel, which closes it."""
        self._libraries: dict[tuple[ElfParser | None, int], LibraryCache] = {}
        self._hashes: dict[tuple[int, int, int, int], str] = {}
        self._worker: ElfWorker | None = None

    def libraries(self, parse: ElfParser | None, max_size: int) -> LibraryCache:
        """The run's cache of host libraries read with ``parse``."""
        key = (parse, max_size)
        if key not in self._libraries:
            self._libraries[key] = LibraryCache(parse, max_size)
        return self._libraries[key]

    def sha256(self, path: Path) -> str:
        """:func:`sha256_file`, once per file and run (unless the file changes)."""
        try:
            stat = path.stat()
        except OSError:
            return sha256_file(path)  # raises the error the caller reports
        key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = sha256_file(path)
        return self._hashes[key]

    def sha256_all(self, paths: Iterable[Path]) -> dict[Path, str]:
        """:meth:`sha256` of each path, the files not hashed yet read and hashed side by
        side (hashlib and reads release the GIL); the threads end before this returns."""
        todo = list(dict.fromkeys(paths))
        threads = min(usable_cores(), len(todo))
        if threads <= 1:
            return {path: self.sha256(path) for path in todo}
        with ThreadPoolExecutor(threads, thread_name_prefix="wheelfix-sha256") as pool:
            digests = list(pool.map(self.sha256, todo))
        return dict(zip(todo, digests))

    def worker(self, files: int) -> ElfWorker:
        """The run's worker processes, forked on first call (before any writer thread): all
        ``jobs``, or for a one-wheel session no more than its ``files`` to rewrite."""
        if self._worker is None:
            from wheelfix.elf.worker import ElfWorker

            start = self.jobs if self.jobs is not None else usable_cores()
            start = min(start, files) if self.owned else start
            self._worker = ElfWorker(self.jobs, start=start).__enter__()
        return self._worker

    def __enter__(self) -> RepairSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._worker is not None:
            self._worker.__exit__(exc_type, *exc)
            self._worker = None
