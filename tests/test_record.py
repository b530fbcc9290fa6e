"""Tests for record.py: RECORD hashes, rows, building and parsing."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wheelfix.errors import InvalidWheelError
from wheelfix.record import build_record, hash_digest, parse_record, record_line

EMPTY_SHA256 = "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_hash_digest_of_empty_input() -> None:
    assert hash_digest(b"") == EMPTY_SHA256


@pytest.mark.parametrize("data", [b"", b"a", b"hello world\n", bytes(range(256)) * 7])
def test_hash_digest_is_unpadded_urlsafe_sha256(data: bytes) -> None:
    value = hash_digest(data)
    algorithm, digest = value.split("=", 1)
    assert algorithm == "sha256"
    assert "=" not in digest
    assert "+" not in digest
    assert "/" not in digest
    assert base64.urlsafe_b64decode(digest + "=") == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    ("path", "expected_path_field"),
    [
        ("pkg/mod.py", "pkg/mod.py"),
        ("pkg/a,b.py", '"pkg/a,b.py"'),
        ('pkg/q"uote.py', '"pkg/q""uote.py"'),
        ("pkg/new\nline.py", '"pkg/new\nline.py"'),
        ("pkg/carriage\rreturn.py", '"pkg/carriage\rreturn.py"'),
        ("pkg/ümlaut.py", "pkg/ümlaut.py"),
    ],
)
def test_record_line_quotes_the_path(path: str, expected_path_field: str) -> None:
    assert record_line(path, b"") == f"{expected_path_field},{EMPTY_SHA256},0"


def test_record_line_has_size_and_no_terminator() -> None:
    line = record_line("x", b"12345")
    assert line.endswith(",5")
    assert not line.endswith("\n")


def test_build_record_order_and_last_row() -> None:
    text = build_record(
        [("b.py", b"bb"), ("a.py", b"a"), ("demo-1.0.dist-info/WHEEL", b"w")],
        "demo-1.0.dist-info/RECORD",
    )
    assert text == (
        f"b.py,{hash_digest(b'bb')},2\n"
        f"a.py,{hash_digest(b'a')},1\n"
        f"demo-1.0.dist-info/WHEEL,{hash_digest(b'w')},1\n"
        "demo-1.0.dist-info/RECORD,,\n"
    )
    assert "\r" not in text


def test_build_record_with_no_entries() -> None:
    assert build_record([], "d-1.dist-info/RECORD") == "d-1.dist-info/RECORD,,\n"


def test_build_record_rejects_itself_and_duplicates() -> None:
    with pytest.raises(ValueError, match="itself"):
        build_record([("d-1.dist-info/RECORD", b"")], "d-1.dist-info/RECORD")
    with pytest.raises(ValueError, match="duplicate"):
        build_record([("a", b""), ("a", b"x")], "d-1.dist-info/RECORD")


def test_parse_record_basic() -> None:
    text = (
        f'a.py,{hash_digest(b"a")},1\na.pyc,,\n"odd,name.py",sha256=abc,\nd-1.dist-info/RECORD,,\n'
    )
    assert parse_record(text) == {
        "a.py": (hash_digest(b"a"), 1),
        "a.pyc": ("", None),
        "odd,name.py": ("sha256=abc", None),
        "d-1.dist-info/RECORD": ("", None),
    }


def test_parse_record_accepts_crlf_and_blank_lines() -> None:
    text = "a,sha256=x,1\r\n\r\nb,sha256=y,2\r\n\n"
    assert parse_record(text) == {"a": ("sha256=x", 1), "b": ("sha256=y", 2)}


def test_parse_record_keeps_file_order() -> None:
    text = "z,,\na,,\nm,,\n"
    assert list(parse_record(text)) == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a,sha256=x\n", "2"),  # too few fields
        ("a,sha256=x,1,extra\n", "4"),
        ("a\n", "1 fields"),
        (",sha256=x,1\n", "empty path"),
        ("a,sha256=x,-1\n", "size"),
        ("a,sha256=x,1.5\n", "size"),
        ("a,sha256=x,\u0661\n", "size"),  # ARABIC-INDIC DIGIT ONE: isdigit() but not ASCII
        ("a,nohash,1\n", "hash"),
        ("a,=x,1\n", "hash"),
        ("a,sha256=,1\n", "hash"),
        ("a,,\na,,\n", "twice"),
        ('"a"b,,\n', "CSV"),
        ('"unterminated,,\n', "CSV"),
    ],
)
def test_parse_record_rejects_malformed_rows(text: str, fragment: str) -> None:
    with pytest.raises(InvalidWheelError) as info:
        parse_record(text)
    assert info.value.subject == "RECORD"
    assert fragment in info.value.reason
    assert info.value.exit_code == 5


def test_round_trip_of_awkward_paths() -> None:
    entries = [
        ("a,b", b"1"),
        ('q"q', b"22"),
        ("nl\nnl", b""),
        ("cr\rcr", b"333"),
        (" lead and trail ", b"4444"),
    ]
    parsed = parse_record(build_record(entries, "d-1.dist-info/RECORD"))
    assert parsed == {
        **{path: (hash_digest(data), len(data)) for path, data in entries},
        "d-1.dist-info/RECORD": ("", None),
    }


paths = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
).filter(lambda p: p != "R")


@given(st.dictionaries(paths, st.binary(max_size=64), max_size=8))
def test_round_trip_property(members: dict[str, bytes]) -> None:
    text = build_record(members.items(), "R")
    assert text.endswith("R,,\n")
    parsed = parse_record(text)
    assert list(parsed) == [*members, "R"]
    for path, data in members.items():
        assert parsed[path] == (hash_digest(data), len(data))
