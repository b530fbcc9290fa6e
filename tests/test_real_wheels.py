"""Real wheels from PyPI, several architectures and both libcs: wheelfix and auditwheel agree,
and every wheel satisfies its own tag (``wheelfix check``).

Downloads are cached under ``<test cache>/real-wheels`` (see ``wheelbuild.default_cache_dir``).
A failed download skips that wheel, except for the x86_64 ones, which must run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from test_show import CliResult, run_wheelfix_batch
from wheelbuild import default_cache_dir

pytestmark = pytest.mark.network


@dataclass(frozen=True)
class RealWheel:
    project: str
    version: str
    platform: str
    """The ``--platform`` given to pip (one of the wheel's tags)."""
    overall: str
    """What both tools report as overall_tag and sym_tag."""

    @property
    def key(self) -> str:
        return f"{self.project}-{self.platform}"

    @property
    def required(self) -> bool:
        """x86_64 wheels must run; others are skipped if they cannot be downloaded."""
        return self.platform.endswith("_x86_64")


REAL_WHEELS = (
    RealWheel("numpy", "2.2.6", "manylinux_2_17_x86_64", "manylinux_2_17_x86_64"),
    RealWheel("pyyaml", "6.0.2", "musllinux_1_1_x86_64", "musllinux_1_2_x86_64"),
    RealWheel("cryptography", "44.0.0", "manylinux_2_28_aarch64", "manylinux_2_28_aarch64"),
    RealWheel("pyyaml", "6.0.2", "musllinux_1_1_aarch64", "musllinux_1_2_aarch64"),
    # tagged 2_17, but its symbol versions only need 2_5: both tools say so
    RealWheel("orjson", "3.10.16", "manylinux_2_17_i686", "manylinux_2_5_i686"),
    RealWheel("orjson", "3.10.15", "manylinux_2_17_ppc64le", "manylinux_2_17_ppc64le"),
    RealWheel("pyyaml", "6.0.2", "manylinux_2_17_s390x", "manylinux_2_17_s390x"),
    RealWheel("orjson", "3.10.15", "manylinux_2_17_armv7l", "manylinux_2_17_armv7l"),
)

#: Built with a Rust/zig musl toolchain: its only DT_NEEDED is "libc.so", not
#: "libc.musl-x86_64.so.1". musl's loader maps every "libc.*" name to itself, so the wheel
#: works on every musl system; wheelfix whitelists "libc.so" for musl, auditwheel 6.8.2
#: reports it as an external library and the wheel as linux_x86_64 (deliberate difference).
ORJSON_MUSL = RealWheel("orjson", "3.10.15", "musllinux_1_2_x86_64", "musllinux_1_2_x86_64")


def _cached(directory: Path, wheel: RealWheel) -> Path | None:
    for path in sorted(directory.glob("*.whl")):
        name, version, _build, tags = parse_wheel_filename(path.name)
        if (
            name == canonicalize_name(wheel.project)
            and str(version) == wheel.version
            and any(tag.platform == wheel.platform for tag in tags)
        ):
            return path
    return None


def _download(directory: Path, wheel: RealWheel) -> Path | str:
    """The cached or freshly downloaded wheel, or why it could not be had."""
    found = _cached(directory, wheel)
    if found is not None:
        return found
    scratch = directory / f".download-{wheel.key}-{os.getpid()}"
    scratch.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--platform",
            wheel.platform,
            "--python-version",
            "3.11",
            "--dest",
            str(scratch),
            f"{wheel.project}=={wheel.version}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    downloaded = _cached(scratch, wheel)
    if proc.returncode != 0 or downloaded is None:
        lines = [line for line in proc.stderr.splitlines() if "ERROR" in line] or [
            proc.stderr.strip()[-300:]
        ]
        return (
            f"pip download {wheel.project}=={wheel.version} ({wheel.platform}) failed: {lines[-1]}"
        )
    final = directory / downloaded.name
    downloaded.replace(final)
    scratch.rmdir()
    return final


#: Extra ``wheelfix check`` calls per wheel key: (extra args, exit code).
EXTRA_CHECKS: dict[str, tuple[tuple[tuple[str, ...], int], ...]] = {
    "pyyaml-musllinux_1_1_x86_64": (
        (("--plat", "musllinux_1_1"), 0),
        (("--plat", "musllinux_1_1_x86_64"), 0),
        (("--plat", "musllinux_1_2_x86_64"), 0),
        (("--plat", "manylinux_2_17_x86_64"), 10),  # a glibc tag for a musl wheel
    ),
    "pyyaml-musllinux_1_1_aarch64": ((("--plat", "musllinux_1_1_x86_64"), 10),),
    "numpy-manylinux_2_17_x86_64": (
        (("--plat", "manylinux2014"), 0),
        (("--plat", "manylinux_2_12_x86_64"), 14),
    ),
}


@dataclass
class Outcome:
    wheel: Path
    mine: CliResult
    check: CliResult
    theirs: subprocess.CompletedProcess[str]
    extra: dict[tuple[str, ...], CliResult]


def _auditwheel(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("LD_LIBRARY_PATH")}
    return subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="session")
