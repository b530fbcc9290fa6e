"""``elf.fastedit``: the repair's ELF edits made by byte patching, checked on real binaries.

A library ``libfast.so.1`` (soname, a versioned dependency ``libdep.so.1`` with ``DEP_1.0``,
built with no run path, a DT_RUNPATH or a DT_RPATH) and an executable that needs it are
compiled for x86_64 and, where the cross gcc is installed, aarch64, s390x and riscv64. Each
is edited as a repair edits it (dependencies renamed to content-hashed names with their
``.gnu.version_r`` file names, a longer or shorter DT_SONAME, DT_RPATH ``$ORIGIN`` in place of
what was there, ``--strip``), then checked with readelf (test-only oracle), with the verifier,
and by loading it: ``dlopen`` through ctypes or running the executable (whose tables LIEF
moves, see ``fastedit``), natively or under qemu-user, from a directory that holds only the
renamed copies (the original names exist nowhere on the loader's path).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from runtools import SCRUBBED_ENV
from wheelbuild import compile_cached
from wheelfix.elf import ElfEdit, Soname, page_size_for, read_header
from wheelfix.elf.fastedit import edit_in_place, fast_edit
from wheelfix.elf.lief_io import apply_edit, parse_info
from wheelfix.elf.model import expected_summary, summary_of
from wheelfix.elf.strip import strip_file
from wheelfix.elf.verify import verify_elf
from wheelfix.errors import ElfWriteError

DEP = "int dep_value(void) { return 42; }\n"
DEP_MAP = "DEP_1.0 { global: dep_value; local: *; };\n"
LIB = "int dep_value(void);\nint lib_value(void) { return dep_value() + 1; }\n"
PROG = (
    "#include <stdio.h>\nint lib_value(void);\n"
    'int main(void) { printf("value %d\\n", lib_value()); return 0; }\n'
)
FILTER = "int unused_filter_symbol(void) { return 0; }\n"


@dataclass(frozen=True)
class Arch:
    name: str
    compiler: str
    qemu: str | None
    """qemu-user binary for a foreign arch (None: runs natively)."""
    sysroot: Path | None


ARCHES = (
    Arch("x86_64", "gcc", None, None),
    Arch("aarch64", "aarch64-linux-gnu-gcc", "qemu-aarch64", Path("/usr/aarch64-linux-gnu")),
    Arch("s390x", "s390x-linux-gnu-gcc", "qemu-s390x", Path("/usr/s390x-linux-gnu")),
    Arch("riscv64", "riscv64-linux-gnu-gcc", "qemu-riscv64", Path("/usr/riscv64-linux-gnu")),
)
RUN_PATHS = {
    "none": [],
    "runpath": ["-Wl,--enable-new-dtags"],
    "rpath": ["-Wl,--disable-new-dtags"],
}
NEW_DEP = "libdep-0123abcd.so.1"


def _need(arch: Arch) -> None:
    if shutil.which(arch.compiler) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{arch.compiler} is not installed (.ci/run installs it)")
        pytest.skip(f"{arch.compiler} is not installed")


@dataclass(frozen=True)
class Built:
    dep: Path
    lib: Path
    prog: Path


ORIGINAL_DIR = "/nonexistent/fastedit-original"
"""The run path the inputs are built with: nothing is there, so only the edits can work."""


def _build(cache: Path, tmp: Path, arch: Arch, run_path: str) -> Built:
    _need(arch)
    src = tmp / "src"
    src.mkdir(exist_ok=True)
    for name, text in (("dep.c", DEP), ("dep.map", DEP_MAP), ("lib.c", LIB), ("prog.c", PROG)):
        (src / name).write_text(text)
    cc = arch.compiler
    dep = compile_cached(
        cache,
        [src / "dep.c"],
        "libdep.so.1",
        ["-shared", "-fPIC", "-Wl,-soname,libdep.so.1", "-Wl,--version-script=dep.map"],
        compiler=cc,
        extra_inputs=[src / "dep.map"],
    )
    flags = [*RUN_PATHS[run_path], *([f"-Wl,-rpath,{ORIGINAL_DIR}"] if run_path != "none" else [])]
    lib = compile_cached(
        cache,
        [src / "lib.c"],
        "libfast.so.1",
        ["-shared", "-fPIC", "-Wl,-soname,libfast.so.1", "-L.", "-l:libdep.so.1", *flags],
        compiler=cc,
        extra_inputs=[dep],
    )
    prog = compile_cached(
        cache,
        [src / "prog.c"],
        "prog",
        ["-L.", "-l:libfast.so.1", "-Wl,-rpath-link,.", *flags],
        compiler=cc,
        extra_inputs=[lib, dep],
    )
    return Built(dep, lib, prog)


def _readelf(*args: str | Path) -> str:
    return subprocess.run(
        ["readelf", "-W", *map(str, args)], capture_output=True, text=True, check=True
    ).stdout


def dynamic(path: Path) -> dict[str, list[str]]:
    """readelf -d: tag name -> the bracketed values (NEEDED, SONAME, RPATH, RUNPATH...)."""
    out: dict[str, list[str]] = {}
    for match in re.finditer(r"\((\w+)\)\s+[^\[\n]*\[([^\]]*)\]", _readelf("-d", path)):
        out.setdefault(match.group(1), []).append(match.group(2))
    return out


def verneed_files(path: Path) -> list[str]:
    return re.findall(r"File: (\S+)", _readelf("-V", path).split(".gnu.version_r", 1)[-1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    return {k: v for k, v in env.items() if not k.startswith("QEMU_")}


def run(arch: Arch, program: Path) -> subprocess.CompletedProcess[str]:
    """Run ``program`` natively or under qemu-user (skipped when qemu or the libc is missing)."""
    argv = [str(program)]
    if arch.qemu is not None:
        assert arch.sysroot is not None
        if shutil.which(arch.qemu) is None or not arch.sysroot.is_dir():
            pytest.skip(f"{arch.qemu} or {arch.sysroot} is missing")
        argv = [arch.qemu, "-L", str(arch.sysroot), *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60, check=False)


def _edited(data: bytes, edit: ElfEdit, name: str) -> bytes:
    """The byte editor's result, which must also be apply_edit's (checked by its read-back)."""
    source = strip_file(data) if edit.strip else data  # apply_edit strips first
    out = fast_edit(source, replace(edit, strip=False), name)
    assert out is not None, "the byte editor refused an edit a repair makes"
    assert apply_edit(data, edit, name) == out
    assert fast_edit(source, replace(edit, strip=False), name) == out  # deterministic
    machine = read_header(out, name).machine
    assert verify_elf(out, page_size_for(machine)) == ()
    return out


def _graft(built: Built, dest: Path, new_lib: str, *, strip: bool = False) -> None:
    """Graft libdep and libfast into ``dest`` under new names, as a repair does."""
    dest.mkdir()
    dep_edit = ElfEdit(soname=Soname(NEW_DEP), rpath="$ORIGIN", strip=strip)
    (dest / NEW_DEP).write_bytes(_edited(built.dep.read_bytes(), dep_edit, "dep"))
    lib_edit = ElfEdit(
        replace_needed=((Soname("libdep.so.1"), Soname(NEW_DEP)),),
        soname=Soname(new_lib),
        rpath="$ORIGIN",
        strip=strip,
    )
    (dest / new_lib).write_bytes(_edited(built.lib.read_bytes(), lib_edit, "lib"))


@pytest.mark.parametrize("run_path", sorted(RUN_PATHS))
@pytest.mark.parametrize("arch", ARCHES, ids=[a.name for a in ARCHES])
def test_grafted_library_and_program_run(
    arch: Arch, run_path: str, fixture_cache: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if arch.name == "riscv64" and run_path == "none":
        # Found here; tracked, not hidden: the executable's rewrite is LIEF's (see fastedit)
        reason = (
            "LIEF 1.0's rewrite of a riscv64 PIE executable that gains a DT_RPATH dies with"
            " SIGILL under qemu-riscv64"
        )
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    built = _build(fixture_cache, tmp_path, arch, run_path)
    new_lib = "libfast-89abcdef.so.1"
    dest = tmp_path / "grafted"
    _graft(built, dest, new_lib)
    lib = dest / new_lib
    tags = dynamic(lib)
    assert tags["NEEDED"][0] == NEW_DEP
    assert tags["SONAME"] == [new_lib]
    assert tags["RPATH"] == ["$ORIGIN"]
    assert "RUNPATH" not in tags
    assert NEW_DEP in verneed_files(lib)
    assert "libdep.so.1" not in verneed_files(lib)
    prog_edit = ElfEdit(
        replace_needed=((Soname("libfast.so.1"), Soname(new_lib)),), rpath="$ORIGIN"
    )
    prog = dest / "prog"
    data = built.prog.read_bytes()
    # its program headers would move with .dynstr: LIEF rewrites executables
    assert fast_edit(data, prog_edit, "prog") is None
    prog.write_bytes(apply_edit(data, prog_edit, "prog"))
    prog.chmod(0o755)
    assert dynamic(prog)["NEEDED"][0] == new_lib
    proc = run(arch, prog)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "value 43\n"


@pytest.mark.parametrize("run_path", sorted(RUN_PATHS))
def test_dlopen_after_edit(run_path: str, fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], run_path)
    dest = tmp_path / "grafted"
    _graft(built, dest, "libfast-89abcdef.so.1")
    code = "import ctypes, sys\nprint(ctypes.CDLL(sys.argv[1]).lib_value())\n"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(dest / "libfast-89abcdef.so.1")],
        capture_output=True, text=True, env=_env(), check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "43\n"


@pytest.mark.parametrize("soname", ["l.so", "libfast-with-a-much-longer-soname-0123456789.so.1"])
def test_soname_shorter_and_longer(soname: str, fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "none")
    out = _edited(built.lib.read_bytes(), ElfEdit(soname=Soname(soname)), "lib")
    path = tmp_path / "out.so"
    path.write_bytes(out)
    assert dynamic(path)["SONAME"] == [soname]
    assert parse_info(out, "lib").soname == soname


def test_strip_and_edit_loads(fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "runpath")
    dest = tmp_path / "grafted"
    _graft(built, dest, "libfast-89abcdef.so.1", strip=True)
    sections = _readelf("-S", dest / "libfast-89abcdef.so.1")
    assert ".symtab" not in sections
    assert ".dynsym" in sections
    assert dynamic(dest / "libfast-89abcdef.so.1")["RPATH"] == ["$ORIGIN"]
    code = "import ctypes, sys\nprint(ctypes.CDLL(sys.argv[1]).lib_value())\n"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(dest / "libfast-89abcdef.so.1")],
        capture_output=True, text=True, env=_env(), check=False,
    )  # fmt: skip
    assert proc.stdout == "43\n", proc.stderr


def test_rpath_removed_and_unversioned_needed_dropped(fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "rpath")
    data = built.prog.read_bytes()  # an executable: edits that fit in place are made
    edit = ElfEdit(remove_needed=(Soname("libfast.so.1"),), rpath="")
    out = _edited(data, edit, "prog")
    path = tmp_path / "prog"
    path.write_bytes(out)
    tags = dynamic(path)
    assert "libfast.so.1" not in tags["NEEDED"]
    assert "RPATH" not in tags
    assert "RUNPATH" not in tags
    assert summary_of(parse_info(out, "prog")) == expected_summary(parse_info(data, "prog"), edit)


def test_versioned_needed_removal_is_left_to_lief(fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "none")
    data = built.lib.read_bytes()
    edit = ElfEdit(remove_needed=(Soname("libdep.so.1"),))
    assert fast_edit(data, edit, "lib") is None  # .gnu.version_r would dangle
    out = apply_edit(data, edit, "lib")  # LIEF re-lays the tables out
    path = tmp_path / "out.so"
    path.write_bytes(out)
    assert "libdep.so.1" not in dynamic(path).get("NEEDED", [])
    assert "libdep.so.1" not in verneed_files(path)


def test_soname_on_an_executable_is_left_to_lief(fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "none")
    (tmp_path / "prog.c").write_text(PROG)
    exe = compile_cached(
        fixture_cache,
        [tmp_path / "prog.c"],
        "prog-no-pie",
        ["-no-pie", "-L.", "-l:libfast.so.1", "-Wl,-rpath-link,."],
        extra_inputs=[built.lib, built.dep],
    )
    buf = bytearray(exe.read_bytes())
    assert buf[16] == 2  # ET_EXEC: no DT_SONAME for the byte editor to set
    before = bytes(buf)
    assert not edit_in_place(buf, ElfEdit(soname=Soname("x.so")), "prog")
    assert buf == before  # refused before touching anything
    out = apply_edit(before, ElfEdit(soname=Soname("x.so")), "prog")  # LIEF adds one
    assert parse_info(out, "prog").soname == "x.so"


def test_pie_executable_whose_tables_must_move_fails_cleanly(
    fixture_cache: Path, tmp_path: Path
) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "none")
    data = built.prog.read_bytes()
    edit = ElfEdit(rpath="$ORIGIN/" + "x" * 100)
    with pytest.raises(ElfWriteError, match="program headers would move"):
        edit_in_place(bytearray(data), edit, "prog")  # the caller starts again with LIEF
    assert fast_edit(data, edit, "prog") is None
    out = apply_edit(data, edit, "prog")
    assert parse_info(out, "prog").rpath == ("$ORIGIN/" + "x" * 100,)


def test_in_place_edit_grows_the_buffer_itself(fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "none")
    data = built.lib.read_bytes()
    buf = bytearray(data)
    edit = ElfEdit(soname=Soname("libfast-" + "x" * 200 + ".so.1"), rpath="$ORIGIN")
    assert edit_in_place(buf, edit, "lib")
    assert len(buf) > len(data)  # .dynstr moved into a segment appended to this buffer
    assert bytes(buf) == fast_edit(data, edit, "lib")
    assert verify_elf(bytes(buf), 4096) == ()


def test_filter_entry_renamed(fixture_cache: Path, tmp_path: Path) -> None:
    built = _build(fixture_cache, tmp_path, ARCHES[0], "none")
    (tmp_path / "filter.c").write_text(FILTER)
    flt = compile_cached(
        fixture_cache,
        [tmp_path / "filter.c"],
        "libfilter.so.1",
        ["-shared", "-fPIC", "-Wl,--filter=libdep.so.1", "-Wl,--auxiliary=libaux.so.1"],
    )
    data = flt.read_bytes()
    edit = ElfEdit(
        replace_needed=(
            (Soname("libdep.so.1"), Soname(NEW_DEP)),
            (Soname("libaux.so.1"), Soname("libaux-fedcba98.so.1")),
        )
    )
    out = _edited(data, edit, "filter")
    path = tmp_path / "filter.so"
    path.write_bytes(out)
    tags = dynamic(path)
    assert tags["FILTER"] == [NEW_DEP]
    assert tags["AUXILIARY"] == ["libaux-fedcba98.so.1"]
    del built
