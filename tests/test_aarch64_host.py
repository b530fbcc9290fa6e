"""wheelfix itself on an aarch64 host: installed with LIEF's aarch64 wheel into Debian's arm64
CPython 3.11, run under ``qemu-aarch64``, repairing an aarch64 wheel there.

The arm64 Python is Debian's (``python3.11-minimal``, ``libpython3.11-stdlib`` and the
libraries they and LIEF's ``_lief.so`` need), unpacked into a root by ``foreignpy.py``;
wheelfix is the checkout built into a pure wheel by ``pip wheel`` and installed, with LIEF's
``manylinux_2_28_aarch64`` wheel, click and packaging, by the host pip with ``--platform``.
The wheel repaired is a real CPython extension (``fixtures/aarch64_host``, compiled with
``aarch64-linux-gnu-gcc`` against Debian's arm64 headers) that needs ``libcross.so.1``, which
needs ``libcrossdep.so.1`` (``fixtures/cross_aarch64``).

What is proven: ``import lief`` is the aarch64 ``_lief.so`` running in an aarch64 process;
``wheelfix show --json`` and ``wheelfix repair`` under qemu give the same document and the
same output bytes as the same wheelfix sources on this x86_64 host (the output is a function
of the input only); host ``readelf`` reads the rewritten DT_NEEDED/DT_SONAME/DT_RUNPATH; the
repaired wheel, installed, imports in the arm64 CPython with the original libraries gone;
an edit made by LIEF's writer (``wheelfix patchelf --remove-needed`` of a versioned
DT_NEEDED) gives the same bytes on both hosts too.

Time, on the 2-core CI machine shared with other jobs (load ~6): ~90 s with a warm cache (six
Python processes under qemu, 6-20 s each, most of it loading LIEF's 10 MB ``_lief.so``; the
root is unpacked and byte-compiled per session, ~15 s); cold, ~10 s more: ~15 MB of ``.deb``
files (after apt's ~9 MB arm64 lists) and LIEF's 3.6 MB wheel go into
``<test cache>/foreign-arm64`` (~20 MB kept). Without qemu-aarch64 or the cross compiler
the module skips (``CI=true``: fails); when the downloads fail it skips and says why.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from archrun import dynamic, fail_if_missing, graft_name, missing_tools, run, skip_unless_present
from foreignpy import (
    HEADERS_DEB,
    LIEF_PLATFORM,
    MULTIARCH,
    PYTHON_DEBS,
    QEMU,
    ForeignPython,
    fetch_debs,
    make_root,
    pip_install_foreign,
    python_headers,
    runtime_wheels,
    unavailable,
    wheelfix_wheel,
)
from runtools import run_wheelfix
from wheelbuild import FIXTURES_DIR, compile_cached, make_wheel, unpack_wheel
from wheelfix.elf.verify import verify_elf

pytestmark = pytest.mark.slow

CROSS_CC = "aarch64-linux-gnu-gcc"
HINT = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; .ci/run does"
MISSING = missing_tools([CROSS_CC, QEMU, "readelf"], [Path("/usr/aarch64-linux-gnu/lib/crt1.o")])
skip_unless_present(MISSING, HINT)

CROSS_SRC = FIXTURES_DIR / "cross_aarch64"
HOST_SRC = FIXTURES_DIR / "aarch64_host"
DIST = "hostdemo"
LIBS_DIR = f"{DIST}.libs"
EXT_MEMBER = "pkg/_hostext.cpython-311-aarch64-linux-gnu.so"
SONAMES = ("libcross.so.1", "libcrossdep.so.1")
PLAT = "manylinux_2_17_aarch64"
REPAIRED_NAME = f"{DIST}-1.0-cp311-cp311-manylinux2014_aarch64.{PLAT}.whl"
_SHARED = ("-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed")


@dataclass(frozen=True)
class Host:
    python: ForeignPython
    site: Path
    """wheelfix, LIEF (aarch64), click and packaging, as pip installed them."""
    libs: Path
    """The aarch64 libcross.so.1 and libcrossdep.so.1 the wheel needs."""
    wheel: Path
    built: dict[str, Path]
    base: Path
    sources: Path
    """The copy of ``src/`` the wheelfix wheel was built from (the host run imports it too)."""

    @property
    def ldpaths(self) -> str:
        """For the x86_64 run: the libraries, then the arm64 root's libc directory."""
        return f"{self.libs}:{self.python.root / 'lib' / MULTIARCH}"


def _cc(
    cache: Path, source: Path, output: str, args: list[str], inputs: tuple[Path, ...] = ()
) -> Path:
    return compile_cached(cache, [source], output, args, compiler=CROSS_CC, extra_inputs=inputs)


