"""``elf.pyread``: the pure-Python ELF reader gives exactly ``lief_io.parse_info``'s ElfInfo.

LIEF is the oracle. The inputs are real binaries: the fixture scenarios' wheels and
libraries, a matrix of gcc builds (versioned symbols, filters, RPATH/RUNPATH, hash styles,
PIE, non-PIE, static and static-pie executables, x86-64 ISA notes, 32-bit, musl, and the
cross compilers that are installed), byte-edited variants of them (no section headers, no
section table, no PT_DYNAMIC), a deterministic sample of the host's libraries and the ELF
members of the real PyPI wheels when they are cached. Truncated and byte-flipped files
(fixed seed) give an ElfInfo or an InvalidElfError, never another exception. Last, ``show``'s
audit runs in a fresh interpreter without ever importing LIEF.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtools import clean_env, real_wheels_dir
from wheelbuild import REPO_ROOT, Scenario, build_scenario, compile_cached
from wheelfix.elf import lief_io, pyread
from wheelfix.elf.model import ElfInfo
from wheelfix.errors import InvalidElfError

SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern int maybe_there(void) __attribute__((weak));
__thread int per_thread;
int counter;
int shout(const char *s) { char *c = strdup(s); int n = printf("%s\n", c); free(c); return n; }
int ask(void) { return maybe_there ? maybe_there() : counter + per_thread; }
int PyInit_pyr(void) { return ask(); }
int initpyr(void) { return 2; }
int main(void) { return shout("x") > 0 ? 0 : 1; }
"""

BARE = "int bare_value(void) { return 7; }\nint PyInit_bare(void) { return bare_value(); }\n"

VERSION_SCRIPT = "PYR_1.0 { global: shout; ask; PyInit_pyr; initpyr; local: *; };\n"

LIB = ["-shared", "-fPIC", "-O1"]

#: name -> (compiler, source, extra args); each is compared with LIEF
BUILDS: dict[str, tuple[str, str, list[str]]] = {
    "lib-gnu": ("gcc", "full", [*LIB, "-Wl,--hash-style=gnu", "-Wl,-soname,libpyr.so.1"]),
    "lib-sysv": ("gcc", "full", [*LIB, "-Wl,--hash-style=sysv"]),
    "lib-both": ("gcc", "full", [*LIB, "-Wl,--hash-style=both", "-lm"]),
    "lib-versioned": (
        "gcc",
        "full",
        [*LIB, "-Wl,--version-script=pyr.map", "-Wl,-soname,libpyr.so.2", "-lm"],
    ),
    "lib-rpath": ("gcc", "full", [*LIB, "-Wl,--disable-new-dtags", "-Wl,-rpath,/a::$ORIGIN/b:"]),
    "lib-runpath": ("gcc", "full", [*LIB, "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN:/opt/x"]),
    "lib-filter": (
        "gcc",
        "full",
        [*LIB, "-Wl,--filter=libfiltee.so.1", "-Wl,--auxiliary=libnowhere.so.1"],
    ),
    "lib-now-relr": ("gcc", "full", [*LIB, "-Wl,-z,now", "-Wl,-z,pack-relative-relocs"]),
    "lib-isa-v3": ("gcc", "full", [*LIB, "-Wl,-z,x86-64-v3"]),
    "exe-pie": ("gcc", "full", ["-O1", "-pie", "-fPIE"]),
    "exe-nopie": ("gcc", "full", ["-O1", "-no-pie"]),
    "exe-static": ("gcc", "full", ["-O1", "-static"]),
    "exe-static-pie": ("gcc", "full", ["-O1", "-static-pie"]),
    "lib-m32": ("gcc", "bare", ["-m32", *LIB, "-nostdlib"]),
    "lib-m32-sysv": ("gcc", "bare", ["-m32", *LIB, "-nostdlib", "-Wl,--hash-style=sysv"]),
    "lib-musl": ("musl-gcc", "full", LIB),
    "lib-aarch64": ("aarch64-linux-gnu-gcc", "full", [*LIB, "-Wl,--hash-style=both"]),
    "exe-aarch64": ("aarch64-linux-gnu-gcc", "full", ["-O1"]),
    "lib-s390x": ("s390x-linux-gnu-gcc", "full", [*LIB, "-Wl,--hash-style=sysv"]),
    "lib-riscv64": ("riscv64-linux-gnu-gcc", "full", LIB),
    "lib-ppc64": ("powerpc64-linux-gnu-gcc", "full", LIB),
}


