"""Bad input through the CLI: one stderr line ``wheelfix: error: <file>: <reason>``, the exit
code of its kind, no traceback, the input untouched and nothing written to ``-w``.

The inputs are :data:`badinputs.BAD_INPUTS`. All calls run once, outside pytest, through
:func:`runtools.run_wheelfix_batch`; a few also run as standalone ``python -m wheelfix``
processes to prove the real entry point prints the same single line.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from badinputs import BAD_INPUTS, BadInput, build_elves, missing_library, subject
from runtools import CliResult, run_wheelfix_batch
from wheelbuild import REPO_ROOT

COMMANDS = ("show", "show-json", "repair")
MISSING_REASON = (
    'Cannot repair wheel, because required library "libwfmissing.so.1" could not be located'
    " (set LD_LIBRARY_PATH or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude)"
)
#: Cases also run as standalone processes: (case, command).
STANDALONE = (
    ("missing", "show"),
    ("bad_crc", "repair"),
    ("missing_library", "repair"),
)


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _args(command: str, path: Path, wheelhouse: Path) -> list[str]:
    if command == "show":
        return ["show", str(path)]
    if command == "show-json":
        return ["show", "--json", str(path)]
    return ["repair", "-w", str(wheelhouse), str(path)]


@dataclass
class Case:
    path: Path
    wheelhouse: Path
    digest_before: str | None
    results: dict[str, CliResult]
    standalone: dict[str, subprocess.CompletedProcess[str]]


def _standalone(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LD_LIBRARY_PATH", "AUDITWHEEL_LD_LIBRARY_PATH", "AUDITWHEEL_PLAT")
    }
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    return subprocess.run(
        [sys.executable, "-m", "wheelfix", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def cases(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    elves = build_elves(fixture_cache, tmp_path_factory.mktemp("cli-errors-src"))
    root = tmp_path_factory.mktemp("cli-errors")
    builders = {name: bad.build for name, bad in BAD_INPUTS.items()}
    builders["missing_library"] = missing_library
    built: dict[str, Case] = {}
    calls: list[tuple[list[str], dict[str, str | None]]] = []
    keys: list[tuple[str, str]] = []
    for name, build in sorted(builders.items()):
        directory = root / name
        directory.mkdir()
        path = build(directory, elves)
        case = Case(path, directory / "wheelhouse", _sha256(path), {}, {})
        built[name] = case
        for command in COMMANDS:
            calls.append((_args(command, path, case.wheelhouse), {}))
            keys.append((name, command))
    with ThreadPoolExecutor(max_workers=len(STANDALONE) + 1) as pool:
        batch = pool.submit(run_wheelfix_batch, calls)
        processes = {
            (name, command): pool.submit(
                _standalone, _args(command, built[name].path, built[name].wheelhouse)
            )
            for name, command in STANDALONE
        }
        for (name, command), result in zip(keys, batch.result()):
            built[name].results[command] = result
        for (name, command), future in processes.items():
            built[name].standalone[command] = future.result()
    return built


def _expected_line(case: Case, bad: BadInput) -> str:
    return f"wheelfix: error: {subject(case.path, bad)}: {bad.reason}"


def _assert_one_line(stderr: str, expected: str, *, prefix_only: bool = False) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert stderr.endswith("\n")
    if prefix_only:
        assert lines[0].startswith(expected), lines[0]
        assert lines[0].endswith("(zip bomb guard)"), lines[0]
    else:
        assert lines[0] == expected


def _no_output_files(wheelhouse: Path) -> None:
    leftovers = sorted(p.name for p in wheelhouse.rglob("*")) if wheelhouse.exists() else []
    assert leftovers == []


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input(cases: dict[str, Case], name: str, command: str) -> None:
    bad = BAD_INPUTS[name]
    case = cases[name]
    result = case.results[command]
    assert result.exception is None, result.exception
    assert result.returncode == bad.code
    _assert_one_line(
        result.stderr,
        _expected_line(case, bad),
        prefix_only=name in ("zip_bomb", "declared_huge"),
    )
    if command == "show-json" and name == "pure":
        # the one error with a JSON document (auditwheel's "error" shape; see test_show)
        assert json.loads(result.stdout) == {
            "version": 1,
            "wheel": case.path.name,
            "error": bad.reason,
        }
    else:
        assert result.stdout == ""
    assert _sha256(case.path) == case.digest_before
    _no_output_files(case.wheelhouse)


def test_input_files_exist_where_expected(cases: dict[str, Case]) -> None:
    assert not cases["missing"].path.exists()
    assert cases["directory"].path.is_dir()
    for name, case in cases.items():
        if name not in ("missing", "directory"):
            assert case.digest_before is not None, name


def test_missing_library_show_works_and_repair_fails(cases: dict[str, Case]) -> None:
    case = cases["missing_library"]
    show = case.results["show-json"]
    assert show.returncode == 0, show.stderr
    assert show.stderr == ""
    document: dict[str, Any] = json.loads(show.stdout)
    assert document["external_libs"] == {"libwfmissing.so.1": None}
    assert document["overall_tag"] == "linux_x86_64"
    text = case.results["show"]
    assert text.returncode == 0
    assert '"libwfmissing.so.1": null' in text.stdout
    repair = case.results["repair"]
    assert repair.exception is None
    assert repair.returncode == 9
    _assert_one_line(
        repair.stderr, f"wheelfix: error: {case.path}!demo/libdemo.so: {MISSING_REASON}"
    )
    assert repair.stdout == ""
    assert _sha256(case.path) == case.digest_before
    _no_output_files(case.wheelhouse)


@pytest.mark.parametrize(("name", "command"), STANDALONE)
def test_standalone_process_prints_the_same_line(
    cases: dict[str, Case], name: str, command: str
) -> None:
    case = cases[name]
    process = case.standalone[command]
    batch = case.results[command]
    assert (process.returncode, process.stdout, process.stderr) == (
        batch.returncode,
        batch.stdout,
        batch.stderr,
    )
    assert "Traceback" not in process.stderr
    assert len(process.stderr.splitlines()) == 1
    _no_output_files(case.wheelhouse)
