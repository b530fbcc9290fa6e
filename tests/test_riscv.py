"""riscv64 cross repair, and loongarch64 header facts.

riscv64: ``fixtures/cross_aarch64``'s sources (arch-neutral C) built with
``riscv64-linux-gnu-gcc``, repaired to ``manylinux_2_31_riscv64`` (the oldest riscv64
policy), checked with readelf and ``wheelfix.elf.verify``, and run under ``qemu-riscv64 -L
/usr/riscv64-linux-gnu`` with the original libraries deleted. Skipped without the toolchain or
qemu-user, except under ``CI=true`` (``.ci/run`` installs them).

loongarch64: only header facts and policies here (a hand-packed ELF header, e_machine 258:
the architecture name and the 64 KiB page rule); the repair of hand-made loongarch64 files is
in ``tests/test_loongarch.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from archrun import (
    dynamic,
    fail_if_missing,
    graft_name,
    mapped_libs,
    missing_tools,
    run,
)
from runtools import run_wheelfix
from wheelbuild import FIXTURES_DIR, cached_compiler, make_wheel, unpack_wheel
from wheelfix.elf.structs import EM_LOONGARCH, EM_RISCV, page_size_for, read_header
from wheelfix.elf.verify import verify_elf

# --------------------------------------------------------------------------- loongarch64


def _elf64_header(machine: int) -> bytes:
    """A 64-byte little-endian ELF64 ET_DYN header with no program or section headers."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)


@pytest.mark.parametrize(
    ("machine", "arch", "page"),
    [(EM_LOONGARCH, "loongarch64", 0x10000), (EM_RISCV, "riscv64", 0x1000)],
)
def test_header_arch_and_page_size(machine: int, arch: str, page: int) -> None:
    header = read_header(_elf64_header(machine), "x.so")
    assert header.machine == machine
    assert header.arch == arch
    assert page_size_for(header.machine) == page


def test_loongarch64_policies_exist() -> None:
    proc = run_wheelfix("policies", "--arch", "loongarch64")
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert "manylinux_2_36_loongarch64" in names  # the oldest glibc policy for loongarch64
    assert "manylinux_2_31_loongarch64" not in names
    assert "musllinux_1_2_loongarch64" in names


# --------------------------------------------------------------------------- riscv64

CROSS_CC = "riscv64-linux-gnu-gcc"
QEMU = "qemu-riscv64"
SYSROOT = Path("/usr/riscv64-linux-gnu")
HINT = "apt-get install gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-user; .ci/run does"
MISSING = missing_tools(
    [CROSS_CC, QEMU, "readelf"],
    [SYSROOT / "lib" / "ld-linux-riscv64-lp64d.so.1", SYSROOT / "lib" / "crt1.o"],
)
SRC = FIXTURES_DIR / "cross_aarch64"
DIST = "crossdemo"
LIBS_DIR = f"{DIST}.libs"
EXT_MEMBER = "pkg/_ext.cpython-311-riscv64-linux-gnu.so"
SONAMES = ("libcross.so.1", "libcrossdep.so.1")
PLAT = "manylinux_2_31_riscv64"
_SHARED = ("-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed")

riscv = pytest.mark.skipif(
    bool(MISSING) and os.environ.get("CI") != "true",
    reason=f"riscv64 tests need {', '.join(MISSING)} ({HINT})",
)


@pytest.fixture(scope="module")
def built(fixture_cache: Path) -> dict[str, Path]:
    fail_if_missing(MISSING, HINT)

    cc = cached_compiler(fixture_cache, SRC, CROSS_CC)

    dep = cc("crossdep.c", "libcrossdep.so.1", [*_SHARED, "-Wl,-soname,libcrossdep.so.1"])
    lib = cc(
        "cross.c",
        "libcross.so.1",
        [
            *_SHARED,
            "-Wl,-soname,libcross.so.1",
            "-Wl,--version-script=cross.map",
            f"-L{dep.parent}",
            "-l:libcrossdep.so.1",
        ],
        inputs=("cross.map",),
    )
    ext = cc(
        "ext.c",
        "_ext.so",
        [*_SHARED, f"-L{lib.parent}", "-l:libcross.so.1", f"-Wl,-rpath-link,{dep.parent}"],
    )
    runner = cc("runner.c", "runner", ["-O1", "-Wall"])
    return {"libcrossdep.so.1": dep, "libcross.so.1": lib, "ext": ext, "runner": runner}


