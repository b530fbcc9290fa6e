"""The public API (issue 9): what ``from wheelfix import ...`` offers, typed and LIEF-free."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wheelfix
from runtools import pip_install, run_python
from wheelbuild import REPO_ROOT, Scenario, ScenarioFactory
from wheelfix.resolve import FileRoot

TYPING_FILE = REPO_ROOT / "tests" / "typing" / "use_public_api.py"


def test_every_exported_name_exists_and_nothing_is_private() -> None:
    for name in wheelfix.__all__:
        assert hasattr(wheelfix, name), name
    assert not [n for n in wheelfix.__all__ if n.startswith("_") and n != "__version__"]


def test_importing_wheelfix_does_not_import_lief() -> None:
    code = "import wheelfix, sys; assert 'lief' not in sys.modules, 'lief imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_user_script_type_checks_under_mypy_strict() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(TYPING_FILE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_would_catch_a_misuse(tmp_path: Path) -> None:
    """The typing test can fail: passing a str where a Path is wanted is an error."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from wheelfix import AuditOptions, RepairOptions, repair\n"
        "repair('x.whl', AuditOptions(), RepairOptions())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 1, proc.stdout
    assert "incompatible type" in proc.stdout


def test_repair_through_the_api(scenario: ScenarioFactory, tmp_path: Path) -> None:
    example: Scenario = scenario("example")
    options = wheelfix.AuditOptions(
        environ={"LD_LIBRARY_PATH": ":".join(str(d) for d in example.lib_dirs)}
    )
    result = wheelfix.repair(example.wheel, options, wheelfix.RepairOptions(wheel_dir=tmp_path))
    assert result.plan is not None
    assert result.target is not None
    assert result.output.parent == tmp_path
    with zipfile.ZipFile(result.output) as archive:
        assert {str(g.member) for g in result.plan.grafted} <= set(archive.namelist())
    site = tmp_path / "site"
    pip_install(result.output, site)
    for directory in example.lib_dirs:
        directory.rename(directory.with_name(directory.name + ".gone"))
    proc = run_python(example.check_code, site)
    assert proc.returncode == 0, proc.stderr


def test_errors_carry_their_exit_codes(tmp_path: Path) -> None:
    with pytest.raises(wheelfix.InputFileError) as raised:
        wheelfix.audit(tmp_path / "missing-1.0-py3-none-any.whl", wheelfix.AuditOptions())
    assert raised.value.exit_code == 3


def test_lddtree_roots_a_file_not_a_fake_wheel_member(scenario: ScenarioFactory) -> None:
    example = scenario("example")
    library = example.lib_dirs[0] / "libdemo.so.1"
    options = wheelfix.AuditOptions(environ={"LD_LIBRARY_PATH": str(example.lib_dirs[0])})
    tree = wheelfix.lddtree(library, options)
    assert isinstance(tree.root, FileRoot)
    assert tree.root.path == str(library)
    assert tree.libraries["libdemodep.so.1"].found_via == "env"
