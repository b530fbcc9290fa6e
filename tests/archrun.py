"""Helpers of the per-libc and per-architecture end-to-end tests (``test_musl.py``,
``test_sysroot.py``, ``test_riscv.py``): tool requirements that skip locally but fail under
``CI=true``, readelf as an oracle, running a built program, grafted names.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from runtools import clean_env


def missing_tools(tools: Sequence[str], files: Sequence[Path] = ()) -> list[str]:
    """The programs not on PATH and the files not present, by name."""
    return [t for t in tools if shutil.which(t) is None] + [
        str(f) for f in files if not f.is_file()
    ]


def skip_unless_present(missing: Sequence[str], hint: str) -> None:
    """Module-level: skip with the reason when something is missing, unless ``CI=true``.

    Under ``CI=true`` nothing is skipped; :func:`fail_if_missing` (an autouse fixture's body)
    then fails every test of the module instead.
    """
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"needs {', '.join(missing)} ({hint})", allow_module_level=True)


def fail_if_missing(missing: Sequence[str], hint: str) -> None:
    """Fail the calling test when something is missing (reached only under ``CI=true``)."""
    if missing:
        pytest.fail(f"CI=true but {', '.join(missing)} missing; {hint}", pytrace=False)


def run(
    argv: Sequence[str | os.PathLike[str]],
    ld_library_path: Sequence[Path] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a program with the clean test environment (no LD_LIBRARY_PATH unless given)."""
    return subprocess.run(
        [os.fspath(a) for a in argv],
        env={**clean_env(ld_library_path), "LC_ALL": "C"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


_DYN_RE = re.compile(r"^\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$")


def dynamic(path: Path) -> dict[str, list[str]]:
    """``readelf -d``: tag -> values (bracketed strings unwrapped)."""
    proc = run(["readelf", "-W", "-d", path])
    assert proc.returncode == 0, proc.stderr
    result: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        match = _DYN_RE.match(line)
        if match is not None:
            tag, rest = match.groups()
            bracket = re.search(r"\[(.*)\]", rest)
            result.setdefault(tag, []).append(bracket.group(1) if bracket else rest.strip())
    return result


def interpreter(path: Path) -> str | None:
    """``readelf -l``'s requested program interpreter."""
    proc = run(["readelf", "-W", "-l", path])
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"\[Requesting program interpreter: (.*)\]", proc.stdout)
    return match.group(1) if match else None


def mapped_libs(stdout: str) -> set[str]:
    """Real paths of the ``/proc/self/maps`` lines a runner prints after its first line."""
    paths = set()
    for line in stdout.splitlines()[1:]:
        fields = line.split(None, 5)
        assert len(fields) == 6, line
        paths.add(os.path.realpath(fields[5].strip()))
    return paths


def graft_name(soname: str, library: Path) -> str:
    """``libx.so.1`` -> ``libx-<first 8 hex of sha256>.so.1``, as repair names grafts."""
    digest = hashlib.sha256(library.read_bytes()).hexdigest()
    stem, _, rest = soname.partition(".")
    return f"{stem}-{digest[:8]}.{rest}"
