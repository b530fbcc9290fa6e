#!/usr/bin/env python3
"""Compare ``wheelfix`` with ``auditwheel`` on real wheels, in one run.

For every wheel given (default: the wheels built by ``build_real_wheels.sh`` in
``benchmarks/.cache/wheels``, the LLVM case included):

* ``show``: time ``wheelfix show`` and ``auditwheel show`` (fresh interpreter each
  time, median of N) and compare their ``show --json`` documents; for a wheel that is
  already ``manylinux_*`` (numpy, scipy) this is all that is measured;
* ``repair`` (only wheels still tagged ``linux_*``): time ``wheelfix repair`` and
  ``auditwheel repair`` (fresh interpreter each time, own output directory each time,
  median of N, peak RSS), then report the platform tag, the grafted set (``<dist>.libs/``)
  and the size of each tool's output, and audit each output with the *other* tool; the
  medians of the sdist-built lxml, Pillow and h5py are also summed per tool;
* import check (``importcheck.py``): install each repaired wheel into a fresh directory
  and import + exercise it under ``LD_DEBUG=libs,files``;
* build matrix: the five ``llvmext`` wheels (cp39..cp313), one repair process per wheel,
  timed as a whole.

Prints markdown tables on stdout; progress goes to stderr. The jobs live in ``timing.py``,
``contents.py``, ``importcheck.py`` and ``tables.py``.

    python benchmarks/compare.py                 # default wheels, N=5
    python benchmarks/compare.py -n 3 some.whl   # other wheels (no matrix unless --matrix)
    python benchmarks/compare.py --markdown benchmarks/.cache/results.md
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from contents import compare_show_json, platform_tag, show_json
from importcheck import import_check, kind_of, make_xz_xml
from tables import MatrixReport, WheelReport, markdown
from timing import CACHE, TOOLS, ToolError, time_matrix, time_repair, time_show, time_startup

HERE = Path(__file__).resolve().parent
WHEELS = HERE / ".cache" / "wheels"
DEFAULT_GLOBS = (
    "[Pp]y[Yy][Aa][Mm][Ll]-*-linux_x86_64.whl",
    "lxml-*-linux_x86_64.whl",
    "[Pp]illow-*-linux_x86_64.whl",
    "h5py-*-linux_x86_64.whl",
    "llvmext-*-cp311-cp311-linux_x86_64.whl",
    "numpy-*manylinux*.whl",
    "scipy-*manylinux*.whl",
)
MATRIX_GLOB = "llvmext-*-linux_x86_64.whl"


def log(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


def default_wheels() -> list[Path]:
    found = []
    for pattern in DEFAULT_GLOBS:
        matches = sorted(WHEELS.glob(pattern))
        if not matches:
            sys.exit(f"no {pattern} in {WHEELS}: run benchmarks/build_real_wheels.sh first")
        found.append(matches[-1])
    return found


def process(wheel: Path, args: argparse.Namespace, workdir: Path, xz_path: Path) -> WheelReport:
    """Benchmark one wheel; a failing tool run is recorded, not raised."""
    report = WheelReport(wheel)
    log(f"{wheel.name}: show x{args.warmup + args.repeat} per tool")
    try:
        report.show = time_show(wheel, args.repeat, args.warmup)
        report.show_json = compare_show_json(wheel)
    except ToolError as exc:
        report.errors.append(str(exc))
    if not platform_tag(wheel).startswith("linux_"):
        return report
    log(f"{wheel.name}: repair x{args.warmup + args.repeat} per tool")
    try:
        report.repair, report.outputs = time_repair(wheel, args.repeat, args.warmup, workdir)
    except ToolError as exc:
        report.errors.append(str(exc))
        return report
    for tool in TOOLS:
        other = TOOLS[1 - TOOLS.index(tool)]
        try:
            report.cross_audit[tool] = str(show_json(other, report.outputs[tool])["overall_tag"])
        except ToolError as exc:
            report.errors.append(str(exc))
            report.cross_audit[tool] = "error"
        if not args.no_import:
            log(f"{wheel.name}: import check of the {tool} output")
            check_dir = workdir / f"import-{tool}"
            check_dir.mkdir()
            report.imports[tool] = import_check(
                report.outputs[tool], kind_of(wheel), check_dir, xz_path
            )
    return report


def process_matrix(wheels: list[Path], args: argparse.Namespace, workdir: Path) -> MatrixReport:
    """Time the build matrix; a failing tool run is recorded, not raised."""
    report = MatrixReport(wheels)
    log(f"matrix of {len(wheels)} wheels: x{args.warmup + args.repeat} per tool")
    try:
        report.timings, report.outputs = time_matrix(wheels, args.repeat, args.warmup, workdir)
    except ToolError as exc:
        report.errors.append(str(exc))
    return report


def python_order(wheel: Path) -> tuple[int, str]:
    """Sort key: cp39 before cp310 (by the CPython version in the tag, then by name)."""
    tag = wheel.name.split("-")[-3]
    return (int(tag[2:]) if tag[2:].isdigit() else 0, wheel.name)


def matrix_wheels(args: argparse.Namespace) -> list[Path]:
    """The matrix: ``--matrix GLOB`` in the cache; by default only with the default wheels."""
    if args.no_matrix or (args.wheels and args.matrix is None):
        return []
    found = sorted(WHEELS.glob(args.matrix or MATRIX_GLOB), key=python_order)
    if not found:
        sys.exit(f"no {args.matrix or MATRIX_GLOB} in {WHEELS}: run build_real_wheels.sh first")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="*", type=Path, help="default: benchmarks/.cache/wheels")
    parser.add_argument("-n", "--repeat", type=int, default=5, help="timed runs per tool")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool first")
    parser.add_argument("--no-import", action="store_true", help="skip the import check")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--keep", type=Path, help="keep outputs here instead of a temp dir")
    parser.add_argument("--matrix", help=f"glob of the matrix wheels (default {MATRIX_GLOB})")
    parser.add_argument("--no-matrix", action="store_true", help="skip the build matrix")
    parser.add_argument(
        "--cache",
        choices=("cold", "warm", "off"),
        default="cold",
        help="wheelfix's graft cache: a fresh one per run and per matrix round (default),"
        " one for the whole benchmark (filled by the warm-up), or none",
    )
    args = parser.parse_args(argv)
    CACHE["mode"] = args.cache
    wheels = [w.resolve() for w in args.wheels] or default_wheels()
    matrix = matrix_wheels(args)
    for tool in ("patchelf", "readelf"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found on PATH")

    with tempfile.TemporaryDirectory(prefix="wheelfix-bench-") as tmp:
        root = args.keep.resolve() if args.keep else Path(tmp)
        if root.exists() and any(root.iterdir()) and args.keep:
            sys.exit(f"--keep {root}: directory is not empty")
        root.mkdir(parents=True, exist_ok=True)
        xz_path = make_xz_xml(root)
        reports = []
        for index, wheel in enumerate(wheels):
            workdir = root / f"{index}-{kind_of(wheel)}"
            workdir.mkdir()
            reports.append(process(wheel, args, workdir, xz_path))
        matrix_report = None
        if matrix:
            workdir = root / "matrix"
            workdir.mkdir()
            matrix_report = process_matrix(matrix, args, workdir)
        log("fixed-cost runs")
        startup = time_startup(args.repeat, args.warmup)
        text = markdown(reports, startup, matrix_report, args.repeat, args.warmup)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    failed = [
        f"{r.wheel.name} ({t})"
        for r in reports
        for t, i in r.imports.items()
        if i.verdict != "PASS"
    ]
    if failed:
        log("import check FAILED for " + ", ".join(failed))
    errors = any(r.errors for r in reports) or bool(matrix_report and matrix_report.errors)
    if errors:
        log("some tool runs failed: see the errors section")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
