"""Issue 12: ``repair --include LIB`` grafts a library opened with ``dlopen`` (fixtures/include).

The extension dlopens ``libplugin.so.1`` by soname; nothing names it in DT_NEEDED. After
``repair --include`` the wheel is installed, the build directory deleted, and the call must
still return the plugin's answer: the extension's new RPATH points into ``plugged.libs/``,
where the plugin kept its name and SONAME, its own dependency grafted under a hashed name.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from runtools import one_error_line, pip_install, run_python, run_wheelfix
from wheelbuild import _Builder, make_wheel
from wheelfix.repair_report import report_schema

ARCH = platform.machine()
CALL = "import plugged._ext as e; print(e.value())"
PLUGIN = "libplugin.so.1"


@dataclass(frozen=True)
class Built:
    wheel: Path
    libs: Path
    """The build directory holding libplugin.so.1 and libplugdep.so.1."""
    builder: _Builder


def _build(
    fixture_cache: Path,
    tmp_path: Path,
    *,
    plugin_defines: Sequence[str] = (),
    ext_defines: Sequence[str] = (),
    link_plugin: bool = False,
    plugin_soname: str = PLUGIN,
) -> Built:
    b = _Builder("include", fixture_cache, tmp_path)
    dep = b.lib("plugdep.c", "libplugdep.so.1", version_script="plugdep.map")
    plugin = b.lib("plugin.c", plugin_soname, needs=[dep], rpath="$ORIGIN", defines=plugin_defines)
    libs = b.dir("libs")
    b.place("libs", dep)
    b.place("libs", plugin)
    ext = b.ext(
        "ext.c",
        "_ext",
        defines=ext_defines,
        needs=[plugin] if link_plugin else [],
        rpath_link=[dep.parent],
        extra=["-ldl"],
    )
    wheel = b.wheel("plugged", "1.0", {"plugged/__init__.py": b"", f"plugged/{ext.name}": ext})
    return Built(wheel, libs, b)


@pytest.fixture
def built(fixture_cache: Path, tmp_path: Path) -> Built:
    return _build(fixture_cache, tmp_path)


def _repair(
    wheel: Path, out: Path, *args: str | Path, libs: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_wheelfix("repair", wheel, "-w", out, *args, ld_library_path=[libs] if libs else None)


def _installed(proc: subprocess.CompletedProcess[str], site: Path) -> Path:
    assert proc.returncode == 0, proc.stderr
    output = Path(proc.stdout.strip())
    pip_install(output, site)
    return output


def _readelf(flag: str, path: Path) -> str:
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is the test oracle here")
    proc = subprocess.run(["readelf", flag, path], capture_output=True, text=True, check=True)
    return proc.stdout


def _dynamic(path: Path) -> dict[str, list[str]]:
    """``NEEDED``/``SONAME``/``RPATH``/``RUNPATH`` values as readelf prints them."""
    found: dict[str, list[str]] = {}
    for line in _readelf("-d", path).splitlines():
        for tag in ("NEEDED", "SONAME", "RPATH", "RUNPATH"):
            if f"({tag})" in line:
                found.setdefault(tag, []).append(line.split("[", 1)[1].rsplit("]", 1)[0])
    return found


def _check_plugin_graft(site: Path) -> str:
    """The installed plugin kept its name and SONAME; returns its hashed dependency's name."""
    libs = site / "plugged.libs"
    names = sorted(p.name for p in libs.iterdir())
    hashed = [n for n in names if n.startswith("libplugdep-")]
    assert PLUGIN in names and len(hashed) == 1, names
    dynamic = _dynamic(libs / PLUGIN)
    assert dynamic["SONAME"] == [PLUGIN]
    assert dynamic["RPATH"] == ["$ORIGIN"]
    assert "RUNPATH" not in dynamic
    assert hashed[0] in dynamic["NEEDED"] and "libplugdep.so.1" not in dynamic["NEEDED"]
    # The versioned symbol's requirement follows the renamed file.
    versions = _readelf("-V", libs / PLUGIN)
    assert f"File: {hashed[0]}" in versions and "PLUGDEP_1.0" in versions
    ext_rpath = _dynamic(next((site / "plugged").glob("_ext*.so")))["RPATH"]
    assert ext_rpath == ["$ORIGIN/../plugged.libs"]
    return hashed[0]


def test_include_by_soname_is_dlopened_after_the_originals_are_gone(
    built: Built, tmp_path: Path
) -> None:
    proc = _repair(built.wheel, tmp_path / "out", "--include", PLUGIN, libs=built.libs)
    site = tmp_path / "site"
    _installed(proc, site)
    assert f"grafted {PLUGIN} ({built.libs / PLUGIN}) as plugged.libs/{PLUGIN}" in proc.stderr
    assert "(--include: file name and SONAME kept)" in proc.stderr
    shutil.rmtree(built.libs)
    run = run_python(CALL, site)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["41"]
    _check_plugin_graft(site)


