"""End-to-end ``wheelfix repair`` on real binaries.

Fixture wheels are built with gcc (``wheelbuild``), repaired with ``python -m wheelfix repair``
in a subprocess, installed with ``pip install --no-deps --target`` (or into a venv for the
console script), and then the directories holding the original libraries are renamed away
before the extensions are imported by a fresh interpreter with no LD_LIBRARY_PATH.
``/proc/self/maps`` of that interpreter proves where every library came from. ``readelf``
and ``auditwheel show`` are independent oracles for the rewritten files and tags.

Repairs are cached per module (:class:`Shop`) so every scenario is built and repaired once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtools import SCRUBBED_ENV
from wheelbuild import (
    EXPECTED_SHOW,
    PRECEDENCE_LOADER_WITH_LDLP,
    REPO_ROOT,
    STALE_RPATH,
    Scenario,
    build_repair_scenario,
    check_env,
    python_ext_suffix,
    python_wheel_tag,
    run_check_code,
    unpack_wheel,
)

EXT = python_ext_suffix()
MACHINE = platform.machine()
PY_ABI = python_wheel_tag().rsplit("-", 1)[0]  # e.g. cp311-cp311
OTHER_ARCH = "aarch64" if MACHINE != "aarch64" else "x86_64"

#: manylinux_2_x -> legacy alias written next to it.
ALIASES = {
    "manylinux_2_5": "manylinux1",
    "manylinux_2_12": "manylinux2010",
    "manylinux_2_17": "manylinux2014",
}

#: Repair-only scenarios -> the SCENARIOS entry built from the same sources and toolchain.
SAME_SYMBOLS_AS = {
    "inwheel_graft": "inwheel_rpath",
    "stale_runpath": "stale_rpath",
    "debug_chain": "versioned_chain",
    "new_glibc_lib": "new_glibc",
}

#: Scenario -> sonames that repair must graft (and that the check code must load from
#: ``<dist>.libs``) for the import tests.
IMPORT_GRAFTS: dict[str, frozenset[str]] = {
    "versioned_chain": frozenset({"libbar.so.1", "libfoo.so.1"}),
    "two_ext_shared": frozenset({"libshared.so.1", "libleaf.so.1"}),
    "stale_rpath": frozenset({"libstale.so.1"}),
    "stale_runpath": frozenset({"libstale.so.1"}),
    "inwheel_rpath": frozenset(),
    "inwheel_graft": frozenset({"libdep.so.1"}),
    "example": frozenset({"libdemo.so.1", "libdemodep.so.1"}),
    "wrong_class": frozenset({"libwc.so.1"}),
    "new_glibc_lib": frozenset({"libstale.so.1"}),
}

#: Appended to a scenario's check code: print every file mapped into the process.
MAPS_CODE = """
import json as _wf_json
_wf_paths = set()
with open('/proc/self/maps') as _wf_maps:
    for _wf_line in _wf_maps:
        _wf_fields = _wf_line.split(None, 5)
        if len(_wf_fields) == 6 and _wf_fields[5].startswith('/'):
            _wf_paths.add(_wf_fields[5].strip())
print('WHEELFIX-MAPS ' + _wf_json.dumps(sorted(_wf_paths)))
"""

_GRAFTED_RE = re.compile(r"^wheelfix: grafted (\S+) \((.+)\) as (\S+)$")


# --------------------------------------------------------------------------- running tools


def _env(ld_library_path: Sequence[Path] | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if ld_library_path:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(str(p) for p in ld_library_path)
    env.update(extra)
    return env


def wheelfix(
    args: Sequence[str | os.PathLike[str]],
    ld_library_path: Sequence[Path] | None = None,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """``python -m wheelfix *args`` with the in-tree sources and a clean environment."""
    env = _env(ld_library_path, PYTHONPATH=str(REPO_ROOT / "src"), **extra_env)
    return subprocess.run(
        [sys.executable, "-m", "wheelfix", *(os.fspath(a) for a in args)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def auditwheel_show(wheel: Path) -> tuple[int, dict[str, object]]:
    """``auditwheel show --json`` with NO LD_LIBRARY_PATH."""
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(wheel)],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.stdout.strip(), proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return proc.returncode, data


def pip_install(wheel: Path, target: Path | None = None, python: Path | None = None) -> None:
    """``pip install --no-deps`` into ``--target`` or into the environment of ``python``."""
    cmd = [sys.executable, "-m", "pip"]
    if python is not None:
        cmd += ["--python", str(python)]
    cmd += ["install", "--no-deps", "--no-index", "--no-compile", "--disable-pip-version-check"]
    cmd += ["-q", *(["--target", str(target)] if target is not None else []), str(wheel)]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def run_python(
    code: str, site: Path | None, python: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter: PYTHONPATH=site, no LD_LIBRARY_PATH."""
    env = check_env(None, _env())
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [str(python or sys.executable), "-c", code],
        cwd=site or Path.cwd(),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def mapped_files(stdout: str) -> set[str]:
    """The paths printed by :data:`MAPS_CODE`, as real paths."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("WHEELFIX-MAPS ")]
    assert len(lines) == 1, stdout
    return {os.path.realpath(p) for p in json.loads(lines[0].split(" ", 1)[1])}


# --------------------------------------------------------------------------- readelf


def _readelf(*args: str | os.PathLike[str]) -> str:
    return subprocess.run(
        ["readelf", "-W", *(os.fspath(a) for a in args)],
        capture_output=True,
        text=True,
        check=True,
        env={**_env(), "LC_ALL": "C"},
    ).stdout


_DYN_RE = re.compile(r"^\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$")


def dynamic(path: Path) -> dict[str, list[str]]:
    """``readelf -d``: tag -> values (bracketed strings unwrapped)."""
    result: dict[str, list[str]] = {}
    for line in _readelf("-d", path).splitlines():
        match = _DYN_RE.match(line)
        if match is None:
            continue
        tag, rest = match.groups()
        bracket = re.search(r"\[(.*)\]", rest)
        result.setdefault(tag, []).append(bracket.group(1) if bracket else rest.strip())
    return result


def rpath(path: Path) -> list[str] | None:
    """DT_RPATH entries, or None when there is no DT_RPATH."""
    values = dynamic(path).get("RPATH")
    if values is None:
        return None
    assert len(values) == 1, values
    return values[0].split(":")


def verneed(path: Path) -> dict[str, list[str]]:
    """``readelf -V``'s version needs: file -> version names."""
    text = _readelf("-V", path)
    _, _, needs = text.partition("Version needs section")
    result: dict[str, list[str]] = {}
    current: str | None = None
    for line in needs.splitlines():
        file_match = re.search(r"File: (\S+)\s+Cnt:", line)
        if file_match:
            current = file_match.group(1)
            result[current] = []
            continue
        name_match = re.search(r"Name: (\S+)\s+Flags:", line)
        if name_match and current is not None:
            result[current].append(name_match.group(1))
    return result