def real_wheels() -> dict[str, Outcome | str]:
    """key -> the outcome of both tools, or the reason the wheel is missing."""
    directory = default_cache_dir() / "real-wheels"
    directory.mkdir(parents=True, exist_ok=True)
    wanted = (*REAL_WHEELS, ORJSON_MUSL)
    with ThreadPoolExecutor(max_workers=4) as pool:
        files = dict(
            zip((w.key for w in wanted), pool.map(lambda w: _download(directory, w), wanted))
        )
    present = {k: v for k, v in files.items() if isinstance(v, Path)}
    outcomes: dict[str, Outcome | str] = {k: v for k, v in files.items() if isinstance(v, str)}
    calls: list[tuple[list[str], dict[str, str | None]]] = []
    keys: list[tuple[str, tuple[str, ...]]] = []
    for key, path in present.items():
        for args in (("show", "--json"), ("check",)):
            calls.append(([*args, str(path)], {}))
            keys.append((key, args))
        for extra, _code in EXTRA_CHECKS.get(key, ()):
            calls.append((["check", *extra, str(path)], {}))
            keys.append((key, extra))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        batch = pool.submit(run_wheelfix_batch, calls)
        theirs = {k: pool.submit(_auditwheel, p) for k, p in present.items()}
        results: dict[str, dict[tuple[str, ...], CliResult]] = {k: {} for k in present}
        for (key, args), result in zip(keys, batch.result()):
            results[key][args] = result
        for key, path in present.items():
            mine = results[key].pop(("show", "--json"))
            check = results[key].pop(("check",))
            outcomes[key] = Outcome(path, mine, check, theirs[key].result(), results[key])
    return outcomes


def _outcome(real_wheels: dict[str, Outcome | str], wheel: RealWheel) -> Outcome:
    outcome = real_wheels[wheel.key]
    if isinstance(outcome, str):
        if wheel.required:
            pytest.fail(outcome)
        pytest.skip(outcome)
    return outcome


def _documents(outcome: Outcome) -> tuple[dict[str, Any], dict[str, Any]]:
    assert outcome.mine.exception is None, outcome.mine.exception
    assert outcome.mine.returncode == 0, outcome.mine.stderr
    assert outcome.mine.stderr == ""
    assert outcome.theirs.returncode == 0, outcome.theirs.stderr
    return json.loads(outcome.mine.stdout), json.loads(outcome.theirs.stdout)


def _assert_check_ok(outcome: Outcome, overall: str) -> None:
    check = outcome.check
    assert check.exception is None, check.exception
    assert check.returncode == 0, check.stderr
    assert check.stdout == f"{outcome.wheel.name}: OK (consistent with {overall})\n"
    assert check.stderr == ""


@pytest.mark.oracle
@pytest.mark.parametrize("wheel", REAL_WHEELS, ids=lambda w: w.key)
def test_real_wheel_matches_auditwheel(
    real_wheels: dict[str, Outcome | str], wheel: RealWheel
) -> None:
    outcome = _outcome(real_wheels, wheel)
    mine, theirs = _documents(outcome)
    assert mine["overall_tag"] == theirs["overall_tag"] == wheel.overall
    assert mine["sym_tag"] == theirs["sym_tag"] == wheel.overall
    assert mine["external_libs"] == theirs["external_libs"] == {}
    assert mine == theirs  # versioned_symbols, policy_upgrades, flags: all identical
    assert mine["wheel"] == outcome.wheel.name
    assert wheel.platform in outcome.wheel.name
    _assert_check_ok(outcome, wheel.overall)


@pytest.mark.oracle
def test_musl_libc_so_is_not_external(real_wheels: dict[str, Outcome | str]) -> None:
    outcome = _outcome(real_wheels, ORJSON_MUSL)
    mine, theirs = _documents(outcome)
    # deliberate difference, see ORJSON_MUSL
    assert theirs["overall_tag"] == "linux_x86_64"
    assert theirs["external_libs"] == {"libc.so": None}
    assert mine["overall_tag"] == mine["sym_tag"] == theirs["sym_tag"] == ORJSON_MUSL.overall
    assert mine["external_libs"] == {}
    assert mine["policy_upgrades"] == {}
    assert mine["versioned_symbols"] == theirs["versioned_symbols"]
    _assert_check_ok(outcome, ORJSON_MUSL.overall)


@pytest.mark.parametrize("key", sorted(EXTRA_CHECKS))
def test_check_plat_on_real_wheels(real_wheels: dict[str, Outcome | str], key: str) -> None:
    (wheel,) = (w for w in REAL_WHEELS if w.key == key)
    outcome = _outcome(real_wheels, wheel)
    for extra, code in EXTRA_CHECKS[key]:
        result = outcome.extra[extra]
        assert result.exception is None, result.exception
        assert result.returncode == code, (extra, result.stderr)
        if code == 0:
            assert result.stdout == f"{outcome.wheel.name}: OK (consistent with {wheel.overall})\n"
        else:
            assert result.stdout == ""
            assert result.stderr.startswith(f"wheelfix: error: {outcome.wheel}: ")
            assert len(result.stderr.splitlines()) == 1
