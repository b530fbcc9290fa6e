"""``--sysroot`` alone: an aarch64 wheel repaired against a foreign root laid out like a real
Debian arm64 system (no multiarch on this host, no ``--ldpaths``), with host libraries of the
same sonames set as traps, then run under ``qemu-aarch64 -L <root>``.

The root is built from the cross toolchain ``.ci/run`` installs (``libc6-arm64-cross``):
``lib/aarch64-linux-gnu/{libc.so.6,ld-linux-aarch64.so.1}``, the absolute symlink
``lib/ld-linux-aarch64.so.1 -> /lib/aarch64-linux-gnu/ld-linux-aarch64.so.1`` (it resolves
only inside the root), ``etc/ld.so.conf`` with ``include /etc/ld.so.conf.d/*.conf``, and the
wheel's libraries in ``opt/crossdemo/lib`` listed by ``etc/ld.so.conf.d/crossdemo.conf``.
The sources are ``fixtures/cross_aarch64`` (the compile cache is shared with
``test_cross_arch.py``).

What ``--sysroot`` does with the environment (decided here, documented in the README's
words "every system path under this directory"): every directory the emulated loader
searches is a *target* path, ``LD_LIBRARY_PATH`` and ``AUDITWHEEL_LD_LIBRARY_PATH`` entries
included, so each is looked up under the root, never on the build machine. A host directory
in ``LD_LIBRARY_PATH`` (or in the root's ld.so.conf) is therefore never searched; the same
path inside the root is, at the ``env`` step (before ld.so.conf). auditwheel instead drops
``LD_LIBRARY_PATH`` when it has a root and reads ``AUDITWHEEL_LD_LIBRARY_PATH`` on the host.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from archrun import (
    dynamic,
    fail_if_missing,
    graft_name,
    mapped_libs,
    missing_tools,
    run,
    skip_unless_present,
)
from runtools import run_wheelfix
from wheelbuild import FIXTURES_DIR, cached_compiler, compile_cached, make_wheel, unpack_wheel
from wheelfix.elf.verify import verify_elf

CROSS_CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
CROSS_LIB = Path("/usr/aarch64-linux-gnu/lib")
ROOT_LIBS = ("libc.so.6", "ld-linux-aarch64.so.1")
HINT = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; .ci/run does"
MISSING = missing_tools(
    [CROSS_CC, QEMU, "gcc", "readelf"], [CROSS_LIB / n for n in (*ROOT_LIBS, "crt1.o")]
)
skip_unless_present(MISSING, HINT)

SRC = FIXTURES_DIR / "cross_aarch64"
DIST = "crossdemo"
LIBS_DIR = f"{DIST}.libs"
EXT_MEMBER = "pkg/_ext.cpython-311-aarch64-linux-gnu.so"
SONAMES = ("libcross.so.1", "libcrossdep.so.1")
APP_DIR = "/opt/crossdemo/lib"
MULTIARCH = "/lib/aarch64-linux-gnu"
INTERP = "/lib/ld-linux-aarch64.so.1"
EXPECTED = "ext_value(20) = 322"
_SHARED = ("-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed")


@pytest.fixture(autouse=True, scope="module")
def _tools_present() -> None:
    fail_if_missing(MISSING, HINT)


@dataclass(frozen=True)
class Setup:
    root: Path
    """The sysroot."""
    host_trap: Path
    """A host directory with x86_64 libcross.so.1/libcrossdep.so.1 (same sonames)."""
    wheel: Path
    runner: Path
    built: dict[str, Path]

    def in_root(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def _libs(cache: Path, compiler: str, opt: str = "-O1") -> dict[str, Path]:
    """libcrossdep.so.1 and libcross.so.1 (the same commands as test_cross_arch.py)."""

    cc = cached_compiler(cache, SRC, compiler)

    shared = [a if a != "-O1" else opt for a in _SHARED]
    dep = cc("crossdep.c", "libcrossdep.so.1", [*shared, "-Wl,-soname,libcrossdep.so.1"])
    cross = cc(
        "cross.c",
        "libcross.so.1",
        [
            *shared,
            "-Wl,-soname,libcross.so.1",
            "-Wl,--version-script=cross.map",
            f"-L{dep.parent}",
            "-l:libcrossdep.so.1",
        ],
        inputs=("cross.map",),
    )
    return {"libcrossdep.so.1": dep, "libcross.so.1": cross}


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    dest.chmod(0o755)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def setup(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    built = _libs(fixture_cache, CROSS_CC)
    ext = compile_cached(
        fixture_cache,
        [SRC / "ext.c"],
        "_ext.cpython-311-aarch64-linux-gnu.so",
        [
            *_SHARED,
            f"-L{built['libcross.so.1'].parent}",
            "-l:libcross.so.1",
            f"-Wl,-rpath-link,{built['libcrossdep.so.1'].parent}",
        ],
        compiler=CROSS_CC,
    )
    runner = compile_cached(
        fixture_cache, [SRC / "runner.c"], "runner", ["-O1", "-Wall"], compiler=CROSS_CC
    )
    base = tmp_path_factory.mktemp("sysroot")
    root, host_trap = base / "root", base / "host-trap"
    for name in ROOT_LIBS:
        _copy(CROSS_LIB / name, root / MULTIARCH.lstrip("/") / name)
    (root / "lib" / "ld-linux-aarch64.so.1").symlink_to(f"{MULTIARCH}/ld-linux-aarch64.so.1")
    _write(root / "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n\n")
    _write(
        root / "etc/ld.so.conf.d/aarch64-linux-gnu.conf",
        f"# Multiarch support\n/usr/local/lib/aarch64-linux-gnu\n{MULTIARCH}\n"
        "/usr/lib/aarch64-linux-gnu\n",
    )
    # The host trap first: an absolute path that exists only on the build machine.
    _write(root / "etc/ld.so.conf.d/crossdemo.conf", f"{host_trap}\n{APP_DIR}\n")
    for soname, path in built.items():
        _copy(path, root / APP_DIR.lstrip("/") / soname)
    for soname, path in _libs(fixture_cache, "gcc").items():
        _copy(path, host_trap / soname)
    wheel = make_wheel(
        base / "wheel",
        DIST,
        "1.0",
        {"pkg/__init__.py": b'"""crossdemo: an aarch64 test wheel."""\n', EXT_MEMBER: ext},
        tag="cp311-cp311-linux_aarch64",
    )
    return Setup(root, host_trap, wheel, runner, built)


def _grafted_lines(setup: Setup, source_dir: Path) -> list[str]:
    return [
        f"wheelfix: grafted {s} ({source_dir / s}) as {LIBS_DIR}/{graft_name(s, setup.built[s])}"
        for s in SONAMES
    ]


# --------------------------------------------------------------------------- 0. the root


def test_root_is_laid_out_as_claimed(setup: Setup) -> None:
    link = setup.root / "lib" / "ld-linux-aarch64.so.1"
    assert os.readlink(link) == f"{MULTIARCH}/ld-linux-aarch64.so.1"
    # The symlink dangles on this host: only a chroot-like lookup can follow it.
    assert not Path(f"{MULTIARCH}/ld-linux-aarch64.so.1").exists()
    assert not link.exists()
    for soname in SONAMES:
        assert (
            "Machine:                           Advanced Micro Devices X86-64"
            in run(["readelf", "-h", setup.host_trap / soname]).stdout
        )
        assert dynamic(setup.host_trap / soname)["SONAME"] == [soname]


def test_lddtree_follows_the_absolute_loader_link_inside_the_root(setup: Setup) -> None:
    proc = run_wheelfix(
        "lddtree", "--sysroot", setup.root, setup.runner, ld_library_path=[setup.host_trap]
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["interpreter"] == INTERP
    loader = doc["libraries"]["ld-linux-aarch64.so.1"]
    assert loader["realpath"] == str(setup.in_root(f"{MULTIARCH}/ld-linux-aarch64.so.1"))
    libc = doc["libraries"]["libc.so.6"]
    assert libc["realpath"] == str(setup.in_root(f"{MULTIARCH}/libc.so.6"))
    assert libc["found_via"] == "system"


# --------------------------------------------------------------------------- 1. show, repair


def test_show_finds_libraries_only_inside_the_root(setup: Setup) -> None:
    proc = run_wheelfix(
        "show", "--json", "--sysroot", setup.root, setup.wheel, ld_library_path=[setup.host_trap]
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    app = setup.in_root(APP_DIR)
    assert doc["external_libs"] == {s: str(app / s) for s in SONAMES}
    assert doc["sym_tag"] == "manylinux_2_17_aarch64"


def test_repair_with_sysroot_only_and_run_under_qemu(setup: Setup, tmp_path: Path) -> None:
    proc = run_wheelfix(
        "repair",
        "--plat",
        "manylinux_2_17_aarch64",
        "--sysroot",
        setup.root,
        "-w",
        tmp_path / "out",
        setup.wheel,
        ld_library_path=[setup.host_trap],
    )
    assert proc.returncode == 0, proc.stderr
    grafted = [ln for ln in proc.stderr.splitlines() if " grafted " in ln]
    assert grafted == _grafted_lines(setup, setup.in_root(APP_DIR))
    (wheel,) = (tmp_path / "out").iterdir()
    assert wheel.name == f"{DIST}-1.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"

    site = unpack_wheel(wheel, tmp_path / "site")
    libs = {s: site / LIBS_DIR / graft_name(s, setup.built[s]) for s in SONAMES}
    assert dynamic(site / EXT_MEMBER)["NEEDED"] == [libs["libcross.so.1"].name, "libc.so.6"]
    for path in (site / EXT_MEMBER, *libs.values()):
        assert verify_elf(path.read_bytes(), 0x10000) == (), path

    # The originals leave the root; the loader is started explicitly because qemu -L cannot
    # follow the root's absolute loader link, and finds libc through --library-path (an
    # ld.so option, not LD_LIBRARY_PATH: nothing points at the wheel).
    shutil.rmtree(setup.in_root(APP_DIR))
    try:
        loader = setup.in_root(f"{MULTIARCH}/ld-linux-aarch64.so.1")
        argv: list[str | os.PathLike[str]] = [
            QEMU,
            "-L",
            setup.root,
            loader,
            "--library-path",
            MULTIARCH,
            setup.runner,
        ]
        ran = run([*argv, site / EXT_MEMBER])
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.splitlines()[0] == EXPECTED
        assert mapped_libs(ran.stdout) == {os.path.realpath(p) for p in libs.values()}
        unrepaired = unpack_wheel(setup.wheel, tmp_path / "unrepaired")
        control = run([*argv, unrepaired / EXT_MEMBER])
        assert control.returncode == 3, control.stdout + control.stderr
        assert "libcross.so.1: cannot open shared object file" in control.stderr
    finally:
        for soname, path in setup.built.items():
            _copy(path, setup.in_root(APP_DIR) / soname)


def test_ld_library_path_entries_are_looked_up_inside_the_root(
    setup: Setup, tmp_path: Path
) -> None:
    # A host directory with the x86_64 libraries, and the same path inside the root with the
    # aarch64 ones: the root's copy is found, at the env step (before ld.so.conf's entries).
    host_env = tmp_path / "env"
    env_dir = setup.in_root(str(host_env))
    for soname, path in setup.built.items():
        _copy(setup.host_trap / soname, host_env / soname)
        _copy(path, env_dir / soname)
    try:
        proc = run_wheelfix(
            "lddtree",
            "--sysroot",
            setup.root,
            setup.in_root(APP_DIR) / "libcross.so.1",
            ld_library_path=[host_env],
        )
        assert proc.returncode == 0, proc.stderr
        dep = json.loads(proc.stdout)["libraries"]["libcrossdep.so.1"]
        assert dep["realpath"] == str(env_dir / "libcrossdep.so.1")
        assert dep["found_via"] == "env"
        # Without LD_LIBRARY_PATH the same lookup falls through to ld.so.conf.
        plain = run_wheelfix(
            "lddtree", "--sysroot", setup.root, setup.in_root(APP_DIR) / "libcross.so.1"
        )
        dep = json.loads(plain.stdout)["libraries"]["libcrossdep.so.1"]
        assert dep["realpath"] == str(setup.in_root(APP_DIR) / "libcrossdep.so.1")
        assert dep["found_via"] == "system"
    finally:
        shutil.rmtree(env_dir)
