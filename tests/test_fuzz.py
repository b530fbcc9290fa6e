"""Property-based fuzzing of the input side and of LIEF containment (hypothesis).

Every property starts from real bytes (the ``example`` scenario: a gcc-built extension, the
versioned library it needs, and its wheel) and mutates them: flipped bytes, "interesting"
words (0, -1, 0x7fffffff, ...), truncation, splices of the file into itself, insertions and
deletions. Offsets are biased towards the structures parsers read (ELF and program headers,
the dynamic section and its tables, section headers; zip local headers and the central
directory).

* reader (raw bytes, and well-formed zips with damaged wheel structure: names, modes,
  duplicates, WHEEL/RECORD text): ``WheelReader`` + ``scan_wheel`` + reading every member
  succeed or raise a :class:`WheelfixError` subclass, nothing else;
* scanner: ``parse_info`` (the audit's ``pyread`` and LIEF's) returns or raises
  :class:`InvalidElfError`, ``verify_elf`` never raises;
* writer containment: ``ElfWorker.apply_edit`` (plus the pipeline's verification) returns
  bytes that verify and re-parse, or raises ``ElfWriteError`` / ``InvalidElfError`` /
  ``VerificationError``, and LIEF crashing in the worker never takes this process down;
* CLI: ``python -m wheelfix show`` on a wheel with a mutated extension exits 0 (many
  mutations leave a loadable file) or with a WheelfixError code and one error line; never 1,
  never a traceback.

The default run is bounded and reproducible: 470 examples in total, ``derandomize=True``
(the same examples on every run and machine), no example database, no deadline. A long run
raises the total budget, shared out in the same proportions::

    WHEELFIX_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -q \\
        -p no:cacheprovider --hypothesis-show-statistics

Every property is strict: any exception other than a WheelfixError, and any warning, fails.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import struct
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wheelbuild import REPO_ROOT, Scenario, build_scenario, make_wheel, python_ext_suffix
from wheelfix import elf
from wheelfix import errors as wf_errors
from wheelfix.elf import pyread
from wheelfix.elf.lief_io import apply_edit, parse_info
from wheelfix.elf.verify import Violation, describe, verify_elf
from wheelfix.elf.worker import ElfWorker, _capped, size_limit
from wheelfix.errors import (
    ElfWriteError,
    InvalidElfError,
    NotAZipError,
    VerificationError,
    WheelfixError,
)
from wheelfix.options import QUIET, AuditOptions, RepairOptions
from wheelfix.pipeline import repair
from wheelfix.rewrite import Rewriter
from wheelfix.scan import scan_wheel
from wheelfix.wheel import WheelReader

EXT_NAME = f"demo/_demo{python_ext_suffix()}"

# When a property fails, hypothesis' pytest plugin imports its patch writer, which imports
# libcst, which trips a DeprecationWarning in mypy_extensions; with ``filterwarnings = error``
# that turns the failure report into a pytest INTERNALERROR. Import it once, quietly, here.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

# --------------------------------------------------------------------------- budget

#: Default examples per property; the total is the default run's budget.
_SHARES = {"reader": 80, "reader_structured": 80, "scanner": 200, "writer": 100, "cli": 10}
_DEFAULT_TOTAL = sum(_SHARES.values())


def _budget(name: str) -> int:
    """This property's share of ``$WHEELFIX_FUZZ_EXAMPLES`` (default: the table above)."""
    raw = os.environ.get("WHEELFIX_FUZZ_EXAMPLES", "")
    total = int(raw) if raw.strip() else _DEFAULT_TOTAL
    return max(1, total * _SHARES[name] // _DEFAULT_TOTAL)


def fuzz_settings(name: str, *extra_checks: HealthCheck) -> settings:
    return settings(
        max_examples=_budget(name),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, *extra_checks],
    )


# --------------------------------------------------------------------------- warnings


