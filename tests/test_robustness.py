"""What ``wheelfix`` does when the world misbehaves: tampered input, output that exists or
cannot be written, a full disk, Ctrl-C, concurrent runs; and the promises it makes about its
output: determinism, SOURCE_DATE_EPOCH, idempotency, leaving already-repaired PyPI wheels alone.

Every failure must be one ``wheelfix: error: ...`` line with the documented exit code, no
traceback, no output file, no ``.part`` leftover, and an untouched input.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import pytest

from runtools import separate_stderr_runner
from wheelbuild import REPO_ROOT, RunCli, Scenario, ScenarioFactory, python_ext_suffix
from wheelfix import cli
from wheelfix import writer as writer_module
from wheelfix.errors import OutputError
from wheelfix.options import AuditOptions, RepairOptions
from wheelfix.pipeline import audit, repair
from wheelfix.record import hash_digest, parse_record
from wheelfix.wheel import WheelReader

EXT_NAME = f"demo/_demo{python_ext_suffix()}"
#: the example wheel is built for the running interpreter (``cpXY-cpXY``)
_PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
EXAMPLE_TARGET_NAME = f"demo-0.1-{_PY}-{_PY}-manylinux1_x86_64.manylinux_2_5_x86_64.whl"

# --------------------------------------------------------------------------- helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli_env(
    ld_library_path: Sequence[Path] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment ``run_cli`` would use, for Popen: src/ first, no AUDITWHEEL_*,
    LD_LIBRARY_PATH or SOURCE_DATE_EPOCH unless given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUDITWHEEL_") and k not in ("LD_LIBRARY_PATH", "SOURCE_DATE_EPOCH")
    }
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    if ld_library_path:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(str(p) for p in ld_library_path)
    env.update(extra or {})
    return env


def wheelfix_cmd(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "wheelfix", *(os.fspath(a) for a in args)]


def repair_cli(
    run_cli: RunCli,
    wheel: Path,
    wheel_dir: Path,
    *extra: str,
    ld_library_path: Sequence[Path] = (),
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env: dict[str, str | None] = {"SOURCE_DATE_EPOCH": None, **(env or {})}
    return run_cli(
        ["wheelfix", "repair", wheel, "-w", wheel_dir, *extra],
        env=full_env,
        ld_library_path=list(ld_library_path) or None,
    )


def output_of(proc: subprocess.CompletedProcess[str]) -> Path:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return Path(lines[0])


def part_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.part")) if directory.exists() else []


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def members(wheel: Path) -> dict[str, bytes]:
    """File members by name (directory entries, which wheelfix does not write, left out)."""
    with zipfile.ZipFile(wheel) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        assert len(names) == len(set(names)), names
        return {name: archive.read(name) for name in names}


def assert_valid_wheel(wheel: Path) -> dict[str, bytes]:
    """A complete zip (every CRC checks), every member in RECORD with its hash and size, and
    wheelfix's own reader accepts it. Returns the members."""
    with zipfile.ZipFile(wheel) as archive:
        assert archive.testzip() is None
    contents = members(wheel)
    (record_name,) = [n for n in contents if n.endswith(".dist-info/RECORD")]
    record = parse_record(contents[record_name].decode("utf-8"))
    assert set(record) == set(contents)
    for name, data in contents.items():
        if name == record_name:
            assert record[name] == ("", None)
        else:
            assert record[name] == (hash_digest(data), len(data)), name
    with WheelReader(wheel) as reader:
        for member in reader.members:
            reader.read(member.path)
    return contents


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def rewrite_zip(
    source: Path, destination: Path, replace: Mapping[str, bytes], add: Mapping[str, bytes] = {}
) -> Path:
    """Copy ``source`` member by member (same names, order, attributes; ``replace`` swaps
    contents, RECORD untouched unless replaced); ``add`` appends stored members."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(destination, "w") as out:
        for info in src.infolist():
            out.writestr(info, replace.get(info.filename, src.read(info)))
        for name, data in add.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            out.writestr(info, data, compress_type=zipfile.ZIP_STORED)
    return destination


# --------------------------------------------------------------------------- RECORD hash


@pytest.mark.parametrize(
    ("command", "member"),
    [
        ("show", EXT_NAME),
        ("repair", EXT_NAME),
        ("repair", "demo/__init__.py"),
        ("check", EXT_NAME),
        ("check", "demo/__init__.py"),
    ],
)
def test_record_hash_mismatch_is_invalid_wheel(
    scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path, command: str, member: str
) -> None:
    example = scenario("example")
    original = members(example.wheel)[member]
    tampered = original[:-1] + bytes([original[-1] ^ 0x01])
    wheel = rewrite_zip(example.wheel, tmp_path / "in" / example.wheel.name, {member: tampered})
    before = sha256(wheel)
    out_dir = tmp_path / "out"
    args: list[str | os.PathLike[str]] = ["wheelfix", command, wheel]
    if command == "repair":
        args += ["-w", out_dir]
    proc = run_cli(args, ld_library_path=example.lib_dirs, env={"SOURCE_DATE_EPOCH": None})
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"wheelfix: error: {wheel}: member {member!r} does not match its RECORD hash"
    ]
    assert listing(out_dir) == []
    assert sha256(wheel) == before


def test_show_checks_only_the_members_it_reads(
    scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path
) -> None:
    # Documented in README: show stays cheap and hash-checks what it reads (WHEEL, RECORD, ELF
    # files); check and repair read, and so verify, every member.
    example = scenario("example")
    member = "demo/__init__.py"
    original = members(example.wheel)[member]
    wheel = rewrite_zip(
        example.wheel, tmp_path / "in" / example.wheel.name, {member: original + b"#"}
    )
    proc = run_cli(["wheelfix", "show", "--json", wheel], ld_library_path=example.lib_dirs)
    assert proc.returncode == 0, proc.stderr
    assert '"overall_tag": "linux_x86_64"' in proc.stdout


# --------------------------------------------------------------------------- output file


def test_repair_twice_atomically_replaces_output(
    scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path
) -> None:
    example = scenario("example")
    out_dir = tmp_path / "out"
    first = output_of(repair_cli(run_cli, example.wheel, out_dir, ld_library_path=example.lib_dirs))
    assert first == out_dir / EXAMPLE_TARGET_NAME
    first_bytes = first.read_bytes()
    first_inode = first.stat().st_ino
    with first.open("rb") as old_reader:  # a reader of the old file while it is replaced
        second = output_of(
            repair_cli(run_cli, example.wheel, out_dir, ld_library_path=example.lib_dirs)
        )
        assert old_reader.read() == first_bytes
    assert second == first
    assert second.read_bytes() == first_bytes
    assert second.stat().st_ino != first_inode  # renamed into place, not rewritten in place
    assert listing(out_dir) == [EXAMPLE_TARGET_NAME]

    # Whatever occupies the name is replaced by the complete wheel.
    first.write_bytes(b"not a wheel")
    third = output_of(repair_cli(run_cli, example.wheel, out_dir, ld_library_path=example.lib_dirs))
    assert third.read_bytes() == first_bytes
    assert listing(out_dir) == [EXAMPLE_TARGET_NAME]


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ("file/sub", "cannot create (Not a directory)"),
        ("file", "is not a directory (-w must name a directory)"),
    ],
)
def test_unwritable_wheel_dir(
    scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path, layout: str, reason: str
) -> None:
    example = scenario("example")
    (tmp_path / "file").write_bytes(b"a regular file")
    wheel_dir = tmp_path / layout
    before = sha256(example.wheel)
    proc = repair_cli(run_cli, example.wheel, wheel_dir, ld_library_path=example.lib_dirs)
    assert proc.returncode == 11
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"wheelfix: error: {wheel_dir}: {reason}"]
    assert (tmp_path / "file").read_bytes() == b"a regular file"
    assert listing(tmp_path) == ["file"]
    assert sha256(example.wheel) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_wheel_dir(scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path) -> None:
    example = scenario("example")
    wheel_dir = tmp_path / "ro"
    wheel_dir.mkdir()
    wheel_dir.chmod(0o555)
    try:
        proc = repair_cli(run_cli, example.wheel, wheel_dir, ld_library_path=example.lib_dirs)
    finally:
        wheel_dir.chmod(0o755)
    assert proc.returncode == 11
    assert proc.stderr.splitlines() == [
        f"wheelfix: error: {wheel_dir}: cannot create a file here: Permission denied"
    ]
    assert listing(wheel_dir) == []


# --------------------------------------------------------------------------- disk full

_ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _OsWith:
    """The ``os`` module as writer.py sees it, with some functions replaced."""

    def __init__(self, **overrides: Any) -> None:
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


class _FullDiskFile(io.FileIO):
    """A file on a disk that fills up after ``room`` bytes."""

    room = 4096

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def _fdopen_full_disk(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    assert mode == "w+b", mode
    return io.BufferedRandom(_FullDiskFile(fd, "r+"))


def _raise_enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["write", "fsync", "rename"])
def test_disk_full_is_output_error_and_leaves_nothing(
    scenario: ScenarioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    example = scenario("example")
    before = sha256(example.wheel)
    out_dir = tmp_path / "out"
    if where == "write":
        monkeypatch.setattr(writer_module, "os", _OsWith(fdopen=_fdopen_full_disk))
    elif where == "fsync":
        monkeypatch.setattr(writer_module, "os", _OsWith(fsync=_raise_enospc))
    else:
        monkeypatch.setattr(Path, "replace", _raise_enospc)
    options = AuditOptions(environ={"LD_LIBRARY_PATH": str(example.lib_dirs[0])})
    with pytest.raises(OutputError) as failed:
        repair(example.wheel, options, RepairOptions(wheel_dir=out_dir))
    assert failed.value.exit_code == 11
    assert failed.value.subject == str(out_dir / EXAMPLE_TARGET_NAME)
    assert failed.value.reason == "cannot write: No space left on device"
    assert listing(out_dir) == []
    assert sha256(example.wheel) == before


@pytest.mark.parametrize(
    "name",
    [
        "example",
        "pure",
    ],
)
def test_disk_full_through_the_cli_leaves_no_part_file(
    scenario: ScenarioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    built = scenario(name)
    out_dir = tmp_path / "out"
    monkeypatch.setattr(Path, "replace", _raise_enospc)
    for var in ("SOURCE_DATE_EPOCH", "LD_LIBRARY_PATH"):
        monkeypatch.delenv(var, raising=False)
    if built.lib_dirs:
        monkeypatch.setenv("LD_LIBRARY_PATH", str(built.lib_dirs[0]))
    result = separate_stderr_runner().invoke(
        cli.main,
        ["repair", str(built.wheel), "-w", str(out_dir), "--allow-pure-python-wheel"],
    )
    assert result.exit_code == 11, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"wheelfix: error: {out_dir}/")
    assert lines[0].endswith("No space left on device)") or lines[0].endswith(
        "No space left on device"
    )
    assert listing(out_dir) == []


# --------------------------------------------------------------------------- Ctrl-C


def padded_wheel(example: Scenario, directory: Path, megabytes: int) -> Path:
    """The example wheel plus a stored member of random bytes (slow to compress at -z 9)."""
    blob = random.Random(megabytes).randbytes(megabytes << 20)  # noqa: S311 - not crypto
    contents = members(example.wheel)
    (record_name,) = [n for n in contents if n.endswith("/RECORD")]
    contents["demo/blob.bin"] = blob
    rows = [f"{n},{hash_digest(d)},{len(d)}" for n, d in contents.items() if n != record_name]
    record = "\n".join([*rows, f"{record_name},,", ""]).encode()
    return rewrite_zip(
        example.wheel,
        directory / example.wheel.name,
        {record_name: record},
        add={"demo/blob.bin": blob},
    )


def _interrupt(wheel: Path, out_dir: Path, example: Scenario) -> tuple[bool, int, str, str]:
    """Start a -z 9 repair; once its temporary file exists, press "Ctrl-C" (SIGINT to the
    whole process group, as a terminal does). Returns (signalled, exit code, stdout, stderr)."""
    proc = subprocess.Popen(
        wheelfix_cmd("repair", wheel, "-w", out_dir, "-z", "9"),
        env=cli_env(example.lib_dirs),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    signalled = False
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and not part_files(out_dir) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            signalled = True
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return signalled, proc.returncode, stdout, stderr


def test_ctrl_c_mid_repair_leaves_nothing(scenario: ScenarioFactory, tmp_path: Path) -> None:
    example = scenario("example")
    for attempt, megabytes in enumerate((150, 300)):
        wheel = padded_wheel(example, tmp_path / f"in{attempt}", megabytes)
        before = sha256(wheel)
        out_dir = tmp_path / f"out{attempt}"
        signalled, code, stdout, stderr = _interrupt(wheel, out_dir, example)
        assert "Traceback" not in stderr, stderr
        assert part_files(out_dir) == []
        assert sha256(wheel) == before
        if signalled and code != 0:
            break
        # It finished before the signal landed: the output must then be complete.
        assert code == 0, stderr
        assert listing(out_dir) == [EXAMPLE_TARGET_NAME]
        assert_valid_wheel(out_dir / EXAMPLE_TARGET_NAME)
    else:
        pytest.skip("the repair finished before SIGINT twice (machine too fast to interrupt)")
    assert code == 130, stderr
    assert stdout == ""
    assert stderr.splitlines()[-1] == "wheelfix: interrupted"
    assert all(line.startswith("wheelfix: ") for line in stderr.splitlines()), stderr
    assert listing(out_dir) == []


# --------------------------------------------------------------------------- determinism


def _without_zip_times(archive: bytes) -> bytes:
    """The archive with every local and central header's DOS time and date zeroed."""
    out = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        for info in parsed.infolist():
            assert out[info.header_offset : info.header_offset + 4] == b"PK\x03\x04"
            out[info.header_offset + 10 : info.header_offset + 14] = bytes(4)
    eocd = out.rindex(b"PK\x05\x06")
    (count,) = struct.unpack_from("<H", out, eocd + 10)
    (offset,) = struct.unpack_from("<I", out, eocd + 16)
    for _ in range(count):
        assert out[offset : offset + 4] == b"PK\x01\x02"
        out[offset + 12 : offset + 16] = bytes(4)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", out, offset + 28)
        offset += 46 + name_len + extra_len + comment_len
    return bytes(out)