def parse_both(data: bytes, name: str) -> tuple[ElfInfo | str, ElfInfo | str]:
    """(LIEF's answer, pyread's answer): an ElfInfo, or the InvalidElfError's reason."""
    answers: list[ElfInfo | str] = []
    for parse in (lief_io.parse_info, pyread.parse_info):
        try:
            answers.append(parse(data, name))
        except InvalidElfError as exc:
            answers.append(f"InvalidElfError: {exc.reason}")
    return answers[0], answers[1]


def assert_same(data: bytes, name: str) -> ElfInfo | str:
    expected, got = parse_both(data, name)
    assert got == expected, name
    if isinstance(got, ElfInfo):  # the rewrite read-back: the same, minus the symbols
        assert pyread.read_dynamic(data, name) == dataclasses.replace(
            got,
            undefined_symbols=frozenset(),
            init_symbols=frozenset(),
            uses_pyfpe=False,
            uses_ucs2=False,
        ), name
    return got


def _build(fixture_cache: Path, tmp: Path, name: str) -> Path:
    compiler, source, args = BUILDS[name]
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = tmp / ("pyr.c" if source == "full" else "bare.c")
    src.write_text(SOURCE if source == "full" else BARE)
    script = tmp / "pyr.map"
    script.write_text(VERSION_SCRIPT)
    try:
        return compile_cached(
            fixture_cache, [src], f"{name}.elf", args, compiler=compiler, extra_inputs=[script]
        )
    except RuntimeError as exc:  # e.g. no static libc, no -m32 multilib
        pytest.skip(f"{compiler} cannot build {name}: {str(exc).splitlines()[0]}")


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_gcc_builds_match_lief(name: str, fixture_cache: Path, tmp_path: Path) -> None:
    data = _build(fixture_cache, tmp_path, name).read_bytes()
    info = assert_same(data, name)
    assert isinstance(info, ElfInfo)
    if name.startswith("lib-") and name != "lib-m32-sysv" and "m32" not in name:
        assert "ask" not in info.undefined_symbols
        assert "PyInit_pyr" in info.init_symbols
    if name == "lib-versioned":
        assert info.version_definitions[1:] == ("PYR_1.0",)
    if name == "lib-rpath":
        assert info.rpath == ("/a", "", "$ORIGIN/b")
    if name == "lib-filter":
        assert (info.filtees, info.auxiliaries) == (("libfiltee.so.1",), ("libnowhere.so.1",))
    if name == "lib-isa-v3":
        assert info.x86_isa_level == 3
    if name == "exe-static":
        assert not info.has_dynamic


# --------------------------------------------------------------------------- byte edits


def _header_fields(data: bytes) -> tuple[str, bool]:
    return ("<" if data[5] == 1 else ">"), data[4] == 2


def without_section_headers(data: bytes) -> bytes:
    out = bytearray(data)
    end, is64 = _header_fields(data)
    if is64:
        struct.pack_into(end + "Q", out, 40, 0)
        struct.pack_into(end + "HHH", out, 58, 0, 0, 0)
    else:
        struct.pack_into(end + "I", out, 32, 0)
        struct.pack_into(end + "HHH", out, 46, 0, 0, 0)
    return bytes(out)


def without_section_table(data: bytes) -> bytes:
    """The section header table cut off the file (e_shoff still points past the end)."""
    end, is64 = _header_fields(data)
    e_shoff = struct.unpack_from(end + ("Q" if is64 else "I"), data, 40 if is64 else 32)[0]
    return data[:e_shoff] if 0 < e_shoff < len(data) else data


