"""End of a repair run: the machine-readable report of every wheel (``repair --report``), pure.

The CLI builds one :class:`WheelReport` per input wheel as it finishes (repaired or failed)
and, at the end of the run, writes :func:`dump_report` of :func:`report_document` to the
report file. The document follows ``data/repair-report.schema.json`` (JSON Schema 2020-12,
format ``"version": 1``): wheels in input order; grafted libraries, left-out libraries and
rewritten files sorted by member or soname; tags sorted; DT_NEEDED and RPATH entries in file
order (their order matters to the loader); times rounded to milliseconds. The same records
give the same text, byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from wheelfix import __version__
from wheelfix.pkgdb import OwningPackage

__all__ = [
    "FORMAT_VERSION",
    "SCHEMA_FILE",
    "DynamicEntries",
    "GraftedLibrary",
    "NotGrafted",
    "RepairFailure",
    "RewrittenFile",
    "Timings",
    "WheelReport",
    "dump_report",
    "report_document",
    "report_schema",
]

FORMAT_VERSION = 1
"""The document's ``version``."""
SCHEMA_FILE = "repair-report.schema.json"
"""The JSON Schema's file name in ``wheelfix/data/``."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CAUSES = ("never-graft", "exclude")


@dataclass(frozen=True)
class DynamicEntries:
    """The dynamic-section entries of one ELF file that repair may change."""

    needed: tuple[str, ...] = ()
    """DT_NEEDED, in file order."""
    soname: str | None = None
    """DT_SONAME, or None."""
    rpath: tuple[str, ...] = ()
    """DT_RPATH entries (split at ``:``), in order."""
    runpath: tuple[str, ...] = ()
    """DT_RUNPATH entries, in order."""


@dataclass(frozen=True)
class GraftedLibrary:
    """One library copied into the wheel."""

    soname: str
    """The DT_NEEDED name the wheel's files asked for (``libz.so.1``)."""
    source: str
    """The host file copied (as the loader found it, ``/lib/x86_64-linux-gnu/libz.so.1``)."""
    member: str
    """Its path in the repaired wheel (``demo.libs/libz-0a1b2c3d.so.1.2.13``)."""
    new_name: str
    """The name DT_NEEDED entries now use, which is also its new DT_SONAME."""
    size: int
    """Bytes written into the wheel."""
    sha256: str
    """Lower-case hex SHA-256 of those bytes."""
    package: OwningPackage | None = None
    """The distro package that installed ``source``, if known."""
    included: bool = False
    """Grafted because ``--include`` named it (a library opened with ``dlopen``): ``new_name``
    is the name ``dlopen`` asks for (no hash) and its DT_SONAME is unchanged."""


@dataclass(frozen=True)
class NotGrafted:
    """A needed library left to the user's machine."""

    soname: str
    """The DT_NEEDED name."""
    cause: str
    """``never-graft`` (a driver library, ``nevergraft.py``) or ``exclude`` (``--exclude``)."""
    detail: str
    """The never-graft family's name, or the ``--exclude`` pattern that matched."""


@dataclass(frozen=True)
class RewrittenFile:
    """One ELF member whose dynamic section repair changed."""

    member: str
    """Its path in the wheel (the same before and after)."""
    before: DynamicEntries
    """Entries in the input wheel."""
    after: DynamicEntries
    """Entries in the repaired wheel."""


@dataclass(frozen=True)
class Timings:
    """Wall-clock seconds spent per stage."""

    audit: float = 0.0
    """Reading, scanning, resolving and evaluating the policies."""
    graft: float = 0.0
    """Planning the graft and rewriting the ELF files."""
    write: float = 0.0
    """Writing the output wheel."""
    total: float = 0.0
    """The whole wheel, start to finish."""


@dataclass(frozen=True)
class RepairFailure:
    """Why a wheel was not repaired: the error line the CLI printed."""

    exit_code: int
    """The error's exit code (README table)."""
    message: str
    """The reason, as printed after ``wheelfix: error: ``."""


@dataclass(frozen=True)
class WheelReport:
    """What repair did with one input wheel."""

    input: str
    """The input wheel's path as given on the command line."""
    output: str | None
    """The repaired wheel's path, or None when it failed."""
    tags_before: tuple[str, ...] = ()
    """The input's tags (``cp311-cp311-linux_x86_64``)."""
    tags_after: tuple[str, ...] = ()
    """The output's tags (empty when it failed)."""
    grafted: tuple[GraftedLibrary, ...] = ()
    """Libraries copied into the wheel."""
    not_grafted: tuple[NotGrafted, ...] = ()
    """Needed libraries left to the user's machine."""
    rewritten: tuple[RewrittenFile, ...] = ()
    """ELF members whose dynamic section changed."""
    warnings: tuple[str, ...] = ()
    """Warnings, in the order they were given."""
    seconds: Timings = field(default_factory=Timings)
    """Time spent."""
    error: RepairFailure | None = None
    """Set when the wheel failed (``output`` is then None and nothing was grafted)."""

    @property
    def status(self) -> str:
        """``repaired`` or ``failed``."""
        return "failed" if self.error is not None else "repaired"


