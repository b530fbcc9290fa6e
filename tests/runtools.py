"""Running the tools under test: wheelfix in a subprocess, pip, a fresh Python; one clean env.

Shared by the end-to-end test modules so that the environment scrub is written once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from wheelbuild import REPO_ROOT

#: Variables that change what wheelfix, auditwheel or the loader do; removed for every run.
SCRUBBED_ENV = (
    "AUDITWHEEL_PLAT",
    "AUDITWHEEL_ZIP_COMPRESSION_LEVEL",
    "AUDITWHEEL_LD_LIBRARY_PATH",
    "LD_LIBRARY_PATH",
    "SOURCE_DATE_EPOCH",
    "PYTHONPATH",
    "WHEELFIX_MAX_UNCOMPRESSED",
)


def clean_env(
    ld_library_path: Sequence[Path] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``os.environ`` without :data:`SCRUBBED_ENV`, plus ``LD_LIBRARY_PATH`` and ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if ld_library_path:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(str(p) for p in ld_library_path)
    env.update(extra or {})
    return env


def wheelfix_command(*args: str | os.PathLike[str]) -> list[str]:
    """The argv of ``python -m wheelfix ARGS`` (run with :func:`wheelfix_env`)."""
    return [sys.executable, "-m", "wheelfix", *(os.fspath(a) for a in args)]


def wheelfix_env(
    ld_library_path: Sequence[Path] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A clean environment that imports wheelfix from the source tree."""
    return clean_env(ld_library_path, {"PYTHONPATH": str(REPO_ROOT / "src"), **(extra or {})})


def run_wheelfix(
    *args: str | os.PathLike[str],
    ld_library_path: Sequence[Path] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``python -m wheelfix ARGS`` with the in-tree sources and a clean environment."""
    return subprocess.run(
        wheelfix_command(*args),
        env=wheelfix_env(ld_library_path, env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def pip_install(wheel: Path, target: Path) -> None:
    """``pip install --no-deps --target TARGET WHEEL``."""
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile"]
    cmd += ["--disable-pip-version-check", "-q", "--target", str(target), str(wheel)]
    proc = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def run_python(code: str, site: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with PYTHONPATH=site and no LD_LIBRARY_PATH."""
    env = clean_env(None, {"PYTHONPATH": str(site)})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def one_error_line(stderr: str) -> str:
    """The single ``wheelfix: error: ...`` line of a failed run (asserts there is one)."""
    lines = [ln for ln in stderr.splitlines() if not ln.startswith("wheelfix: warning")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("wheelfix: error: "), stderr
    return lines[0]
