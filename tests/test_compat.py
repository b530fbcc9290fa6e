"""Issue 11: drop-in behaviour for auditwheel 6.8's users, with auditwheel as the oracle."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from runtools import clean_env, one_error_line, pip_install, run_python, run_wheelfix
from wheelbuild import _Builder, make_wheel

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
def builder(fixture_cache: Path, tmp_path: Path) -> _Builder:
    return _Builder("hostile", fixture_cache, tmp_path)


def _auditwheel_show(wheel: Path, libs: list[Path]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(wheel)],
        env=clean_env(libs),
        capture_output=True,
        text=True,
        check=False,
    )
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


def _libpython_wheel(builder: _Builder) -> tuple[Path, Path]:
    fake = builder.lib("fakepy.c", f"libpython{PY}.so.1.0")  # stays out of every search path
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=6"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    ext = builder.ext(
        "ext.c", "a", defines=["MODNAME=a"], needs=[one, fake], extra=["-Wl,--no-as-needed"]
    )
    wheel = builder.wheel("pylinked", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    return wheel, libs


@pytest.mark.oracle
def test_libpython_is_external_as_in_auditwheel(builder: _Builder) -> None:
    wheel, libs = _libpython_wheel(builder)
    proc = run_wheelfix("show", "--json", wheel, ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    mine = json.loads(proc.stdout)
    theirs = _auditwheel_show(wheel, [libs])
    assert mine["external_libs"] == theirs["external_libs"]
    assert mine["external_libs"][f"libpython{PY}.so.1.0"] is None
    assert mine["overall_tag"] == theirs["overall_tag"]
    assert mine["overall_tag"].startswith("linux_")
    check = run_wheelfix("check", wheel, ld_library_path=[libs])
    assert check.returncode == 14, check.stderr


def test_repair_drops_libpython_and_says_so(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs = _libpython_wheel(builder)
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    assert (
        f"Removing libpython{PY}.so.1.0 dependency from pkg/a{builder.ext_suffix}." in proc.stderr
    )
    out = Path(proc.stdout.strip())
    assert "manylinux" in out.name
    check = run_wheelfix("check", out)
    assert check.returncode == 0, check.stderr
    pip_install(out, tmp_path / "site")
    libs.rename(libs.with_name("libs.gone"))
    run = run_python("import pkg.a; print(pkg.a.value())", tmp_path / "site")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["6"]


@pytest.mark.parametrize("command", ["show", "check", "repair"])
def test_extension_with_no_libc_and_no_libc_in_the_tag(
    builder: _Builder, tmp_path: Path, command: str
) -> None:
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], extra=["-nostdlib"])
    wheel = builder.wheel("nolibc", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    args = ["-w", str(tmp_path / "out")] if command == "repair" else []
    proc = run_wheelfix(command, wheel, *args)
    assert proc.returncode == 16, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {wheel}!pkg/{ext.name}: couldn't detect libc for python extension:"
        " neither it nor its libraries link a C library, and the wheel's platform tag names none"
    )
    assert not (tmp_path / "out").exists()


def test_verbose_before_and_after_the_command(builder: _Builder) -> None:
    wheel, libs = _libpython_wheel(builder)
    plain = run_wheelfix("show", wheel, ld_library_path=[libs])
    for args in (["-v", "show", wheel], ["-vv", "show", wheel], ["show", "-v", "-v", wheel]):
        proc = run_wheelfix(*args, ld_library_path=[libs])
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout.startswith(plain.stdout.split("\n\n")[0]), args


def test_patcher_is_accepted_and_explained(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs = _libpython_wheel(builder)
    proc = run_wheelfix(
        "repair", "--patcher", "patchelf", wheel, "-w", tmp_path / "out", ld_library_path=[libs]
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "wheelfix: --patcher patchelf has no effect: wheelfix edits ELF files in-process"
        in proc.stderr.splitlines()
    )


@pytest.mark.oracle
def test_root_is_purelib_wheel_is_audited_repaired_and_installs(
    builder: _Builder, tmp_path: Path
) -> None:
    """hatchling-style: Root-Is-Purelib: true with the extension at the root."""
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=8"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[one])
    wheel = make_wheel(
        builder.tmp / "wheel",
        "purelibby",
        "1.0",
        {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext},
        tag=builder.tag,
        root_is_purelib=True,
    )
    proc = run_wheelfix("show", "--json", wheel, ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    mine, theirs = json.loads(proc.stdout), _auditwheel_show(wheel, [libs])
    assert mine["external_libs"] == theirs["external_libs"]
    assert mine["overall_tag"] == theirs["overall_tag"]
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip())
    with zipfile.ZipFile(out) as archive:
        meta = archive.read("purelibby-1.0.dist-info/WHEEL").decode()
    # A platform wheel belongs in platlib (on lib64 systems purelib is another directory).
    assert "Root-Is-Purelib: false" in meta
    pip_install(out, tmp_path / "site")
    libs.rename(libs.with_name("libs.gone"))
    run = run_python("import pkg.a; print(pkg.a.value())", tmp_path / "site")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["8"]


def test_check_takes_a_wheelhouse_and_reports_each(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs = _libpython_wheel(builder)
    repaired = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert repaired.returncode == 0, repaired.stderr
    good = Path(repaired.stdout.strip())
    missing = tmp_path / "gone-1.0-py3-none-any.whl"
    proc = run_wheelfix("check", good, wheel, missing, ld_library_path=[libs])
    assert proc.returncode == 14, proc.stderr  # the first failure's code
    assert proc.stdout.splitlines() == [f"{good.name}: OK (consistent with manylinux_2_5_x86_64)"]
    errors = proc.stderr.splitlines()
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"wheelfix: error: {wheel}: has no manylinux/musllinux")
    assert errors[1] == f"wheelfix: error: {missing}: No such file or directory"
    as_json = run_wheelfix("check", "--json", good, wheel, missing, ld_library_path=[libs])
    assert as_json.returncode == 14
    document = json.loads(as_json.stdout)
    assert [(w["wheel"], w["ok"]) for w in document["wheels"]] == [
        (good.name, True),
        (wheel.name, False),
        (missing.name, False),
    ]
    assert [w.get("exit_code") for w in document["wheels"]] == [None, 14, 3]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--plat", "manylinux_2_17_x86-64"], {}, "did you mean manylinux_2_17_x86_64?"),
        ([], {"AUDITWHEEL_PLAT": "bogus"}, "AUDITWHEEL_PLAT='bogus' is not a known"),
        (["-z", "12"], {}, "'12' is not a zlib level from -1 to 9"),
        ([], {"AUDITWHEEL_ZIP_COMPRESSION_LEVEL": "x"}, "AUDITWHEEL_ZIP_COMPRESSION_LEVEL='x'"),
    ],
)
def test_bad_values_name_their_source(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    proc = run_wheelfix("repair", *args, tmp_path / "x-1.0-py3-none-any.whl", env=env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_policies_lists_every_plat_value() -> None:
    proc = run_wheelfix("policies", "--arch", "aarch64")
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert "manylinux_2_17_aarch64" in names
    assert "manylinux2014_aarch64" in names
    assert all(n.endswith("_aarch64") for n in names)
