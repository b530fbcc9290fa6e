"""Prove the real-binary fixtures are what they claim, using auditwheel, readelf and ld.so.

* ``auditwheel show --json`` must report :data:`wheelbuild.EXPECTED_SHOW` for every scenario.
* ``readelf`` must show the dynamic entries (NEEDED, SONAME, RPATH vs RUNPATH, verneed,
  verdef, symbols, ELF header) listed in :data:`ELF_CLAIMS`.
* Every scenario's ``check_code`` must run; the real loader's choices in ``precedence`` are
  asserted per variant.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wheelbuild import (
    EXPECTED_SHOW,
    LOWEST_POLICY,
    PRECEDENCE_AUDITWHEEL,
    PRECEDENCE_LOADER_NO_LDLP,
    PRECEDENCE_LOADER_WITH_LDLP,
    SCENARIOS,
    STALE_RPATH,
    RunCli,
    Scenario,
    ScenarioFactory,
    build_scenario,
    check_env,
    compile_cached,
    make_wheel,
    python_ext_suffix,
    run_check_code,
    unpack_wheel,
)

EXT = python_ext_suffix()

# --------------------------------------------------------------------------- readelf


@dataclass(frozen=True)
class ElfInfo:
    header: dict[str, str]
    dynamic: list[tuple[str, str]]
    verneed: dict[str, set[str]]
    verdef: set[str]
    dynsyms: dict[str, tuple[str, str, bool]]  # name -> (type, bind, defined)

    def tags(self, tag: str) -> list[str]:
        return [value for t, value in self.dynamic if t == tag]


def _readelf(*args: str) -> str:
    return subprocess.run(
        ["readelf", "-W", *args], capture_output=True, text=True, check=True
    ).stdout


def _parse_header(text: str) -> dict[str, str]:
    header = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            header[key] = value.strip()
    return header


def _parse_dynamic(text: str) -> list[tuple[str, str]]:
    dynamic = []
    for line in text.splitlines():
        m = re.match(r"\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$", line)
        if m:
            bracket = re.search(r"\[(.*)\]", m.group(2))
            dynamic.append((m.group(1), bracket.group(1) if bracket else m.group(2)))
    return dynamic


def _parse_versions(text: str) -> tuple[dict[str, set[str]], set[str]]:
    """(verneed file -> version names, verdef names without the BASE entry)."""
    verneed: dict[str, set[str]] = {}
    verdef: set[str] = set()
    section = None
    current: set[str] | None = None
    for line in text.splitlines():
        if line.startswith("Version "):
            section = line.split()[1]  # "needs", "definition" or "symbols"
        elif section == "needs" and (m := re.search(r"File: (\S+)", line)):
            current = verneed.setdefault(m.group(1), set())
        elif section == "needs" and current is not None and (m := re.search(r"Name: (\S+)", line)):
            current.add(m.group(1))
        elif section == "definition" and (m := re.search(r"Flags: (?!BASE)\S+.*Name: (\S+)", line)):
            verdef.add(m.group(1))
    return verneed, verdef


def _parse_dynsyms(text: str) -> dict[str, tuple[str, str, bool]]:
    dynsyms: dict[str, tuple[str, str, bool]] = {}
    in_dynsym = False
    for line in text.splitlines():
        if line.startswith("Symbol table"):
            in_dynsym = "'.dynsym'" in line
            continue
        parts = line.split(maxsplit=7)
        if in_dynsym and len(parts) == 8 and parts[0].endswith(":"):
            name = re.sub(r" \(\d+\)$", "", parts[7])
            dynsyms[name] = (parts[3], parts[4], parts[6] != "UND")
    return dynsyms


def read_elf(path: Path) -> ElfInfo:
    verneed, verdef = _parse_versions(_readelf("-V", str(path)))
    return ElfInfo(
        header=_parse_header(_readelf("-h", str(path))),
        dynamic=_parse_dynamic(_readelf("-d", str(path))),
        verneed=verneed,
        verdef=verdef,
        dynsyms=_parse_dynsyms(_readelf("--dyn-syms", str(path))),
    )


# --------------------------------------------------------------------------- ELF claims

UND = False
DEF = True


@dataclass(frozen=True)
class Claim:
    """What one ELF of a scenario must show. ``rpath``/``runpath`` are checked always (None
    means the entry is absent); values are formatted with ``Scenario.dirs``. ``verneed``
    is checked per listed file (exact version set); ``symbols`` maps a dynsym name as
    readelf prints it (``foo@@FOO_1.0``) to (type, bind, defined); ``absent`` lists symbol
    base names that must not be in .dynsym; ``header`` entries are exact readelf -h values.
    """

    needed: frozenset[str]
    soname: str | None = None
    rpath: str | None = None
    runpath: str | None = None
    verneed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    verdef: frozenset[str] | None = None
    symbols: Mapping[str, tuple[str, str, bool]] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
    header: Mapping[str, str] = field(default_factory=dict)


def _needs(*names: str) -> frozenset[str]:
    return frozenset({*names, "libc.so.6"})


_LD = "ld-linux-x86-64.so.2"
_X86_64 = {"Class": "ELF64", "Machine": "Advanced Micro Devices X86-64"}

#: scenario -> label (a ``Scenario.files`` key; ``{ext}`` is EXT_SUFFIX) -> claim.
ELF_CLAIMS: dict[str, dict[str, Claim]] = {
    "versioned_chain": {
        # The extension needs libbar only, and finds it through an absolute DT_RPATH.
        "chain/_ext{ext}": Claim(
            _needs("libbar.so.1"),
            rpath="{libs}",
            verneed={"libbar.so.1": frozenset({"BAR_1.0"})},
            symbols={"bar@BAR_1.0": ("FUNC", "GLOBAL", UND)},
        ),
        # libbar: DT_RUNPATH $ORIGIN (new dtags), versioned refs to libfoo's function and
        # TLS variable (the TLS access pulls in ld-linux for __tls_get_addr).
        "libs/libbar.so.1": Claim(
            _needs("libfoo.so.1", _LD),
            soname="libbar.so.1",
            runpath="$ORIGIN",
            verneed={"libfoo.so.1": frozenset({"FOO_1.0"})},
            verdef=frozenset({"BAR_1.0"}),
            symbols={
                "foo@FOO_1.0": ("FUNC", "GLOBAL", UND),
                "foo_tls@FOO_1.0": ("TLS", "GLOBAL", UND),
            },
        ),
        "libs/libfoo.so.1": Claim(
            _needs(_LD),
            soname="libfoo.so.1",
            verdef=frozenset({"FOO_1.0"}),
            symbols={
                "foo@@FOO_1.0": ("FUNC", "GLOBAL", DEF),
                "foo_tls@@FOO_1.0": ("TLS", "GLOBAL", DEF),
            },
            absent=frozenset({"foo_private"}),
        ),
    },
    "stale_rpath": {
        "stale/_ext{ext}": Claim(_needs("libstale.so.1"), rpath=STALE_RPATH),
        "libs/libstale.so.1": Claim(_needs(), soname="libstale.so.1"),
    },
    "precedence": {
        "prec/_rpath{ext}": Claim(_needs("libpick.so.1"), rpath="{A}"),
        "prec/_runpath{ext}": Claim(_needs("libpick.so.1"), runpath="{B}"),
        "prec/_plain{ext}": Claim(_needs("libpick.so.1")),
        "A/libpick.so.1": Claim(_needs(), soname="libpick.so.1"),
        "B/libpick.so.1": Claim(_needs(), soname="libpick.so.1"),
        "C/libpick.so.1": Claim(_needs(), soname="libpick.so.1"),
    },
    "wrong_class": {
        "wc/_ext{ext}": Claim(_needs("libwc.so.1"), rpath="{lib32}:{lib64}"),
        # Built with -m32 -nostdlib: no libc at all, just the SONAME.
        "lib32/libwc.so.1": Claim(
            frozenset(),
            soname="libwc.so.1",
            header={"Class": "ELF32", "Machine": "Intel 80386"},
        ),
        "lib64/libwc.so.1": Claim(_needs(), soname="libwc.so.1", header=_X86_64),
    },
    "inwheel_rpath": {
        "pkg/_ext{ext}": Claim(_needs("libinner.so"), rpath="$ORIGIN/inner"),
        "pkg/inner/libinner.so": Claim(_needs(), soname="libinner.so"),
    },
    "zlib_blacklist": {
        # Undefined, non-weak references to zlib internals that libz.so.1 does not export
        # (NOTYPE because no linked library defines them).
        "zb/_ext{ext}": Claim(
            _needs("libz.so.1"),
            symbols={
                "zcalloc": ("NOTYPE", "GLOBAL", UND),
                "zcfree": ("NOTYPE", "GLOBAL", UND),
                "crc32": ("FUNC", "GLOBAL", UND),
            },
        ),
    },
    "new_glibc": {
        "ng/_ext{ext}": Claim(
            _needs(),
            verneed={"libc.so.6": frozenset({"GLIBC_2.2.5", "GLIBC_2.34"})},
            symbols={"closefrom@GLIBC_2.34": ("FUNC", "GLOBAL", UND)},
        ),
    },
    "foreign_arch": {
        "fa/_ext{ext}": Claim(_needs(), header={"Class": "ELF64", "Machine": "AArch64"}),
    },
    "two_ext_shared": {
        "pkg/a{ext}": Claim(_needs("libshared.so.1")),
        "pkg/sub/deep/b{ext}": Claim(_needs("libshared.so.1")),
        "libs/libshared.so.1": Claim(_needs("libleaf.so.1"), soname="libshared.so.1"),
        "libs/libleaf.so.1": Claim(_needs(), soname="libleaf.so.1"),
    },
    "data_script": {
        # A PIE executable; Scrt1.o brings __libc_start_main@GLIBC_2.34.
        "datascript-1.0.data/scripts/prog": Claim(
            _needs("libdsprog.so.1"),
            verneed={"libc.so.6": frozenset({"GLIBC_2.2.5", "GLIBC_2.34"})},
            symbols={"__libc_start_main@GLIBC_2.34": ("FUNC", "GLOBAL", UND)},
            header={**_X86_64, "Type": "DYN (Position-Independent Executable file)"},
        ),
        "ds/_ext{ext}": Claim(_needs("libdsext.so.1")),
        "libs/libdsprog.so.1": Claim(_needs(), soname="libdsprog.so.1"),
        "libs/libdsext.so.1": Claim(_needs(), soname="libdsext.so.1"),
    },
    "example": {
        "demo/_demo{ext}": Claim(
            _needs("libdemo.so.1"),
            verneed={"libdemo.so.1": frozenset({"DEMO_1.0", "DEMO_1.1"})},
        ),
        "libs/libdemo.so.1": Claim(
            _needs("libdemodep.so.1"),
            soname="libdemo.so.1",
            verdef=frozenset({"DEMO_1.0", "DEMO_1.1"}),
            symbols={
                "demo_abi@@DEMO_1.0": ("FUNC", "GLOBAL", DEF),
                "demo_render@@DEMO_1.1": ("FUNC", "GLOBAL", DEF),
            },
        ),
        "libs/libdemodep.so.1": Claim(_needs(), soname="libdemodep.so.1"),
    },
    "pure": {},
}

#: Scenarios whose check_code only works with ``lib_dirs`` on LD_LIBRARY_PATH (the others
#: find everything through rpaths, the wheel itself or the system).
NEEDS_LD_LIBRARY_PATH = {"stale_rpath", "precedence", "two_ext_shared", "data_script", "example"}


@pytest.fixture(scope="module")
def built(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    """All scenarios, built once for the read-only tests of this module."""
    cache = fixture_cache
    root = tmp_path_factory.mktemp("oracle")
    return {name: build_scenario(name, cache, root / name) for name in SCENARIOS}


def test_tables_cover_every_scenario() -> None:
    assert set(EXPECTED_SHOW) == set(SCENARIOS)
    assert set(ELF_CLAIMS) == set(SCENARIOS)


# --------------------------------------------------------------------------- auditwheel


def _show(run_cli: RunCli, wheel: Path, lib_dirs: list[Path]) -> tuple[int, dict[str, object]]:
    proc = run_cli(["auditwheel", "show", "--json", wheel], ld_library_path=lib_dirs)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(EXPECTED_SHOW))
def test_auditwheel_show_matches_table(
    name: str, built: dict[str, Scenario], run_cli: RunCli
) -> None:
    scn = built[name]
    expected = EXPECTED_SHOW[name]
    rc, data = _show(run_cli, scn.wheel, scn.lib_dirs)
    if expected.error is not None:
        assert rc == 1
        assert expected.error in str(data["error"])
        return
    assert rc == 0, data
    assert data["overall_tag"] == expected.overall_tag
    assert data["sym_tag"] == expected.sym_tag
    libs = data["external_libs"]
    assert isinstance(libs, dict)
    assert set(libs) == expected.external_libs
    for soname, dir_key in expected.resolved_from.items():
        assert Path(libs[soname]).parent == scn.dirs[dir_key], (soname, libs[soname])
    versioned = data["versioned_symbols"]
    assert isinstance(versioned, dict)
    assert {k: frozenset(v) for k, v in versioned.items()} == dict(expected.versioned_symbols)
    upgrades = data["policy_upgrades"]
    assert isinstance(upgrades, dict)
    blacklisted = upgrades.get(LOWEST_POLICY, {}).get("blacklisted_symbols", {})
    assert {k: frozenset(v) for k, v in blacklisted.items()} == dict(expected.blacklisted)


@pytest.mark.oracle
def test_auditwheel_unresolved_without_ld_library_path(
    built: dict[str, Scenario], run_cli: RunCli
) -> None:
    # The stale DT_RPATH leads nowhere: without LD_LIBRARY_PATH the lib is reported as null.
    rc, data = _show(run_cli, built["stale_rpath"].wheel, [])
    assert rc == 0
    assert data["external_libs"] == {"libstale.so.1": None}


@pytest.mark.oracle
@pytest.mark.parametrize("variant", sorted(PRECEDENCE_AUDITWHEEL))
def test_precedence_auditwheel_per_variant(
    variant: str, built: dict[str, Scenario], run_cli: RunCli
) -> None:
    scn = built["precedence"]
    rc, data = _show(run_cli, scn.extra_wheels[variant], scn.lib_dirs)
    assert rc == 0
    libs = data["external_libs"]
    assert isinstance(libs, dict)
    assert Path(libs["libpick.so.1"]).parent == scn.dirs[PRECEDENCE_AUDITWHEEL[variant]]


# --------------------------------------------------------------------------- readelf


def _claim_cases() -> list[tuple[str, str]]:
    return [(scn, label) for scn, claims in sorted(ELF_CLAIMS.items()) for label in claims]


@pytest.mark.parametrize(("name", "label"), _claim_cases())
def test_elf_claims(name: str, label: str, built: dict[str, Scenario]) -> None:
    scn = built[name]
    claim = ELF_CLAIMS[name][label]
    path = scn.files[label.format(ext=EXT)]
    info = read_elf(path)
    if name == "wrong_class" and label.startswith("lib32/") and scn.notes:
        # No 32-bit toolchain: the fallback is an x86_64 copy claiming EM_386.
        assert info.header["Machine"] == "Intel 80386"
        return
    dirs = {k: str(v) for k, v in scn.dirs.items()}

    assert set(info.tags("NEEDED")) == claim.needed
    assert info.tags("SONAME") == ([claim.soname] if claim.soname else [])
    expected_rpath = [claim.rpath.format(**dirs)] if claim.rpath is not None else []
    expected_runpath = [claim.runpath.format(**dirs)] if claim.runpath is not None else []
    assert info.tags("RPATH") == expected_rpath
    assert info.tags("RUNPATH") == expected_runpath
    for lib, versions in claim.verneed.items():
        assert info.verneed.get(lib) == set(versions), info.verneed
    if claim.verdef is not None:
        assert info.verdef == set(claim.verdef)
    for sym, want in claim.symbols.items():
        assert info.dynsyms.get(sym) == want, (sym, info.dynsyms.get(sym))
    bases = {re.split("@", s, maxsplit=1)[0] for s in info.dynsyms}
    assert not (claim.absent & bases)
    for key, value in claim.header.items():
        assert info.header[key] == value


def test_every_wheel_elf_is_claimed(built: dict[str, Scenario]) -> None:
    for name, scn in built.items():
        with zipfile.ZipFile(scn.wheel) as zf:
            elves = {n for n in zf.namelist() if zf.read(n)[:4] == b"\x7fELF"}
        claimed = {label.format(ext=EXT) for label in ELF_CLAIMS[name]}
        assert elves <= claimed, (name, elves - claimed)
        if name == "pure":
            assert not elves


# --------------------------------------------------------------------------- wheels


def _record_rows(zf: zipfile.ZipFile) -> dict[str, tuple[str, str]]:
    record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.StringIO(zf.read(record).decode()))
    return {row[0]: (row[1], row[2]) for row in rows}


def _sha(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_wheel_record_and_modes(name: str, built: dict[str, Scenario]) -> None:
    scn = built[name]
    with zipfile.ZipFile(scn.wheel) as zf:
        rows = _record_rows(zf)
        names = zf.namelist()
        assert set(rows) == set(names)
        for info in zf.infolist():
            data = zf.read(info)
            digest, size = rows[info.filename]
            if info.filename.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            assert (digest, size) == (_sha(data), str(len(data)))
            mode = info.external_attr >> 16
            assert stat.S_ISREG(mode)
            want = 0o755 if data[:4] == b"\x7fELF" else 0o644
            assert stat.S_IMODE(mode) == want, info.filename
        wheel_meta = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        text = zf.read(wheel_meta).decode()
    tag = scn.wheel.name[: -len(".whl")].split("-", 2)[2]
    assert f"Tag: {tag}\n" in text
    assert ("Root-Is-Purelib: true" in text) == (name == "pure")


def test_make_wheel_is_deterministic_and_record_options(tmp_path: Path) -> None:
    files: dict[str, bytes | Path] = {"x/__init__.py": b"", "x/tool": b"#!/bin/sh\n"}
    one = make_wheel(tmp_path / "1", "x-y", "1.0", files, modes={"x/tool": 0o755})
    two = make_wheel(tmp_path / "2", "x-y", "1.0", files, modes={"x/tool": 0o755})
    assert one.name == "x_y-1.0-cp311-cp311-linux_x86_64.whl"
    assert one.read_bytes() == two.read_bytes()
    with zipfile.ZipFile(one) as zf:
        assert (zf.getinfo("x/tool").external_attr >> 16) & 0o777 == 0o755
        assert "x_y-1.0.dist-info/RECORD" in _record_rows(zf)

    excl = make_wheel(tmp_path / "3", "x", "1.0", files, record_exclude=["x/tool"])
    with zipfile.ZipFile(excl) as zf:
        assert "x/tool" in zf.namelist()
        assert "x/tool" not in _record_rows(zf)
    none = make_wheel(tmp_path / "4", "x", "1.0", files, record=False)
    with zipfile.ZipFile(none) as zf:
        assert not any(n.endswith("RECORD") for n in zf.namelist())


def test_compile_cached_runs_compiler_once(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "cc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec gcc "$@"\n')
    wrapper.chmod(0o755)
    src = tmp_path / "one.c"
    src.write_text("int one(void) { return 1; }\n")
    cache = tmp_path / "cache"
    args = ["-shared", "-fPIC", "-Wl,-soname,libone.so.1"]

    def compile_calls() -> int:
        return sum("--version" not in line for line in log.read_text().splitlines())

    first = compile_cached(cache, [src], "libone.so.1", args, compiler=str(wrapper))
    second = compile_cached(cache, [src], "libone.so.1", args, compiler=str(wrapper))
    assert first == second
    assert first.parent.parent == cache
    assert compile_calls() == 1
    src.write_text("int one(void) { return 2; }\n")
    third = compile_cached(cache, [src], "libone.so.1", args, compiler=str(wrapper))
    assert third != first
    assert compile_calls() == 2


# --------------------------------------------------------------------------- real loader


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_check_code_runs(name: str, built: dict[str, Scenario], tmp_path: Path) -> None:
    scn = built[name]
    proc = run_check_code(scn, tmp_path / "site", scn.lib_dirs)
    assert proc.returncode == 0, proc.stderr
    without = run_check_code(scn, tmp_path / "site", None)
    if name in NEEDS_LD_LIBRARY_PATH:
        assert without.returncode != 0, "expected to need LD_LIBRARY_PATH"
    else:
        assert without.returncode == 0, without.stderr


def test_example_prints(built: dict[str, Scenario], tmp_path: Path) -> None:
    scn = built["example"]
    proc = run_check_code(scn, tmp_path / "site", scn.lib_dirs)
    assert proc.stdout == "name: wheelfix\nmotto: 'fix: wheels'\nempty: ''\n"


def _import_pick(site: Path, module: str, ld_library_path: list[Path] | None) -> int | None:
    code = f"import prec.{module} as m; print(m.pick())"
    env = check_env(ld_library_path)
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        assert "libpick.so.1" in proc.stderr, proc.stderr
        return None
    return int(proc.stdout)


@pytest.mark.parametrize("module", sorted(PRECEDENCE_LOADER_WITH_LDLP))
def test_precedence_real_loader(module: str, scenario: ScenarioFactory, tmp_path: Path) -> None:
    # ld.so: DT_RPATH (A) > LD_LIBRARY_PATH (C) > DT_RUNPATH (B).
    scn = scenario("precedence")
    site = unpack_wheel(scn.wheel, tmp_path / "site")
    assert _import_pick(site, module, scn.lib_dirs) == PRECEDENCE_LOADER_WITH_LDLP[module]
    assert _import_pick(site, module, None) == PRECEDENCE_LOADER_NO_LDLP[module]


def test_deleting_lib_dirs_breaks_import(scenario: ScenarioFactory, tmp_path: Path) -> None:
    # Scenario copies are private to the test: deleting a lib dir is how tests make a
    # dependency disappear.
    scn = scenario("versioned_chain")
    assert run_check_code(scn, tmp_path / "site").returncode == 0
    for d in scn.lib_dirs:
        shutil.rmtree(d)
    proc = run_check_code(scn, tmp_path / "site")
    assert proc.returncode != 0
    assert "libbar.so.1" in proc.stderr