def section_names(path: Path) -> set[str]:
    return set(re.findall(r"\]\s+(\.\S+)", _readelf("-S", path)))


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


# --------------------------------------------------------------------------- naming oracles


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_graft_name(filename: str, digest: str) -> str:
    """``<stem>-<8 hex>.<rest>``: ``libfoo.so.1`` -> ``libfoo-1234abcd.so.1``."""
    stem, _, rest = filename.partition(".")
    return f"{stem}-{digest[:8]}.{rest}"


def platform_tags(wheel: Path) -> set[str]:
    return set(wheel.name[: -len(".whl")].split("-")[-1].split("."))


def target_tag(name: str) -> str:
    """The best tag a scenario reaches once its external libraries are grafted: the symbol
    tag auditwheel reports for the unrepaired wheel (the grafted libraries here use no newer
    glibc symbol versions than the wheel's own ELF files)."""
    tag = EXPECTED_SHOW[SAME_SYMBOLS_AS.get(name, name)].sym_tag
    assert tag is not None
    return tag


def target_tags(name: str) -> set[str]:
    """The target tag and its legacy alias (if any)."""
    tag = target_tag(name)
    base = tag[: -len(f"_{MACHINE}")]
    return {tag, *([f"{ALIASES[base]}_{MACHINE}"] if base in ALIASES else [])}


def best_manylinux(tags: set[str]) -> str:
    """The most compatible ``manylinux_X_Y`` tag among ``tags``."""
    versions = []
    for tag in tags:
        match = re.fullmatch(rf"manylinux_(\d+)_(\d+)_{MACHINE}", tag)
        if match:
            versions.append((int(match.group(1)), int(match.group(2)), tag))
    assert versions, tags
    return min(versions)[2]


