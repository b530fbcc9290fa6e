"""Rewrites overlapped on worker processes: same bytes whatever the job count, crashes per file."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from wheelbuild import Scenario
from wheelfix import AuditOptions, RepairOptions, repair
from wheelfix.cache import RewriteJob
from wheelfix.elf import ElfEdit, Soname
from wheelfix.elf.worker import ElfWorker, rewrite_in_process
from wheelfix.errors import ElfWriteError


def _repair(scenario: Scenario, out: Path, **options: object) -> bytes:
    audit = AuditOptions(environ={"LD_LIBRARY_PATH": os.pathsep.join(map(str, scenario.lib_dirs))})
    result = repair(scenario.wheel, audit, RepairOptions(wheel_dir=out, **options))  # type: ignore[arg-type]
    return result.output.read_bytes()


@pytest.mark.parametrize("name", ["two_ext_shared", "versioned_chain"])
def test_same_bytes_whatever_the_job_count(name: str, scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = scenario(name)
    one = _repair(built, tmp_path / "j1", jobs=1)
    assert _repair(built, tmp_path / "default") == one
    assert _repair(built, tmp_path / "j3", jobs=3) == one
    assert _repair(built, tmp_path / "inproc", isolate=False) == one


def test_cli_jobs_one_and_default_write_the_same_wheel(scenario, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = scenario("two_ext_shared")
    outputs = []
    for flags in (["-j", "1"], []):
        out = tmp_path / f"out{len(outputs)}"
        proc = run_cli(
            ["wheelfix", "repair", "--no-cache", "-w", out, *flags, built.wheel],
            ld_library_path=built.lib_dirs,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(Path(proc.stdout.splitlines()[0]).read_bytes())
    assert outputs[0] == outputs[1]


def _library(scenario: Scenario) -> Path:
    return next(p for d in scenario.lib_dirs for p in sorted(d.iterdir()) if ".so" in p.name)


def _edit() -> ElfEdit:
    return ElfEdit(soname=Soname("libnew.so.1"), rpath="$ORIGIN")


def test_results_come_back_in_any_order(scenario) -> None:  # type: ignore[no-untyped-def]
    library = _library(scenario("two_ext_shared"))
    jobs = [
        RewriteJob(name=f"lib{i}", edit=_edit(), source=library, limit=1 << 30, level=6)
        for i in range(4)
    ]
    expected = rewrite_in_process(jobs[0])()
    with ElfWorker(2, start=2) as worker:
        waits = [worker.submit(job) for job in jobs]
        results = [wait() for wait in reversed(waits)]
    assert all(r == expected for r in results)
    assert expected.stored is not None
    assert expected.stored.file_size == len(expected.data)


def _die_on_bad(data: bytes, edit: ElfEdit, name: str) -> bytes:
    from wheelfix.elf.lief_io import apply_edit

    if name == "bad.so":
        os.kill(os.getpid(), signal.SIGKILL)
    return apply_edit(data, edit, name)


def test_a_crash_is_reported_for_its_own_file(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    if threading.active_count() > 1:
        pytest.skip("the workers would start from a forkserver, without the patch")
    library = _library(scenario("two_ext_shared"))
    monkeypatch.setattr("wheelfix.elf.worker.apply_edit", _die_on_bad)
    names = ["a.so", "bad.so", "c.so", "d.so"]
    jobs = [RewriteJob(name=n, edit=_edit(), source=library, limit=1 << 30) for n in names]
    with ElfWorker(2, start=2) as worker:
        waits = [worker.submit(job) for job in jobs]
        assert waits[0]().data
        with pytest.raises(ElfWriteError, match="LIEF crashed") as caught:
            waits[1]()
        assert caught.value.subject == "bad.so"
        assert waits[2]().data == waits[3]().data


def test_one_session_for_many_wheels_writes_the_same_wheels(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from wheelfix.rewrite import RepairSession

    built = [scenario("two_ext_shared"), scenario("versioned_chain")]
    alone = [_repair(b, tmp_path / f"alone{i}") for i, b in enumerate(built)]
    dirs = os.pathsep.join(str(d) for b in built for d in b.lib_dirs)
    audit = AuditOptions(environ={"LD_LIBRARY_PATH": dirs})
    with RepairSession(2) as session:
        shared = [
            repair(b.wheel, audit, RepairOptions(wheel_dir=tmp_path / "shared"), session=session)
            for b in built
        ]
        libraries = session.libraries(None, 1 << 30)
        assert session.libraries(None, 1 << 30) is libraries
        first = session.worker(1)
        assert session.worker(1) is first  # one pool for the whole run
    assert [r.output.read_bytes() for r in shared] == alone


def test_cli_repairs_many_wheels_in_one_call(scenario, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = [scenario("two_ext_shared"), scenario("versioned_chain")]
    lib_dirs = [d for b in built for d in b.lib_dirs]
    proc = run_cli(
        ["wheelfix", "repair", "-j", "2", "-w", tmp_path / "all", *(b.wheel for b in built)],
        ld_library_path=lib_dirs,
    )
    assert proc.returncode == 0, proc.stderr
    together = [Path(line).read_bytes() for line in proc.stdout.splitlines()]
    apart = []
    for i, b in enumerate(built):
        one = run_cli(
            ["wheelfix", "repair", "--no-cache", "-w", tmp_path / f"one{i}", b.wheel],
            ld_library_path=lib_dirs,
        )
        assert one.returncode == 0, one.stderr
        apart.append(Path(one.stdout.splitlines()[0]).read_bytes())
    assert together == apart
