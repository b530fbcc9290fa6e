"""Real wheels from PyPI, several architectures and both libcs: wheelfix and auditwheel agree,
and every wheel satisfies its own tag (``wheelfix check``).

Downloads are cached under ``<test cache>/real-wheels`` (``runtools.download_real_wheel``).
A failed download skips that wheel, except for the x86_64 ones, which must run.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtools import (
    REAL_WHEELS,
    CliResult,
    RealWheel,
    auditwheel_show_json,
    download_real_wheel,
    real_wheels_dir,
    run_wheelfix_batch,
)

pytestmark = pytest.mark.network


#: Built with a Rust/zig musl toolchain: its only DT_NEEDED is "libc.so", not
#: "libc.musl-x86_64.so.1". musl's loader maps every "libc.*" name to itself, so the wheel
#: works on every musl system; wheelfix whitelists "libc.so" for musl, auditwheel 6.8.2
#: reports it as an external library and the wheel as linux_x86_64 (deliberate difference).
ORJSON_MUSL = RealWheel("orjson", "3.10.15", "musllinux_1_2_x86_64", "musllinux_1_2_x86_64")


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


@pytest.fixture(scope="session")
def real_wheels() -> dict[str, Outcome | str]:
    """key -> the outcome of both tools, or the reason the wheel is missing."""
    directory = real_wheels_dir()
    wanted = (*REAL_WHEELS, ORJSON_MUSL)
    with ThreadPoolExecutor(max_workers=4) as pool:
        files = dict(
            zip(
                (w.key for w in wanted),
                pool.map(lambda w: download_real_wheel(w, directory), wanted),
            )
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
        theirs = {k: pool.submit(auditwheel_show_json, p) for k, p in present.items()}
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