def _stamps(wheel: Path) -> set[tuple[int, ...]]:
    with zipfile.ZipFile(wheel) as archive:
        return {info.date_time for info in archive.infolist()}


def test_repairs_are_byte_identical_and_epoch_only_changes_timestamps(
    scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path
) -> None:
    example = scenario("example")

    def run(tag: str, epoch: str | None) -> Path:
        proc = repair_cli(
            run_cli,
            example.wheel,
            tmp_path / tag,
            ld_library_path=example.lib_dirs,
            env={"SOURCE_DATE_EPOCH": epoch},
        )
        return output_of(proc)

    unset = run("unset", None)
    again = run("again", None)
    assert unset.name == again.name == EXAMPLE_TARGET_NAME
    assert unset.read_bytes() == again.read_bytes()
    assert _stamps(unset) == {(1980, 1, 1, 0, 0, 0)}
    reference = members(unset)

    expected = {
        "0": (1980, 1, 1, 0, 0, 0),  # before 1980: clipped
        "315532801": (1980, 1, 1, 0, 0, 0),  # 00:00:01, zip seconds are even
        "650203201": (1990, 8, 9, 12, 0, 0),  # 12:00:01 rounded down
    }
    for epoch, stamp in expected.items():
        wheel = run(f"epoch-{epoch}", epoch)
        assert wheel.name == unset.name
        assert members(wheel) == reference, epoch
        assert _stamps(wheel) == {stamp}, epoch
        assert _without_zip_times(wheel.read_bytes()) == _without_zip_times(unset.read_bytes())
        if stamp == (1980, 1, 1, 0, 0, 0):
            assert wheel.read_bytes() == unset.read_bytes(), epoch
        else:
            assert wheel.read_bytes() != unset.read_bytes()


