"""``dynsyms.dynamic_symbol_count`` against ``readelf --dyn-syms``, and the s390x fix in elf.py.

LIEF 1.0 reads the SysV ``.hash`` table of 64-bit s390x files with 4-byte words (they are
8 bytes there) and so overcounts dynamic symbols. The inputs are compiled here with every
``--hash-style`` on x86_64, aarch64 and s390x, each also with its section header table
removed (so the count must come from DT_GNU_HASH or DT_HASH), plus rpds-py's real s390x
wheel, which wheelfix once refused (exit 7). Oracles: readelf, and ``auditwheel show``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from runtools import RealWheel, auditwheel_show_json, download_real_wheel, run_wheelfix
from wheelbuild import compile_cached
from wheelfix.elf import ElfEdit, Soname, page_size_for
from wheelfix.elf.dynsyms import EM_S390, dynamic_symbol_count, hash_word_size, sysv_hash_matches
from wheelfix.elf.lief_io import apply_edit, lief_write, parse_info
from wheelfix.elf.verify import verify_elf
from wheelfix.errors import ElfWriteError

SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern int maybe_there(void) __attribute__((weak));
int counter;
int shout(const char *s) { char *c = strdup(s); int n = printf("%s\n", c); free(c); return n; }
int ask(void) { return maybe_there ? maybe_there() : counter; }
"""

#: (name, compiler); every one is installed by .ci/run
CHAINS = (
    ("x86_64", "gcc"),
    ("aarch64", "aarch64-linux-gnu-gcc"),
    ("s390x", "s390x-linux-gnu-gcc"),
)
HASH_STYLES = ("sysv", "gnu", "both")


def _build(cache: Path, tmp: Path, name: str, compiler: str, hash_style: str) -> Path:
    if shutil.which(compiler) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{compiler} is not installed (.ci/run installs it)")
        pytest.skip(f"{compiler} is not installed")
    source = tmp / "syms.c"
    source.write_text(SOURCE)
    args = ["-shared", "-fPIC", "-O1", f"-Wl,--hash-style={hash_style}"]
    return compile_cached(cache, [source], f"syms-{name}-{hash_style}.so", args, compiler=compiler)


def readelf_dynsyms(path: Path) -> list[list[str]]:
    """The rows of ``readelf --dyn-syms -W``: [num, value, size, type, bind, vis, ndx, name?]."""
    out = subprocess.run(
        ["readelf", "--dyn-syms", "-W", path], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[:8] for line in out.splitlines() if re.match(r"\s*\d+:", line)]


def _without_sections(data: bytes) -> bytes:
    """A copy with no section header table (e_shoff, e_shnum, e_shstrndx zeroed)."""
    out = bytearray(data)
    end = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        struct.pack_into(end + "QHHH", out, 40, 0, 0, 0, 0)
        struct.pack_into(end + "HH", out, 58, 0, 0)
    else:
        struct.pack_into(end + "I", out, 32, 0)
        struct.pack_into(end + "HHH", out, 46, 0, 0, 0)
    return bytes(out)


def _undefined_strong(rows: list[list[str]]) -> frozenset[str]:
    return frozenset(
        r[7].split("@")[0] for r in rows if len(r) == 8 and r[6] == "UND" and r[4] != "WEAK"
    )


@pytest.mark.parametrize("hash_style", HASH_STYLES)
@pytest.mark.parametrize(("name", "compiler"), CHAINS, ids=[c[0] for c in CHAINS])
def test_count_matches_readelf_with_and_without_sections(
    name: str, compiler: str, hash_style: str, fixture_cache: Path, tmp_path: Path
) -> None:
    path = _build(fixture_cache, tmp_path, name, compiler, hash_style)
    rows = readelf_dynsyms(path)
    assert len(rows) > 5
    data = path.read_bytes()
    assert dynamic_symbol_count(data) == len(rows)
    assert dynamic_symbol_count(_without_sections(data)) == len(rows)
    info = parse_info(data, path.name)
    assert info.undefined_symbols == _undefined_strong(rows)
    assert {"printf", "strdup", "free"} <= info.undefined_symbols
    assert "maybe_there" not in info.undefined_symbols  # weak


def test_s390x_sysv_hash_words_are_8_bytes(fixture_cache: Path, tmp_path: Path) -> None:
    """The 4-byte reading LIEF does gives a wrong nchain; the 8-byte one is readelf's."""
    path = _build(fixture_cache, tmp_path, "s390x", "s390x-linux-gnu-gcc", "sysv")
    data = _without_sections(path.read_bytes())
    assert hash_word_size(EM_S390, True) == 8
    assert hash_word_size(EM_S390, False) == 4
    sections = subprocess.run(
        ["readelf", "-S", "-W", path], capture_output=True, text=True, check=True
    ).stdout
    (hash_line,) = [ln for ln in sections.splitlines() if "] .hash " in ln]
    offset = int(hash_line.split()[4], 16)
    nchain_8 = struct.unpack_from(">Q", data, offset + 8)[0]
    nchain_4 = struct.unpack_from(">I", data, offset + 4)[0]
    count = len(readelf_dynsyms(path))
    assert nchain_8 == count != nchain_4
    assert dynamic_symbol_count(data) == count