def _assert_no_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    for warning in caught:
        pytest.fail(f"unexpected warning: {warning.category.__name__}: {warning.message}")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def example(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario("example", fixture_cache, tmp_path_factory.mktemp("fuzz-example"))


@dataclass(frozen=True)
class Base:
    """Bytes to mutate and the offset ranges (inclusive) worth hitting more often."""

    label: str
    data: bytes = field(repr=False)
    hot: tuple[tuple[int, int], ...] = field(repr=False)


def _clip(ranges: Sequence[tuple[int, int]], size: int) -> tuple[tuple[int, int], ...]:
    out = []
    for lo, hi in ranges:
        top = min(hi, size - 1)
        if 0 <= lo <= top:
            out.append((lo, top))
    return tuple(out) or ((0, size - 1),)


def elf_hot_ranges(data: bytes) -> tuple[tuple[int, int], ...]:
    """ELF + program headers, PT_DYNAMIC/PT_NOTE, non-code allocated sections, section table.

    Plain struct parsing of a well-formed little-endian ELF64 (the pristine input)."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 32)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 54)
    ranges = [(0, e_phoff + e_phnum * e_phentsize - 1)]
    for index in range(e_phnum):
        p_type, _f, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, e_phoff + index * e_phentsize
        )
        if p_type in (2, 4) and p_filesz:  # PT_DYNAMIC, PT_NOTE
            ranges.append((p_offset, p_offset + p_filesz - 1))
    for index in range(e_shnum):
        _name, sh_type, sh_flags, _addr, sh_offset, sh_size = struct.unpack_from(
            "<IIQQQQ", data, e_shoff + index * e_shentsize
        )
        if sh_flags & 2 and sh_type not in (0, 1, 8) and sh_size:  # SHF_ALLOC, not code/bss
            ranges.append((sh_offset, sh_offset + sh_size - 1))
    ranges.append((e_shoff, e_shoff + e_shnum * e_shentsize - 1))
    return _clip(ranges, len(data))


def zip_hot_ranges(path: Path) -> tuple[tuple[int, int], ...]:
    """Every local file header (with its name) and the central directory + end record."""
    data = path.read_bytes()
    ranges = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            start = info.header_offset
            (name_len, extra_len) = struct.unpack_from("<HH", data, start + 26)
            ranges.append((start, start + 30 + name_len + extra_len - 1))
    eocd = data.rindex(b"PK\x05\x06")
    (cd_offset,) = struct.unpack_from("<I", data, eocd + 16)
    ranges.append((cd_offset, len(data) - 1))
    return _clip(ranges, len(data))


@pytest.fixture(scope="module")
def wheel_base(example: Scenario) -> Base:
    return Base("wheel", example.wheel.read_bytes(), zip_hot_ranges(example.wheel))


@pytest.fixture(scope="module")
def elf_bases(example: Scenario) -> dict[str, Base]:
    bases = {}
    for label in (EXT_NAME, "libs/libdemo.so.1"):
        data = example.files[label].read_bytes()
        bases[label] = Base(label, data, elf_hot_ranges(data))
    return bases


# --------------------------------------------------------------------------- mutations

_INTERESTING = (
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1000,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0x7FFFFFFFFFFFFFFF,
    0xFFFFFFFFFFFFFFFF,
)

Op = tuple[Any, ...]


def mutation_ops(base: Base, *, shifting: bool) -> st.SearchStrategy[list[Op]]:
    """1-4 mutations of ``base``; ``shifting`` adds insertions and deletions (zip)."""
    size = len(base.data)
    anywhere = st.integers(0, size - 1)
    hot = st.sampled_from(base.hot).flatmap(lambda r: st.integers(r[0], r[1]))
    offset = st.one_of(hot, hot, anywhere)
    ops = [
        st.tuples(st.just("flip"), offset, st.integers(1, 255)),
        st.tuples(
            st.just("word"), offset, st.sampled_from((1, 2, 4, 8)), st.sampled_from(_INTERESTING)
        ),
        st.tuples(st.just("truncate"), anywhere),
        st.tuples(st.just("splice"), offset, anywhere, st.integers(1, 512)),
    ]
    if shifting:
        ops += [
            st.tuples(st.just("insert"), offset, st.binary(min_size=1, max_size=64)),
            st.tuples(st.just("delete"), offset, st.integers(1, 64)),
        ]
    return st.lists(st.one_of(*ops), min_size=1, max_size=4)


def mutate(data: bytes, ops: Sequence[Op]) -> bytes:
    out = bytearray(data)
    for op in ops:
        if not out:
            break
        kind, *args = op
        if kind == "flip":
            at, mask = args
            out[at % len(out)] ^= mask
        elif kind == "word":
            at, width, value = args
            at = at % len(out)
            raw = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
            out[at : at + width] = raw[: len(out) - at]
        elif kind == "truncate":
            del out[args[0] % len(out) :]
        elif kind == "splice":
            dst, src, length = args
            chunk = data[src : src + length]
            dst = dst % len(out)
            out[dst : dst + len(chunk)] = chunk[: len(out) - dst]
        elif kind == "insert":
            at, blob = args
            at = at % (len(out) + 1)
            out[at:at] = blob
        elif kind == "delete":
            at, length = args
            at = at % len(out)
            del out[at : at + length]
    return bytes(out)


def test_mutate_helpers_are_sane(wheel_base: Base, elf_bases: dict[str, Base]) -> None:
    data = bytes(range(16))
    assert mutate(data, [("flip", 3, 0xFF)])[3] == 3 ^ 0xFF
    assert mutate(data, [("word", 14, 4, 0xFFFFFFFF)]) == data[:14] + b"\xff\xff"
    assert mutate(data, [("truncate", 5)]) == data[:5]
    assert mutate(data, [("splice", 0, 8, 2)])[:2] == bytes([8, 9])
    assert mutate(data, [("insert", 2, b"ab")]) == data[:2] + b"ab" + data[2:]
    assert mutate(data, [("delete", 2, 3)]) == data[:2] + data[5:]
    assert mutate(data, [("truncate", 0), ("flip", 1, 1)]) == b""
    for base in (wheel_base, *elf_bases.values()):
        assert all(0 <= lo <= hi < len(base.data) for lo, hi in base.hot)
        assert len(base.hot) >= 3


# --------------------------------------------------------------------------- reader


def check_reader(path: Path) -> None:
    """Open, scan and read every member of ``path``: fine, or one-line WheelfixError."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with WheelReader(path) as reader:
                scan_wheel(reader, pyread.parse_info)  # the audit's parser
                for member in reader.members:
                    reader.read(member.path)
            event("reader: ok")
        except WheelfixError as exc:
            event(f"reader: {type(exc).__name__}")
            assert exc.exit_code not in (0, 1)
            assert exc.subject and exc.reason and "\n" not in str(exc)
    _assert_no_warnings(caught)


@fuzz_settings("reader")
@given(data=st.data())
def test_fuzz_wheel_reader_bytes(
    wheel_base: Base,
    example: Scenario,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    """Mutated wheel bytes: open, scan and read everything, or a WheelfixError."""
    ops = data.draw(mutation_ops(wheel_base, shifting=True), label="ops")
    path = _scratch(tmp_path_factory, "reader") / example.wheel.name
    path.write_bytes(mutate(wheel_base.data, ops))
    check_reader(path)


_NAME_PIECES = ("a", "/", "//", ".", "..", "\\", ":", " ", "\x00", "\u00e9", ".dist-info", ".data")
_MODES = (0o100644, 0o100755, 0o120777, 0o040755, 0o000000, 0o100000)


@st.composite
def wheel_members(
    draw: st.DrawFn, pristine: Sequence[tuple[str, bytes]]
) -> list[tuple[str, bytes, int]]:
    """The example wheel's members with 0-3 drawn damages: a member renamed, re-moded,
    duplicated, dropped or added, or a non-ELF member's text (WHEEL, RECORD...) mutated."""
    members = [
        (name, content, 0o100755 if content[:4] == b"\x7fELF" else 0o100644)
        for name, content in pristine
    ]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(("rename", "mode", "duplicate", "drop", "add", "text", "text")))
        if not members:
            break
        index = draw(st.integers(0, len(members) - 1))
        name, content, mode = members[index]
        if kind == "rename":
            piece = "".join(draw(st.lists(st.sampled_from(_NAME_PIECES), min_size=1, max_size=3)))
            at = draw(st.integers(0, len(name)))
            members[index] = (name[:at] + piece + name[at:], content, mode)
        elif kind == "mode":
            members[index] = (name, content, draw(st.sampled_from(_MODES)))
        elif kind == "duplicate":
            members.append(members[index])
        elif kind == "drop":
            del members[index]
        elif kind == "add":
            extra = draw(
                st.sampled_from(
                    ("x.py", "demo/y.so", "z.dist-info/RECORD", "demo-0.1.data/scripts/s")
                )
            )
            members.append(
                (
                    extra,
                    draw(st.sampled_from((b"", b"\x7fELF" + bytes(60), b"print()\n"))),
                    0o100644,
                )
            )
        else:
            text = next(
                (m for m in members[index:] + members[:index] if m[1][:4] != b"\x7fELF"), None
            )
            if text is not None:
                where = members.index(text)
                base = Base(text[0], text[1], ((0, max(len(text[1]) - 1, 0)),))
                mutated = (
                    mutate(text[1], draw(mutation_ops(base, shifting=True))) if text[1] else b"x"
                )
                members[where] = (text[0], mutated, text[2])
    return members


@pytest.fixture(scope="module")
def pristine_members(example: Scenario) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(example.wheel) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


@fuzz_settings("reader_structured")
@given(data=st.data())
def test_fuzz_wheel_reader_structure(
    pristine_members: list[tuple[str, bytes]],
    example: Scenario,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    """A well-formed zip with damaged wheel structure: names, modes, duplicates, WHEEL/RECORD."""
    members = data.draw(wheel_members(pristine_members), label="members")
    path = _scratch(tmp_path_factory, "reader-structure") / example.wheel.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we want
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content, mode in members:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = mode << 16
                archive.writestr(info, content)
    check_reader(path)


_SCRATCH: dict[str, Path] = {}


def _scratch(factory: pytest.TempPathFactory, name: str) -> Path:
    if name not in _SCRATCH:
        _SCRATCH[name] = factory.mktemp(f"fuzz-{name}")
    return _SCRATCH[name]


# --------------------------------------------------------------------------- scanner


@fuzz_settings("scanner")
@given(data=st.data())
def test_fuzz_elf_scanner(elf_bases: dict[str, Base], data: st.DataObject) -> None:
    """Mutated ELF bytes: parse_info returns or raises InvalidElfError; verify_elf never raises."""
    base = elf_bases[data.draw(st.sampled_from(sorted(elf_bases)), label="base")]
    mutated = mutate(base.data, data.draw(mutation_ops(base, shifting=False), label="ops"))
    # pyread is the audit's parser; LIEF's reads back what the worker rewrote
    for label, parse in (("pyread", pyread.parse_info), ("lief_io", parse_info)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                info = parse(mutated, "fuzz.so")
            except InvalidElfError as exc:
                event(f"{label}.parse_info: InvalidElfError")
                assert exc.subject == "fuzz.so"
                assert exc.exit_code == 7
            else:
                event(f"{label}.parse_info: parsed")
                assert isinstance(info, elf.ElfInfo)
        _assert_no_warnings(caught)
    for page_size in (None, 0x1000, 0x10000):
        violations = verify_elf(mutated, page_size)
        assert isinstance(violations, tuple)
        assert all(isinstance(v, Violation) for v in violations)
        describe(violations)
    event(f"verify_elf: {'clean' if not verify_elf(mutated) else 'violations'}")


# --------------------------------------------------------------------------- writer

#: Edits the repair of the ``example`` scenario really makes, per base file.
EDITS: dict[str, tuple[elf.ElfEdit, ...]] = {
    EXT_NAME: (
        elf.ElfEdit(
            replace_needed=((elf.Soname("libdemo.so.1"), elf.Soname("libdemo-873068a1.so.1")),),
            rpath="$ORIGIN/../demo.libs",
        ),
        elf.ElfEdit(rpath=""),
    ),
    "libs/libdemo.so.1": (
        elf.ElfEdit(
            replace_needed=(
                (elf.Soname("libdemodep.so.1"), elf.Soname("libdemodep-1d4e9c09.so.1")),
            ),
            soname=elf.Soname("libdemo-873068a1.so.1"),
            rpath="$ORIGIN",
        ),
        elf.ElfEdit(
            remove_needed=(elf.Soname("libdemodep.so.1"),),
            soname=elf.Soname("libdemo-873068a1.so.1"),
            strip=True,
        ),
    ),
}


@pytest.fixture(scope="module")
def fuzz_worker() -> Iterator[ElfWorker]:
    # Forked lazily on the first call, i.e. inside the writer property (and its warning
    # filters); after a crash the next call forks a fresh child.
    with ElfWorker() as worker:
        yield worker


@fuzz_settings("writer")
@given(data=st.data())
def test_fuzz_writer_containment(
    elf_bases: dict[str, Base], fuzz_worker: ElfWorker, data: st.DataObject
) -> None:
    """Mutated-but-parseable ELF through the worker: good bytes or a WheelfixError, and we live."""
    label = data.draw(st.sampled_from(sorted(elf_bases)), label="base")
    base = elf_bases[label]
    edit = data.draw(st.sampled_from(EDITS[label]), label="edit")
    mutated = mutate(base.data, data.draw(mutation_ops(base, shifting=False), label="ops"))
    try:
        before = parse_info(mutated, "fuzz.so")
    except InvalidElfError:
        event("writer: input not parseable (skipped)")
        return
    # LIEF does crash here (SIGSEGV, SIGFPE, SIGABRT): keep the worker's inherited
    # faulthandler from dumping the test's stack into pytest's output for each crash.
    fuzz_worker._call(ElfWriteError, "faulthandler", faulthandler.disable)
    rewrite = Rewriter(fuzz_worker.apply_edit, QUIET)
    try:
        out = rewrite(mutated, edit, "fuzz.so")
    except VerificationError as exc:
        event("writer: VerificationError")
        assert exc.exit_code == 13
    except ElfWriteError as exc:
        event(
            "writer: ElfWriteError (LIEF crashed)"
            if "crashed" in exc.reason
            else "writer: ElfWriteError"
        )
        assert exc.exit_code == 12
        assert exc.subject == "fuzz.so"
    except InvalidElfError as exc:
        event("writer: InvalidElfError")
        assert exc.subject == "fuzz.so"
    else:
        event("writer: rewritten")
        page_size = elf.page_size_for(before.header.machine)
        assert verify_elf(out, page_size) == ()
        after = parse_info(out, "rewritten.so")
        assert elf.expected_summary(after, elf.ElfEdit()) == elf.expected_summary(before, edit)
        assert len(out) <= size_limit(len(mutated))


def _segfault() -> None:
    faulthandler.disable()  # in the worker only: keep pytest's output free of its dump
    os.kill(os.getpid(), signal.SIGSEGV)


def _abort() -> None:
    faulthandler.disable()
    os.abort()


def test_worker_crash_is_contained_and_worker_recovers(elf_bases: dict[str, Base]) -> None:
    ext = elf_bases[EXT_NAME].data
    edit = EDITS[EXT_NAME][0]
    expected = apply_edit(ext, edit, "ext.so")
    parent = os.getpid()
    with ElfWorker() as worker:
        assert worker.apply_edit(ext, edit, "ext.so") == expected
        with pytest.raises(ElfWriteError) as crashed:
            worker._call(ElfWriteError, "victim.so", _segfault)
        assert type(crashed.value) is ElfWriteError
        assert crashed.value.subject == "victim.so"
        assert crashed.value.reason == "LIEF crashed on this file (the worker process died)"
        assert crashed.value.exit_code == 12
        # The same ElfWorker starts a fresh child and works again.
        assert worker.apply_edit(ext, edit, "ext.so") == expected
        with pytest.raises(InvalidElfError, match=r"^parse\.so: LIEF crashed"):
            worker._call(InvalidElfError, "parse.so", _abort)
        assert worker.parse_info(ext, "ext.so") == parse_info(ext, "ext.so")
    assert os.getpid() == parent


def test_worker_turns_memory_exhaustion_into_error() -> None:
    # Each worker call runs under an address-space cap: an allocation beyond the budget
    # becomes an error for that file instead of eating the machine's memory.
    budget = 64 << 20
    with ElfWorker() as worker:
        with pytest.raises(ElfWriteError) as exhausted:
            worker._call(
                ElfWriteError,
                "huge.so",
                _capped,
                ElfWriteError,
                "huge.so",
                budget,
                _alloc,
                4 * budget,
            )
        assert (
            str(exhausted.value) == "huge.so: LIEF needed more than 64 MiB of memory for this file"
        )
        # The cap is per call: afterwards the worker allocates freely again.
        assert worker._call(ElfWriteError, "big.so", _alloc, 4 * budget) == 4 * budget


def _alloc(size: int) -> int:
    return len(bytearray(size))


def test_worker_refuses_runaway_output(
    elf_bases: dict[str, Base], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wheelfix.elf.worker._GROWTH_SLACK", 0)
    monkeypatch.setattr("wheelfix.elf.worker.apply_edit", _grow)
    ext = elf_bases[EXT_NAME].data
    with ElfWorker() as worker, pytest.raises(ElfWriteError, match=r"refusing it"):
        worker.apply_edit(ext, EDITS[EXT_NAME][0], "ext.so")


def _grow(data: bytes, edit: elf.ElfEdit, name: str) -> bytes:
    del edit, name
    return data * 3


def test_repair_survives_lief_crash(
    example: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pipeline.repair with a LIEF that segfaults: ElfWriteError, nothing in -w."""
    monkeypatch.setattr("wheelfix.elf.worker.apply_edit", _segfault_edit)
    out_dir = tmp_path / "out"
    options = AuditOptions(environ={"LD_LIBRARY_PATH": str(example.lib_dirs[0])})
    with pytest.raises(ElfWriteError) as crashed:
        repair(example.wheel, options, RepairOptions(wheel_dir=out_dir))
    # members are produced in output order: demo.libs/ (the grafted libdemo) comes first
    assert crashed.value.subject == str(example.lib_dirs[0] / "libdemo.so.1")
    assert crashed.value.reason == "LIEF crashed on this file (the worker process died)"
    assert list(out_dir.iterdir()) == []


def _segfault_edit(data: bytes, edit: elf.ElfEdit, name: str) -> bytes:
    del data, edit, name
    _segfault()
    raise AssertionError("unreachable")


_CRASHING_CLI = """
import os, signal, sys
import wheelfix.elf.worker

def crash(data, edit, name):
    os.kill(os.getpid(), signal.SIGSEGV)

wheelfix.elf.worker.apply_edit = crash
from wheelfix.cli import main
main(sys.argv[1:], prog_name="wheelfix")
"""


def test_cli_reports_lief_crash_as_one_line(example: Scenario, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    proc = _python(
        ["-c", _CRASHING_CLI, "repair", str(example.wheel), "-w", str(out_dir)],
        ld_library_path=example.lib_dirs,
    )
    assert proc.returncode == 12, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"wheelfix: error: {example.lib_dirs[0] / 'libdemo.so.1'}:"
        " LIEF crashed on this file (the worker process died)"
    ]
    assert list(out_dir.iterdir()) == []


# --------------------------------------------------------------------------- CLI


def _python(
    args: Sequence[str], *, ld_library_path: Sequence[Path] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITWHEEL_")}
    full_env.pop("LD_LIBRARY_PATH", None)
    full_env.pop("SOURCE_DATE_EPOCH", None)
    src = str(REPO_ROOT / "src")
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (src, full_env.get("PYTHONPATH")) if p)
    if ld_library_path:
        full_env["LD_LIBRARY_PATH"] = os.pathsep.join(str(p) for p in ld_library_path)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


WHEELFIX_EXIT_CODES = frozenset(
    cls.exit_code
    for cls in vars(wf_errors).values()
    if isinstance(cls, type) and issubclass(cls, WheelfixError) and cls is not WheelfixError
)


def _wheel_with_ext(example: Scenario, out_dir: Path, ext: bytes) -> Path:
    return make_wheel(
        out_dir,
        "demo",
        "0.1",
        {"demo/__init__.py": example.files["demo/__init__.py"], EXT_NAME: ext},
        tag=example.wheel.name[len("demo-0.1-") : -len(".whl")],
    )


def assert_clean_cli_outcome(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """0 or a WheelfixError exit code, never a traceback; on error exactly one error line."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in WHEELFIX_EXIT_CODES | {0}, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    if proc.returncode == 0:
        assert proc.stdout
        assert lines == []
    else:
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("wheelfix: error: "), proc.stderr
    return lines


@fuzz_settings("cli", HealthCheck.function_scoped_fixture)
@given(data=st.data())
def test_fuzz_cli_show_mutated_extension(
    example: Scenario, elf_bases: dict[str, Base], tmp_path: Path, data: st.DataObject
) -> None:
    base = elf_bases[EXT_NAME]
    mutated = mutate(base.data, data.draw(mutation_ops(base, shifting=False), label="ops"))
    wheel = _wheel_with_ext(example, tmp_path / "cli", mutated)
    proc = _python(["-m", "wheelfix", "show", str(wheel)], ld_library_path=example.lib_dirs)
    assert_clean_cli_outcome(proc)
    event(f"show exit {proc.returncode}")


def test_cli_show_truncated_extension(
    example: Scenario, elf_bases: dict[str, Base], tmp_path: Path
) -> None:
    ext = elf_bases[EXT_NAME].data
    wheel = _wheel_with_ext(example, tmp_path, ext[: len(ext) // 2])
    proc = _python(["-m", "wheelfix", "show", str(wheel)], ld_library_path=example.lib_dirs)
    assert proc.returncode == 7
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"wheelfix: error: {wheel}!{EXT_NAME}: PT_DYNAMIC lies outside the file"
    ]


# --------------------------------------------------------------------------- regressions
# Deterministic reproducers of what the fuzzers found in modules this file does not own.


def with_unknown_dynamic_tag(data: bytes) -> bytes:
    """The last non-NULL dynamic entry's tag replaced by an (OS-range) tag LIEF does not know."""
    out = bytearray(data)
    e_phoff = struct.unpack_from("<Q", out, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", out, 54)
    for index in range(e_phnum):
        p_type, _f, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", out, e_phoff + index * e_phentsize
        )
        if p_type == 2:
            tags = [
                struct.unpack_from("<q", out, p_offset + 16 * k)[0] for k in range(p_filesz // 16)
            ]
            last = max(k for k, tag in enumerate(tags) if tag != 0)
            struct.pack_into("<q", out, p_offset + 16 * last, 0x6FFF1234)
            return bytes(out)
    raise AssertionError("no PT_DYNAMIC")


def test_unknown_dynamic_tag_parses_without_warnings(elf_bases: dict[str, Base]) -> None:
    data = with_unknown_dynamic_tag(elf_bases[EXT_NAME].data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = parse_info(data, "ext.so")
    assert info.needed == parse_info(elf_bases[EXT_NAME].data, "ext.so").needed


@pytest.mark.parametrize("warnings_env", ["default", "error"])
def test_cli_show_unknown_dynamic_tag_is_quiet(
    example: Scenario, elf_bases: dict[str, Base], tmp_path: Path, warnings_env: str
) -> None:
    wheel = _wheel_with_ext(example, tmp_path, with_unknown_dynamic_tag(elf_bases[EXT_NAME].data))
    proc = _python(
        ["-m", "wheelfix", "show", str(wheel)],
        ld_library_path=example.lib_dirs,
        env={"PYTHONWARNINGS": warnings_env},
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def _patch_central_directory(
    wheel: Path, out: Path, member: str, edit: Callable[[bytearray, int], None]
) -> Path:
    """Copy ``wheel`` to ``out`` with ``edit(data, offset)`` applied to ``member``'s central
    directory entry (offset of its ``PK\\x01\\x02`` signature)."""
    data = bytearray(wheel.read_bytes())
    eocd = data.rindex(b"PK\x05\x06")
    (count,) = struct.unpack_from("<H", data, eocd + 10)
    (offset,) = struct.unpack_from("<I", data, eocd + 16)
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        name = bytes(data[offset + 46 : offset + 46 + name_len]).decode("utf-8")
        if name == member:
            edit(data, offset)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(bytes(data))
            return out
        offset += 46 + name_len + extra_len + comment_len
    raise AssertionError(f"{member} not in the central directory")


def _set_u16(
    field: int, value: int, *, bitwise_or: bool = False
) -> Callable[[bytearray, int], None]:
    def edit(data: bytearray, offset: int) -> None:
        old = struct.unpack_from("<H", data, offset + field)[0]
        struct.pack_into("<H", data, offset + field, (old | value) if bitwise_or else value)

    return edit


def _bad_utf8_name(data: bytearray, offset: int) -> None:
    _set_u16(8, 0x800, bitwise_or=True)(data, offset)  # "names are UTF-8"
    data[offset + 46] = 0xFF  # ...but this one is not


_ZIP_FEATURES = {
    # CD field offsets: 6 version needed, 8 flags, 10 compression method.
    "zip-version": _set_u16(6, 0xFF),
    "compression-method": _set_u16(10, 1),  # "shrunk"
    "patched-data": _set_u16(8, 0x20, bitwise_or=True),
    "strong-encryption": _set_u16(8, 0x40, bitwise_or=True),
    "encrypted": _set_u16(8, 0x01, bitwise_or=True),
    "non-utf8-name": _bad_utf8_name,
}


@pytest.mark.parametrize("feature", sorted(_ZIP_FEATURES))
def test_unsupported_zip_features_are_not_a_zip(
    example: Scenario, tmp_path: Path, feature: str
) -> None:
    dist_info = "demo-0.1.dist-info"
    wheel = _patch_central_directory(
        example.wheel, tmp_path / example.wheel.name, f"{dist_info}/WHEEL", _ZIP_FEATURES[feature]
    )
    with pytest.raises(NotAZipError), WheelReader(wheel) as reader:
        for member in reader.members:
            reader.read(member.path)


def _drop_first_byte(wheel: Path, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(wheel.read_bytes()[1:])
    return out


def test_archive_shifted_by_one_byte_is_not_a_zip(example: Scenario, tmp_path: Path) -> None:
    # Every offset in the central directory is now one too large; zipfile compensates and
    # computes -1 for the first member, whose seek fails with EINVAL.
    wheel = _drop_first_byte(example.wheel, tmp_path / example.wheel.name)
    with pytest.raises(NotAZipError), WheelReader(wheel) as reader:
        scan_wheel(reader, pyread.parse_info)
