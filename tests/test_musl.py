"""musl end to end: a musl wheel built with Debian's ``musl-gcc``, audited, repaired to
``musllinux_1_2_x86_64`` and ``musllinux_1_1_x86_64``, and run by musl's own loader.

``fixtures/musl``: ``pkg/_mext.cpython-311-x86_64-linux-musl.so`` needs ``libmdemo.so.1``
(found through ``LD_LIBRARY_PATH``), whose DT_RUNPATH ``$ORIGIN/dep`` finds ``libmdep.so.1``;
``pkg/driver`` is a musl executable that ``dlopen``s the extension and prints
``mext_value(5)``. The wheel is tagged ``linux_x86_64``, so the libc comes from the ELF files
(the driver's PT_INTERP ``/lib/ld-musl-x86_64.so.1``, everyone's DT_NEEDED
``libc.musl-x86_64.so.1``: libc is linked under its Alpine name, as on a musllinux build
image). No musl CPython is needed: the driver
stands in for the interpreter.

Oracles: ``auditwheel show --json`` (the same environment), ``readelf``, and musl's loader
running the repaired wheel with the original libraries deleted and no ``LD_LIBRARY_PATH``.
Skipped without musl-tools, except under ``CI=true`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from archrun import (
    dynamic,
    fail_if_missing,
    graft_name,
    interpreter,
    mapped_libs,
    missing_tools,
    run,
    skip_unless_present,
)
from runtools import clean_env, run_wheelfix
from wheelbuild import FIXTURES_DIR, compile_cached, make_wheel, unpack_wheel
from wheelfix.elf.lief_io import parse_info
from wheelfix.elf.verify import verify_elf
from wheelfix.libc import Libc, detect_elf_libc

MUSL_CC = "musl-gcc"
MUSL_LOADER = Path("/lib/ld-musl-x86_64.so.1")
SRC = FIXTURES_DIR / "musl"
HINT = "apt-get install musl-tools; .ci/run installs it"
MISSING = missing_tools([MUSL_CC, "readelf"], [MUSL_LOADER])
skip_unless_present(MISSING, HINT)

DIST = "mdemo"
LIBS_DIR = f"{DIST}.libs"
EXT_MEMBER = "pkg/_mext.cpython-311-x86_64-linux-musl.so"
DRIVER_MEMBER = "pkg/driver"
SONAMES = ("libmdemo.so.1", "libmdep.so.1")
#: mext_value(5) = mdemo(5) * 3 = (mdep(5) + 7) * 3 = (5 * 5 + 1 + 7) * 3.
EXPECTED = "mext_value(5) = 99"
_SHARED = ("-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed")


@pytest.fixture(autouse=True, scope="module")
def _tools_present() -> None:
    fail_if_missing(MISSING, HINT)


@dataclass(frozen=True)
class Built:
    root: Path
    ext: Path
    driver: Path
    mdemo: Path
    mdep: Path
    wheel: Path
    libs: Path
    """``libs/libmdemo.so.1`` and ``libs/dep/libmdep.so.1`` (only ``libs`` is on the path)."""

    def stage(self, dest: Path) -> Path:
        (dest / "dep").mkdir(parents=True)
        shutil.copyfile(self.mdemo, dest / "libmdemo.so.1")
        shutil.copyfile(self.mdep, dest / "dep" / "libmdep.so.1")
        return dest

    @property
    def staged(self) -> dict[str, Path]:
        return {
            "libmdemo.so.1": self.libs / "libmdemo.so.1",
            "libmdep.so.1": self.libs / "dep" / "libmdep.so.1",
        }


#: Alpine's name for musl's libc (its SONAME there); Debian's musl libc has no SONAME, so
#: plain ``musl-gcc`` output needs ``libc.so``, which auditwheel does not whitelist.
ALPINE_LIBC = "libc.musl-x86_64.so.1"


def _alpine_libc_dir(cache: Path) -> Path:
    """A directory where ``-l:libc.musl-x86_64.so.1`` finds Debian's musl ``libc.so``."""
    directory = cache / "musl-alpine-libc"
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / ALPINE_LIBC
    if not link.is_symlink():
        link.symlink_to(Path("/usr/lib/x86_64-linux-musl/libc.so"))
    return directory


def _cc(cache: Path, source: str, output: str, args: list[str]) -> Path:
    """``musl-gcc``, linking libc under its Alpine name (DT_NEEDED libc.musl-x86_64.so.1)."""
    libc = ["-nodefaultlibs", f"-L{_alpine_libc_dir(cache)}", f"-l:{ALPINE_LIBC}"]
    return compile_cached(cache, [SRC / source], output, [*args, *libc], compiler=MUSL_CC)


