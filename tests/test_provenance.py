"""SBOM and license files of grafted libraries (issues 11 and 12), on a real distro library.

An extension links Debian's ``libffi.so.8`` (package ``libffi8``); repair grafts it and must
add ``.dist-info/sboms/wheelfix.cdx.json`` naming the package as ``dpkg-query`` does, and
the package's ``copyright`` file under ``.dist-info/licenses/``, all listed in RECORD.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sysconfig
import zipfile
from pathlib import Path

import pytest

from runtools import pip_install, run_python, run_wheelfix
from wheelbuild import _Builder, make_wheel

MULTIARCH = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
LIBFFI = Path(f"/usr/lib/{MULTIARCH}/libffi.so.8")

pytestmark = pytest.mark.skipif(
    not LIBFFI.exists() or shutil.which("dpkg-query") is None,
    reason="needs Debian's libffi8 (dpkg) on the host",
)


def _dpkg(field: str, package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f", f"${{{field}}}", package],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _ffi_wheel(builder: _Builder, metadata_version: str = "2.1") -> tuple[Path, Path]:
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=4"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    ext = builder.ext(
        "ext.c",
        "a",
        defines=["MODNAME=a"],
        needs=[one, LIBFFI],
        extra=["-Wl,--no-as-needed"],
    )
    wheel = make_wheel(
        builder.tmp / "wheel",
        "ffiuser",
        "1.0",
        {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext},
        tag=builder.tag,
        extra_dist_info={
            "METADATA": f"Metadata-Version: {metadata_version}\nName: ffiuser\nVersion: 1.0\n"
        },
    )
    return wheel, libs


@pytest.fixture
def builder(fixture_cache: Path, tmp_path: Path) -> _Builder:
    return _Builder("hostile", fixture_cache, tmp_path)


def _members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_sbom_and_license_files_of_a_debian_library(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs = _ffi_wheel(builder, metadata_version="2.4")
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip())
    members = _members(out)
    dist_info = "ffiuser-1.0.dist-info"

    sbom = json.loads(members[f"{dist_info}/sboms/wheelfix.cdx.json"])
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.6"
    ffi = [c for c in sbom["components"] if c["name"] == "libffi8"]
    assert len(ffi) == 1, sbom["components"]
    version, arch = _dpkg("Version", "libffi8"), _dpkg("Architecture", "libffi8")
    assert ffi[0]["version"] == version
    assert ffi[0]["purl"].startswith("pkg:deb/debian/libffi8@")
    assert ffi[0]["purl"].endswith(f"?arch={arch}")
    (location,) = [o["location"] for o in ffi[0]["evidence"]["occurrences"]]
    assert location.startswith("ffiuser.libs/libffi-")
    assert ffi[0]["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(members[location]).hexdigest()}
    ]

    license_member = f"{dist_info}/licenses/ffiuser.libs/libffi8/copyright"
    assert members[license_member] == Path("/usr/share/doc/libffi8/copyright").read_bytes()
    metadata = members[f"{dist_info}/METADATA"].decode()
    assert "License-File: ffiuser.libs/libffi8/copyright\n" in metadata

    rows = {row[0] for row in csv.reader(io.StringIO(members[f"{dist_info}/RECORD"].decode()))}
    assert {license_member, f"{dist_info}/sboms/wheelfix.cdx.json"} <= rows
    # libsame is built here, owned by no package: said once, on stderr.
    assert "libsame.so.1: no distro package owns it" in proc.stderr

    site = tmp_path / "site"
    pip_install(out, site)
    libs.rename(libs.with_name("libs.gone"))
    run = run_python("import pkg.a; print(pkg.a.value())", site)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["4"]


def test_old_metadata_gets_files_but_no_license_file_headers(
    builder: _Builder, tmp_path: Path
) -> None:
    wheel, libs = _ffi_wheel(builder, metadata_version="2.1")
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    members = _members(Path(proc.stdout.strip()))
    assert "ffiuser-1.0.dist-info/licenses/ffiuser.libs/libffi8/copyright" in members
    assert b"License-File" not in members["ffiuser-1.0.dist-info/METADATA"]


def test_no_licenses_and_determinism(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs = _ffi_wheel(builder)
    outs = []
    for run in ("a", "b"):
        proc = run_wheelfix("repair", wheel, "-w", tmp_path / run, ld_library_path=[libs])
        assert proc.returncode == 0, proc.stderr
        outs.append(Path(proc.stdout.strip()).read_bytes())
    assert outs[0] == outs[1]
    proc = run_wheelfix(
        "repair", "--no-licenses", wheel, "-w", tmp_path / "c", ld_library_path=[libs]
    )
    assert proc.returncode == 0, proc.stderr
    members = _members(Path(proc.stdout.strip()))
    assert not [m for m in members if "/licenses/" in m]
    assert "ffiuser-1.0.dist-info/sboms/wheelfix.cdx.json" in members
    assert "no license file" not in proc.stderr