def without_dynamic(data: bytes) -> bytes:
    out = bytearray(data)
    end, is64 = _header_fields(data)
    phoff = struct.unpack_from(end + ("Q" if is64 else "I"), data, 32 if is64 else 28)[0]
    phentsize, phnum = struct.unpack_from(end + "HH", data, 54 if is64 else 42)
    for index in range(phnum):
        at = phoff + index * phentsize
        if struct.unpack_from(end + "I", data, at)[0] == 2:
            struct.pack_into(end + "I", out, at, 0)  # PT_NULL
    return bytes(out)


def _phdrs(data: bytes) -> Iterator[tuple[int, int]]:
    """(file offset, p_type) of each program header."""
    end, is64 = _header_fields(data)
    phoff = struct.unpack_from(end + ("Q" if is64 else "I"), data, 32 if is64 else 28)[0]
    phentsize, phnum = struct.unpack_from(end + "HH", data, 54 if is64 else 42)
    for index in range(phnum):
        at = phoff + index * phentsize
        yield at, struct.unpack_from(end + "I", data, at)[0]


def dynamic_size_zero(data: bytes) -> bytes:
    """PT_DYNAMIC's p_filesz and p_memsz 0: LIEF 1.0 still reads the table to DT_NULL."""
    out = bytearray(data)
    end, is64 = _header_fields(data)
    for at, p_type in _phdrs(data):
        if p_type == 2:
            if is64:
                struct.pack_into(end + "QQ", out, at + 32, 0, 0)
            else:
                struct.pack_into(end + "II", out, at + 16, 0, 0)
    return bytes(out)


def without_syment(data: bytes) -> bytes:
    """DT_SYMENT turned into DT_DEBUG: LIEF 1.0 reads the dynamic symbols all the same."""
    out = bytearray(data)
    end, is64 = _header_fields(data)
    fmt = end + ("qQ" if is64 else "iI")
    for at, p_type in _phdrs(data):
        if p_type == 2:
            offset = struct.unpack_from(
                end + ("Q" if is64 else "I"), data, at + (8 if is64 else 4)
            )[0]
            size = struct.calcsize(fmt)
            for k in range(64):
                tag, value = struct.unpack_from(fmt, data, offset + k * size)
                if tag == 11:
                    struct.pack_into(fmt, out, offset + k * size, 21, value)
                if tag == 0:
                    break
    return bytes(out)


def note_past_the_end(data: bytes) -> bytes:
    """A PT_NOTE whose bytes lie past the end of the file (LIEF keeps the segment)."""
    out = bytearray(data)
    end, is64 = _header_fields(data)
    for at, p_type in _phdrs(data):
        if p_type == 4:
            if is64:
                struct.pack_into(end + "Q", out, at + 8, len(data) + 0x1000)
            else:
                struct.pack_into(end + "I", out, at + 4, len(data) + 0x1000)
            break
    return bytes(out)


EDITS = {
    "no-section-headers": without_section_headers,
    "no-section-table": without_section_table,
    "no-dynamic": without_dynamic,
    "dynamic-size-zero": dynamic_size_zero,
    "no-syment": without_syment,
    "note-past-the-end": note_past_the_end,
}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("name", ["lib-versioned", "lib-sysv", "lib-m32", "exe-pie", "lib-aarch64"])
def test_odd_files_match_lief(edit: str, name: str, fixture_cache: Path, tmp_path: Path) -> None:
    data = EDITS[edit](_build(fixture_cache, tmp_path, name).read_bytes())
    info = assert_same(data, f"{name}-{edit}")
    if edit == "no-dynamic":
        assert isinstance(info, ElfInfo)
        assert not info.has_dynamic and info.needed == ()


# --------------------------------------------------------------------------- fixtures


SCENARIO_NAMES = (
    "example",
    "versioned_chain",
    "precedence",
    "two_ext_shared",
    "data_script",
    "wrong_class",
    "zlib_blacklist",
    "new_glibc",
    "stale_rpath",
    "inwheel_rpath",
    "foreign_arch",
)