@pytest.fixture(scope="module")
def built(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    mdep = _cc(fixture_cache, "mdep.c", "libmdep.so.1", [*_SHARED, "-Wl,-soname,libmdep.so.1"])
    mdemo = _cc(
        fixture_cache,
        "mdemo.c",
        "libmdemo.so.1",
        [
            *_SHARED,
            "-Wl,-soname,libmdemo.so.1",
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN/dep",
            f"-L{mdep.parent}",
            "-l:libmdep.so.1",
        ],
    )
    ext = _cc(
        fixture_cache,
        "mext.c",
        "_mext.so",
        [*_SHARED, f"-L{mdemo.parent}", "-l:libmdemo.so.1", f"-Wl,-rpath-link,{mdep.parent}"],
    )
    driver = _cc(fixture_cache, "driver.c", "driver", ["-O1", "-Wall"])
    root = tmp_path_factory.mktemp("musl")
    wheel = make_wheel(
        root / "wheel",
        DIST,
        "1.0",
        {
            "pkg/__init__.py": b'"""mdemo: a musl test wheel."""\n',
            EXT_MEMBER: ext,
            DRIVER_MEMBER: driver,
        },
        tag="cp311-cp311-linux_x86_64",
    )
    result = Built(root, ext, driver, mdemo, mdep, wheel, root / "libs")
    result.stage(result.libs)
    return result


def _repair(built: Built, plat: str, out: Path, libs: Path | None = None) -> Path:
    proc = run_wheelfix(
        "repair", "--plat", plat, "-w", out, built.wheel, ld_library_path=[libs or built.libs]
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.iterdir()
    assert proc.stdout.strip() == str(wheel)
    return wheel


# --------------------------------------------------------------------------- 0. fixture


def test_fixture_is_musl_and_shaped_as_claimed(built: Built) -> None:
    assert interpreter(built.driver) == str(MUSL_LOADER)
    assert dynamic(built.driver)["NEEDED"] == [ALPINE_LIBC]
    assert interpreter(built.ext) is None
    assert dynamic(built.ext)["NEEDED"] == ["libmdemo.so.1", ALPINE_LIBC]
    mdemo = dynamic(built.mdemo)
    assert mdemo["NEEDED"] == ["libmdep.so.1", ALPINE_LIBC]
    assert mdemo["RUNPATH"] == ["$ORIGIN/dep"]
    # The libc is detected from each ELF alone: the driver's interpreter, the libraries'
    # DT_NEEDED (the extension's -linux-musl suffix is not needed).
    for path in (built.driver, built.ext, built.mdemo, built.mdep):
        info = parse_info(path.read_bytes(), path.name)
        assert detect_elf_libc(info, "pkg/_plain.so") is Libc.MUSL, path
    # The unrepaired chain works with the libraries on LD_LIBRARY_PATH (and only then).
    unpacked = unpack_wheel(built.wheel, built.root / "as-built")
    ok = run([unpacked / DRIVER_MEMBER, unpacked / EXT_MEMBER], [built.libs])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == EXPECTED


# --------------------------------------------------------------------------- 1. show


def _show_env(built: Built) -> dict[str, str]:
    return clean_env([built.libs])


@pytest.mark.oracle
def test_show_json_matches_auditwheel(built: Built) -> None:
    mine = run_wheelfix("show", "--json", built.wheel, ld_library_path=[built.libs])
    theirs = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(built.wheel)],
        env=_show_env(built),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr
    ours, ref = json.loads(mine.stdout), json.loads(theirs.stdout)
    for doc in (ours, ref):
        assert doc["overall_tag"] == "linux_x86_64"
        assert doc["sym_tag"] == "musllinux_1_2_x86_64"
        assert doc["external_libs"] == {s: str(p) for s, p in built.staged.items()}
        assert doc["versioned_symbols"] == {}
    assert ours == ref


def test_show_without_origin_dir_cannot_find_the_dependency(built: Built, tmp_path: Path) -> None:
    # Control for $ORIGIN: libmdep.so.1 is only reachable through libmdemo's $ORIGIN/dep.
    libs = built.stage(tmp_path / "libs")
    shutil.rmtree(libs / "dep")
    proc = run_wheelfix("show", "--json", built.wheel, ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["external_libs"] == {
        "libmdemo.so.1": str(libs / "libmdemo.so.1"),
        "libmdep.so.1": None,
    }
    repair = run_wheelfix("repair", "-w", tmp_path / "out", built.wheel, ld_library_path=[libs])
    assert repair.returncode == 9, repair.stderr
    assert repair.stderr.splitlines() == [
        f"wheelfix: error: {built.wheel}!{EXT_MEMBER}: Cannot repair wheel, because required"
        ' library "libmdep.so.1" could not be located'
        " (set LD_LIBRARY_PATH or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude)"
    ]


# --------------------------------------------------------------------------- 2. repair


@pytest.mark.parametrize(
    ("plat", "tag"),
    [
        ("musllinux_1_2_x86_64", "musllinux_1_2_x86_64"),
        ("auto", "musllinux_1_2_x86_64"),
        # musl has no symbol versions: nothing in the binaries forbids the older tag.
        ("musllinux_1_1_x86_64", "musllinux_1_1_x86_64"),
    ],
)
def test_repair_and_run_with_musl_loader(built: Built, tmp_path: Path, plat: str, tag: str) -> None:
    libs = built.stage(tmp_path / "libs")
    wheel = _repair(built, plat, tmp_path / "out", libs)
    assert wheel.name == f"{DIST}-1.0-cp311-cp311-{tag}.whl"
    names = {s: graft_name(s, p) for s, p in built.staged.items()}
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
        meta = zf.read(f"{DIST}-1.0.dist-info/WHEEL").decode()
    assert {f"{LIBS_DIR}/{n}" for n in names.values()} <= members
    assert [ln for ln in meta.splitlines() if ln.startswith("Tag: ")] == [f"Tag: cp311-cp311-{tag}"]

    site = unpack_wheel(wheel, tmp_path / "site")
    unrepaired = unpack_wheel(built.wheel, tmp_path / "unrepaired")
    shutil.rmtree(libs)  # only mdemo.libs/ can satisfy the needs now

    ext, driver = site / EXT_MEMBER, site / DRIVER_MEMBER
    grafted = {s: site / LIBS_DIR / n for s, n in names.items()}
    # readelf: the renamed chain, $ORIGIN-relative paths, libc left alone.
    assert dynamic(ext)["NEEDED"] == [names["libmdemo.so.1"], ALPINE_LIBC]
    assert dynamic(ext)["RPATH"] == [f"$ORIGIN/../{LIBS_DIR}"]
    mdemo = dynamic(grafted["libmdemo.so.1"])
    assert mdemo["SONAME"] == [names["libmdemo.so.1"]]
    assert mdemo["NEEDED"] == [names["libmdep.so.1"], ALPINE_LIBC]
    assert mdemo.get("RPATH", []) + mdemo.get("RUNPATH", []) == ["$ORIGIN"]
    assert dynamic(grafted["libmdep.so.1"])["NEEDED"] == [ALPINE_LIBC]
    assert dynamic(driver) == dynamic(built.driver)  # needs nothing to graft: untouched
    for path in (ext, *grafted.values()):
        assert verify_elf(path.read_bytes()) == (), path

    # musl's loader, started as the driver's interpreter and explicitly: no LD_LIBRARY_PATH.
    for argv in ([driver, ext], [MUSL_LOADER, driver, ext]):
        proc = run(argv)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.splitlines()[0] == EXPECTED
        assert mapped_libs(proc.stdout) == {os.path.realpath(p) for p in grafted.values()}

    # Control: the unrepaired extension with the libraries gone cannot load.
    control = run([unrepaired / DRIVER_MEMBER, unrepaired / EXT_MEMBER])
    assert control.returncode == 3, control.stdout + control.stderr
    assert "libmdemo.so.1" in control.stderr


@pytest.mark.oracle
def test_repaired_wheels_per_auditwheel_and_check(built: Built, tmp_path: Path) -> None:
    for plat in ("musllinux_1_2_x86_64", "musllinux_1_1_x86_64"):
        wheel = _repair(built, plat, tmp_path / plat)
        theirs = subprocess.run(
            [sys.executable, "-m", "auditwheel", "show", "--json", str(wheel)],
            env=clean_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert theirs.returncode == 0, theirs.stderr
        ref = json.loads(theirs.stdout)
        # auditwheel evaluates the host's musl (1.2.3 here); show evaluates the newest policy.
        assert ref["overall_tag"] == "musllinux_1_2_x86_64"
        assert ref["external_libs"] == {}
        mine = run_wheelfix("show", "--json", wheel)
        assert mine.returncode == 0, mine.stderr
        assert json.loads(mine.stdout) == ref
        # check evaluates each musllinux tag with its own policy.
        check = run_wheelfix("check", wheel)
        assert check.returncode == 0, check.stdout + check.stderr


def test_repair_to_manylinux_is_refused(built: Built, tmp_path: Path) -> None:
    proc = run_wheelfix(
        "repair",
        "--plat",
        "manylinux_2_17_x86_64",
        "-w",
        tmp_path,
        built.wheel,
        ld_library_path=[built.libs],
    )
    assert proc.returncode == 10, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        f"wheelfix: error: {built.wheel}: can't repair wheel {built.wheel.name} with MUSL libc"
        " to a wheel targeting GLIBC (--plat manylinux_2_17_x86_64)"
    ]
    assert not any(tmp_path.iterdir())