def test_include_by_path_uses_the_plugins_own_rpath(built: Built, tmp_path: Path) -> None:
    # No LD_LIBRARY_PATH: libplugdep.so.1 is found through the plugin's RPATH $ORIGIN.
    proc = _repair(built.wheel, tmp_path / "out", "--include", built.libs / PLUGIN)
    site = tmp_path / "site"
    output = _installed(proc, site)
    again = _repair(built.wheel, tmp_path / "again", "--include", built.libs / PLUGIN)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip()).read_bytes() == output.read_bytes()  # deterministic
    shutil.rmtree(built.libs)
    run = run_python(CALL, site)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["41"]
    _check_plugin_graft(site)
    sbom = json.loads((site / "plugged-1.0.dist-info/sboms/wheelfix.cdx.json").read_text())
    assert f"plugged.libs/{PLUGIN}" in json.dumps(sbom)


def test_without_include_the_call_fails_once_the_originals_are_gone(
    built: Built, tmp_path: Path
) -> None:
    proc = _repair(built.wheel, tmp_path / "out", libs=built.libs)
    site = tmp_path / "site"
    _installed(proc, site)
    assert not (site / "plugged.libs").exists()
    shutil.rmtree(built.libs)
    run = run_python(CALL, site)
    assert run.returncode != 0
    assert f"dlopen failed: {PLUGIN}" in run.stderr


def test_included_library_also_needed_normally_is_grafted_once(
    fixture_cache: Path, tmp_path: Path
) -> None:
    built = _build(fixture_cache, tmp_path, ext_defines=["NEEDS_PLUGIN"], link_plugin=True)
    proc = _repair(built.wheel, tmp_path / "out", "--include", PLUGIN, libs=built.libs)
    site = tmp_path / "site"
    output = _installed(proc, site)
    with zipfile.ZipFile(output) as archive:
        grafted = sorted(n for n in archive.namelist() if n.startswith("plugged.libs/"))
    assert len(grafted) == 2 and f"plugged.libs/{PLUGIN}" in grafted, grafted
    ext = next((site / "plugged").glob("_ext*.so"))
    assert PLUGIN in _dynamic(ext)["NEEDED"]  # the DT_NEEDED user uses the kept name
    shutil.rmtree(built.libs)
    run = run_python(CALL, site)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["41"]
    _check_plugin_graft(site)


def test_an_included_driver_library_is_grafted_with_a_warning(
    fixture_cache: Path, tmp_path: Path
) -> None:
    built = _build(
        fixture_cache, tmp_path, plugin_soname="libcuda.so.1", ext_defines=['PLUGIN="libcuda.so.1"']
    )
    proc = _repair(built.wheel, tmp_path / "out", "--include", "libcuda.so.1", libs=built.libs)
    site = tmp_path / "site"
    _installed(proc, site)
    assert "libcuda.so.1 is a driver library (nvidia-driver)" in proc.stderr
    assert "grafted because --include names it" in proc.stderr
    shutil.rmtree(built.libs)
    run = run_python(CALL, site)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["41"]


def _glibc() -> tuple[int, ...]:
    _name, version = platform.libc_ver()
    return tuple(int(part) for part in version.split(".")) if version else (0,)


def _error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stderr
    return one_error_line(proc.stderr)


