"""Issue 8: inputs an adversarial user would build, repaired and then run for real.

Every successful repair here is installed with pip into a target directory and called by a
fresh interpreter after the directories holding the original libraries are renamed away.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from runtools import (
    clean_env,
    one_error_line,
    pip_install,
    run_python,
    run_wheelfix,
    wheelfix_command,
    wheelfix_env,
)
from wheelbuild import _Builder, python_wheel_tag
from wheelfix.graft import hashed_name

SRC = "hostile"


@pytest.fixture
def builder(fixture_cache: Path, tmp_path: Path) -> _Builder:
    return _Builder(SRC, fixture_cache, tmp_path)


def _repair(wheel: Path, out: Path, *flags: str, libs: list[Path]) -> Path:
    proc = run_wheelfix("repair", wheel, "-w", out, *flags, ld_library_path=libs)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


def _install_and_run(wheel: Path, site: Path, code: str, gone: list[Path]) -> str:
    pip_install(wheel, site)
    for directory in gone:
        directory.rename(directory.with_name(directory.name + ".gone"))
    proc = run_python(code, site)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# ------------------------------------------------------------------ 1. a soname is no identity


def test_one_soname_two_files_each_extension_keeps_its_own(
    builder: _Builder, tmp_path: Path
) -> None:
    """Two extensions need libsame.so.1; their RPATHs find two different files."""
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=1"])
    two = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=2"])
    dir_a, dir_b = builder.dir("liba"), builder.dir("libb")
    builder.place("liba", one)
    builder.place("libb", two)
    ext_a = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[one], rpath=str(dir_a))
    ext_b = builder.ext("ext.c", "b", defines=["MODNAME=b"], needs=[two], rpath=str(dir_b))
    wheel = builder.wheel(
        "twosame",
        "1.0",
        {"pkg/__init__.py": b"", f"pkg/{ext_a.name}": ext_a, f"pkg/{ext_b.name}": ext_b},
    )
    out = _repair(wheel, tmp_path / "out", libs=[])
    with zipfile.ZipFile(out) as archive:
        grafted = sorted(n for n in archive.namelist() if n.startswith("twosame.libs/"))
    assert len(grafted) == 2, grafted
    assert all(g.split("/")[1].startswith("libsame-") for g in grafted)
    stdout = _install_and_run(
        out,
        tmp_path / "site",
        "import pkg.a, pkg.b; print(pkg.a.value(), pkg.b.value())",
        [dir_a, dir_b],
    )
    assert stdout.split() == ["1", "2"]


# ------------------------------------------------------------ 2. signals, orphans, stale files


def _big_wheel(builder: _Builder) -> tuple[Path, Path]:
    big = builder.lib("big.c", "libbig.so.1", defines=["BIG_MIB=96"])
    libs = builder.dir("libs")
    builder.place("libs", big)
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[big])
    wheel = builder.wheel("big", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    return wheel, libs


def _session_processes(session: int) -> list[int]:
    """Pids of live processes in session ``session`` (zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _state(pid: int) -> str | None:
    """The process state letter (``Z`` for a zombie), or None once it is reaped."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _start_repair(wheel: Path, out: Path, libs: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        wheelfix_command("repair", wheel, "-w", out),
        env=wheelfix_env([libs]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _end_session(proc: subprocess.Popen[str]) -> None:
    """Kill what is left of ``proc``'s session and reap it (its pipes closed), so a failed
    test leaves no process or open file behind for the next one."""
    unread = proc.stdout is not None and not proc.stdout.closed
    if proc.poll() is None or unread:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    if unread:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=30)


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.part")) if directory.exists() else []


def _wait_until_rewriting(proc: subprocess.Popen[str], out: Path) -> list[int]:
    """Wait until the repair writes (its .part file exists: the audit is done) and its LIEF
    workers run; return their pids."""
    assert _wait_for(lambda: bool(_parts(out)), 120), "repair never started writing"
    assert _wait_for(lambda: bool(_children(proc.pid)), 30), "no LIEF worker started"
    return _children(proc.pid)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_repair_leaves_nothing(builder: _Builder, tmp_path: Path, signum: int) -> None:
    wheel, libs = _big_wheel(builder)
    out = tmp_path / "out"
    proc = _start_repair(wheel, out, libs)
    try:
        _wait_until_rewriting(proc, out)
        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        _end_session(proc)
    assert proc.returncode == 128 + signum, stderr
    assert stderr.strip().splitlines()[-1].startswith("wheelfix: interrupted"), stderr
    assert "Traceback" not in stderr
    assert stdout == ""
    assert list(out.iterdir()) == []
    assert _wait_for(lambda: not _session_processes(proc.pid), 10), "a worker survived"


def test_sigkill_orphans_no_worker_and_a_later_run_tidies(
    builder: _Builder, tmp_path: Path
) -> None:
    wheel, libs = _big_wheel(builder)
    out = tmp_path / "out"
    proc = _start_repair(wheel, out, libs)
    try:
        workers = _wait_until_rewriting(proc, out)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)  # returns only once every holder of the pipes is gone
        assert _wait_for(lambda: not _session_processes(proc.pid), 30), "worker orphaned"
        assert all(_state(w) in (None, "Z") for w in workers), "a worker is still running"
    finally:
        _end_session(proc)
    (stale,) = _parts(out)
    assert f".{proc.pid}." in stale.name
    # Fresh: a later run leaves it (its writer may be alive in another PID namespace).
    again = run_wheelfix("repair", wheel, "-w", out, ld_library_path=[libs])
    assert again.returncode == 0, again.stderr
    assert stale.exists()
    old = time.time() - 3600
    os.utime(stale, (old, old))
    again = run_wheelfix("repair", wheel, "-w", out, ld_library_path=[libs])
    assert again.returncode == 0, again.stderr
    assert not stale.exists()
    assert _parts(out) == []
    assert [p.name for p in out.iterdir()] == [Path(again.stdout.strip()).name]


# ------------------------------------------------------------------ 3. non-regular inputs


@pytest.mark.parametrize("command", ["show", "check", "repair"])
def test_fifo_named_like_a_wheel_is_refused_at_once(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / f"demo-1.0-{python_wheel_tag()}.whl"
    os.mkfifo(fifo)
    proc = (
        run_wheelfix(command, fifo, "-w", tmp_path / "out", timeout=30)
        if command == ("repair")
        else run_wheelfix(command, fifo, timeout=30)
    )
    assert proc.returncode == 3, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {fifo}: is a named pipe (FIFO), not a wheel file"
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/dev/zero", "a character device"), ("/dev/null", "a character device")],
)
def test_lddtree_on_a_device_is_refused(path: str, kind: str) -> None:
    proc = run_wheelfix("lddtree", path, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert one_error_line(proc.stderr) == f"wheelfix: error: {path}: is {kind}, not an ELF file"


def test_lddtree_on_a_symlink_to_a_fifo_and_a_socket(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "libx.so.1"
    link.symlink_to(fifo)
    proc = run_wheelfix("lddtree", link, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert "is a named pipe (FIFO), not an ELF file" in one_error_line(proc.stderr)
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        proc = run_wheelfix("show", sock_path, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert "is a socket, not a wheel file" in one_error_line(proc.stderr)


def test_fifo_in_the_library_path_is_skipped(builder: _Builder, tmp_path: Path) -> None:
    """A FIFO named like the needed library, first in LD_LIBRARY_PATH, is passed over."""
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=1"])
    good = builder.dir("good")
    builder.place("good", one)
    trap = builder.dir("trap")
    os.mkfifo(trap / "libsame.so.1")
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[one])
    wheel = builder.wheel("fifolib", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    proc = run_wheelfix("show", "--json", wheel, ld_library_path=[trap, good], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["external_libs"] == {"libsame.so.1": str(good / "libsame.so.1")}


_AS_NOBODY = """
import os, sys
import difflib, json, wheelfix.cli, wheelfix.pipeline, wheelfix.report  # noqa: E401, F401 (while root)
os.setgid(65534)
os.setuid(65534)
sys.argv = ["wheelfix", *sys.argv[1:]]
wheelfix.cli.main()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to the user 'nobody'")
def test_unreadable_wheel_is_an_input_error(builder: _Builder, tmp_path: Path) -> None:
    """Another user's wheel that this user may not read: the input-file error, exit 3."""
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=1"])
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[one])
    wheel = builder.wheel("secret", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    wheel.chmod(0o600)
    for parent in wheel.parents:
        os.chmod(parent, os.stat(parent).st_mode | 0o005)  # 'nobody' may look up the path
        if parent == Path(tempfile.gettempdir()):
            break
    for command in (["show"], ["check"], ["repair", "-w", str(tmp_path / "out")]):
        proc = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, *command, str(wheel)],
            env=wheelfix_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 3, proc.stderr
        assert one_error_line(proc.stderr) == (
            f"wheelfix: error: {wheel}: permission denied (cannot read it)"
        )