def wheel_tags(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/WHEEL")]
        text = zf.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def case_id(name: str, flags: tuple[str, ...]) -> str:
    return " ".join((name, *flags))


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("wheelfix: error: "), stderr
    return lines[0]


def no_wheels(directory: Path) -> bool:
    return not directory.exists() or not any(directory.iterdir())


# --------------------------------------------------------------------------- the shop


@dataclass
class Repaired:
    """One successful repair of a freshly built scenario."""

    scenario: Scenario
    wheel_dir: Path
    output: Path
    proc: subprocess.CompletedProcess[str]
    grafted: dict[str, str]
    """original soname -> member path, from the stderr lines."""
    sources: dict[str, str]
    """original soname -> the host path stderr named."""
    originals: dict[str, str]
    """real path of each file in the scenario's lib dirs -> sha256 (before the repair)."""
    snapshot: dict[str, Path]
    """``<dir key>/<file>`` label of each host lib -> a copy taken before the repair."""
    unpacked: Path

    @property
    def dist(self) -> str:
        return self.output.name.split("-")[0]

    @property
    def libs_dir(self) -> str:
        return f"{self.dist}.libs"

    def elf(self, member: str) -> Path:
        return self.unpacked / member

    def new_name(self, soname: str) -> str:
        return self.grafted[soname].rsplit("/", 1)[1]

    def original(self, label: str) -> Path:
        """The input bytes of a wheel member (archive path) or host lib (``libs/<file>``)."""
        return self.snapshot.get(label) or self.scenario.files[label]


@dataclass
class Installed:
    repaired: Repaired
    site: Path


class Shop:
    """Builds scenarios and caches repairs and installs for the whole module."""

    def __init__(self, cache: Path, factory: pytest.TempPathFactory) -> None:
        self.cache = cache
        self.factory = factory
        self._repaired: dict[tuple[str, tuple[str, ...]], Repaired] = {}
        self._installed: dict[tuple[str, tuple[str, ...]], Installed] = {}

    def build(self, name: str) -> Scenario:
        """A fresh copy of scenario ``name`` (never shared)."""
        return build_repair_scenario(name, self.cache, self.factory.mktemp(f"scn-{name}"))

    def repair(self, scenario: Scenario, *flags: str) -> Repaired:
        originals = {
            os.path.realpath(p): sha256_file(p)
            for d in scenario.lib_dirs
            for p in d.iterdir()
            if p.is_file()
        }
        # Snapshot the host libraries: tests may rename the lib dirs away later.
        snapshot_dir = self.factory.mktemp(f"originals-{scenario.name}")
        snapshot: dict[str, Path] = {}
        lib_dirs = {d.resolve() for d in scenario.lib_dirs}
        for label, path in scenario.files.items():
            if path.resolve().parent in lib_dirs:
                copy = snapshot_dir / label
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
                snapshot[label] = copy
        wheel_dir = self.factory.mktemp(f"out-{scenario.name}")
        proc = wheelfix(
            ["repair", scenario.wheel, "-w", wheel_dir, *flags],
            ld_library_path=scenario.lib_dirs,
        )
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert len(lines) == 1, proc.stdout
        output = Path(lines[0])
        assert output.parent == wheel_dir
        assert sorted(wheel_dir.iterdir()) == [output]
        for path, digest in originals.items():  # the host libraries are left alone
            assert sha256_file(Path(path)) == digest, path
        grafted: dict[str, str] = {}
        sources: dict[str, str] = {}
        for line in proc.stderr.splitlines():
            if line.startswith(("wheelfix: warning: ", "wheelfix: repaired ")):
                continue
            if line.startswith(("wheelfix: Excluding ", "wheelfix: Wheel is eligible for")):
                continue  # auditwheel's wording (tests/test_wording.py)
            match = _GRAFTED_RE.match(line)
            assert match is not None, f"unexpected stderr line: {line!r}"
            soname, source, member = match.groups()
            assert soname not in grafted, proc.stderr
            grafted[soname] = member
            sources[soname] = source
        unpacked = unpack_wheel(output, self.factory.mktemp(f"unpacked-{scenario.name}"))
        return Repaired(
            scenario, wheel_dir, output, proc, grafted, sources, originals, snapshot, unpacked
        )

    def repaired(self, name: str, *flags: str) -> Repaired:
        key = (name, flags)
        if key not in self._repaired:
            self._repaired[key] = self.repair(self.build(name), *flags)
        return self._repaired[key]

    def installed(self, name: str, *flags: str) -> Installed:
        """Repair, ``pip install --target``, then rename the original lib dirs away."""
        key = (name, flags)
        if key not in self._installed:
            repaired = self.repaired(name, *flags)
            site = self.factory.mktemp(f"site-{name}")
            pip_install(repaired.output, target=site)
            remove_lib_dirs(repaired.scenario)
            self._installed[key] = Installed(repaired, site)
        return self._installed[key]


def remove_lib_dirs(scenario: Scenario) -> None:
    """Rename the scenario's lib dirs to ``<dir>.gone`` (idempotent)."""
    for directory in scenario.lib_dirs:
        if directory.exists():
            directory.rename(directory.with_name(directory.name + ".gone"))
        assert not directory.exists()


@pytest.fixture(scope="module")
def shop(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return Shop(fixture_cache, tmp_path_factory)


# --------------------------------------------------------------------------- 1, 2, 3, 4: import


@pytest.mark.parametrize("name", sorted(IMPORT_GRAFTS))
def test_import_with_original_libs_gone(name: str, shop: Shop, tmp_path: Path) -> None:
    installed = shop.installed(name)
    repaired, site = installed.repaired, installed.site
    scn = repaired.scenario
    assert set(repaired.grafted) == IMPORT_GRAFTS[name]

    proc = run_python(scn.check_code + MAPS_CODE, site)
    assert proc.returncode == 0, proc.stderr
    maps = mapped_files(proc.stdout)

    # Every grafted library (and nothing else) sits in <dist>.libs and was loaded from there.
    libs_dir = site / repaired.libs_dir
    on_disk = {p.name for p in libs_dir.iterdir()} if libs_dir.exists() else set()
    assert on_disk == {repaired.new_name(s) for s in repaired.grafted}
    loaded_from_libs = {Path(p).name for p in maps if Path(p).parent == libs_dir.resolve()}
    assert loaded_from_libs == on_disk
    # Nothing came from the original dirs or under an original name.
    loaded_names = {Path(p).name for p in maps}
    assert not (loaded_names & IMPORT_GRAFTS[name]), loaded_names
    for path in maps:
        for directory in scn.lib_dirs:
            assert not path.startswith(str(directory)), path

    if name in ("inwheel_rpath", "inwheel_graft"):
        inner = os.path.realpath(site / "pkg" / "inner" / "libinner.so")
        assert inner in maps
    if name == "inwheel_graft":
        assert os.path.realpath(site / "pkg" / "helpers" / "libhelper.so") in maps

    # Control: with the libs gone, the unrepaired wheel no longer imports.
    if IMPORT_GRAFTS[name]:
        control = run_check_code(scn, tmp_path / "original")
        assert control.returncode != 0, control.stdout
        assert "ImportError" in control.stderr, control.stderr


@pytest.mark.parametrize("name", sorted(IMPORT_GRAFTS))
def test_grafted_names_sonames_and_tags(name: str, shop: Shop) -> None:
    repaired = shop.repaired(name)
    dist = repaired.dist
    for soname, member in repaired.grafted.items():
        # stderr names the host file, and its hash names the graft.
        source = os.path.realpath(repaired.sources[soname])
        assert Path(source).name == soname
        assert Path(source).parent in {d.resolve() for d in repaired.scenario.lib_dirs}
        digest = repaired.originals[source]
        assert member == f"{dist}.libs/{expected_graft_name(soname, digest)}"
        assert dynamic(repaired.elf(member))["SONAME"] == [member.rsplit("/", 1)[1]]
    if name == "wrong_class":
        # The ELFCLASS32/EM_386 libwc.so.1 first on the DT_RPATH is skipped, like ld.so does.
        lib64 = repaired.scenario.dirs["lib64"].resolve()
        assert Path(os.path.realpath(repaired.sources["libwc.so.1"])).parent == lib64
    with zipfile.ZipFile(repaired.output) as zf:
        names = zf.namelist()
    assert len(names) == len(set(names))
    assert sorted(n for n in names if n.startswith(f"{dist}.libs/")) == sorted(
        repaired.grafted.values()
    )
    # Tags: the target and its alias, in the file name and in WHEEL.
    assert repaired.output.name.rsplit("-", 1)[0] == repaired.scenario.wheel.name.rsplit("-", 1)[0]
    assert platform_tags(repaired.output) == target_tags(name)
    assert sorted(wheel_tags(repaired.output)) == sorted(f"{PY_ABI}-{t}" for t in target_tags(name))
    # No original absolute path survives in any rpath.
    for path in repaired.unpacked.rglob("*"):
        if path.is_file() and is_elf(path):
            dyn = dynamic(path)
            for entry in ":".join(dyn.get("RPATH", []) + dyn.get("RUNPATH", [])).split(":"):
                assert not entry.startswith("/"), (path, dyn)


def renamed(values: Sequence[str], renames: Mapping[str, str]) -> list[str]:
    return [renames.get(v, v) for v in values]


def test_versioned_chain_dynamic_sections(shop: Shop) -> None:
    r = shop.repaired("versioned_chain")
    bar_new, foo_new = r.new_name("libbar.so.1"), r.new_name("libfoo.so.1")
    renames = {"libbar.so.1": bar_new, "libfoo.so.1": foo_new}

    ext_member = f"chain/_ext{EXT}"
    ext_before, ext = dynamic(r.original(ext_member)), dynamic(r.elf(ext_member))
    assert "libbar.so.1" in ext_before["NEEDED"]
    assert ext["NEEDED"] == renamed(ext_before["NEEDED"], renames)
    assert rpath(r.elf(ext_member)) == ["$ORIGIN/../chain.libs"]
    assert "RUNPATH" not in ext
    vn_before = verneed(r.original(ext_member))
    assert verneed(r.elf(ext_member)) == {renames.get(k, k): v for k, v in vn_before.items()}
    assert verneed(r.elf(ext_member))[bar_new] == ["BAR_1.0"]

    # libbar: DT_RUNPATH $ORIGIN became DT_RPATH $ORIGIN; NEEDED and verneed File: renamed.
    bar_before = dynamic(r.original("libs/libbar.so.1"))
    assert bar_before.get("RUNPATH") == ["$ORIGIN"]
    assert "RPATH" not in bar_before
    bar_path = r.elf(r.grafted["libbar.so.1"])
    bar = dynamic(bar_path)
    assert bar["NEEDED"] == renamed(bar_before["NEEDED"], renames)
    assert foo_new in bar["NEEDED"]
    assert bar["SONAME"] == [bar_new]
    assert rpath(bar_path) == ["$ORIGIN"]
    assert "RUNPATH" not in bar
    bar_vn = verneed(bar_path)
    assert bar_vn[foo_new] == ["FOO_1.0"]
    assert "libfoo.so.1" not in bar_vn
    assert bar_vn == {
        renames.get(k, k): v for k, v in verneed(r.original("libs/libbar.so.1")).items()
    }

    # libfoo: a leaf, so no RPATH/RUNPATH at all.
    foo = dynamic(r.elf(r.grafted["libfoo.so.1"]))
    assert foo["SONAME"] == [foo_new]
    assert foo["NEEDED"] == dynamic(r.original("libs/libfoo.so.1"))["NEEDED"]
    assert "RPATH" not in foo
    assert "RUNPATH" not in foo


def test_two_extensions_share_one_copy(shop: Shop) -> None:
    r = shop.repaired("two_ext_shared")
    shared_new, leaf_new = r.new_name("libshared.so.1"), r.new_name("libleaf.so.1")
    renames = {"libshared.so.1": shared_new, "libleaf.so.1": leaf_new}
    with zipfile.ZipFile(r.output) as zf:
        libs = sorted(n for n in zf.namelist() if n.startswith("twoext.libs/"))
    assert libs == sorted([f"twoext.libs/{shared_new}", f"twoext.libs/{leaf_new}"])
    for member, expected in (
        (f"pkg/a{EXT}", "$ORIGIN/../twoext.libs"),
        (f"pkg/sub/deep/b{EXT}", "$ORIGIN/../../../twoext.libs"),
    ):
        dyn = dynamic(r.elf(member))
        assert dyn["NEEDED"] == renamed(dynamic(r.original(member))["NEEDED"], renames)
        assert dyn["NEEDED"][0] == shared_new
        assert rpath(r.elf(member)) == [expected]
        assert "RUNPATH" not in dyn
    shared = r.elf(r.grafted["libshared.so.1"])
    assert dynamic(shared)["NEEDED"] == renamed(
        dynamic(r.original("libs/libshared.so.1"))["NEEDED"], renames
    )
    assert rpath(shared) == ["$ORIGIN"]
    leaf = dynamic(r.elf(r.grafted["libleaf.so.1"]))
    assert "RPATH" not in leaf
    assert "RUNPATH" not in leaf


def test_inwheel_rpath_kept_without_graft(shop: Shop) -> None:
    r = shop.repaired("inwheel_rpath")
    assert r.grafted == {}
    with zipfile.ZipFile(r.output) as out, zipfile.ZipFile(r.scenario.wheel) as inp:
        assert out.namelist() == inp.namelist()
    ext_member = f"pkg/_ext{EXT}"
    assert rpath(r.elf(ext_member)) == ["$ORIGIN/inner"]
    # Nothing to change: both ELF files are carried over byte for byte.
    for member in (ext_member, "pkg/inner/libinner.so"):
        assert r.elf(member).read_bytes() == r.original(member).read_bytes()


def test_inwheel_rpath_entries_kept_next_to_graft(shop: Shop) -> None:
    r = shop.repaired("inwheel_graft")
    dep_new = r.new_name("libdep.so.1")
    ext_member = f"pkg/_ext{EXT}"
    assert rpath(r.original(ext_member)) == ["$ORIGIN/inner", STALE_RPATH]
    assert rpath(r.elf(ext_member)) == ["$ORIGIN/inner", "$ORIGIN/../inwg.libs"]
    ext = dynamic(r.elf(ext_member))
    assert "RUNPATH" not in ext
    assert ext["NEEDED"] == dynamic(r.original(ext_member))["NEEDED"]

    inner_member = "pkg/inner/libinner.so"
    inner_before = dynamic(r.original(inner_member))
    assert inner_before["RUNPATH"] == ["$ORIGIN/../helpers"]
    inner = dynamic(r.elf(inner_member))
    assert inner["NEEDED"] == renamed(inner_before["NEEDED"], {"libdep.so.1": dep_new})
    assert "libhelper.so" in inner["NEEDED"]
    assert inner["SONAME"] == ["libinner.so"]
    assert rpath(r.elf(inner_member)) == ["$ORIGIN/../helpers", "$ORIGIN/../../inwg.libs"]
    assert "RUNPATH" not in inner

    helper = "pkg/helpers/libhelper.so"
    assert r.elf(helper).read_bytes() == r.original(helper).read_bytes()
    dep = dynamic(r.elf(r.grafted["libdep.so.1"]))
    assert "RPATH" not in dep
    assert "RUNPATH" not in dep


@pytest.mark.parametrize(
    ("name", "package"), [("stale_rpath", "stale"), ("stale_runpath", "stalerun")]
)
def test_stale_rpath_and_runpath_removed(name: str, package: str, shop: Shop) -> None:
    r = shop.repaired(name)
    ext_member = f"{package}/_ext{EXT}"
    before = dynamic(r.original(ext_member))
    tag = "RPATH" if name == "stale_rpath" else "RUNPATH"
    assert before[tag] == [STALE_RPATH]
    after = dynamic(r.elf(ext_member))
    assert rpath(r.elf(ext_member)) == [f"$ORIGIN/../{package}.libs"]
    assert "RUNPATH" not in after
    if name == "stale_runpath":
        assert dynamic(r.original("libs/libstale.so.1"))["RUNPATH"] == [STALE_RPATH]
    lib = dynamic(r.elf(r.grafted["libstale.so.1"]))
    assert "RPATH" not in lib
    assert "RUNPATH" not in lib


def test_grafts_what_the_loader_would_load(shop: Shop, tmp_path: Path) -> None:
    # One wheel per precedence variant, repaired with LD_LIBRARY_PATH=C: the graft must be the
    # libpick.so.1 the real loader picks (DT_RPATH A beats LD_LIBRARY_PATH; LD_LIBRARY_PATH C
    # beats DT_RUNPATH B), and the value survives once A, B and C are gone.
    scn = shop.build("precedence")
    value_dir = {1: "A", 2: "B", 3: "C"}
    sites: dict[str, Path] = {}
    for variant, wheel in sorted(scn.extra_wheels.items()):
        wheel_dir = tmp_path / f"out{variant}"
        proc = wheelfix(["repair", wheel, "-w", wheel_dir], ld_library_path=scn.lib_dirs)
        assert proc.returncode == 0, proc.stderr
        (line,) = [ln for ln in proc.stderr.splitlines() if "warning:" not in ln]
        match = _GRAFTED_RE.match(line)
        assert match is not None, line
        expected_dir = scn.dirs[value_dir[PRECEDENCE_LOADER_WITH_LDLP[variant]]]
        assert Path(match.group(2)) == expected_dir / "libpick.so.1"
        sites[variant] = unpack_wheel(Path(proc.stdout.strip()), tmp_path / f"site{variant}")
    for key in ("A", "B", "C"):
        scn.dirs[key].rename(scn.dirs[key].with_name(f"{key}.gone"))
    for variant, site in sites.items():
        code = f"import prec.{variant} as m; print(m.pick())"
        proc = run_python(code, site)
        assert proc.returncode == 0, proc.stderr
        assert int(proc.stdout) == PRECEDENCE_LOADER_WITH_LDLP[variant], variant


# --------------------------------------------------------------------------- 5: --exclude


@pytest.mark.parametrize(
    "glob",
    ["libbar.so.1", "libbar.so.*", "*/libs/libbar.so.1"],
    ids=["soname", "soname-glob", "path-glob"],
)
def test_exclude_stops_graft_and_traversal(glob: str, shop: Shop) -> None:
    r = shop.repaired("versioned_chain", "--exclude", glob)
    # libbar is excluded and libfoo (reached only through libbar) is not followed.
    assert r.grafted == {}
    with zipfile.ZipFile(r.output) as zf:
        assert not [n for n in zf.namelist() if n.startswith("chain.libs/")]
    ext_member = f"chain/_ext{EXT}"
    assert dynamic(r.elf(ext_member))["NEEDED"] == dynamic(r.original(ext_member))["NEEDED"]
    assert "libbar.so.1" in dynamic(r.elf(ext_member))["NEEDED"]
    assert platform_tags(r.output) == target_tags("versioned_chain")


@pytest.mark.parametrize("glob", ["libfoo.so.1", "*/libs/libfoo.so*"], ids=["soname", "path-glob"])
def test_exclude_leaf_left_untouched(glob: str, shop: Shop) -> None:
    r = shop.repaired("versioned_chain", "--exclude", glob)
    assert set(r.grafted) == {"libbar.so.1"}
    bar_path = r.elf(r.grafted["libbar.so.1"])
    bar = dynamic(bar_path)
    assert bar["NEEDED"] == dynamic(r.original("libs/libbar.so.1"))["NEEDED"]
    assert "libfoo.so.1" in bar["NEEDED"]
    assert verneed(bar_path)["libfoo.so.1"] == ["FOO_1.0"]
    # Nothing of libbar's is grafted next to it, so its DT_RUNPATH $ORIGIN (the host dir) goes.
    assert "RPATH" not in bar
    assert "RUNPATH" not in bar
    # With libfoo still provided by the host, libbar comes from the wheel and libfoo from
    # LD_LIBRARY_PATH.
    site = unpack_wheel(r.output, r.unpacked.with_name(r.unpacked.name + "-site"))
    env_dirs = r.scenario.lib_dirs
    proc = run_check_code(r.scenario, site, env_dirs, code=r.scenario.check_code + MAPS_CODE)
    assert proc.returncode == 0, proc.stderr
    maps = mapped_files(proc.stdout)
    assert os.path.realpath(site / r.grafted["libbar.so.1"]) in maps
    assert os.path.realpath(env_dirs[0] / "libfoo.so.1") in maps
    assert os.path.realpath(env_dirs[0] / "libbar.so.1") not in maps


# --------------------------------------------------------------------------- 6: .data/scripts


def test_data_script_moved_and_console_script_works(shop: Shop, tmp_path: Path) -> None:
    r = shop.repaired("data_script")
    assert set(r.grafted) == {"libdsext.so.1", "libdsprog.so.1"}
    script, moved = "datascript-1.0.data/scripts/prog", "datascript.scripts/prog"
    with zipfile.ZipFile(r.output) as zf:
        names = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert script in names
    assert moved in names
    assert modes[script] & 0o111
    assert modes[moved] & 0o111
    shim = r.elf(script).read_bytes()
    assert shim.startswith(b"#!python\n")
    assert moved.encode() in shim
    assert is_elf(r.elf(moved))
    prog = dynamic(r.elf(moved))
    assert prog["NEEDED"] == renamed(
        dynamic(r.original(script))["NEEDED"], {"libdsprog.so.1": r.new_name("libdsprog.so.1")}
    )
    assert rpath(r.elf(moved)) == ["$ORIGIN/../datascript.libs"]

    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=_env()
    )
    python = venv / "bin" / "python"
    pip_install(r.output, python=python)
    remove_lib_dirs(r.scenario)

    # The console script is pip's rewrite of the launcher, not the ELF file.
    launcher = venv / "bin" / "prog"
    first_line = launcher.read_bytes().split(b"\n", 1)[0]
    assert first_line.startswith(b"#!")
    assert str(venv).encode() in first_line
    assert not is_elf(launcher)
    out = subprocess.run(
        [str(launcher)],
        capture_output=True,
        text=True,
        check=False,
        env=check_env(None, _env()),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "prog 5\n"

    code = "import ds._ext as m\nassert m.value() == 6\n" + MAPS_CODE
    proc = run_python(code, None, python=python)
    assert proc.returncode == 0, proc.stderr
    maps = mapped_files(proc.stdout)
    site = Path(
        run_python(
            "import sysconfig; print(sysconfig.get_path('platlib'))", None, python
        ).stdout.strip()
    )
    assert os.path.realpath(site / r.grafted["libdsext.so.1"]) in maps
    # The launcher ran the moved executable; the loader resolves its lib into <dist>.libs.
    traced = subprocess.run(
        [str(site / moved)],
        capture_output=True,
        text=True,
        check=True,
        env={**check_env(None, _env()), "LD_TRACE_LOADED_OBJECTS": "1"},
    ).stdout
    dsprog = r.new_name("libdsprog.so.1")
    (line,) = [ln for ln in traced.splitlines() if dsprog in ln]
    resolved = line.split("=>", 1)[1].split("(", 1)[0].strip()
    assert os.path.realpath(resolved) == os.path.realpath(site / r.grafted["libdsprog.so.1"])


# --------------------------------------------------------------------------- 7: --strip


def test_strip_removes_symtab_and_debug(shop: Shop) -> None:
    installed = shop.installed("debug_chain", "--strip")
    r = installed.repaired
    ext_member = f"dchain/_ext{EXT}"
    originals = [
        r.original(ext_member),
        r.original("libs/libbar.so.1"),
        r.original("libs/libfoo.so.1"),
    ]
    for path in originals:
        sections = section_names(path)
        assert ".symtab" in sections
        assert ".debug_info" in sections
    elves = [p for p in r.unpacked.rglob("*") if p.is_file() and is_elf(p)]
    assert len(elves) == 3
    for path in elves:
        sections = section_names(path)
        assert ".symtab" not in sections, path
        assert ".strtab" not in sections, path
        assert not [s for s in sections if s.startswith((".debug", ".zdebug"))], (path, sections)
        assert ".dynsym" in sections
    assert dynamic(r.elf(ext_member))["NEEDED"][0] == r.new_name("libbar.so.1")

    proc = run_python(r.scenario.check_code + MAPS_CODE, installed.site)
    assert proc.returncode == 0, proc.stderr
    maps = mapped_files(proc.stdout)
    for member in r.grafted.values():
        assert os.path.realpath(installed.site / member) in maps


# --------------------------------------------------------------------------- 8, 9, 10, 14: errors


@pytest.mark.parametrize("plat", [f"manylinux_2_17_{MACHINE}", f"manylinux2014_{MACHINE}"])
@pytest.mark.parametrize("name", ["new_glibc", "new_glibc_lib"])
def test_plat_older_than_symbols(name: str, plat: str, shop: Shop, tmp_path: Path) -> None:
    scn = shop.build(name)
    wheel_dir = tmp_path / "wheelhouse"
    proc = wheelfix(
        ["repair", scn.wheel, "-w", wheel_dir, "--plat", plat], ld_library_path=scn.lib_dirs
    )
    assert proc.returncode == 10, proc.stderr
    line = one_error_line(proc.stderr)
    # "<file>: GLIBC_2.34" names the file that needs the too-new version: the extension,
    # or the library that would have been grafted.
    offender = f"ng/_ext{EXT}" if name == "new_glibc" else str(scn.lib_dirs[0] / "libstale.so.1")
    assert f"{offender}: GLIBC_2.34" in line
    assert scn.wheel.name in line
    assert f"manylinux_2_17_{MACHINE}" in line
    assert proc.stdout == ""
    assert no_wheels(wheel_dir)


@pytest.mark.parametrize("name", ["stale_rpath", "versioned_chain"])
def test_missing_library(name: str, shop: Shop, tmp_path: Path) -> None:
    scn = shop.build(name)
    if name == "versioned_chain":
        # libbar is still found through the ext's DT_RPATH; libfoo (transitive) is not.
        (scn.lib_dirs[0] / "libfoo.so.1").unlink()
        lib, elf = "libfoo.so.1", f"chain/_ext{EXT}"
    else:
        lib, elf = "libstale.so.1", f"stale/_ext{EXT}"
    wheel_dir = tmp_path / "wheelhouse"
    proc = wheelfix(["repair", scn.wheel, "-w", wheel_dir])
    assert proc.returncode == 9, proc.stderr
    line = one_error_line(proc.stderr)
    assert lib in line
    assert elf in line
    assert proc.stdout == ""
    assert no_wheels(wheel_dir)


def test_pure_wheel_refused(shop: Shop, tmp_path: Path) -> None:
    scn = shop.build("pure")
    wheel_dir = tmp_path / "wheelhouse"
    proc = wheelfix(["repair", scn.wheel, "-w", wheel_dir])
    assert proc.returncode == 8, proc.stderr
    line = one_error_line(proc.stderr)
    assert scn.wheel.name in line
    assert proc.stdout == ""
    assert no_wheels(wheel_dir)


def test_pure_wheel_allowed_is_copied(shop: Shop, tmp_path: Path) -> None:
    scn = shop.build("pure")
    wheel_dir = tmp_path / "wheelhouse"
    proc = wheelfix(["repair", scn.wheel, "-w", wheel_dir, "--allow-pure-python-wheel"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    output = wheel_dir / scn.wheel.name
    assert proc.stdout.splitlines() == [str(output)]
    assert sorted(wheel_dir.iterdir()) == [output]
    assert output.read_bytes() == scn.wheel.read_bytes()


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("zlib_blacklist", 10, ("libz.so.1", "zcalloc", "zcfree")),
        ("foreign_arch", 8, (f"fa/_ext{EXT}", "aarch64")),
    ],
    ids=["zlib_blacklist", "foreign_arch"],
)
def test_unrepairable_wheels(
    name: str, code: int, words: tuple[str, ...], shop: Shop, tmp_path: Path
) -> None:
    scn = shop.build(name)
    wheel_dir = tmp_path / "wheelhouse"
    proc = wheelfix(["repair", scn.wheel, "-w", wheel_dir])
    assert proc.returncode == code, proc.stderr
    line = one_error_line(proc.stderr)
    assert scn.wheel.name in line
    for word in words:
        assert word in line
    assert proc.stdout == ""
    assert no_wheels(wheel_dir)


def test_cross_arch_plat(shop: Shop, tmp_path: Path) -> None:
    scn = shop.build("versioned_chain")
    wheel_dir = tmp_path / "wheelhouse"
    plat = f"manylinux_2_17_{OTHER_ARCH}"
    proc = wheelfix(
        ["repair", scn.wheel, "-w", wheel_dir, "--plat", plat], ld_library_path=scn.lib_dirs
    )
    assert proc.returncode == 10, proc.stderr
    line = one_error_line(proc.stderr)
    assert scn.wheel.name in line
    assert MACHINE in line
    assert plat in line
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert no_wheels(wheel_dir)


# --------------------------------------------------------------------------- 11: idempotence


RERUN_CASES: list[tuple[str, tuple[str, ...]]] = [
    ("versioned_chain", ()),
    ("two_ext_shared", ()),
    ("inwheel_graft", ()),
    ("data_script", ()),
    ("debug_chain", ("--strip",)),
]


@pytest.mark.parametrize(("name", "flags"), RERUN_CASES, ids=[case_id(*c) for c in RERUN_CASES])
def test_repairing_a_repaired_wheel_changes_nothing(
    name: str, flags: tuple[str, ...], shop: Shop, tmp_path: Path
) -> None:
    r = shop.repaired(name, *flags)
    wheel_dir = tmp_path / "again"
    proc = wheelfix(["repair", r.output, "-w", wheel_dir, *flags])  # no LD_LIBRARY_PATH
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing grafted a second time
    again = wheel_dir / r.output.name  # same tags
    assert proc.stdout.splitlines() == [str(again)]
    with zipfile.ZipFile(again) as new, zipfile.ZipFile(r.output) as old:
        assert new.namelist() == old.namelist()
        (record,) = [n for n in old.namelist() if n.endswith(".dist-info/RECORD")]
        assert new.read(record) == old.read(record)
    assert again.read_bytes() == r.output.read_bytes()


# --------------------------------------------------------------------------- 12: auditwheel


SHOW_CASES: list[tuple[str, tuple[str, ...]]] = [
    *((name, ()) for name in sorted(IMPORT_GRAFTS)),
    ("data_script", ()),
    ("debug_chain", ("--strip",)),
    ("versioned_chain", ("--plat", f"manylinux_2_17_{MACHINE}")),
    ("versioned_chain", ("--plat", f"manylinux_2_17_{MACHINE}", "--only-plat")),
]


@pytest.mark.oracle
@pytest.mark.parametrize(("name", "flags"), SHOW_CASES, ids=[case_id(*c) for c in SHOW_CASES])
def test_auditwheel_show_agrees(name: str, flags: tuple[str, ...], shop: Shop) -> None:
    r = shop.repaired(name, *flags)
    rc, data = auditwheel_show(r.output)
    assert rc == 0, data
    assert data["external_libs"] == {}
    tags = platform_tags(r.output)
    overall = data["overall_tag"]
    assert isinstance(overall, str)
    # auditwheel's verdict is the scenario's best tag ...
    assert overall == target_tag(name)
    if "--only-plat" in flags:
        # ... and only the requested (older-compatible, so satisfied) tag is written.
        assert tags == {f"manylinux_2_17_{MACHINE}", f"manylinux2014_{MACHINE}"}
    else:
        # ... and it is the most compatible tag written.
        assert overall in tags
        assert overall == best_manylinux(tags)


# --------------------------------------------------------------------------- 13: determinism


def test_repair_is_deterministic_and_leaves_input_alone(shop: Shop, tmp_path: Path) -> None:
    scn = shop.build("versioned_chain")
    before = sha256_file(scn.wheel)
    epoch = 1_700_000_000
    outputs: dict[str, Path] = {}
    for label, extra in (("a", {}), ("b", {}), ("c", {"SOURCE_DATE_EPOCH": str(epoch)})):
        outputs[label] = tmp_path / label
        proc = wheelfix(
            ["repair", scn.wheel, "-w", outputs[label]], ld_library_path=scn.lib_dirs, **extra
        )
        assert proc.returncode == 0, proc.stderr
        (output,) = outputs[label].iterdir()
        outputs[label] = output
    proc = wheelfix(
        ["repair", scn.wheel, "-w", tmp_path / "d"],
        ld_library_path=scn.lib_dirs,
        SOURCE_DATE_EPOCH=str(epoch),
    )
    assert proc.returncode == 0, proc.stderr
    (outputs["d"],) = (tmp_path / "d").iterdir()

    assert outputs["a"].read_bytes() == outputs["b"].read_bytes()
    assert outputs["c"].read_bytes() == outputs["d"].read_bytes()
    with zipfile.ZipFile(outputs["a"]) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with zipfile.ZipFile(outputs["c"]) as zf:
        assert {i.date_time for i in zf.infolist()} == {tuple(time.gmtime(epoch)[:6])}
    assert sha256_file(scn.wheel) == before


# --------------------------------------------------------------------------- 15: several wheels


def test_several_wheels_mixed_results(shop: Shop, tmp_path: Path) -> None:
    stale = shop.build("stale_rpath")  # no LD_LIBRARY_PATH: libstale missing (9)
    chain = shop.build("versioned_chain")  # found through its absolute DT_RPATH (ok)
    pure = shop.build("pure")  # not a platform wheel (8)
    ghost = tmp_path / f"ghost-1.0-{PY_ABI}-linux_{MACHINE}.whl"  # does not exist
    wheel_dir = tmp_path / "wheelhouse"
    proc = wheelfix(["repair", stale.wheel, chain.wheel, pure.wheel, ghost, "-w", wheel_dir])
    assert proc.returncode == 9, proc.stderr  # the first failure's code
    (output,) = wheel_dir.iterdir()
    assert output.name.startswith("chain-1.0-")
    assert proc.stdout.splitlines() == [str(output)]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("wheelfix: error: ")]
    others = [
        ln
        for ln in proc.stderr.splitlines()
        if not ln.startswith(("wheelfix: error: ", "wheelfix: warning: ", "wheelfix: repaired "))
    ]
    assert len(errors) == 3, proc.stderr
    assert stale.wheel.name in errors[0]
    assert "libstale.so.1" in errors[0]
    assert pure.wheel.name in errors[1]
    assert ghost.name in errors[2]
    assert all(_GRAFTED_RE.match(ln) for ln in others), proc.stderr
    assert len(others) == 2


def test_several_wheels_all_good(shop: Shop, tmp_path: Path) -> None:
    chain = shop.build("versioned_chain")
    two = shop.build("two_ext_shared")
    wheel_dir = tmp_path / "wheelhouse"
    proc = wheelfix(
        ["repair", chain.wheel, two.wheel, "-w", wheel_dir], ld_library_path=two.lib_dirs
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert Path(lines[0]).name.startswith("chain-1.0-")
    assert Path(lines[1]).name.startswith("twoext-1.0-")
    assert sorted(wheel_dir.iterdir()) == sorted(Path(ln) for ln in lines)
    grafted = [m.group(1) for m in map(_GRAFTED_RE.match, proc.stderr.splitlines()) if m]
    assert grafted == ["libbar.so.1", "libfoo.so.1", "libleaf.so.1", "libshared.so.1"]


# --------------------------------------------------------------------------- --strip, non-PIE


def test_strip_strips_a_non_pie_executable_like_strip_s(
    fixture_cache: Path, tmp_path: Path
) -> None:
    """A non-PIE executable is stripped too (elfstrip.py never moves a segment byte), exactly
    to ``strip -s``'s size, and still runs."""
    from wheelbuild import compile_cached, make_wheel

    source = tmp_path / "nopie.c"
    source.write_text('#include <stdio.h>\nint main(void){puts("nopie ok");return 0;}\n')
    program = compile_cached(fixture_cache, [source], "nopie", ["-g", "-O1", "-no-pie"])
    assert (
        subprocess.run(
            ["readelf", "-h", program], capture_output=True, text=True, check=True
        ).stdout.count("EXEC (Executable file)")
        == 1
    )
    wheel = make_wheel(
        tmp_path / "in",
        "nopie",
        "1.0",
        {"nopie/__init__.py": b"", "nopie-1.0.data/scripts/nopie": program},
        tag=python_wheel_tag(),
    )
    out = tmp_path / "out"
    proc = wheelfix(["repair", "--strip", "-w", out, wheel])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    repaired = Path(proc.stdout.strip())
    stripped = tmp_path / "nopie-stripped"
    with zipfile.ZipFile(repaired) as zf:
        stripped.write_bytes(zf.read("nopie-1.0.data/scripts/nopie"))
    oracle = tmp_path / "nopie-strip-s"
    subprocess.run(["strip", "-s", "-o", oracle, program], check=True)
    assert stripped.stat().st_size == oracle.stat().st_size < program.stat().st_size
    assert section_names(stripped) == section_names(oracle)
    assert ".symtab" in section_names(program)
    stripped.chmod(0o755)
    run = subprocess.run([stripped], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout) == (0, "nopie ok\n")


# --------------------------------------------------------------------------- -z and stored bytes


@pytest.mark.parametrize("flags", [(), ("-z", "0"), ("-z", "9")])
def test_unchanged_members_keep_their_compressed_bytes_unless_z_is_given(
    shop: Shop, flags: tuple[str, ...]
) -> None:
    repaired = shop.repaired("example", *flags)
    source = repaired.scenario.wheel
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(repaired.output) as after:
        assert after.testzip() is None
        unchanged = "demo/__init__.py"
        info_in, info_out = before.getinfo(unchanged), after.getinfo(unchanged)
        assert after.read(unchanged) == before.read(unchanged)
        types = {info.compress_type for info in after.infolist()}
        if not flags:
            # copied as stored in the input, whatever its compression was
            assert (info_out.compress_type, info_out.compress_size) == (
                info_in.compress_type,
                info_in.compress_size,
            )
        elif flags[1] == "0":
            assert types == {zipfile.ZIP_STORED}
        else:
            assert types == {zipfile.ZIP_DEFLATED}
