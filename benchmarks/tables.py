"""Tables: the benchmark's results as markdown, plus the machine and versions they came from."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from contents import grafted_libs, libs_unpacked_size, platform_tag, record_problems
from importcheck import ImportResult
from timing import CACHE, TOOLS, Timing, cpu_cell, ratio, rss_cell


@dataclass
class WheelReport:
    wheel: Path
    show: dict[str, Timing] | None = None
    show_json: str = ""
    errors: list[str] = field(default_factory=list)
    repair: dict[str, Timing] | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    cross_audit: dict[str, str] = field(default_factory=dict)
    imports: dict[str, ImportResult] = field(default_factory=dict)


@dataclass
class MatrixReport:
    wheels: list[Path]
    timings: dict[str, Timing] | None = None
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def fmt_size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def environment() -> list[str]:
    def version(argv: list[str]) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return "?"
        return (proc.stdout or proc.stderr).strip().splitlines()[0].split(" installed at")[0]

    import lief  # wheelfix's dependency, only for its version here

    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import wheelfix

    package = Path(wheelfix.__file__).resolve().parent
    checkout = package.parents[1]
    revision = version(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"- {version([sys.executable, '-m', 'wheelfix', '--version'])} (git {revision}"
        f"{', src/ modified' if dirty else ''}) from {package}, LIEF {lief.__version__}",
        f"- {version([sys.executable, '-m', 'auditwheel', '--version'])}, "
        f"{version(['patchelf', '--version'])}",
        f"- Python {platform.python_version()}, glibc {platform.libc_ver()[1]}, "
        f"{len(os.sched_getaffinity(0))} usable cores ({os.cpu_count()} x {cpu}), zlib "
        f"{zlib.ZLIB_RUNTIME_VERSION}, load average at the end "
        + "/".join(f"{x:.2f}" for x in os.getloadavg()),
        f"- wheelfix graft cache: {CACHE['mode']} (`compare.py --cache`)",
    ]


def repair_table(reports: list[WheelReport]) -> list[str]:
    lines = [
        "| wheel | wheelfix tag | auditwheel tag | wheelfix s | auditwheel s | ratio | "
        "CPU s wheelfix / auditwheel | peak RSS MiB wheelfix / auditwheel | "
        "wheelfix size (`.libs` unpacked) | auditwheel size (`.libs` unpacked) | RECORD ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rep in reports:
        if rep.repair is None:
            continue
        wf, aw = rep.outputs["wheelfix"], rep.outputs["auditwheel"]
        records = {tool: record_problems(rep.outputs[tool]) for tool in TOOLS}
        record_cell = " / ".join(
            "yes" if not records[t] else f"NO ({t}: {'; '.join(records[t][:3])})" for t in TOOLS
        )
        lines.append(
            f"| {rep.wheel.name} | `{platform_tag(wf)}` | `{platform_tag(aw)}` | "
            f"{rep.repair['wheelfix'].cell()} | {rep.repair['auditwheel'].cell()} | "
            f"{ratio(rep.repair)} | {cpu_cell(rep.repair)} | {rss_cell(rep.repair)} | "
            f"{fmt_size(wf.stat().st_size)} "
            f"({fmt_size(libs_unpacked_size(wf))}) | {fmt_size(aw.stat().st_size)} "
            f"({fmt_size(libs_unpacked_size(aw))}) | {record_cell} |"
        )
    return lines


SDIST_SUM = ("lxml", "pillow", "h5py")
"""The sdist-built wheels whose repair medians are summed (by distribution name)."""


def repair_sum_table(reports: list[WheelReport]) -> list[str]:
    """One row: the repair medians of the SDIST_SUM wheels, summed per tool, and the ratio."""
    repaired = {
        rep.wheel.name.split("-", 1)[0].lower(): rep.repair
        for rep in reports
        if rep.repair is not None
    }
    if not {rep.wheel.name.split("-", 1)[0].lower() for rep in reports} & set(SDIST_SUM):
        return []
    label = f"sdist-built wheels ({' + '.join(SDIST_SUM)}), summed"
    missing = [kind for kind in SDIST_SUM if kind not in repaired]
    if missing:
        return [f"{label}: not measured (no repair timing of {', '.join(missing)})"]
    wf = sum(repaired[kind]["wheelfix"].median for kind in SDIST_SUM)
    aw = sum(repaired[kind]["auditwheel"].median for kind in SDIST_SUM)
    wf_cpu = sum(repaired[kind]["wheelfix"].cpu_median for kind in SDIST_SUM)
    aw_cpu = sum(repaired[kind]["auditwheel"].cpu_median for kind in SDIST_SUM)
    return [
        "| wheels | wheelfix s (sum of medians) | auditwheel s (sum of medians) | "
        "wheelfix / auditwheel | ratio (auditwheel / wheelfix) | CPU s wheelfix / auditwheel |",
        "|---|---|---|---|---|---|",
        f"| {label} | {wf:.2f} | {aw:.2f} | {wf / aw:.2f}x | {aw / wf:.2f}x | "
        f"{wf_cpu:.2f} / {aw_cpu:.2f} |",
    ]


def grafted_table(reports: list[WheelReport]) -> list[str]:
    lines = [
        "| wheel | same set (wheelfix / auditwheel) | grafted by both | only wheelfix "
        "| only auditwheel |",
        "|---|---|---|---|---|",
    ]
    for rep in reports:
        if rep.repair is None:
            continue
        wf = set(grafted_libs(rep.outputs["wheelfix"]))
        aw = set(grafted_libs(rep.outputs["auditwheel"]))
        lines.append(
            f"| {rep.wheel.name} | {'yes' if wf == aw else 'NO'} ({len(wf)} / {len(aw)}) | "
            f"{', '.join(sorted(wf & aw)) or '-'} | {', '.join(sorted(wf - aw)) or '-'} | "
            f"{', '.join(sorted(aw - wf)) or '-'} |"
        )
    return lines


def show_table(reports: list[WheelReport]) -> list[str]:
    return [
        "| wheel | wheelfix s | auditwheel s | ratio | CPU s wheelfix / auditwheel | "
        "`show --json` documents |",
        "|---|---|---|---|---|---|",
        *(
            f"| {rep.wheel.name} | {rep.show['wheelfix'].cell()} | "
            f"{rep.show['auditwheel'].cell()} | {ratio(rep.show)} | {cpu_cell(rep.show)} | "
            f"{rep.show_json} |"
            for rep in reports
            if rep.show is not None
        ),
    ]


def import_table(reports: list[WheelReport]) -> list[str]:
    lines = [
        "| wheel | repaired by | tag per the other tool's `show` | imported from target | "
        "exercise | grafted libs mapped from `.libs` | ld.so lookups resolved into `.libs` | "
        "system deps left (all on the whitelist) | system copies of grafted libs also mapped "
        "(loaded by) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rep in reports:
        for tool, res in rep.imports.items():
            exercise = "ok" if res.ok else f"FAILED: {res.error}"
            verdict = res.verdict + ("" if not res.problems else ": " + "; ".join(res.problems))
            lines.append(
                f"| {rep.wheel.name.split('-')[0]} | {tool} | `{rep.cross_audit[tool]}` | "
                f"{'yes' if res.from_target else 'NO'} | {exercise} | "
                f"{res.grafted_loaded}/{res.grafted_total} | {res.debug_edges_into_libs} | "
                f"{', '.join(res.system_deps)} | {', '.join(res.shadow_copies) or 'none'} | "
                f"{verdict} |"
            )
    return lines


def startup_table(startup: dict[str, Timing]) -> list[str]:
    return [
        "| command | median wall s (min-max) | median CPU s |",
        "|---|---|---|",
        *(
            f"| {label} | {timing.cell()} | {timing.cpu_median:.2f} |"
            for label, timing in startup.items()
        ),
    ]


def matrix_table(matrix: MatrixReport) -> list[str]:
    if matrix.timings is None:
        return ["(failed: see the errors section)"]
    sizes = {t: sum(w.stat().st_size for w in matrix.outputs[t]) for t in TOOLS}
    same = all(
        grafted_libs(a) == grafted_libs(b)
        for a, b in zip(matrix.outputs["wheelfix"], matrix.outputs["auditwheel"])
    )
    bad = [w.name for t in TOOLS for w in matrix.outputs[t] if record_problems(w)]
    return [
        f"{len(matrix.wheels)} wheels ({', '.join(w.name for w in matrix.wheels)}), each "
        "repaired by its own `python -m TOOL repair` process, one after another; a sample is "
        "the whole matrix (summed wall and CPU, largest peak RSS).",
        "",
        "| tools | matrix wall s (min-max) | per wheel s | ratio | CPU s wheelfix / auditwheel "
        "| peak RSS MiB wheelfix / auditwheel | total output wheelfix / auditwheel | "
        "same grafted sets | RECORD ok |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| wheelfix / auditwheel | {matrix.timings['wheelfix'].cell()} / "
        f"{matrix.timings['auditwheel'].cell()} | "
        f"{matrix.timings['wheelfix'].median / len(matrix.wheels):.2f} / "
        f"{matrix.timings['auditwheel'].median / len(matrix.wheels):.2f} | "
        f"{ratio(matrix.timings)} | {cpu_cell(matrix.timings)} | {rss_cell(matrix.timings)} | "
        f"{fmt_size(sizes['wheelfix'])} / {fmt_size(sizes['auditwheel'])} | "
        f"{'yes' if same else 'NO'} | {'yes' if not bad else 'NO: ' + ', '.join(bad)} |",
    ]


def markdown(
    reports: list[WheelReport],
    startup: dict[str, Timing],
    matrix: MatrixReport | None,
    repeat: int,
    warmup: int,
) -> str:
    sections = [
        [
            f"Median wall time of N={repeat} runs (after {warmup} warm-up), each a fresh "
            "`python -m TOOL` process, the two tools interleaved; min-max in parentheses. "
            "Ratio = auditwheel / wheelfix median wall time (> 1: wheelfix is faster). "
            "CPU = median user+sys time of the process tree (auditwheel's includes its "
            "patchelf children). Peak RSS = the largest `ru_maxrss` over the runs, from "
            "`os.wait4`: the high-water mark of the biggest single process of the tool's tree.",
            "",
            *environment(),
        ],
        ["### repair", "", *repair_table(reports)],
        *([["#### repair, summed", "", *summed]] if (summed := repair_sum_table(reports)) else []),
        ["### grafted libraries (`<dist>.libs/`)", "", *grafted_table(reports)],
        *([["### build matrix", "", *matrix_table(matrix)]] if matrix is not None else []),
        ["### show", "", *show_table(reports)],
        ["### import check of the repaired wheels", "", *import_table(reports)],
        ["### fixed cost: interpreter start + imports", "", *startup_table(startup)],
    ]
    errors = [e for rep in reports for e in rep.errors] + (matrix.errors if matrix else [])
    if errors:
        sections.append(["### errors", "", *(f"```\n{e.strip()}\n```" for e in errors)])
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