@riscv
def test_riscv64_policy_exists() -> None:
    proc = run_wheelfix("policies", "--arch", "riscv64")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == PLAT  # the oldest riscv64 glibc policy


@riscv
def test_riscv64_repair_verify_and_run(built: dict[str, Path], tmp_path: Path) -> None:
    header = read_header(built["ext"].read_bytes(), "ext")
    assert (header.machine, header.arch) == (EM_RISCV, "riscv64")
    libs = tmp_path / "libs"
    for soname in SONAMES:
        libs.mkdir(exist_ok=True)
        shutil.copyfile(built[soname], libs / soname)
    wheel = make_wheel(
        tmp_path / "wheel",
        DIST,
        "1.0",
        {"pkg/__init__.py": b'"""crossdemo on riscv64."""\n', EXT_MEMBER: built["ext"]},
        tag="cp311-cp311-linux_riscv64",
    )
    ldpaths = f"{libs}:{SYSROOT / 'lib'}"
    show = run_wheelfix("show", "--json", "--ldpaths", ldpaths, wheel)
    assert show.returncode == 0, show.stderr
    doc = json.loads(show.stdout)
    assert doc["external_libs"] == {s: str(libs / s) for s in SONAMES}
    # riscv64's glibc baseline is 2.27, older than the oldest riscv64 policy.
    assert doc["versioned_symbols"]["libc.so.6"] == ["GLIBC_2.27"]
    assert doc["sym_tag"] == PLAT

    proc = run_wheelfix(
        "repair", "--plat", PLAT, "--ldpaths", ldpaths, "-w", tmp_path / "out", wheel
    )
    assert proc.returncode == 0, proc.stderr
    (repaired,) = (tmp_path / "out").iterdir()
    assert repaired.name == f"{DIST}-1.0-cp311-cp311-{PLAT}.whl"
    with zipfile.ZipFile(repaired) as zf:
        meta = zf.read(f"{DIST}-1.0.dist-info/WHEEL").decode()
    assert [ln for ln in meta.splitlines() if ln.startswith("Tag: ")] == [
        f"Tag: cp311-cp311-{PLAT}"
    ]

    site = unpack_wheel(repaired, tmp_path / "site")
    names = {s: graft_name(s, built[s]) for s in SONAMES}
    ext = site / EXT_MEMBER
    assert dynamic(ext)["NEEDED"] == [names["libcross.so.1"], "libc.so.6"]
    assert dynamic(ext)["RPATH"] == [f"$ORIGIN/../{LIBS_DIR}"]
    cross = site / LIBS_DIR / names["libcross.so.1"]
    assert dynamic(cross)["NEEDED"] == [names["libcrossdep.so.1"], "libc.so.6"]
    for path in (ext, *(site / LIBS_DIR / n for n in names.values())):
        assert verify_elf(path.read_bytes()) == (), path

    shutil.rmtree(libs)
    argv: list[str | os.PathLike[str]] = [QEMU, "-L", SYSROOT, built["runner"]]
    ran = run([*argv, ext])
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.splitlines()[0] == "ext_value(20) = 322"
    expected = {os.path.realpath(site / LIBS_DIR / n) for n in names.values()}
    assert mapped_libs(ran.stdout) == expected
    control = run([*argv, unpack_wheel(wheel, tmp_path / "unrepaired") / EXT_MEMBER])
    assert control.returncode == 3, control.stdout + control.stderr
    assert "libcross.so.1: cannot open shared object file" in control.stderr