# ------------------------------------------------------------------ 4. name collisions


def _one_lib_wheel(
    builder: _Builder, dist: str, extra: dict[str, bytes | Path] | None = None
) -> tuple[Path, Path, Path]:
    """A wheel whose extension pkg/a needs libsame.so.1 (value 1) from ``libs``."""
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=1"])
    libs = builder.dir("libs")
    placed = builder.place("libs", one)
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[one])
    members: dict[str, bytes | Path] = {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext}
    members.update(extra or {})
    return builder.wheel(dist, "1.0", members), libs, placed


def _graft_member(dist: str, library: Path) -> str:
    digest = hashlib.sha256(library.read_bytes()).hexdigest()
    return f"{dist}.libs/{hashed_name(library.name, digest)}"


def test_input_member_at_the_graft_path_is_refused(builder: _Builder, tmp_path: Path) -> None:
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=1"])
    squatter = _graft_member("coll", one)
    wheel, libs, _ = _one_lib_wheel(builder, "coll", {squatter: b"not the library\n"})
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 15, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {wheel}!{squatter}: the wheel already has this member, where"
        f" repair must write the grafted library {libs / 'libsame.so.1'}"
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_file_named_like_the_libs_directory_is_refused(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs, _ = _one_lib_wheel(builder, "collfile", {"collfile.libs": b"a file\n"})
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 15, proc.stderr
    line = one_error_line(proc.stderr)
    assert line.startswith(f"wheelfix: error: {wheel}!collfile.libs: is a file, but repair")


def test_member_at_the_moved_script_path_is_refused(builder: _Builder, tmp_path: Path) -> None:
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=1"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    prog = builder.exe("prog.c", "prog", needs=[one])
    wheel = builder.wheel(
        "collscript",
        "1.0",
        {
            "collscript-1.0.data/scripts/prog": prog,
            "collscript.scripts/prog": b"#!/bin/sh\necho squatter\n",
        },
    )
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 15, proc.stderr
    assert one_error_line(proc.stderr).startswith(
        f"wheelfix: error: {wheel}!collscript.scripts/prog: the wheel already has this member"
    )


def test_two_inputs_with_one_output_name(builder: _Builder, tmp_path: Path) -> None:
    """Same file name from two directories: the second must not replace the first's output."""
    wheel, libs, _ = _one_lib_wheel(builder, "twin")
    other = tmp_path / "elsewhere" / wheel.name
    other.parent.mkdir()
    shutil.copyfile(wheel, other)
    out = tmp_path / "out"
    proc = run_wheelfix("repair", wheel, other, "-w", out, ld_library_path=[libs])
    assert proc.returncode == 11, proc.stderr
    (output,) = out.iterdir()
    assert proc.stdout.splitlines() == [str(output)]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("wheelfix: error: ")]
    assert errors == [
        f"wheelfix: error: {output}: was already written by this run from another input of"
        " the same name"
    ]


