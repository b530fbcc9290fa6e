"""Issue 12: GPU and display driver libraries are never grafted (data/never_graft.json)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from runtools import clean_env, pip_install, run_wheelfix
from wheelbuild import _Builder


@pytest.fixture
def driver_wheel(fixture_cache: Path, tmp_path: Path) -> tuple[Path, Path]:
    """An extension linking a stand-in ``libcuda.so.1`` (and a normal libsame.so.1)."""
    builder = _Builder("hostile", fixture_cache, tmp_path)
    cuda = builder.lib("same.c", "libcuda.so.1", defines=["SAME_VALUE=7"])
    libs = builder.dir("libs")
    builder.place("libs", cuda)
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[cuda])
    wheel = builder.wheel("gpu", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    return wheel, libs


def test_show_marks_the_driver_library(driver_wheel: tuple[Path, Path]) -> None:
    wheel, libs = driver_wheel
    proc = run_wheelfix("show", wheel, ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert (
        "The wheel depends on driver libraries, which repair never grafts: they must come from"
        " the user's machine: libcuda.so.1 (nvidia-driver)." in text
    )
    document = json.loads(run_wheelfix("show", "--json", wheel, ld_library_path=[libs]).stdout)
    assert "libcuda.so.1" not in document["external_libs"]


def test_repair_leaves_the_driver_and_says_why(
    driver_wheel: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, libs = driver_wheel
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    assert "libcuda.so.1 is a driver library (nvidia-driver): never grafted" in proc.stderr
    out = Path(proc.stdout.strip())
    with zipfile.ZipFile(out) as archive:
        assert not [n for n in archive.namelist() if n.startswith("gpu.libs/")]
    # On the user's machine the driver is on the library path: the wheel uses it.
    site = tmp_path / "site"
    pip_install(out, site)
    run = subprocess.run(
        [sys.executable, "-c", "import pkg.a; print(pkg.a.value())"],
        env=clean_env([libs], {"PYTHONPATH": str(site)}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["7"]


def test_graft_anyway_grafts_it(driver_wheel: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = driver_wheel
    proc = run_wheelfix(
        "repair",
        "--graft-anyway",
        "libcuda*",
        wheel,
        "-w",
        tmp_path / "out",
        ld_library_path=[libs],
    )
    assert proc.returncode == 0, proc.stderr
    assert "driver library" not in proc.stderr
    with zipfile.ZipFile(Path(proc.stdout.strip())) as archive:
        grafted = [n for n in archive.namelist() if n.startswith("gpu.libs/")]
    assert [g.split("/")[1].split("-")[0] for g in grafted] == ["libcuda"]
