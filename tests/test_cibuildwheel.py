"""Issue 12: the cibuildwheel one-liner, exactly as cibuildwheel substitutes it.

``CIBW_REPAIR_WHEEL_COMMAND_LINUX="wheelfix repair -w {dest_dir} {wheel}"``: cibuildwheel
builds the wheel with ``pip wheel`` into a temporary directory, then runs the command through
the shell with ``{dest_dir}`` and ``{wheel}`` replaced. Here the PATH holds nothing but
``wheelfix``: no patchelf, no binutils, no auditwheel.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from runtools import clean_env, pip_install, run_python
from wheelbuild import REPO_ROOT, _Builder, python_include_dir

COMMAND = "wheelfix repair -w {dest_dir} {wheel}"

SETUP_PY = """
from setuptools import Extension, setup

setup(
    name="cibwdemo",
    version="1.0",
    packages=["cibwdemo"],
    ext_modules=[
        Extension(
            "cibwdemo._ext",
            ["ext.c"],
            define_macros=[("MODNAME", "_ext")],
            libraries=["same"],
            library_dirs=[{libs!r}],
        )
    ],
)
"""


def _wheelfix_script() -> Path:
    script = Path(sys.executable).parent / "wheelfix"
    assert script.exists(), "wheelfix's console script must be installed in this environment"
    return script


def test_cibuildwheel_repair_command(fixture_cache: Path, tmp_path: Path) -> None:
    builder = _Builder("hostile", fixture_cache, tmp_path)
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=2"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    (libs / "libsame.so").symlink_to("libsame.so.1")  # what -lsame links against
    project = tmp_path / "project"
    (project / "cibwdemo").mkdir(parents=True)
    (project / "cibwdemo" / "__init__.py").write_text("")
    (project / "ext.c").write_bytes((REPO_ROOT / "fixtures" / "hostile" / "ext.c").read_bytes())
    (project / "setup.py").write_text(SETUP_PY.format(libs=str(libs)))
    built = tmp_path / "built_wheel"  # cibuildwheel's temporary build directory
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--disable-pip-version-check", "-w", str(built), str(project)],
        env=clean_env(None, {"CFLAGS": f"-I{python_include_dir()}"}),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (wheel,) = built.glob("*.whl")
    assert wheel.name.endswith(f"-linux_{sysconfig.get_platform().split('-')[-1]}.whl")

    bin_dir = tmp_path / "bin"  # the only directory on PATH
    bin_dir.mkdir()
    (bin_dir / "wheelfix").symlink_to(_wheelfix_script())
    dest = tmp_path / "repaired_wheel"
    command = COMMAND.format(dest_dir=shlex.quote(str(dest)), wheel=shlex.quote(str(wheel)))
    env = clean_env([libs], {"PATH": str(bin_dir)})
    proc = subprocess.run(
        ["/bin/sh", "-c", command], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for tool in ("patchelf", "readelf", "auditwheel", "strip"):
        assert not any((Path(d) / tool).exists() for d in env["PATH"].split(os.pathsep)), tool
    (repaired,) = dest.glob("*.whl")
    assert "manylinux" in repaired.name
    with zipfile.ZipFile(repaired) as archive:
        assert any(n.startswith("cibwdemo.libs/libsame-") for n in archive.namelist())
    site = tmp_path / "site"
    pip_install(repaired, site)
    libs.rename(libs.with_name("libs.gone"))
    run = run_python("import cibwdemo._ext as m; print(m.value())", site)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2"]