def test_output_that_would_replace_the_input_is_refused(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs, _ = _one_lib_wheel(builder, "inplace")
    before = wheel.read_bytes()
    proc = run_wheelfix(
        "repair", "--no-update-tags", wheel, "-w", wheel.parent, ld_library_path=[libs]
    )
    assert proc.returncode == 11, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {wheel}: is the input wheel itself (choose a -w directory other"
        " than its own)"
    )
    assert wheel.read_bytes() == before
    assert sorted(p.name for p in wheel.parent.iterdir()) == [wheel.name]


# ------------------------------------------------------------------ 5. option abuse


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("/../escape", "'/'-separated parts may not be empty, '.' or '..'"),
        ("/a//b", "'/'-separated parts may not be empty, '.' or '..'"),
        (".libs:/tmp", "a ':' would split the RPATH in two"),
        (".$ORIGIN", "a '$' would be expanded by the loader ($ORIGIN, $LIB, $PLATFORM)"),
        ("-1.0.dist-info", "a directory ending in .dist-info or .data would be taken"),
        ("/x.data", "a directory ending in .dist-info or .data would be taken"),
        ("a\\b", "a backslash is not allowed in wheel member names"),
        (".li\nbs", "control characters are not allowed"),
    ],
)
def test_bad_lib_sdir_is_a_usage_error(tmp_path: Path, value: str, reason: str) -> None:
    wheel = tmp_path / f"x-1.0-{python_wheel_tag()}.whl"
    proc = run_wheelfix("repair", "-L", value, wheel, "-w", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert reason in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_nested_lib_sdir_installs_and_imports(builder: _Builder, tmp_path: Path) -> None:
    wheel, libs, _ = _one_lib_wheel(builder, "nested")
    out = _repair(wheel, tmp_path / "out", "-L", "/_vendor/libs", libs=[libs])
    with zipfile.ZipFile(out) as archive:
        assert any(n.startswith("nested/_vendor/libs/libsame-") for n in archive.namelist())
    stdout = _install_and_run(out, tmp_path / "site", "import pkg.a; print(pkg.a.value())", [libs])
    assert stdout.split() == ["1"]


# ------------------------------------------------------------------ 7. small promises


def test_empty_ld_library_path_entry_means_the_current_directory(
    builder: _Builder, tmp_path: Path
) -> None:
    wheel, libs, placed = _one_lib_wheel(builder, "cwdlib")
    for value in (":/nonexistent", "/nonexistent:", "/nonexistent::/also-not", "/nonexistent;"):
        proc = subprocess.run(
            wheelfix_command("show", "--json", wheel),
            env=wheelfix_env(extra={"LD_LIBRARY_PATH": value}),
            cwd=libs,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["external_libs"] == {"libsame.so.1": str(placed)}, value


def _rewrite_member(wheel: Path, name: str, edit: Callable[[bytes], bytes]) -> None:
    with zipfile.ZipFile(wheel) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in items:
            archive.writestr(info, edit(data) if info.filename == name else data)


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "whirlpool"])
def test_record_hash_that_cannot_be_checked_is_an_error(builder: _Builder, algorithm: str) -> None:
    wheel, libs, _ = _one_lib_wheel(builder, "badhash")
    _rewrite_member(
        wheel,
        "badhash-1.0.dist-info/RECORD",
        lambda data: data.replace(
            b"pkg/__init__.py,sha256=", f"pkg/__init__.py,{algorithm}=".encode()
        ),
    )
    proc = run_wheelfix("show", wheel, ld_library_path=[libs])
    assert proc.returncode == 5, proc.stderr
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {wheel}: badhash-1.0.dist-info/RECORD: line 1 ('pkg/__init__.py'):"
        f" hash algorithm '{algorithm}' cannot be checked (PEP 427 wants sha256 or stronger)"
    )