def test_include_errors(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "nowhere" / "libgone.so.1"
    line = _error(_repair(built.wheel, out, "--include", missing), 3)
    assert line.startswith(f"wheelfix: error: {missing}: --include: ")
    assert "no such file" in line.lower()
    text = tmp_path / "libtext.so.1"
    text.write_text("not a library\n")
    line = _error(_repair(built.wheel, out, "--include", text), 7)
    assert line == f"wheelfix: error: {text}: --include: not an ELF file"
    line = _error(_repair(built.wheel, out, "--include", "libnothere.so.7", libs=built.libs), 9)
    assert line.startswith(
        "wheelfix: error: libnothere.so.7: --include: Cannot repair wheel, because required"
        ' library "libnothere.so.7" could not be located'
    )
    assert "LD_LIBRARY_PATH" in line
    assert line.endswith("or give the library's path")
    line = _error(_repair(built.wheel, out, "--include", tmp_path), 3)
    assert "is a directory" in line
    assert not out.exists() or not list(out.iterdir())


def test_include_of_a_foreign_architecture_is_refused(built: Built, tmp_path: Path) -> None:
    if shutil.which("aarch64-linux-gnu-gcc") is None or ARCH == "aarch64":
        pytest.skip("needs aarch64-linux-gnu-gcc on a non-aarch64 host")
    foreign = built.builder.lib("plugdep.c", "libplugdep.so.1", compiler="aarch64-linux-gnu-gcc")
    line = _error(_repair(built.wheel, tmp_path / "out", "--include", foreign), 10)
    assert line.startswith(f"wheelfix: error: {foreign}: --include: a aarch64 64-bit ELF file")
    assert f"the wheel's ELF files are {ARCH}" in line


def test_include_colliding_with_a_wheel_member_is_refused(built: Built, tmp_path: Path) -> None:
    ext = next(p for p in built.builder.files.values() if p.name.startswith("_ext"))
    wheel = make_wheel(
        tmp_path / "collide",
        "plugged",
        "1.0",
        {"plugged/__init__.py": b"", f"plugged/{ext.name}": ext, f"plugged.libs/{PLUGIN}": b"x"},
        tag=built.builder.tag,
    )
    line = _error(_repair(wheel, tmp_path / "out", "--include", PLUGIN, libs=built.libs), 15)
    assert f"!plugged.libs/{PLUGIN}: the wheel already has this member" in line


def test_a_too_new_symbol_in_an_included_library_blocks_the_tag(
    fixture_cache: Path, tmp_path: Path
) -> None:
    if _glibc() < (2, 36):
        pytest.skip("needs glibc >= 2.36 (arc4random) to build the too-new plugin")
    built = _build(fixture_cache, tmp_path, plugin_defines=["NEW_GLIBC"])
    plat = f"manylinux_2_35_{ARCH}"  # the extension's dlopen needs GLIBC_2.34
    proc = _repair(
        built.wheel, tmp_path / "out", "--plat", plat, "--include", PLUGIN, libs=built.libs
    )
    line = _error(proc, 10)
    assert plat in line
    assert f"{built.libs / PLUGIN}: GLIBC_2.36" in line
    # Without the include the wheel itself is fine for that tag.
    assert _repair(built.wheel, tmp_path / "ok", "--plat", plat).returncode == 0
    # auto takes the tag the included library allows.
    proc = _repair(built.wheel, tmp_path / "auto", "--include", PLUGIN, libs=built.libs)
    assert proc.returncode == 0, proc.stderr
    assert f"manylinux_2_36_{ARCH}" in Path(proc.stdout.strip()).name


def test_json_report_marks_the_included_library(built: Built, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    proc = _repair(
        built.wheel,
        tmp_path / "out",
        "--include",
        PLUGIN,
        "--json",
        "--report",
        report,
        libs=built.libs,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert json.loads(report.read_text()) == document
    jsonschema.Draft202012Validator(report_schema()).validate(document)
    (wheel,) = document["wheels"]
    grafted = {g["member"]: g for g in wheel["grafted"]}
    plugin = grafted[f"plugged.libs/{PLUGIN}"]
    assert plugin["included"] is True
    assert (plugin["soname"], plugin["new_name"]) == (PLUGIN, PLUGIN)
    assert plugin["source"] == str(built.libs / PLUGIN)
    (dep,) = [g for m, g in grafted.items() if m != f"plugged.libs/{PLUGIN}"]
    assert dep["included"] is False and dep["new_name"].startswith("libplugdep-")
    rewritten = {r["member"]: r for r in wheel["rewritten"]}
    after = rewritten[f"plugged.libs/{PLUGIN}"]["after"]
    assert after == {
        "needed": [dep["new_name"], "libc.so.6"],
        "soname": PLUGIN,
        "rpath": ["$ORIGIN"],
        "runpath": [],
    }
    # The plugin's symbol versions were counted: PLUGDEP_1.0 is no glibc version, so the
    # wheel keeps the best tag its own glibc versions allow.
    assert any(tag.startswith("cp") and "manylinux" in tag for tag in wheel["tags_after"])
    # the SBOM marks the included library (and only it)
    with zipfile.ZipFile(wheel["output"]) as repaired:
        (sbom_name,) = [n for n in repaired.namelist() if n.endswith("/sboms/wheelfix.cdx.json")]
        sbom = json.loads(repaired.read(sbom_name))
    marked = {
        occurrence["location"]
        for component in sbom["components"]
        if {"name": "wheelfix:included", "value": "true"} in component.get("properties", [])
        for occurrence in component["evidence"]["occurrences"]
    }
    assert marked == {f"plugged.libs/{PLUGIN}"}


def test_the_repaired_wheel_passes_check(built: Built, tmp_path: Path) -> None:
    proc = _repair(built.wheel, tmp_path / "out", "--include", PLUGIN, libs=built.libs)
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(built.libs)
    check = run_wheelfix("check", proc.stdout.strip())
    assert check.returncode == 0, check.stderr


def test_a_whitelisted_include_is_not_grafted(built: Built, tmp_path: Path) -> None:
    proc = _repair(built.wheel, tmp_path / "out", "--include", "libz.so.1")
    if proc.returncode == 9:
        pytest.skip("no libz.so.1 on this machine")
    assert proc.returncode == 0, proc.stderr
    assert "libz.so.1 is on the manylinux_" in proc.stderr
    assert "whitelist (every such system provides it), so it is not grafted" in proc.stderr
    with zipfile.ZipFile(proc.stdout.strip()) as archive:
        assert not [n for n in archive.namelist() if n.startswith("plugged.libs/")]