@pytest.mark.parametrize("hash_style", ["gnu", "both"])
def test_s390x_rewrite_keeps_exactly_the_dynamic_symbols(
    hash_style: str, fixture_cache: Path, tmp_path: Path
) -> None:
    """Without the count fix, LIEF wrote its garbage extra symbols into the new .dynsym."""
    path = _build(fixture_cache, tmp_path, "s390x", "s390x-linux-gnu-gcc", hash_style)
    edit = ElfEdit(soname=Soname("libsyms.so.1"), rpath="$ORIGIN/" + "r" * 200)
    out = apply_edit(path.read_bytes(), edit, path.name)
    written = tmp_path / "out.so"
    written.write_bytes(out)
    before, after = readelf_dynsyms(path), readelf_dynsyms(written)
    assert [r[7:] for r in after] == [r[7:] for r in before]  # names, in order
    # the byte editor leaves both hash tables as they are (LIEF would write .hash with 4-byte
    # words, so lief_io drops DT_HASH: see the lone-.hash test below)
    dynamic = subprocess.run(
        ["readelf", "-d", "-W", written], capture_output=True, text=True, check=True
    ).stdout
    assert "(GNU_HASH)" in dynamic
    assert ("(HASH)" in dynamic) == (hash_style == "both")
    full = subprocess.run(
        ["readelf", "-a", "-W", written], capture_output=True, text=True, check=False
    )
    assert full.stderr == ""
    assert dynamic_symbol_count(out) == len(before)
    assert dynamic_symbol_count(_without_sections(out)) == len(before)
    assert sysv_hash_matches(out)
    assert verify_elf(out, page_size_for(EM_S390)) == ()


def test_s390x_lone_sysv_hash_rewrite_is_refused(fixture_cache: Path, tmp_path: Path) -> None:
    """LIEF 1.0 rebuilds a .hash-only file's table with 4-byte words: the s390x loader could
    not look a symbol up in it, so the write is an error (exit 12), not a broken file."""
    path = _build(fixture_cache, tmp_path, "s390x", "s390x-linux-gnu-gcc", "sysv")
    assert sysv_hash_matches(path.read_bytes())
    edit = ElfEdit(rpath="$ORIGIN/" + "r" * 200)
    with pytest.raises(ElfWriteError, match="SysV hash table"):
        lief_write(path.read_bytes(), edit, path.name)
    # the byte editor (apply_edit's first choice) leaves the table as it is
    assert sysv_hash_matches(apply_edit(path.read_bytes(), edit, path.name))
    # strip-only needs no LIEF write, so it works
    stripped = apply_edit(path.read_bytes(), ElfEdit(strip=True), path.name)
    assert sysv_hash_matches(stripped)
    assert dynamic_symbol_count(stripped) == len(readelf_dynsyms(path))


def test_a_hash_table_that_disagrees_with_dynsym_is_caught(
    fixture_cache: Path, tmp_path: Path
) -> None:
    path = _build(fixture_cache, tmp_path, "x86_64", "gcc", "both")
    data = bytearray(path.read_bytes())
    assert sysv_hash_matches(bytes(data))
    sections = subprocess.run(
        ["readelf", "-S", "-W", path], capture_output=True, text=True, check=True
    ).stdout
    (hash_line,) = [ln for ln in sections.splitlines() if "] .hash " in ln]
    offset = int(hash_line.split()[4], 16)
    struct.pack_into("<I", data, offset + 4, struct.unpack_from("<I", data, offset + 4)[0] + 1)
    assert not sysv_hash_matches(bytes(data))


# --------------------------------------------------------------------------- real wheel


@pytest.mark.network
@pytest.mark.oracle
def test_rpds_py_s390x_wheel_matches_readelf_and_auditwheel(tmp_path: Path) -> None:
    spec = RealWheel("rpds-py", "0.22.3", "manylinux_2_17_s390x", "manylinux_2_17_s390x")
    wheel = download_real_wheel(spec)
    if isinstance(wheel, str):
        pytest.skip(wheel)  # as test_real_wheels does for non-x86_64 wheels
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        (member,) = [n for n in zf.namelist() if n.endswith(".so")]
        library = tmp_path / member.rsplit("/", 1)[1]
        library.write_bytes(zf.read(member))
    rows = readelf_dynsyms(library)
    assert len(rows) == 140
    assert dynamic_symbol_count(library.read_bytes()) == len(rows)
    info = parse_info(library.read_bytes(), member)
    assert info.undefined_symbols == _undefined_strong(rows)
    assert "PyInit_rpds" in info.init_symbols

    mine = run_wheelfix("show", "--json", wheel)
    assert mine.returncode == 0, mine.stderr  # was exit 7, "corrupt dynamic tables"
    theirs = auditwheel_show_json(wheel)
    assert theirs.returncode == 0, theirs.stderr
    assert json.loads(mine.stdout) == json.loads(theirs.stdout)
    assert json.loads(mine.stdout)["overall_tag"] == spec.overall
    check = run_wheelfix("check", wheel)
    assert check.returncode == 0, check.stderr

    # --strip (no LIEF write) and a forced rewrite (LIEF, with the right symbol count)
    repaired = run_wheelfix("repair", "--strip", "-w", tmp_path / "out", wheel)
    assert repaired.returncode == 0, repaired.stderr
    with zipfile.ZipFile(repaired.stdout.strip()) as zf:
        stripped = zf.read(member)
    if shutil.which("s390x-linux-gnu-strip"):
        oracle = tmp_path / "strip-s.so"
        subprocess.run(["s390x-linux-gnu-strip", "-s", "-o", oracle, library], check=True)
        assert abs(len(stripped) - oracle.stat().st_size) <= 64
    assert len(stripped) < library.stat().st_size - 150_000  # .symtab + .strtab
    (tmp_path / "stripped.so").write_bytes(stripped)
    assert readelf_dynsyms(tmp_path / "stripped.so") == rows
    out = apply_edit(library.read_bytes(), ElfEdit(rpath="$ORIGIN/" + "r" * 300), member)
    (tmp_path / "rewritten.so").write_bytes(out)
    assert [r[7:] for r in readelf_dynsyms(tmp_path / "rewritten.so")] == [r[7:] for r in rows]
    assert verify_elf(out, page_size_for(EM_S390)) == ()
