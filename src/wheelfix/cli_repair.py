"""Command line, ``repair``'s run: wheels one after another, progress, summaries, the report.

Every wheel is repaired through :func:`wheelfix.pipeline.repair` with a
:class:`~wheelfix.progress.StatusRenderer` as its progress callback (a status line on a
terminal, nothing extra otherwise, silence with ``-q``). A wheel that fails is reported and
the next one still runs; the exit code is the first failure's. ``--json`` prints the run's
report on stdout instead of the output paths, ``--report FILE`` writes it to a file.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import click

from wheelfix.cli_options import included_libraries
from wheelfix.errors import OutputError, WheelfixError
from wheelfix.exits import errors_reported
from wheelfix.memory import return_large_blocks
from wheelfix.options import AuditOptions, RepairOptions
from wheelfix.progress import StatusRenderer, WheelSummary
from wheelfix.repair_report import WheelReport, dump_report, report_document
from wheelfix.report import eligible_line, excluded_lines
from wheelfix.rewrite import RepairSession

__all__ = ["run_repairs"]


def _failed(
    reports: list[WheelReport], wheel: Path, status: StatusRenderer, error: WheelfixError
) -> None:
    from wheelfix.outcome import failed_report

    status.close()  # the error line must not land on the status line
    reports.append(failed_report(wheel, error))


def _write_report(path: Path, text: str) -> None:
    """Write the report atomically (a temporary file renamed over ``path``)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        raise OutputError(str(path), f"cannot write the report ({exc.strerror or exc})") from exc
    finally:
        temporary.unlink(missing_ok=True)


def _repair_one(
    wheel: Path,
    audit_opts: AuditOptions,
    repair_opts: RepairOptions,
    status: StatusRenderer,
    written: Sequence[Path],
    *,
    as_json: bool,
    session: RepairSession,
) -> WheelReport:
    from wheelfix.outcome import wheel_report
    from wheelfix.pipeline import repair

    started = time.monotonic()
    result = repair(wheel, audit_opts, repair_opts, status, written=written, session=session)
    grafted = result.plan.grafted if result.plan is not None else ()
    for line in excluded_lines(result.audit.trees.values() if result.audit else ()):
        status.line(line)  # auditwheel's "Excluding <soname>", also on a pipe
    if result.audit is not None and result.target is not None:
        plat, only = repair_opts.plat, repair_opts.only_plat
        eligible = eligible_line(result.audit, result.target, plat, only_plat=only)
        if eligible is not None:
            status.line(eligible)
    for library in grafted:
        kept = " (--include: file name and SONAME kept)" if library.included else ""
        status.line(f"grafted {library.original} ({library.source}) as {library.member}{kept}")
    if not as_json:
        status.clear_line()  # stdout may be the same terminal as the status line
        click.echo(str(result.output))
    tag = result.target.name if result.target is not None else "pure"
    status.wheel_done(
        WheelSummary(
            name=wheel.name,
            tag=tag,
            grafted=len({g.member for g in grafted}),
            size=result.output.stat().st_size,
            seconds=time.monotonic() - started,
        )
    )
    return wheel_report(wheel, result)


def run_repairs(
    wheels: Sequence[Path],
    audit_opts: AuditOptions,
    repair_opts: RepairOptions,
    *,
    verbose: bool,
    quiet: bool,
    as_json: bool,
    report: Path | None,
) -> None:
    """Repair every wheel; print, report and exit as the module docstring says."""
    return_large_blocks()  # a lower peak RSS: see wheelfix.memory
    include = included_libraries()
    if include:
        repair_opts = replace(repair_opts, include=include)
    failures: list[int] = []
    written: list[Path] = []
    reports: list[WheelReport] = []
    # One session: the wheels share parsed host libraries, hashes and the LIEF workers.
    session = RepairSession(repair_opts.jobs)
    with session, StatusRenderer(quiet=quiet, verbose=verbose) as status:
        for index, wheel in enumerate(wheels, 1):
            status.wheel_started(wheel.name, index, len(wheels))
            try:
                with errors_reported(verbose, partial(_failed, reports, wheel, status)):
                    done = _repair_one(
                        wheel,
                        audit_opts,
                        repair_opts,
                        status,
                        written,
                        as_json=as_json,
                        session=session,
                    )
                    written.append(Path(done.output or ""))
                    reports.append(done)
            except SystemExit as exit_:
                code = int(exit_.code or 1)
                if code > 128:  # a signal or a broken stdout: stop the whole run
                    raise
                failures.append(code)
    if as_json or report is not None:
        text = dump_report(report_document(reports))
        if as_json:
            click.echo(text, nl=False)
        if report is not None:
            with errors_reported(verbose):
                _write_report(report, text)
    if failures:
        sys.exit(failures[0])
