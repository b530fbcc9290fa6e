"""Cross-architecture repair: an aarch64 wheel audited and repaired on this (x86_64) host.

Everything in ``fixtures/cross_aarch64`` is built with ``aarch64-linux-gnu-gcc``: an
extension-like ``pkg/_ext.cpython-311-aarch64-linux-gnu.so`` (``PyInit__ext``, no Python
headers) that needs ``libcross.so.1`` (version ``CROSS_1.0``), which needs
``libcrossdep.so.1`` (transitive-only), plus an aarch64 ``runner`` that ``dlopen``s the
extension and prints ``ext_value(20)`` and its ``.libs/`` mappings.

Oracles: ``auditwheel`` 6.8.2 (``show --json`` with the same ``--ldpaths``; ``repair --plat
auto``), ``readelf`` (host binutils read aarch64 files), ``wheelfix.elf.verify`` at 64 KiB pages
and, finally, the aarch64 glibc loader itself under ``qemu-aarch64`` (qemu-user) with the
original libraries deleted, at qemu's default 4 KiB page size and with ``-p 65536`` (a
64 KiB guest page size, where glibc refuses PT_LOADs that are only 4 KiB-congruent).

The module is skipped when the cross toolchain or qemu-user is missing, except with
``CI=true`` (``.ci/run`` installs them there), where every test fails instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from archrun import mapped_libs
from runtools import SCRUBBED_ENV
from wheelbuild import FIXTURES_DIR, REPO_ROOT, compile_cached, make_wheel, unpack_wheel
from wheelfix.elf.verify import verify_elf

CROSS_CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
SYSROOT = Path("/usr/aarch64-linux-gnu")
#: Files the sysroot must hold: the loader (libc6-arm64-cross) and crt1.o (libc6-dev-arm64-cross).
SYSROOT_FILES = (SYSROOT / "lib" / "ld-linux-aarch64.so.1", SYSROOT / "lib" / "crt1.o")
SRC = FIXTURES_DIR / "cross_aarch64"

DIST = "crossdemo"
EXT_NAME = "_ext.cpython-311-aarch64-linux-gnu.so"
EXT_MEMBER = f"pkg/{EXT_NAME}"
LIBS_DIR = f"{DIST}.libs"
WHEEL_TAG = "cp311-cp311-linux_aarch64"
REPAIRED_NAME = f"{DIST}-1.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"
SONAMES = ("libcross.so.1", "libcrossdep.so.1")
#: ext_value(20) = cross(20) * 2 = (crossdep(20) + 100) * 2 = (3 * 20 + 1 + 100) * 2.
EXPECTED_VALUE = 322
LARGE_PAGE = 0x10000

_SHARED = ("-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed")

_MISSING = [tool for tool in (CROSS_CC, QEMU) if shutil.which(tool) is None] + [
    str(path) for path in SYSROOT_FILES if not path.is_file()
]
_INSTALL_HINT = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
if _MISSING and os.environ.get("CI") != "true":
    pytest.skip(
        f"cross-arch tests need {', '.join(_MISSING)} ({_INSTALL_HINT})",
        allow_module_level=True,
    )


@pytest.fixture(autouse=True, scope="module")
def _cross_tools_present() -> None:
    """With CI=true a missing tool is a failure of every test, not a silent skip."""
    if _MISSING:
        pytest.fail(
            f"CI=true but {', '.join(_MISSING)} missing; .ci/run installs them ({_INSTALL_HINT})",
            pytrace=False,
        )


# --------------------------------------------------------------------------- running tools


def _env(**extra: str) -> dict[str, str]:
    """``runtools.SCRUBBED_ENV`` and every ``QEMU_*`` variable removed, ``LC_ALL=C``."""
    env = {
        k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV and not k.startswith("QEMU_")
    }
    env["LC_ALL"] = "C"
    env.update(extra)
    return env


def run_tool(tool: str, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """``python -m wheelfix|auditwheel *args`` (in-tree wheelfix), clean environment."""
    extra = {"PYTHONPATH": str(REPO_ROOT / "src")} if tool == "wheelfix" else {}
    return subprocess.run(
        [sys.executable, "-m", tool, *(os.fspath(a) for a in args)],
        env=_env(**extra),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def run_qemu(
    runner: Path, target: Path, page_size: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``qemu-aarch64 [-p PAGE] -L <sysroot> runner target``: no LD_LIBRARY_PATH, no QEMU_*."""
    page = ["-p", str(page_size)] if page_size is not None else []
    return subprocess.run(
        [QEMU, *page, "-L", str(SYSROOT), str(runner), str(target)],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _readelf(*args: str | os.PathLike[str]) -> str:
    return subprocess.run(
        ["readelf", "-W", *(os.fspath(a) for a in args)],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    ).stdout


_DYN_RE = re.compile(r"^\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$")
_LOAD_RE = re.compile(
    r"^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+"
    r"\s+.*\s(0x[0-9a-f]+)$"
)


def dynamic(path: Path) -> dict[str, list[str]]:
    """``readelf -d``: tag -> values (bracketed strings unwrapped)."""
    result: dict[str, list[str]] = {}
    for line in _readelf("-d", path).splitlines():
        match = _DYN_RE.match(line)
        if match is not None:
            tag, rest = match.groups()
            bracket = re.search(r"\[(.*)\]", rest)
            result.setdefault(tag, []).append(bracket.group(1) if bracket else rest.strip())
    return result


def verneed(path: Path) -> dict[str, list[str]]:
    """``readelf -V``'s version needs: ``File:`` -> version names."""
    _, _, needs = _readelf("-V", path).partition("Version needs section")
    result: dict[str, list[str]] = {}
    current = None
    for line in needs.splitlines():
        file_match = re.search(r"File: (\S+)\s+Cnt:", line)
        name_match = re.search(r"Name: (\S+)\s+Flags:", line)
        if file_match:
            current = file_match.group(1)
            result[current] = []
        elif name_match and current is not None:
            result[current].append(name_match.group(1))
    return result


def loads(path: Path) -> list[tuple[int, int, int]]:
    """``readelf -l``: (p_offset, p_vaddr, p_align) of every PT_LOAD."""
    found = []
    for line in _readelf("-l", path).splitlines():
        match = _LOAD_RE.match(line)
        if match is not None:
            offset, vaddr, align = (int(g, 16) for g in match.groups())
            found.append((offset, vaddr, align))
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashed(soname: str, digest: str) -> str:
    """``libcross.so.1`` -> ``libcross-<8 hex>.so.1``."""
    stem, _, rest = soname.partition(".")
    return f"{stem}-{digest[:8]}.{rest}"


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Cross:
    """The built aarch64 artefacts (compiled once into the cache, staged per module)."""

    root: Path
    built: Mapping[str, Path]
    """soname (and ``ext``/``runner``/``page4k``) -> the compile-cache file."""
    libs_dir: Path
    """Staged copies of libcross.so.1 and libcrossdep.so.1 (the dir given to --ldpaths)."""
    wheel: Path
    runner: Path
    page4k: Path
    """Control: libcrossdep's source linked with 4 KiB max-page-size (no ext_value)."""

    def ldpaths(self, libs_dir: Path | None = None) -> str:
        return f"{libs_dir or self.libs_dir}:{SYSROOT / 'lib'}"

    def stage_libs(self, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for soname in SONAMES:
            shutil.copyfile(self.built[soname], dest / soname)
            (dest / soname).chmod(0o755)
        return dest

    def graft_name(self, soname: str) -> str:
        return hashed(soname, sha256(self.built[soname]))


def _cc(
    cache: Path, source: str, output: str, args: list[str], inputs: tuple[str, ...] = ()
) -> Path:
    return compile_cached(
        cache,
        [SRC / source],
        output,
        args,
        compiler=CROSS_CC,
        extra_inputs=[SRC / name for name in inputs],
    )


@pytest.fixture(scope="module")
def cross(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Cross:
    crossdep = _cc(
        fixture_cache, "crossdep.c", "libcrossdep.so.1", [*_SHARED, "-Wl,-soname,libcrossdep.so.1"]
    )
    # -l:libcrossdep.so.1 is -lcrossdep without a libcrossdep.so dev symlink (same DT_NEEDED).
    libcross = _cc(
        fixture_cache,
        "cross.c",
        "libcross.so.1",
        [
            *_SHARED,
            "-Wl,-soname,libcross.so.1",
            "-Wl,--version-script=cross.map",
            f"-L{crossdep.parent}",
            "-l:libcrossdep.so.1",
        ],
        inputs=("cross.map",),
    )
    ext = _cc(
        fixture_cache,
        "ext.c",
        EXT_NAME,
        [
            *_SHARED,
            f"-L{libcross.parent}",
            "-l:libcross.so.1",
            f"-Wl,-rpath-link,{crossdep.parent}",
        ],
    )
    runner = _cc(fixture_cache, "runner.c", "runner", ["-O1", "-Wall"])
    page4k = _cc(
        fixture_cache,
        "crossdep.c",
        "libpage4k.so",
        [*_SHARED, "-Wl,-z,max-page-size=4096", "-Wl,-z,common-page-size=4096"],
    )
    root = tmp_path_factory.mktemp("cross")
    built = {
        "libcrossdep.so.1": crossdep,
        "libcross.so.1": libcross,
        "ext": ext,
        "runner": runner,
        "page4k": page4k,
    }
    wheel = make_wheel(
        root / "wheel",
        DIST,
        "1.0",
        {"pkg/__init__.py": b'"""crossdemo: an aarch64 test wheel."""\n', EXT_MEMBER: ext},
        tag=WHEEL_TAG,
    )
    result = Cross(root, built, root / "aarch64-libs", wheel, runner, page4k)
    result.stage_libs(result.libs_dir)
    return result


@dataclass(frozen=True)
class Repaired:
    proc: subprocess.CompletedProcess[str]
    out_dir: Path

    @property
    def wheel(self) -> Path:
        (only,) = self.out_dir.iterdir()
        return only


PLATS = ("manylinux_2_17_aarch64", "manylinux2014_aarch64", "auto")


@pytest.fixture(scope="module")
def repaired(cross: Cross) -> dict[str, Repaired]:
    """``wheelfix repair --plat P --ldpaths <libs>:<sysroot>/lib`` for every P in PLATS."""
    results = {}
    for plat in PLATS:
        out = cross.root / f"out-{plat}"
        proc = run_tool(
            "wheelfix",
            "repair",
            "--plat",
            plat,
            "--ldpaths",
            cross.ldpaths(),
            "-w",
            out,
            cross.wheel,
        )
        results[plat] = Repaired(proc, out)
    return results


@pytest.fixture(scope="module")
def site(cross: Cross, repaired: dict[str, Repaired]) -> Path:
    """The manylinux_2_17 repair, unpacked."""
    return unpack_wheel(repaired["manylinux_2_17_aarch64"].wheel, cross.root / "site")


# --------------------------------------------------------------------------- 0. fixtures


def test_fixture_is_aarch64_and_shaped_as_claimed(cross: Cross) -> None:
    ext = cross.built["ext"]
    assert "Machine:                           AArch64" in _readelf("-h", ext)
    assert dynamic(ext)["NEEDED"] == ["libcross.so.1", "libc.so.6"]
    assert "RPATH" not in dynamic(ext)
    assert "RUNPATH" not in dynamic(ext)
    assert verneed(ext)["libcross.so.1"] == ["CROSS_1.0"]
    libcross = dynamic(cross.built["libcross.so.1"])
    assert libcross["SONAME"] == ["libcross.so.1"]
    assert libcross["NEEDED"] == ["libcrossdep.so.1", "libc.so.6"]
    assert dynamic(cross.built["libcrossdep.so.1"])["SONAME"] == ["libcrossdep.so.1"]
    # GNU ld links aarch64 for 64 KiB pages by default: the inputs are already fine.
    for key in ("ext", *SONAMES):
        assert all(align == LARGE_PAGE for _, _, align in loads(cross.built[key])), key
        assert verify_elf(cross.built[key].read_bytes(), LARGE_PAGE) == ()
    # ... and the control really is 4 KiB-only: the 64 KiB verifier rejects it.
    assert {align for _, _, align in loads(cross.page4k)} == {0x1000}
    assert verify_elf(cross.page4k.read_bytes(), LARGE_PAGE) != ()


# --------------------------------------------------------------------------- 1. show


@pytest.mark.oracle
def test_show_json_matches_auditwheel_cross_arch(cross: Cross) -> None:
    # auditwheel 6.8.2 audits a foreign-arch wheel with no extra flag: it takes the
    # architecture from the wheel's ELF files, and --ldpaths replaces the host's search dirs.
    args = ("show", "--json", "--ldpaths", cross.ldpaths(), cross.wheel)
    mine, theirs = run_tool("wheelfix", *args), run_tool("auditwheel", *args)
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr
    ours, ref = json.loads(mine.stdout), json.loads(theirs.stdout)
    for doc in (ours, ref):
        assert doc["overall_tag"] == "linux_aarch64"
        assert doc["sym_tag"] == "manylinux_2_17_aarch64"
        assert set(doc["external_libs"]) == set(SONAMES)
        assert doc["external_libs"] == {s: str(cross.libs_dir / s) for s in SONAMES}
        assert doc["versioned_symbols"] == {
            "libc.so.6": ["GLIBC_2.17"],
            "libcross.so.1": ["CROSS_1.0"],
        }
    # Beyond the three fields: the whole document is the same (policy_upgrades included).
    assert ours == ref


# --------------------------------------------------------------------------- 2. repair


def test_repair_exit_and_names(cross: Cross, repaired: dict[str, Repaired]) -> None:
    grafted = [
        f"wheelfix: grafted {s} ({cross.libs_dir / s}) as {LIBS_DIR}/{cross.graft_name(s)}"
        for s in SONAMES
    ]
    outputs = {}
    for plat, result in repaired.items():
        assert result.proc.returncode == 0, (plat, result.proc.stderr)
        # The alias and auto pick the same target: manylinux_2_17 is the best tag reachable
        # (the extension's newest libc symbol is GLIBC_2.17, the aarch64 baseline).
        assert result.wheel.name == REPAIRED_NAME, plat
        assert result.proc.stdout.strip() == str(result.wheel), plat
        assert [ln for ln in result.proc.stderr.splitlines() if " grafted " in ln] == grafted
        outputs[plat] = result.wheel.read_bytes()
    # Reproducible: the three spellings give byte-identical wheels.
    assert len(set(outputs.values())) == 1

    with zipfile.ZipFile(repaired["auto"].wheel) as zf:
        names = set(zf.namelist())
        wheel_meta = zf.read(f"{DIST}-1.0.dist-info/WHEEL").decode()
    assert names == {
        "pkg/__init__.py",
        EXT_MEMBER,
        *(f"{LIBS_DIR}/{cross.graft_name(s)}" for s in SONAMES),
        f"{DIST}-1.0.dist-info/METADATA",
        f"{DIST}-1.0.dist-info/WHEEL",
        f"{DIST}-1.0.dist-info/sboms/wheelfix.cdx.json",
        f"{DIST}-1.0.dist-info/RECORD",
    }
    tags = sorted(ln.split(": ", 1)[1] for ln in wheel_meta.splitlines() if ln.startswith("Tag: "))
    assert tags == ["cp311-cp311-manylinux2014_aarch64", "cp311-cp311-manylinux_2_17_aarch64"]


def test_grafted_names_are_sha256_prefixes(cross: Cross, site: Path) -> None:
    for soname in SONAMES:
        digest = sha256(cross.libs_dir / soname)
        assert re.fullmatch(r"[0-9a-f]{8}", digest[:8])
        grafted = site / LIBS_DIR / hashed(soname, digest)
        assert grafted.is_file(), sorted(p.name for p in (site / LIBS_DIR).iterdir())
    assert len(list((site / LIBS_DIR).iterdir())) == len(SONAMES)


def test_readelf_sees_renamed_needed_soname_and_rpath(cross: Cross, site: Path) -> None:
    new = {s: cross.graft_name(s) for s in SONAMES}
    ext = site / EXT_MEMBER
    libcross = site / LIBS_DIR / new["libcross.so.1"]
    libcrossdep = site / LIBS_DIR / new["libcrossdep.so.1"]

    ext_dyn = dynamic(ext)
    assert ext_dyn["NEEDED"] == [new["libcross.so.1"], "libc.so.6"]
    assert ext_dyn["RPATH"] == [f"$ORIGIN/../{LIBS_DIR}"]  # DT_RPATH, not DT_RUNPATH
    assert "RUNPATH" not in ext_dyn
    assert "SONAME" not in ext_dyn
    # The version requirement follows the renamed DT_NEEDED (ld.so matches vn_file to it).
    assert verneed(ext) == {new["libcross.so.1"]: ["CROSS_1.0"], "libc.so.6": ["GLIBC_2.17"]}

    cross_dyn = dynamic(libcross)
    assert cross_dyn["SONAME"] == [new["libcross.so.1"]]
    assert cross_dyn["NEEDED"] == [new["libcrossdep.so.1"], "libc.so.6"]
    assert cross_dyn["RPATH"] == ["$ORIGIN"]
    assert "RUNPATH" not in cross_dyn
    # crossdep() is unversioned, so libcross has no verneed on libcrossdep to rename.
    assert verneed(libcross) == {"libc.so.6": ["GLIBC_2.17"]}

    dep_dyn = dynamic(libcrossdep)
    assert dep_dyn["SONAME"] == [new["libcrossdep.so.1"]]
    assert dep_dyn["NEEDED"] == ["libc.so.6"]
    assert "RPATH" not in dep_dyn
    assert "RUNPATH" not in dep_dyn

    for path in (ext, libcross, libcrossdep):
        names = {f for f in verneed(path) if f != "libc.so.6"}
        assert not names & set(SONAMES), (path, names)


def test_every_output_elf_keeps_64k_pages(cross: Cross, site: Path) -> None:
    elves = [p for p in site.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    assert len(elves) == 3, elves
    originals = {
        site / EXT_MEMBER: cross.built["ext"],
        **{site / LIBS_DIR / cross.graft_name(s): cross.built[s] for s in SONAMES},
    }
    assert set(elves) == set(originals)
    for path in elves:
        data = path.read_bytes()
        assert verify_elf(data, LARGE_PAGE) == (), path
        segments = loads(path)
        assert segments, path
        for offset, vaddr, align in segments:
            assert align >= LARGE_PAGE, (path, hex(offset), hex(vaddr), hex(align))
            assert (offset - vaddr) % LARGE_PAGE == 0, (path, hex(offset), hex(vaddr))
        # The rewrite may add a 64 KiB-aligned PT_LOAD (LIEF moves .dynstr), so a file can
        # grow by about one large page, but not more than two.
        before = originals[path].stat().st_size
        assert len(data) <= before + 2 * LARGE_PAGE, (path, before, len(data))


@pytest.mark.oracle
def test_repaired_wheel_is_manylinux_per_auditwheel(repaired: dict[str, Repaired]) -> None:
    proc = run_tool("auditwheel", "show", "--json", repaired["auto"].wheel)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["overall_tag"] == "manylinux_2_17_aarch64"
    assert doc["sym_tag"] == "manylinux_2_17_aarch64"
    assert doc["external_libs"] == {}
    mine = run_tool("wheelfix", "show", "--json", repaired["auto"].wheel)
    assert mine.returncode == 0, mine.stderr
    assert json.loads(mine.stdout) == doc
    check = run_tool("wheelfix", "check", repaired["auto"].wheel)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.oracle
def test_auditwheel_auto_repair_agrees_on_names(
    cross: Cross, repaired: dict[str, Repaired], tmp_path: Path
) -> None:
    if shutil.which("patchelf") is None:
        pytest.skip("auditwheel repair needs patchelf")
    # auditwheel 6.8.2 refuses an explicit foreign --plat (argparse choices are the host's
    # policies, pypa/auditwheel#244), but --plat auto repairs the aarch64 wheel.
    proc = run_tool(
        "auditwheel",
        "repair",
        "--plat",
        "auto",
        "--ldpaths",
        cross.ldpaths(),
        "-w",
        tmp_path,
        cross.wheel,
    )
    assert proc.returncode == 0, proc.stderr
    (theirs,) = tmp_path.iterdir()
    assert theirs.name == REPAIRED_NAME
    with zipfile.ZipFile(theirs) as a, zipfile.ZipFile(repaired["auto"].wheel) as b:
        # auditwheel also writes directory entries (``pkg/``); compare the files.
        files = [{n for n in z.namelist() if not n.endswith("/")} for z in (a, b)]
    assert files[0] == files[1]


# --------------------------------------------------------------------------- 3. qemu


@pytest.fixture(scope="module")
def qemu_enforces_64k(cross: Cross) -> bool:
    """Whether ``qemu-aarch64 -p 65536`` really gives the guest 64 KiB pages.

    The control is a 4 KiB-linked library: glibc's loader must refuse it at 64 KiB pages
    (qemu 7.2 honours ``-p``; later qemu-user versions ignore it).
    """
    proc = run_qemu(cross.runner, cross.page4k, LARGE_PAGE)
    if proc.returncode == 3:
        assert "ELF load command address/offset not page-aligned" in proc.stderr, proc.stderr
        return True
    return False


def test_qemu_runner_control(cross: Cross, qemu_enforces_64k: bool) -> None:
    # At qemu's default 4 KiB pages the 4 KiB control loads; it has no ext_value (exit 4).
    proc = run_qemu(cross.runner, cross.page4k)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "dlsym failed" in proc.stderr
    assert "ext_value" in proc.stderr
    if not qemu_enforces_64k:
        pytest.skip(f"this {QEMU} ignores -p 65536 (no 64 KiB guest pages)")


@pytest.mark.parametrize("page_size", [None, LARGE_PAGE], ids=["4k-pages", "64k-pages"])
def test_repaired_extension_loads_under_qemu_without_originals(
    cross: Cross, tmp_path: Path, page_size: int | None, qemu_enforces_64k: bool
) -> None:
    if page_size is not None and not qemu_enforces_64k:
        pytest.skip(f"this {QEMU} ignores -p {page_size} (no 64 KiB guest pages)")
    libs = cross.stage_libs(tmp_path / "aarch64-libs")
    proc = run_tool(
        "wheelfix",
        "repair",
        "--plat",
        "manylinux_2_17_aarch64",
        "--ldpaths",
        cross.ldpaths(libs),
        "-w",
        tmp_path / "out",
        cross.wheel,
    )
    assert proc.returncode == 0, proc.stderr
    site = unpack_wheel(tmp_path / "out" / REPAIRED_NAME, tmp_path / "site")
    unrepaired = unpack_wheel(cross.wheel, tmp_path / "unrepaired")
    shutil.rmtree(libs)  # the originals are gone: only crossdemo.libs/ can satisfy the needs

    run = run_qemu(cross.runner, site / EXT_MEMBER, page_size)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"ext_value(20) = {EXPECTED_VALUE}"
    libs_dir = os.path.realpath(site / LIBS_DIR)
    assert mapped_libs(run.stdout) == {
        os.path.join(libs_dir, cross.graft_name(s)) for s in SONAMES
    }, run.stdout

    # Control: the unrepaired extension, same loader, same (deleted) libs: dlopen fails.
    control = run_qemu(cross.runner, unrepaired / EXT_MEMBER, page_size)
    assert control.returncode == 3, control.stdout + control.stderr
    assert "dlopen failed: libcross.so.1: cannot open shared object file" in control.stderr
    assert control.stdout == ""


# --------------------------------------------------------------------------- 4. wrong arch


def test_repair_to_other_arch_is_a_policy_error(cross: Cross, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_tool(
        "wheelfix",
        "repair",
        "--plat",
        "manylinux_2_17_x86_64",
        "--ldpaths",
        cross.ldpaths(),
        "-w",
        out,
        cross.wheel,
    )
    assert proc.returncode == 10, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"wheelfix: error: {cross.wheel}: can't repair wheel {cross.wheel.name} with aarch64"
        " architecture to a wheel targeting x86_64 (--plat manylinux_2_17_x86_64)"
    ]
    assert not out.exists() or not any(out.iterdir())
