"""Running the tools under test: wheelfix in a subprocess or a batch, auditwheel, pip, a fresh
Python; real wheels downloaded from PyPI; one clean environment.

Shared by the end-to-end test modules so that the environment scrub is written once
(:data:`SCRUBBED_ENV`; ``conftest.py`` also removes it from the pytest process).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelbuild import REPO_ROOT, default_cache_dir

#: Variables that change what wheelfix, auditwheel or the loader do; removed for every run.
SCRUBBED_ENV = (
    "AUDITWHEEL_PLAT",
    "AUDITWHEEL_ZIP_COMPRESSION_LEVEL",
    "AUDITWHEEL_LD_LIBRARY_PATH",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "SOURCE_DATE_EPOCH",
    "PYTHONPATH",
    "WHEELFIX_MAX_UNCOMPRESSED",
)

#: One graft cache per test session (never the developer's ~/.cache/wheelfix); in-process
#: CLI runs read it from os.environ, subprocesses from :func:`clean_env`.
SESSION_CACHE_DIR = tempfile.mkdtemp(prefix="wheelfix-test-cache-")
atexit.register(shutil.rmtree, SESSION_CACHE_DIR, ignore_errors=True)
os.environ["WHEELFIX_CACHE_DIR"] = SESSION_CACHE_DIR


def clean_env(
    ld_library_path: Sequence[Path] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``os.environ`` without :data:`SCRUBBED_ENV`, plus ``LD_LIBRARY_PATH`` and ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["WHEELFIX_CACHE_DIR"] = SESSION_CACHE_DIR
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


def separate_stderr_runner() -> Any:
    """A click ``CliRunner`` whose ``stdout`` and ``stderr`` are captured apart, on click 8.1 too."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click 8.1 (Python 3.9)
    except TypeError:
        return CliRunner()  # click >= 8.2 always captures stderr apart


# --------------------------------------------------------------------------- wheelfix, batched

_BATCH_DRIVER = r"""
import json, logging, sys, traceback
from click.testing import CliRunner
from wheelfix.cli import main
try:
    runner = CliRunner(mix_stderr=False)  # click 8.1 (the last for Python 3.9)
except TypeError:
    runner = CliRunner()  # click >= 8.2 always captures stderr apart
results = []
for args, env in json.load(sys.stdin):
    logging.root.handlers.clear()  # cli.py's basicConfig binds the stream of the call
    result = runner.invoke(main, args, env=env, catch_exceptions=True)
    error = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        error = "".join(traceback.format_exception(*result.exc_info))
    results.append([result.exit_code, result.stdout, result.stderr, error])
json.dump(results, sys.stdout)
"""


@dataclass(frozen=True)
class CliResult:
    """One wheelfix call of a batch (the fields of a CompletedProcess the tests use)."""

    returncode: int
    stdout: str
    stderr: str
    exception: str | None
    """The traceback of an exception that escaped the CLI (a bug), else None."""


def run_wheelfix_batch(
    calls: Sequence[tuple[Sequence[str], Mapping[str, str | None]]],
) -> list[CliResult]:
    """Run ``wheelfix <args>`` for every (args, env) in one fresh python process.

    LIEF is imported once and each call gets its own environment through click's runner.
    ``env`` overrides the cleaned environment for that call only (None removes a variable);
    the :data:`SCRUBBED_ENV` variables are unset unless given.
    """
    payload = [[list(args), {**dict.fromkeys(SCRUBBED_ENV), **env}] for args, env in calls]
    proc = subprocess.run(
        [sys.executable, "-c", _BATCH_DRIVER],
        input=json.dumps(payload),
        env=wheelfix_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return [CliResult(*row) for row in json.loads(proc.stdout)]


# --------------------------------------------------------------------------- auditwheel


def auditwheel_show_json(path: Path) -> subprocess.CompletedProcess[str]:
    """``auditwheel show --json PATH`` (the oracle) in a clean environment."""
    return subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(path)],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


# --------------------------------------------------------------------------- real wheels


@dataclass(frozen=True)
class RealWheel:
    """A wheel on PyPI, and what both tools say about it."""

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
"""The wheels ``test_real_wheels.py`` compares both tools on."""


def real_wheels_dir() -> Path:
    """``<test cache>/real-wheels``, where downloads are kept (created)."""
    directory = default_cache_dir() / "real-wheels"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


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


def download_real_wheel(wheel: RealWheel, directory: Path | None = None) -> Path | str:
    """The cached or freshly downloaded wheel, or why it could not be had."""
    directory = directory or real_wheels_dir()
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
