"""Stages 3 and 4 carried out: the repaired wheel's members, produced one at a time.

:func:`output_members` turns the input wheel, the :class:`~wheelfix.graft.GraftPlan` and the
new platform tags into :class:`OutputMember` values: each member's name, mode and a function
that produces its bytes on demand (read, retag, rewrite through LIEF, verify). Members that do
not change also offer their compressed bytes from the input, so they can be copied without
recompressing. :func:`write_members` streams them, in archive order, into any
:class:`MemberSink` (the atomic :class:`~wheelfix.writer.WheelWriter`, or a test's fake).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Protocol

from wheelfix.elf import ElfEdit, page_size_for, read_header
from wheelfix.elf.verify import describe, verify_elf
from wheelfix.errors import InputFileError, VerificationError
from wheelfix.graft import GraftedLibrary, GraftPlan
from wheelfix.hostfile import open_regular, read_regular
from wheelfix.licenses import add_license_files
from wheelfix.options import Progress
from wheelfix.retag import retag_wheel_metadata
from wheelfix.wheel import CompressedMember, Member, WheelReader
from wheelfix.writer import archive_key

__all__ = [
    "GraftDigests",
    "MemberSink",
    "OutputMember",
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

    def finish(self, dist_info: str) -> Path: ...


class Rewriter:
    """Apply one ElfEdit, then verify the new bytes against the loader's rules."""

    def __init__(self, edit_bytes: EditBytes, progress: Progress) -> None:
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
class OutputMember:
    """One member of the repaired wheel, produced on demand (so only one is in memory)."""

    name: str
    """Its path in the output archive."""
    mode: int
    """Unix permission bits (only the execute bits matter)."""
    produce: Callable[[], bytes]
    """Returns the member's bytes."""
    stored: Callable[[], CompressedMember | None] | None = None
    """For members that do not change: their compressed bytes in the input, to copy as-is."""


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
    edit: ElfEdit | None,
    platforms: Sequence[str],
    rewrite: Rewriter,
    license_paths: Sequence[str],
) -> bytes:
    data = reader.read(member.path)
    if member.path == f"{reader.dist_info}/WHEEL":
        data = retag_wheel_metadata(data.decode("utf-8"), platforms).encode("utf-8")
    if member.path == f"{reader.dist_info}/METADATA" and license_paths:
        text = data.decode("utf-8", "surrogateescape")
        data = add_license_files(text, license_paths).encode("utf-8", "surrogateescape")
    if edit is not None:
        data = rewrite(data, edit, f"{reader.path}!{member.path}")
    return data


def _wheel_members(
    reader: WheelReader,
    plan: GraftPlan,
    platforms: Sequence[str],
    rewrite: Rewriter,
    license_paths: Sequence[str],
) -> list[OutputMember]:
    """The input's members as they go out: moved, rewritten, retagged; plus script launchers."""
    out = []
    changed_metadata = {f"{reader.dist_info}/WHEEL"}
    if license_paths:
        changed_metadata.add(f"{reader.dist_info}/METADATA")
    for member in reader.members:
        out_path = plan.moves.get(member.path, member.path)
        edit = plan.edits.get(out_path)
        produce = partial(
            _wheel_member_bytes, reader, member, edit, platforms, rewrite, license_paths
        )
        unchanged = edit is None and member.path not in changed_metadata
        stored = partial(reader.read_compressed, member.path) if unchanged else None
        out.append(OutputMember(out_path, member.mode, produce, stored))
        if member.path in plan.shims:
            shim = plan.shims[member.path]
            out.append(OutputMember(member.path, member.mode, partial(bytes, shim)))
    return out


def _graft_bytes(
    library: GraftedLibrary,
    edit: ElfEdit,
    rewrite: Rewriter,
    limit: int,
    written: dict[str, str],
) -> bytes:
    data = rewrite(
        read_regular(library.source, limit, "a shared library"), edit, str(library.source)
    )
    written[str(library.member)] = hashlib.sha256(data).hexdigest()
    return data


def _grafts(
    plan: GraftPlan, rewrite: Rewriter, limit: int, written: dict[str, str]
) -> list[OutputMember]:
    """The grafted libraries, each once (files with equal bytes share one member)."""
    unique = {library.member: library for library in plan.grafted}
    return [
        OutputMember(
            name, 0o755, partial(_graft_bytes, library, plan.edits[name], rewrite, limit, written)
        )
        for name, library in unique.items()
    ]


@dataclass
class GraftDigests:
    """The sha256 of each grafted member as written, filled while the members are produced
    (the SBOM, a later member in archive order, reads it)."""

    by_member: dict[str, str] = field(default_factory=dict)


def output_members(
    reader: WheelReader,
    plan: GraftPlan,
    platforms: Sequence[str],
    rewrite: Rewriter,
    *,
    max_file_size: int,
    license_paths: Sequence[str] = (),
    digests: GraftDigests | None = None,
) -> list[OutputMember]:
    """Every member of the repaired wheel from the input and the grafts (not RECORD, which
    the sink writes). ``license_paths`` go into METADATA as ``License-File`` headers."""
    written = digests.by_member if digests is not None else {}
    return _wheel_members(reader, plan, platforms, rewrite, license_paths) + _grafts(
        plan, rewrite, max_file_size, written
    )


def write_members(members: Iterable[OutputMember], sink: MemberSink, dist_info: str) -> Path:
    """Stream ``members`` into ``sink`` in archive order, then finish it with RECORD."""
    for member in sorted(members, key=lambda m: archive_key(m.name)):
        stored = member.stored() if member.stored is not None else None
        if stored is not None:
            sink.add_compressed(member.name, stored, member.produce(), member.mode)
        else:
            sink.add(member.name, member.produce(), member.mode)
    return sink.finish(dist_info)
