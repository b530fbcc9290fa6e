"""Issue 12: ``repair --json`` / ``--report`` (validated against the shipped schema), the
summary line, ``-q``, and the progress display in a real pseudo-terminal."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import pytest

from runtools import run_wheelfix, wheelfix_command, wheelfix_env
from wheelbuild import _Builder
from wheelfix.repair_report import report_schema


@pytest.fixture
def wheel_and_libs(fixture_cache: Path, tmp_path: Path) -> tuple[Path, Path]:
    builder = _Builder("hostile", fixture_cache, tmp_path)
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=3"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[one])
    wheel = builder.wheel("reported", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    return wheel, libs


def test_json_report_on_stdout_and_in_a_file(
    wheel_and_libs: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, libs = wheel_and_libs
    missing = tmp_path / "gone-1.0-cp311-cp311-linux_x86_64.whl"
    report = tmp_path / "report.json"
    proc = run_wheelfix(
        "repair",
        "--json",
        "--report",
        report,
        wheel,
        missing,
        "-w",
        tmp_path / "out",
        ld_library_path=[libs],
    )
    assert proc.returncode == 3, proc.stderr  # the failure's code, after the good wheel
    document = json.loads(proc.stdout)
    jsonschema.validate(document, report_schema())
    assert json.loads(report.read_text()) == document
    good, bad = document["wheels"]
    assert (good["status"], bad["status"]) == ("repaired", "failed")
    assert bad["error"] == {"exit_code": 3, "message": f"{missing}: No such file or directory"}
    out = Path(good["output"])
    assert out.parent == tmp_path / "out"
    assert good["tags_before"] == [wheel.name[: -len(".whl")].split("-", 2)[2]]
    assert good["tags_after"][0].endswith("x86_64")
    (graft,) = good["grafted"]
    assert graft["soname"] == "libsame.so.1"
    assert graft["source"] == str(libs / "libsame.so.1")
    with zipfile.ZipFile(out) as archive:
        data = archive.read(graft["member"])
    assert (graft["size"], graft["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    rewritten = {r["member"]: r for r in good["rewritten"]}
    ext = next(m for m in rewritten if m.startswith("pkg/a."))
    assert "libsame.so.1" in rewritten[ext]["before"]["needed"]
    assert graft["new_name"] in rewritten[ext]["after"]["needed"]
    assert rewritten[ext]["after"]["rpath"] == ["$ORIGIN/../reported.libs"]
    assert set(good["seconds"]) == {"audit", "graft", "write", "total"}
    assert str(out) not in proc.stdout.splitlines()  # stdout is only the document


def test_the_schema_rejects_a_broken_document() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "wheels": [{"input": 3}]}, report_schema())


def test_summary_line_and_quiet(wheel_and_libs: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = wheel_and_libs
    plain = run_wheelfix("repair", wheel, "-w", tmp_path / "p", ld_library_path=[libs])
    assert plain.returncode == 0, plain.stderr
    assert "wheelfix: repaired " not in plain.stderr  # a pipe gets no summary line...
    proc = run_wheelfix("repair", "-v", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr  # ...-v (or a terminal) does
    summary = [ln for ln in proc.stderr.splitlines() if ln.startswith("wheelfix: repaired ")]
    assert len(summary) == 1
    assert summary[0].startswith(f"wheelfix: repaired {wheel.name} -> manylinux_")
    assert ", 1 library grafted, " in summary[0] or ", 1 libraries grafted, " in summary[0]
    quiet = run_wheelfix("repair", "-q", wheel, "-w", tmp_path / "q", ld_library_path=[libs])
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.strip().endswith(".whl")


def _run_in_pty(args: list[str | os.PathLike[str]], env: dict[str, str]) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        wheelfix_command(*args), env=env, stdin=slave, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    proc.communicate(timeout=60)
    os.close(master)
    return proc.returncode, screen


def test_progress_on_a_real_terminal(wheel_and_libs: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = wheel_and_libs
    env = wheelfix_env([libs], {"TERM": "xterm", "COLUMNS": "100"})
    env.pop("NO_COLOR", None)
    code, screen = _run_in_pty(["repair", wheel, "-w", tmp_path / "out"], env)
    assert code == 0, screen
    text = screen.decode()
    assert f"\rwheelfix: {wheel.name}" in text  # the status line, redrawn in place
    assert "\x1b[32mrepaired\x1b[0m" in text  # the summary line, in colour on a terminal
    env["NO_COLOR"] = "1"
    code, plain = _run_in_pty(["repair", wheel, "-w", tmp_path / "out2"], env)
    assert code == 0, plain
    assert b"\x1b[" not in plain
    assert b"repaired " + wheel.name.encode() in plain