def test_grafted_library_loses_its_libpython_needed(builder: _Builder, tmp_path: Path) -> None:
    fake = builder.lib("fakepy.c", f"libpython{sys.version_info[0]}.{sys.version_info[1]}.so.1.0")
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=3"], needs=[fake])
    libs = builder.dir("libs")
    builder.place("libs", one)  # the fake libpython stays out of every search path
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a"], needs=[one])
    wheel = builder.wheel("pylink", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip())
    assert f"Removing {fake.name} dependency from" in proc.stderr
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(unpacked)
        (graft,) = [n for n in archive.namelist() if n.startswith("pylink.libs/")]
    readelf = subprocess.run(
        ["readelf", "-d", "-W", str(unpacked / graft)], capture_output=True, text=True, check=True
    ).stdout
    assert "libpython" not in readelf
    stdout = _install_and_run(out, tmp_path / "site", "import pkg.a; print(pkg.a.value())", [libs])
    assert stdout.split() == ["3"]


# ------------------------------------------------------------------ 6. broken output, exit 0


def test_filtee_of_a_filter_library_is_grafted(builder: _Builder, tmp_path: Path) -> None:
    """libfilt.so.1 has DT_FILTER libfiltee.so.1 (and a DT_AUXILIARY that does not exist)."""
    filtee = builder.lib("filtee.c", "libfiltee.so.1")
    filt = builder.lib(
        "filter.c",
        "libfilt.so.1",
        extra=["-Wl,--filter=libfiltee.so.1", "-Wl,--auxiliary=libnowhere.so.1"],
    )
    libs = builder.dir("libs")
    builder.place("libs", filt)
    builder.place("libs", filtee)
    ext = builder.ext("ext.c", "a", defines=["MODNAME=a", "CALL=filt_value"], needs=[filt])
    wheel = builder.wheel("filt", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    out = _repair(wheel, tmp_path / "out", libs=[libs])
    with zipfile.ZipFile(out) as archive:
        grafted = sorted(n.split("/")[1] for n in archive.namelist() if n.startswith("filt.libs/"))
        archive.extractall(tmp_path / "unpacked")
    assert [g.split("-")[0] for g in grafted] == ["libfilt", "libfiltee"], grafted
    dynamic = subprocess.run(
        ["readelf", "-d", "-W", str(tmp_path / "unpacked" / "filt.libs" / grafted[0])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Filter library: [{grafted[1]}]" in dynamic
    assert "Auxiliary library: [libnowhere.so.1]" in dynamic
    stdout = _install_and_run(out, tmp_path / "site", "import pkg.a; print(pkg.a.value())", [libs])
    assert stdout.split() == ["42"], "the filtee's definition must win"


def test_exclude_keeps_the_rpath_entries_excluded_libraries_are_found_through(
    builder: _Builder, tmp_path: Path
) -> None:
    """libexcl.so.1 is excluded; the extension finds it through its absolute DT_RPATH and
    the grafted libmid through its DT_RUNPATH: both entries must survive the rewrite."""
    excl_lib = builder.lib("filtee.c", "libexcl.so.1")
    excl = builder.dir("excl")
    builder.place("excl", excl_lib)
    mid = builder.lib(
        "same.c", "libmid.so.1", defines=["SAME_VALUE=5"], needs=[excl_lib], runpath=str(excl)
    )
    libs = builder.dir("libs")
    builder.place("libs", mid)
    ext = builder.ext(
        "ext.c",
        "a",
        defines=["MODNAME=a"],
        needs=[mid, excl_lib],
        rpath=f"{excl}:{libs}",
        extra=["-Wl,--no-as-needed"],
    )
    wheel = builder.wheel("excl", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    proc = run_wheelfix(
        "repair", "--exclude", "libexcl.so.1", wheel, "-w", tmp_path / "out", ld_library_path=[]
    )
    assert proc.returncode == 0, proc.stderr
    assert "is excluded" not in proc.stderr  # every excluded use is covered by a kept entry
    out = Path(proc.stdout.strip())
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(unpacked)
        names = archive.namelist()
    (graft,) = [n for n in names if n.startswith("excl.libs/")]
    (ext_member,) = [n for n in names if n.startswith("pkg/a.")]

    def paths(member: str) -> list[str]:
        text = subprocess.run(
            ["readelf", "-d", "-W", str(unpacked / member)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = re.findall(r"\((?:RPATH|RUNPATH)\).*\[(.*)\]", text)
        return found[0].split(":") if found else []

    assert paths(ext_member) == [str(excl), "$ORIGIN/../excl.libs"]
    assert paths(graft) == [str(excl)]
    stdout = _install_and_run(out, tmp_path / "site", "import pkg.a; print(pkg.a.value())", [libs])
    assert stdout.split() == ["5"]


def test_exclude_without_a_covering_entry_warns(builder: _Builder, tmp_path: Path) -> None:
    """The excluded library was found through LD_LIBRARY_PATH: no entry can be kept."""
    excl_lib = builder.lib("filtee.c", "libexcl.so.1")
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=1"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    builder.place("libs", excl_lib)
    ext = builder.ext(
        "ext.c", "a", defines=["MODNAME=a"], needs=[one, excl_lib], extra=["-Wl,--no-as-needed"]
    )
    wheel = builder.wheel("exclwarn", "1.0", {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext})
    proc = run_wheelfix(
        "repair", "--exclude", "libexcl.so.1", wheel, "-w", tmp_path / "out", ld_library_path=[libs]
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        f"wheelfix: warning: pkg/{ext.name}: libexcl.so.1 is excluded (--exclude), not grafted:"
        " the target system must provide it on its library path"
    ) in proc.stderr.splitlines()


def test_executable_in_data_data_finds_its_grafts_once_installed(
    builder: _Builder, tmp_path: Path
) -> None:
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=9"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    prog = builder.exe("prog.c", "prog", needs=[one])
    wheel = builder.wheel(
        "dataexe",
        "1.0",
        {"dataexe/__init__.py": b"", "dataexe-1.0.data/data/bin/dataexe-prog": prog},
    )
    out = _repair(wheel, tmp_path / "out", libs=[libs])
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--disable-pip-version-check",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    libs.rename(libs.with_name("libs.gone"))
    run = subprocess.run(
        [str(venv / "bin" / "dataexe-prog")],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "prog 9\n"


def test_executable_in_data_data_of_an_abi3_wheel_is_refused(
    builder: _Builder, tmp_path: Path
) -> None:
    one = builder.lib("same.c", "libsame.so.1", defines=["SAME_VALUE=9"])
    libs = builder.dir("libs")
    builder.place("libs", one)
    prog = builder.exe("prog.c", "prog", needs=[one])
    tag = "cp39-abi3-" + python_wheel_tag().split("-", 2)[2]
    wheel = builder.wheel("dataabi", "1.0", {"dataabi-1.0.data/data/bin/p": prog}, tag=tag)
    proc = run_wheelfix("repair", wheel, "-w", tmp_path / "out", ld_library_path=[libs])
    assert proc.returncode == 10, proc.stderr
    assert "is installed outside site-packages" in one_error_line(proc.stderr)


# ------------------------------------------------------------------ neighbours of each class


def test_closed_stdout_is_a_quiet_sigpipe_exit(builder: _Builder, tmp_path: Path) -> None:
    """``wheelfix show --json W | head -c 1``: the reader goes away; no traceback."""
    wheel, libs, _ = _one_lib_wheel(builder, "pipe")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read
    proc = subprocess.run(
        wheelfix_command("show", "--json", wheel),
        env=wheelfix_env([libs]),
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(write_end)
    assert proc.returncode == 128 + signal.SIGPIPE, proc.stderr
    assert proc.stderr == ""


def test_fifo_as_ld_so_conf_in_a_sysroot_does_not_hang(builder: _Builder, tmp_path: Path) -> None:
    wheel, _libs, _ = _one_lib_wheel(builder, "sysfifo")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.mkfifo(root / "etc" / "ld.so.conf")
    lib_dir = root / "usr" / "lib" / "x86_64-linux-gnu"
    lib_dir.mkdir(parents=True)
    (lib_dir / "libc.so.6").symlink_to("/dev/zero")  # a device where a library should be
    proc = run_wheelfix("show", "--sysroot", root, wheel, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "libsame.so.1" in proc.stdout


@pytest.mark.parametrize("value", ["-1", "0", "lots"])
def test_bad_max_uncompressed_is_a_usage_error(tmp_path: Path, value: str) -> None:
    proc = run_wheelfix(
        "show", tmp_path / "x-1.0-py3-none-any.whl", env={"WHEELFIX_MAX_UNCOMPRESSED": value}
    )
    assert proc.returncode == 2, proc.stderr
    assert f"WHEELFIX_MAX_UNCOMPRESSED={value!r} is not a positive number of bytes" in proc.stderr
