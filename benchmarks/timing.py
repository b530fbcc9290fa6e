"""Timing for the benchmarks: run a tool in a fresh interpreter, measure wall, CPU and peak RSS.

Every run is one child process started with ``subprocess.Popen`` and reaped with
``os.wait4``, whose rusage covers the child and every descendant it waited for (auditwheel's
patchelf runs, wheelfix's LIEF worker): CPU is their user+sys time, and peak RSS is
``ru_maxrss``, the high-water mark of the largest process of that tree (Linux does not add up
processes that ran at the same time).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("wheelfix", "auditwheel")


class ToolError(RuntimeError):
    pass


@dataclass(frozen=True)
class Sample:
    wall: float
    """Seconds from start to exit."""
    cpu: float
    """User + system seconds of the child's process tree."""
    max_rss: int
    """Peak resident set size in bytes of the largest process of the tree."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[Sample, Finished]:
    """Run ARGV to completion; return its Sample and its exit status and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        finished = Finished(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    sample = Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)
    return sample, finished


CACHE = {"mode": "cold", "dir": "", "matrix": ""}
"""wheelfix's graft cache in the timed runs (``compare.py --cache``): ``cold``, a new empty
cache directory per run (what a first build pays, writing the cache included), and for the
build matrix one new directory per round, shared by its wheels (cold at the matrix's start,
as on a build farm); ``warm``, one directory for the whole benchmark, filled by the warm-up
run; ``off``, nothing stored."""


def _tool_env(tool: str) -> dict[str, str] | None:
    if tool != "wheelfix":
        return None
    env = dict(os.environ)
    if CACHE["mode"] == "off":
        env["WHEELFIX_CACHE_MAX_BYTES"] = "0"
        env["WHEELFIX_CACHE_DIR"] = tempfile.mkdtemp(prefix="wf-cache-off-")
    elif CACHE["mode"] == "warm":
        CACHE["dir"] = CACHE["dir"] or tempfile.mkdtemp(prefix="wf-cache-warm-")
        env["WHEELFIX_CACHE_DIR"] = CACHE["dir"]
    else:
        env["WHEELFIX_CACHE_DIR"] = CACHE["matrix"] or tempfile.mkdtemp(prefix="wf-cache-cold-")
    return env


def run_tool(tool: str, args: list[str]) -> tuple[Sample, Finished]:
    """Run ``python -m TOOL ARGS`` in a fresh interpreter; raise ToolError if it fails."""
    argv = [sys.executable, "-m", tool, *args]
    env = _tool_env(tool)
    try:
        sample, proc = measure(argv, env)
    finally:
        # (the warm cache lives for the whole benchmark, the matrix's for its round)
        if env is not None and env["WHEELFIX_CACHE_DIR"] not in (CACHE["dir"], CACHE["matrix"]):
            shutil.rmtree(env["WHEELFIX_CACHE_DIR"], ignore_errors=True)
    if proc.returncode != 0:
        raise ToolError(
            f"{' '.join(argv)} exited {proc.returncode}\n--- stdout\n{proc.stdout}"
            f"--- stderr\n{proc.stderr}"
        )
    return sample, proc


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample.wall)
        self.cpu.append(sample.cpu)
        self.rss.append(sample.max_rss)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def peak_rss(self) -> int:
        return max(self.rss)

    def cell(self) -> str:
        return f"{self.median:.2f} ({min(self.samples):.2f}-{max(self.samples):.2f})"


def ratio(timings: dict[str, Timing]) -> str:
    return f"{timings['auditwheel'].median / timings['wheelfix'].median:.2f}x"


def cpu_cell(timings: dict[str, Timing]) -> str:
    wf, aw = timings["wheelfix"].cpu_median, timings["auditwheel"].cpu_median
    return f"{wf:.2f} / {aw:.2f} ({aw / wf:.2f}x)"


def rss_cell(timings: dict[str, Timing]) -> str:
    wf, aw = timings["wheelfix"].peak_rss, timings["auditwheel"].peak_rss
    return f"{wf / 2**20:.0f} / {aw / 2**20:.0f}"


