"""Shared pytest fixtures: the compile cache, scenario builds, and CLI runners."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from runtools import SCRUBBED_ENV
from wheelbuild import (
    REPO_ROOT,
    RunCli,
    Scenario,
    ScenarioFactory,
    build_scenario,
    default_cache_dir,
)

#: ``run_cli(args)``: ``args[0]`` picks the tool ("auditwheel" or "wheelfix").
CLI_MODULES = {"auditwheel": "auditwheel", "wheelfix": "wheelfix"}


#: Why ``oracle`` tests skip where auditwheel cannot be imported.
ORACLE_MISSING = (
    "needs auditwheel, the oracle, which cannot be imported here"
    " (auditwheel==6.8.2 installs only on Python >= 3.10)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test marked ``oracle`` (it runs auditwheel) where auditwheel is missing."""
    del config
    if importlib.util.find_spec("auditwheel") is not None:
        return
    skip = pytest.mark.skip(reason=ORACLE_MISSING)
    for item in items:
        if item.get_closest_marker("oracle") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_loader_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without :data:`runtools.SCRUBBED_ENV` and set what they need explicitly."""
    for var in SCRUBBED_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def fixture_cache() -> Path:
    """Compile cache dir shared by the session: $WHEELFIX_TEST_CACHE or
    ~/.cache/wheelfix-tests."""
    path = default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def scenario(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> ScenarioFactory:
    """``scenario(name)`` builds a fresh copy of a scenario in its own temporary dir, so a
    test may modify or delete its wheel and lib dirs."""

    def build(name: str) -> Scenario:
        return build_scenario(name, fixture_cache, tmp_path_factory.mktemp(f"scn-{name}"))

    return build


@pytest.fixture
def run_cli() -> RunCli:
    """``run_cli(["auditwheel"|"wheelfix", *args], env=None, ld_library_path=None, cwd=None)``.

    Runs ``python -m <tool> *args`` with the current interpreter (``src/`` prepended to
    PYTHONPATH so the in-tree wheelfix is used) and returns the CompletedProcess with text
    stdout/stderr; it never raises on a non-zero exit. ``env`` entries override the
    (already cleaned) environment, a None value removes the variable;
    ``ld_library_path`` is a convenience for LD_LIBRARY_PATH.
    """

    def run(
        args: Sequence[str | os.PathLike[str]],
        env: Mapping[str, str | None] | None = None,
        ld_library_path: Sequence[Path] | None = None,
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        tool, *rest = (os.fspath(a) for a in args)
        if tool not in CLI_MODULES:
            msg = f"unknown tool {tool!r}; expected one of {sorted(CLI_MODULES)}"
            raise ValueError(msg)
        full_env = dict(os.environ)
        src = str(REPO_ROOT / "src")
        old = full_env.get("PYTHONPATH")
        full_env["PYTHONPATH"] = src if not old else os.pathsep.join((src, old))
        if ld_library_path:
            full_env["LD_LIBRARY_PATH"] = os.pathsep.join(str(p) for p in ld_library_path)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        return subprocess.run(
            [sys.executable, "-m", CLI_MODULES[tool], *rest],
            env=full_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    return run
