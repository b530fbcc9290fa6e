"""pyread reads only the symbol names the scan needs (undefined ones, init functions) and
still answers exactly as LIEF does: where the string table is not all ASCII every defined
function's name is decoded, so a name that cannot be decoded fails in both."""

from __future__ import annotations

from pathlib import Path

from test_pyread import parse_both
from wheelbuild import compile_cached
from wheelfix.elf.model import ElfInfo

SOURCE = """
int PyInit_names(void) { return 1; }
int initnames(void) { return 2; }
int zzzplain(void) { return 3; }
int \u00fcber_func(void) { return 4; }
extern int ask(void);
int call(void) { return ask(); }
"""


def _library(fixture_cache: Path, tmp_path: Path, *, non_ascii: bool) -> bytes:
    source = SOURCE if non_ascii else SOURCE.replace("int \u00fcber_func", "int uber_func")
    src = tmp_path / "names.c"
    src.write_text(source, encoding="utf-8")
    name = "names-utf8.so" if non_ascii else "names-ascii.so"
    args = ["-shared", "-fPIC", "-O1", "-finput-charset=UTF-8", "-o", name]
    return compile_cached(fixture_cache, [src], name, args).read_bytes()


def _undecodable(data: bytes, name: bytes) -> bytes:
    """``data`` with the first byte of the string ``name`` turned into an invalid UTF-8 byte."""
    at = data.index(b"\0" + name + b"\0") + 1
    return data[:at] + b"\xff" + data[at + 1 :]


def test_ascii_table_names_as_lief(fixture_cache: Path, tmp_path: Path) -> None:
    data = _library(fixture_cache, tmp_path, non_ascii=False)
    lief_answer, py_answer = parse_both(data, "names-ascii.so")
    assert py_answer == lief_answer
    assert isinstance(py_answer, ElfInfo)
    assert {"PyInit_names", "initnames"} <= py_answer.init_symbols
    assert "zzzplain" not in py_answer.init_symbols
    assert "ask" in py_answer.undefined_symbols


def test_non_ascii_table_names_as_lief(fixture_cache: Path, tmp_path: Path) -> None:
    data = _library(fixture_cache, tmp_path, non_ascii=True)
    lief_answer, py_answer = parse_both(data, "names-utf8.so")
    assert py_answer == lief_answer
    assert isinstance(py_answer, ElfInfo)
    assert "PyInit_names" in py_answer.init_symbols


def test_an_undecodable_defined_function_name_fails_as_in_lief(
    fixture_cache: Path, tmp_path: Path
) -> None:
    data = _undecodable(_library(fixture_cache, tmp_path, non_ascii=False), b"zzzplain")
    lief_answer, py_answer = parse_both(data, "names-bad.so")
    # Both refuse the file (LIEF's bindings raise TypeError for the name, pyread says why).
    assert isinstance(lief_answer, str) and isinstance(py_answer, str)
    assert lief_answer.startswith("InvalidElfError: corrupt dynamic tables")
    assert py_answer == "InvalidElfError: corrupt dynamic tables (UnicodeDecodeError)"
