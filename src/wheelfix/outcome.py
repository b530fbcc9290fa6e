"""After the write: what one repair did, as a :class:`~wheelfix.repair_report.WheelReport`.

``repair --json`` and ``--report FILE`` print these; the data comes from the repair's result
(the audit, the plan, the packages) and from the written wheel's RECORD (the size and SHA-256
of every grafted library as it is in the wheel).
"""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from pathlib import Path

from packaging.utils import parse_wheel_filename

from wheelfix.elf.model import ElfEdit, ElfInfo, expected_summary, summary_of
from wheelfix.errors import WheelfixError
from wheelfix.pipeline import RepairResult
from wheelfix.repair_report import (
    DynamicEntries,
    GraftedLibrary,
    NotGrafted,
    RepairFailure,
    RewrittenFile,
    Timings,
    WheelReport,
)
from wheelfix.results import Audit

__all__ = ["failed_report", "wheel_report"]


def _tags(path: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(str(tag) for tag in parse_wheel_filename(path.name)[3]))
    except ValueError:
        return ()


def _record(wheel: Path) -> dict[str, tuple[int, str]]:
    """``member -> (size, hex sha256)`` from the written wheel's RECORD."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        text = archive.read(name).decode("utf-8")
    rows: dict[str, tuple[int, str]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) == 3 and row[1].startswith("sha256="):
            digest = base64.urlsafe_b64decode(row[1][len("sha256=") :] + "==").hex()
            rows[row[0]] = (int(row[2]), digest)
    return rows


def _entries(info: ElfInfo, edit: ElfEdit | None = None) -> DynamicEntries:
    summary = expected_summary(info, edit) if edit is not None else summary_of(info)
    return DynamicEntries(summary.needed, summary.soname, summary.rpath, summary.runpath)


def _infos(audit: Audit, result: RepairResult) -> dict[str, ElfInfo]:
    """Output member -> the ELF information of the file it was made from."""
    assert result.plan is not None
    infos: dict[str, ElfInfo] = {}
    for elf in audit.scan.elves:
        infos[str(result.plan.moves.get(elf.path, elf.path))] = elf.info
    by_source = {
        lib.realpath: lib.info
        for tree in audit.trees.values()
        for lib in tree.libraries.values()
        if lib.realpath is not None and lib.info is not None
    }
    for graft in result.plan.grafted:
        info = by_source.get(graft.source)
        if info is not None:
            infos[str(graft.member)] = info
    return infos


def _not_grafted(audit: Audit) -> tuple[NotGrafted, ...]:
    found: dict[str, NotGrafted] = {}
    for tree in audit.trees.values():
        for name in tree.excluded:
            family = tree.drivers.get(name)
            cause = ("never-graft", family) if family else ("exclude", "--exclude")
            found.setdefault(name, NotGrafted(name, *cause))
    return tuple(found[name] for name in sorted(found))


def wheel_report(source: Path, result: RepairResult) -> WheelReport:
    """The report of a repair that succeeded."""
    seconds = Timings(**{k: float(v) for k, v in result.seconds.items()})
    if result.plan is None or result.audit is None:  # a pure wheel, copied unchanged
        return WheelReport(str(source), str(result.output), _tags(source), _tags(result.output))
    plan, audit = result.plan, result.audit
    written = _record(result.output)
    owners = result.provenance.owners if result.provenance is not None else {}
    grafted = {
        str(g.member): GraftedLibrary(
            soname=str(g.original),
            source=str(g.source),
            member=str(g.member),
            new_name=str(g.new_name),
            size=written[str(g.member)][0],
            sha256=written[str(g.member)][1],
            package=owners.get(g.source),
            included=g.included,
        )
        for g in plan.grafted
    }
    infos = _infos(audit, result)
    rewritten = tuple(
        RewrittenFile(member, _entries(infos[member]), _entries(infos[member], edit))
        for member, edit in sorted(plan.edits.items())
        if member in infos
    )
    warnings = (*plan.warnings, *(result.provenance.warnings if result.provenance else ()))
    return WheelReport(
        input=str(source),
        output=str(result.output),
        tags_before=_tags(source),
        tags_after=_tags(result.output),
        grafted=tuple(grafted[m] for m in sorted(grafted)),
        not_grafted=_not_grafted(audit),
        rewritten=rewritten,
        warnings=tuple(warnings),
        seconds=seconds,
    )


def failed_report(source: Path, error: WheelfixError) -> WheelReport:
    """The report of a wheel that failed."""
    return WheelReport(
        input=str(source),
        output=None,
        tags_before=_tags(source),
        error=RepairFailure(error.exit_code, f"{error.subject}: {error.reason}"),
    )