def _check(wheel: WheelReport) -> None:
    """Refuse records the schema would reject, naming the wheel."""
    problems: list[str] = []
    if (wheel.error is None) != (wheel.output is not None):
        problems.append("exactly one of output and error must be set")
    if wheel.error is not None and (wheel.tags_after or wheel.grafted or wheel.rewritten):
        problems.append("a failed wheel has no tags_after, grafted or rewritten entries")
    if wheel.error is None and not wheel.tags_after:
        problems.append("a repaired wheel has tags")
    problems.extend(
        f"{library.member}: not a lower-case hex SHA-256: {library.sha256!r}"
        for library in wheel.grafted
        if not _SHA256_RE.match(library.sha256)
    )
    problems.extend(
        f"{item.soname}: cause must be one of {_CAUSES}, not {item.cause!r}"
        for item in wheel.not_grafted
        if item.cause not in _CAUSES
    )
    for kind, members in (
        ("grafted", [library.member for library in wheel.grafted]),
        ("rewritten", [item.member for item in wheel.rewritten]),
    ):
        if len(set(members)) != len(members):
            problems.append(f"a member is listed twice in {kind}")
    if problems:
        msg = f"{wheel.input}: {'; '.join(problems)}"
        raise ValueError(msg)


def _dynamic(entries: DynamicEntries) -> dict[str, Any]:
    return {
        "needed": list(entries.needed),
        "soname": entries.soname,
        "rpath": list(entries.rpath),
        "runpath": list(entries.runpath),
    }


def _package(owner: OwningPackage | None) -> dict[str, str] | None:
    if owner is None:
        return None
    return {"name": owner.name, "version": owner.version, "purl": owner.purl}


def _grafted(library: GraftedLibrary) -> dict[str, Any]:
    return {
        "soname": library.soname,
        "source": library.source,
        "member": library.member,
        "new_name": library.new_name,
        "size": library.size,
        "sha256": library.sha256,
        "package": _package(library.package),
        "included": library.included,
    }


def _seconds(value: float) -> float:
    return round(max(value, 0.0), 3)


def _wheel(wheel: WheelReport) -> dict[str, Any]:
    _check(wheel)
    error = wheel.error
    return {
        "input": wheel.input,
        "output": wheel.output,
        "status": wheel.status,
        "error": None
        if error is None
        else {"exit_code": error.exit_code, "message": error.message},
        "tags_before": sorted(set(wheel.tags_before)),
        "tags_after": sorted(set(wheel.tags_after)),
        "grafted": [_grafted(lib) for lib in sorted(wheel.grafted, key=lambda lib: lib.member)],
        "not_grafted": [
            {"soname": item.soname, "cause": item.cause, "detail": item.detail}
            for item in sorted(wheel.not_grafted, key=lambda item: (item.soname, item.cause))
        ],
        "rewritten": [
            {"member": item.member, "before": _dynamic(item.before), "after": _dynamic(item.after)}
            for item in sorted(wheel.rewritten, key=lambda item: item.member)
        ],
        "warnings": list(wheel.warnings),
        "seconds": {
            "audit": _seconds(wheel.seconds.audit),
            "graft": _seconds(wheel.seconds.graft),
            "write": _seconds(wheel.seconds.write),
            "total": _seconds(wheel.seconds.total),
        },
    }


def report_document(
    wheels: Sequence[WheelReport], *, tool_version: str = __version__
) -> dict[str, Any]:
    """The report of a run, as JSON-ready data (``ValueError`` for inconsistent records)."""
    return {
        "version": FORMAT_VERSION,
        "tool": {"name": "wheelfix", "version": tool_version},
        "wheels": [_wheel(wheel) for wheel in wheels],
    }


def dump_report(document: dict[str, Any]) -> str:
    """The document as text: sorted keys, two-space indent, UTF-8 kept, final newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def report_schema() -> dict[str, Any]:
    """The report's JSON Schema, as shipped (read on every call)."""
    path = resources.files("wheelfix").joinpath("data").joinpath(SCHEMA_FILE)
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return schema