def _elf_members(wheel: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            data = archive.read(member)
            if data[:4] == b"\x7fELF":
                yield member.filename, data


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_fixture_scenarios_match_lief(name: str, fixture_cache: Path, tmp_path: Path) -> None:
    built: Scenario = build_scenario(name, fixture_cache, tmp_path)
    compared = 0
    for wheel in (built.wheel, *built.extra_wheels.values()):
        for member, data in _elf_members(wheel):
            assert_same(data, f"{wheel.name}!{member}")
            compared += 1
    for label, path in sorted(built.files.items()):
        data = path.read_bytes()
        if data[:4] == b"\x7fELF":
            assert_same(data, label)
            compared += 1
    assert compared > 0


# --------------------------------------------------------------------------- host, PyPI


def _host_libraries() -> list[Path]:
    libdir = Path("/usr/lib/x86_64-linux-gnu")
    every = sorted(p for p in libdir.glob("*.so*") if p.is_file() and not p.is_symlink())
    picked = set(every[::5])
    for pattern in ("libc.so.6", "libstdc++.so.6*", "libpython3*.so*"):
        picked.update(p.resolve() for p in libdir.glob(pattern) if p.is_file())
    return sorted(picked)


HOST_LIBRARIES = _host_libraries()


@pytest.mark.skipif(not HOST_LIBRARIES, reason="no /usr/lib/x86_64-linux-gnu libraries")
def test_host_libraries_match_lief() -> None:
    compared = 0
    for path in HOST_LIBRARIES:
        data = path.read_bytes()
        if data[:4] == b"\x7fELF":
            assert_same(data, str(path))
            compared += 1
    assert compared >= 10


def test_real_pypi_wheel_members_match_lief() -> None:
    wheels = sorted(real_wheels_dir().glob("*.whl"))
    if not wheels:
        pytest.skip("no real PyPI wheel is cached yet (tests/test_real_wheels.py downloads them)")
    for wheel in wheels:
        for member, data in _elf_members(wheel):
            assert_same(data, f"{wheel.name}!{member}")


# --------------------------------------------------------------------------- bad input


def _parse_or_refuse(data: bytes, name: str) -> None:
    try:
        info = pyread.parse_info(data, name)
    except InvalidElfError as exc:
        assert exc.subject == name
        assert exc.reason and "\n" not in exc.reason
    else:
        assert isinstance(info, ElfInfo)


def test_every_prefix_is_an_elfinfo_or_invalid(fixture_cache: Path, tmp_path: Path) -> None:
    data = _build(fixture_cache, tmp_path, "lib-versioned").read_bytes()
    for cut in range(len(data) + 1):
        _parse_or_refuse(data[:cut], "cut.so")
    # the truncated extension test_fuzz shows on the command line: the same reason as LIEF's
    expected, got = parse_both(data[: len(data) // 2], "half.so")
    assert got == expected == "InvalidElfError: PT_DYNAMIC lies outside the file"


@pytest.mark.parametrize("name", ["lib-versioned", "lib-m32", "exe-static-pie"])
def test_random_byte_flips_never_escape(name: str, fixture_cache: Path, tmp_path: Path) -> None:
    data = _build(fixture_cache, tmp_path, name).read_bytes()
    rng = random.Random(f"pyread-{name}")  # noqa: S311 (a fixed, reproducible sequence)
    for _ in range(3000):
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(0, min(len(out), 4096) if rng.random() < 0.7 else len(out))
            out[at] = rng.randrange(256)
        _parse_or_refuse(bytes(out), "flip.so")


# --------------------------------------------------------------------------- no LIEF


_AUDIT_WITHOUT_LIEF = """
import sys
from pathlib import Path
import wheelfix
audit = wheelfix.audit(Path(sys.argv[1]), wheelfix.AuditOptions())
assert audit.scan.elves, "no ELF file was read"
assert audit.trees, "nothing was resolved"
assert "lief" not in sys.modules, sorted(m for m in sys.modules if "lief" in m)
print(audit.verdict.show_overall.name)
"""


def test_show_audit_never_imports_lief(fixture_cache: Path, tmp_path: Path) -> None:
    built = build_scenario("example", fixture_cache, tmp_path)
    env = clean_env(ld_library_path=built.lib_dirs)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH")) if p
    )
    proc = subprocess.run(
        [sys.executable, "-c", _AUDIT_WITHOUT_LIEF, str(built.wheel)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(("manylinux_", "linux_"))