STARTUP = {
    "`python -m wheelfix --version`": [sys.executable, "-m", "wheelfix", "--version"],
    "`python -c 'import lief'`": [sys.executable, "-c", "import lief"],
    "`python -c 'import wheelfix.cli, wheelfix.pipeline'`": [
        sys.executable,
        "-c",
        "import wheelfix.cli, wheelfix.pipeline",
    ],
    "`python -m auditwheel --version`": [sys.executable, "-m", "auditwheel", "--version"],
    "`python -c 'import auditwheel.main_repair, auditwheel.repair'`": [
        sys.executable,
        "-c",
        "import auditwheel.main_repair, auditwheel.repair",
    ],
}


def time_startup(repeat: int, warmup: int) -> dict[str, Timing]:
    timings = {label: Timing() for label in STARTUP}
    for i in range(warmup + repeat):
        for label, argv in STARTUP.items():
            sample, proc = measure(argv)
            if proc.returncode != 0:
                raise ToolError(f"{argv} exited {proc.returncode}: {proc.stderr}")
            if i >= warmup:
                timings[label].add(sample)
    return timings


def time_show(wheel: Path, repeat: int, warmup: int) -> dict[str, Timing]:
    timings = {tool: Timing() for tool in TOOLS}
    for i in range(warmup + repeat):
        for tool in TOOLS:  # interleaved, so drift hits both tools alike
            sample, _ = run_tool(tool, ["show", str(wheel)])
            if i >= warmup:
                timings[tool].add(sample)
    return timings


def repair_once(tool: str, wheel: Path, out: Path) -> tuple[Sample, Path]:
    """One ``TOOL repair -w OUT WHEEL`` into a new directory; return its Sample and output."""
    sample, _ = run_tool(tool, ["repair", "-w", str(out), str(wheel)])
    produced = sorted(out.glob("*.whl"))
    if len(produced) != 1:
        raise ToolError(f"{tool} repair of {wheel.name} wrote {produced}")
    return sample, produced[0]


def time_repair(
    wheel: Path, repeat: int, warmup: int, workdir: Path
) -> tuple[dict[str, Timing], dict[str, Path]]:
    """Time both repairs; return the timings and each tool's last output wheel."""
    timings = {tool: Timing() for tool in TOOLS}
    outputs: dict[str, Path] = {}
    for i in range(warmup + repeat):
        for tool in TOOLS:
            sample, outputs[tool] = repair_once(tool, wheel, workdir / f"{tool}-{i}")
            if i >= warmup:
                timings[tool].add(sample)
    return timings, outputs


def time_matrix(
    wheels: list[Path], repeat: int, warmup: int, workdir: Path
) -> tuple[dict[str, Timing], dict[str, list[Path]]]:
    """Repair every wheel of a build matrix, one process per wheel, one wheel after another
    (with ``--cache cold``, sharing a cache that is empty when the round starts).

    A sample is the whole matrix: summed wall and CPU time, the largest peak RSS. The tools
    alternate per round. Returns the timings and each tool's outputs of the last round.
    """
    timings = {tool: Timing() for tool in TOOLS}
    outputs: dict[str, list[Path]] = {}
    for i in range(warmup + repeat):
        for tool in TOOLS:
            samples, outputs[tool] = [], []
            if CACHE["mode"] == "cold":  # one cache for the round, empty at its start
                CACHE["matrix"] = tempfile.mkdtemp(prefix="wf-cache-matrix-")
            try:
                for index, wheel in enumerate(wheels):
                    sample, output = repair_once(tool, wheel, workdir / f"{tool}-{i}-{index}")
                    samples.append(sample)
                    outputs[tool].append(output)
            finally:
                if CACHE["matrix"]:
                    shutil.rmtree(CACHE["matrix"], ignore_errors=True)
                CACHE["matrix"] = ""
            total = Sample(
                sum(s.wall for s in samples),
                sum(s.cpu for s in samples),
                max(s.max_rss for s in samples),
            )
            if i >= warmup:
                timings[tool].add(total)
    return timings, outputs