def test_repairing_a_repaired_wheel_changes_nothing(
    scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path
) -> None:
    example = scenario("example")
    first_proc = repair_cli(
        run_cli, example.wheel, tmp_path / "one", ld_library_path=example.lib_dirs
    )
    first = output_of(first_proc)
    assert "grafted" in first_proc.stderr
    second_proc = repair_cli(run_cli, first, tmp_path / "two", ld_library_path=example.lib_dirs)
    second = output_of(second_proc)
    assert "grafted" not in second_proc.stderr
    assert second_proc.stderr == ""
    assert second.name == first.name
    before, after = members(first), members(second)
    assert sorted(after) == sorted(before)
    elves = {name for name, data in before.items() if is_elf(data)}
    assert elves == {
        EXT_NAME,
        "demo.libs/libdemo-873068a1.so.1",
        "demo.libs/libdemodep-1d4e9c09.so.1",
    }
    for name in elves:
        assert after[name] == before[name], name
    assert second.read_bytes() == first.read_bytes()


# --------------------------------------------------------------------------- concurrency


def test_concurrent_repairs_of_different_wheels_into_one_dir(
    scenario: ScenarioFactory, tmp_path: Path
) -> None:
    built = [
        scenario(name) for name in ("example", "versioned_chain", "two_ext_shared", "stale_rpath")
    ]
    out_dir = tmp_path / "out"
    procs = [
        subprocess.Popen(
            wheelfix_cmd("repair", s.wheel, "-w", out_dir),
            env=cli_env(s.lib_dirs),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in built
    ]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    outputs = []
    for proc, stdout, stderr in results:
        assert proc.returncode == 0, stderr
        assert "grafted" in stderr
        (line,) = stdout.splitlines()
        outputs.append(Path(line))
    assert len(set(outputs)) == 4
    assert all(p.parent == out_dir for p in outputs)
    assert listing(out_dir) == sorted(p.name for p in outputs)
    assert part_files(out_dir) == []
    for output, source in zip(outputs, built):
        assert output.name.split("-")[:2] == source.wheel.name.split("-")[:2]
        assert_valid_wheel(output)


def test_concurrent_repairs_of_the_same_wheel(
    scenario: ScenarioFactory, run_cli: RunCli, tmp_path: Path
) -> None:
    example = scenario("example")
    sequential = output_of(
        repair_cli(
            run_cli, example.wheel, tmp_path / "sequential", ld_library_path=example.lib_dirs
        )
    )
    out_dir = tmp_path / "out"
    procs = [
        subprocess.Popen(
            wheelfix_cmd("repair", example.wheel, "-w", out_dir),
            env=cli_env(example.lib_dirs),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    for proc, stdout, stderr in results:
        assert proc.returncode == 0, stderr
        assert stdout == f"{out_dir / EXAMPLE_TARGET_NAME}\n"
    assert listing(out_dir) == [EXAMPLE_TARGET_NAME]
    final = out_dir / EXAMPLE_TARGET_NAME
    assert_valid_wheel(final)
    assert final.read_bytes() == sequential.read_bytes()


# --------------------------------------------------------------------------- real PyPI wheels

#: Wheels built by their projects with auditwheel: they vendor their libraries already.
#: project -> (version, --platform for pip download, platform tags after ``repair``). auditwheel
#: 6.8.2 finds Pillow's manylinux_2_28 wheel consistent with manylinux_2_27, so repair adds that
#: tag (auditwheel's repair names its output exactly the same way, with and without --plat).
REAL_WHEELS = {
    "numpy": ("2.1.3", "manylinux_2_17_x86_64", {"manylinux2014_x86_64", "manylinux_2_17_x86_64"}),
    "pillow": (
        "11.0.0",
        "manylinux_2_28_x86_64",
        {"manylinux_2_27_x86_64", "manylinux_2_28_x86_64"},
    ),
}


@pytest.fixture(scope="module", params=sorted(REAL_WHEELS))
def real_wheel(request: pytest.FixtureRequest, fixture_cache: Path) -> Path:
    project = request.param
    version, platform, _ = REAL_WHEELS[project]
    cache = fixture_cache / "pypi"
    pattern = f"{project}-{version}-cp311-cp311-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
            "--python-version", "3.11", "--platform", platform, "--disable-pip-version-check",
            "-d", str(cache), f"{project}=={version}",
        ]  # fmt: skip
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            pytest.skip(f"pip download {project}=={version} timed out")
        found = sorted(cache.glob(pattern))
        if proc.returncode != 0 or not found:
            pytest.skip(f"pip download {project}=={version} failed: {proc.stderr[-300:]}")
    assert len(found) == 1, found
    return found[0]


def _project(wheel: Path) -> str:
    return wheel.name.split("-", 1)[0]


def _platforms(wheel_name: str) -> set[str]:
    return set(wheel_name[: -len(".whl")].rsplit("-", 1)[1].split("."))


def _prefix(wheel_name: str) -> str:
    return wheel_name[: -len(".whl")].rsplit("-", 1)[0]


def _wheel_file(contents: Mapping[str, bytes]) -> tuple[str, bytes]:
    (name,) = [n for n in contents if n.endswith(".dist-info/WHEEL")]
    return name, contents[name]


def _unchanged_except_metadata(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> None:
    assert sorted(after) == sorted(before)
    changed = sorted(n for n in before if before[n] != after[n])
    assert all(n.endswith((".dist-info/WHEEL", ".dist-info/RECORD")) for n in changed), changed


@pytest.mark.network
def test_vendored_libraries_resolve_inside_the_wheel(real_wheel: Path) -> None:
    result = audit(real_wheel, AuditOptions(environ={}))
    dist = real_wheel.name.split("-", 1)[0]
    with zipfile.ZipFile(real_wheel) as archive:
        vendored = {
            i.filename
            for i in archive.infolist()
            if i.filename.startswith(f"{dist}.libs/") and not i.is_dir()
        }
    assert vendored
    resolved = {
        lib.member: lib.found_via
        for tree in result.trees.values()
        for lib in tree.libraries.values()
        if lib.member is not None
    }
    assert vendored <= set(resolved), sorted(vendored - set(resolved))
    by_name = {Path(n).name for n in vendored}
    host_copies = [
        (name, str(lib.realpath))
        for tree in result.trees.values()
        for name, lib in tree.libraries.items()
        if name in by_name and lib.member is None
    ]
    assert host_copies == []


@pytest.mark.network
def test_repairing_a_pypi_wheel_grafts_nothing(
    real_wheel: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    before = sha256(real_wheel)
    proc = repair_cli(run_cli, real_wheel, tmp_path / "out", "-z", "1")
    output = output_of(proc)
    assert "grafted" not in proc.stderr
    assert proc.stderr == ""
    assert _prefix(output.name) == _prefix(real_wheel.name)
    assert _platforms(output.name) == REAL_WHEELS[_project(real_wheel)][2]
    assert _platforms(output.name) >= _platforms(real_wheel.name)
    after = assert_valid_wheel(output)
    _unchanged_except_metadata(members(real_wheel), after)
    assert sha256(real_wheel) == before


@pytest.mark.network
def test_plat_on_a_pypi_wheel_only_adds_the_tag(
    real_wheel: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    """pypa/auditwheel#394: --plat on an already repaired wheel changes the tags, nothing else."""
    new = "manylinux_2_34_x86_64"
    proc = repair_cli(run_cli, real_wheel, tmp_path / "out", "--plat", new, "-z", "1")
    output = output_of(proc)
    assert "grafted" not in proc.stderr
    assert _prefix(output.name) == _prefix(real_wheel.name)
    assert _platforms(output.name) == REAL_WHEELS[_project(real_wheel)][2] | {new}
    assert _platforms(output.name) >= _platforms(real_wheel.name)
    before, after = members(real_wheel), assert_valid_wheel(output)
    _unchanged_except_metadata(before, after)

    name, old_wheel = _wheel_file(before)
    old_headers = HeaderParser().parsestr(old_wheel.decode())
    new_headers = HeaderParser().parsestr(_wheel_file(after)[1].decode())
    interpreters = {tag.rsplit("-", 1)[0] for tag in old_headers.get_all("Tag")}
    assert set(new_headers.get_all("Tag")) == {
        f"{prefix}-{platform}" for prefix in interpreters for platform in _platforms(output.name)
    }
    assert set(new_headers.get_all("Tag")) >= set(old_headers.get_all("Tag"))
    assert [(k, v) for k, v in new_headers.items() if k != "Tag"] == [
        (k, v) for k, v in old_headers.items() if k != "Tag"
    ], name