def _build(cache: Path, include: tuple[Path, Path]) -> dict[str, Path]:
    dep = _cc(cache, CROSS_SRC / "crossdep.c", "libcrossdep.so.1",
              [*_SHARED, "-Wl,-soname,libcrossdep.so.1"])  # fmt: skip
    cross = _cc(
        cache,
        CROSS_SRC / "cross.c",
        "libcross.so.1",
        [*_SHARED, "-Wl,-soname,libcross.so.1", "-Wl,--version-script=cross.map",
         f"-L{dep.parent}", "-l:libcrossdep.so.1"],
        inputs=(CROSS_SRC / "cross.map",),
    )  # fmt: skip
    ext = _cc(
        cache,
        HOST_SRC / "hostext.c",
        Path(EXT_MEMBER).name,
        [*_SHARED, *(f"-I{d}" for d in include), f"-L{cross.parent}", "-l:libcross.so.1",
         f"-Wl,-rpath-link,{dep.parent}"],
    )  # fmt: skip
    return {"libcrossdep.so.1": dep, "libcross.so.1": cross, "ext": ext}


@pytest.fixture(scope="module")
def host(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Host:
    fail_if_missing(MISSING, HINT)
    debs = fetch_debs((*PYTHON_DEBS, HEADERS_DEB))
    if isinstance(debs, str):
        pytest.skip(unavailable(debs))
    wheels = runtime_wheels()
    if isinstance(wheels, str):
        pytest.skip(unavailable(wheels))
    base = tmp_path_factory.mktemp("aarch64-host")
    headers = python_headers(debs.pop(HEADERS_DEB))
    python = ForeignPython(make_root(debs, base / "root"))
    site = base / "site"
    pip_install_foreign([wheelfix_wheel(base / "build")], site, wheels)
    built = _build(fixture_cache, headers)
    libs = base / "libs"
    libs.mkdir()
    for soname in SONAMES:
        shutil.copyfile(built[soname], libs / soname)
    wheel = make_wheel(
        base / "wheel",
        DIST,
        "1.0",
        {"pkg/__init__.py": b'"""hostdemo: repaired on aarch64."""\n', EXT_MEMBER: built["ext"]},
        tag="cp311-cp311-linux_aarch64",
    )
    return Host(python, site, libs, wheel, built, base, base / "build" / "project" / "src")


def _on_qemu(host: Host, *args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """``python -m wheelfix ARGS`` on the arm64 CPython, the libraries in LD_LIBRARY_PATH."""
    proc = host.python.run(
        ["-m", "wheelfix", *args], host.site, guest_env={"LD_LIBRARY_PATH": str(host.libs)}
    )
    return proc.returncode, proc.stdout, proc.stderr


def _on_host(host: Host, *args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """The same wheelfix sources on this host, told where the same libraries are."""
    env = {"PYTHONPATH": str(host.sources)}
    proc = run_wheelfix(*args[:1], "--ldpaths", host.ldpaths, *args[1:], env=env)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def repaired(host: Host) -> dict[str, tuple[int, str, str]]:
    """``repair --no-cache`` of the wheel on the arm64 CPython and on this host."""
    results = {}
    for where, call in (("qemu", _on_qemu), ("host", _on_host)):
        out = host.base / f"out-{where}"
        results[where] = call(host, "repair", "--no-cache", "--plat", PLAT, "-w", out, host.wheel)
    return results


# --------------------------------------------------------------------------- 1. the interpreter


def test_lief_is_the_aarch64_wheel_in_an_aarch64_process(host: Host) -> None:
    code = (
        "import json, platform, sys, lief, wheelfix, click, packaging, deflate\n"
        "ext = lief.ELF.parse(sys.argv[1])\n"
        "maps = [l.split()[-1] for l in open('/proc/self/maps') if '_lief' in l]\n"
        "print(json.dumps({'machine': platform.machine(), 'version': sys.version_info[:2],\n"
        " 'lief': lief.__version__, 'lief_file': lief.__file__, 'wheelfix': wheelfix.__file__,\n"
        " 'elf': str(ext.header.machine_type), 'maps': maps, 'path': sys.path,\n"
        " 'prefix': sys.prefix, 'deflate': deflate.__file__}))\n"
    )
    proc = host.python.run(["-c", code, host.built["ext"]], host.site)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["machine"] == "aarch64"
    assert doc["version"] == [3, 11]
    assert doc["lief"].startswith("1.0.")
    assert doc["elf"].endswith("AARCH64")
    assert doc["lief_file"] == str(host.site / "lief" / "__init__.py")
    assert doc["wheelfix"] == str(host.site / "wheelfix" / "__init__.py")
    assert doc["prefix"] == str(host.python.root / "usr")
    # libdeflate's aarch64 build compresses there (the same stream as on x86_64: test 2)
    assert doc["deflate"] == str(host.site / "deflate" / "__init__.py")
    # Nothing from the host's Python: only the root's stdlib and the pip target.
    assert all(p.startswith((str(host.python.root), str(host.site))) for p in doc["path"] if p)
    (lief_so,) = set(doc["maps"])
    assert lief_so.startswith(str(host.site / "lief" / "_lief"))
    assert "Machine:                           AArch64" in run(["readelf", "-h", lief_so]).stdout
    dist_info = next(host.site.glob("lief-*.dist-info"))
    assert f"Tag: cp311-cp311-{LIEF_PLATFORM}" in (dist_info / "WHEEL").read_text()


# --------------------------------------------------------------------------- 2. the same output


def test_show_json_is_the_same_on_both_hosts(host: Host) -> None:
    on_qemu, on_host = (
        _on_qemu(host, "show", "--json", host.wheel),
        _on_host(host, "show", "--json", host.wheel),
    )
    assert on_qemu[0] == 0, on_qemu[2]
    assert on_host[0] == 0, on_host[2]
    doc = json.loads(on_qemu[1])
    assert doc == json.loads(on_host[1])
    assert doc["external_libs"] == {s: str(host.libs / s) for s in SONAMES}
    assert doc["sym_tag"] == PLAT


def test_repair_gives_the_same_bytes_on_both_hosts(
    host: Host, repaired: dict[str, tuple[int, str, str]]
) -> None:
    wheels = {}
    for where, (code, stdout, stderr) in repaired.items():
        assert code == 0, stderr
        wheels[where] = Path(stdout.strip())
        assert wheels[where] == host.base / f"out-{where}" / REPAIRED_NAME
    assert wheels["qemu"].read_bytes() == wheels["host"].read_bytes()
    grafted = {
        w: [ln for ln in r[2].splitlines() if " grafted " in ln] for w, r in repaired.items()
    }
    assert grafted["qemu"] == grafted["host"]
    assert grafted["qemu"] == [
        f"wheelfix: grafted {s} ({host.libs / s}) as {LIBS_DIR}/{graft_name(s, host.libs / s)}"
        for s in SONAMES
    ]


def test_readelf_reads_what_wheelfix_wrote_on_aarch64(host: Host, tmp_path: Path) -> None:
    site = unpack_wheel(host.base / "out-qemu" / REPAIRED_NAME, tmp_path / "unpacked")
    names = {s: graft_name(s, host.libs / s) for s in SONAMES}
    ext = dynamic(site / EXT_MEMBER)
    assert ext["NEEDED"] == [names["libcross.so.1"], "libc.so.6"]
    assert ext.get("RUNPATH", ext.get("RPATH")) == [f"$ORIGIN/../{LIBS_DIR}"]
    cross = dynamic(site / LIBS_DIR / names["libcross.so.1"])
    assert cross["SONAME"] == [names["libcross.so.1"]]
    assert cross["NEEDED"] == [names["libcrossdep.so.1"], "libc.so.6"]
    assert dynamic(site / LIBS_DIR / names["libcrossdep.so.1"])["SONAME"] == [
        names["libcrossdep.so.1"]
    ]
    for path in (site / EXT_MEMBER, *(site / LIBS_DIR / n for n in names.values())):
        assert verify_elf(path.read_bytes(), 0x10000) == (), path


def test_lief_rewrite_gives_the_same_bytes_on_both_hosts(host: Host, tmp_path: Path) -> None:
    # Repair edits these files with wheelfix's byte editor; removing a DT_NEEDED that has
    # .gnu.version_r entries is one of the edits LIEF's writer makes (README, "wheelfix
    # patchelf"), so this runs LIEF 1.0's aarch64 build on an aarch64 ELF.
    args = ("patchelf", "--remove-needed", "libcross.so.1", "--output")
    on_qemu = host.python.run(
        ["-m", "wheelfix", *args, tmp_path / "qemu.so", host.built["ext"]], host.site
    )
    assert on_qemu.returncode == 0, on_qemu.stderr
    env = {"PYTHONPATH": str(host.sources)}
    on_host = run_wheelfix(*args, tmp_path / "host.so", host.built["ext"], env=env)
    assert on_host.returncode == 0, on_host.stderr
    assert (tmp_path / "qemu.so").read_bytes() == (tmp_path / "host.so").read_bytes()
    assert dynamic(tmp_path / "qemu.so")["NEEDED"] == ["libc.so.6"]
    versions = run(["readelf", "-W", "-V", tmp_path / "qemu.so"]).stdout
    assert "File: libcross.so.1" in run(["readelf", "-W", "-V", host.built["ext"]]).stdout
    assert "libcross.so.1" not in versions
    assert "CROSS_1.0" not in versions


# --------------------------------------------------------------------------- 3. imported there


def test_repaired_wheel_imports_on_the_aarch64_python(host: Host, tmp_path: Path) -> None:
    installed = tmp_path / "installed"
    pip_install_foreign([host.base / "out-qemu" / REPAIRED_NAME], installed, platform=PLAT)
    control = tmp_path / "control"
    pip_install_foreign([host.wheel], control, platform="linux_aarch64")
    code = "import pkg._hostext as m; print(m.value(20), m.__file__)"
    gone = host.libs.with_name("libs.gone")
    host.libs.rename(gone)
    try:
        proc = host.python.run(["-c", code], installed)
        unrepaired = host.python.run(["-c", code], control)
    finally:
        gone.rename(host.libs)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["322", str(installed / EXT_MEMBER)]
    assert unrepaired.returncode == 1
    assert "libcross.so.1: cannot open shared object file" in unrepaired.stderr
