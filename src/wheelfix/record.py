"""Stage 5, write: the wheel's RECORD file, hashed, built and parsed (pure functions, no I/O)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterable

from wheelfix.errors import InvalidWheelError

_SUBJECT = "RECORD"


def hash_digest(data: bytes, algorithm: str = "sha256") -> str:
    """The RECORD hash of ``data``: ``<algorithm>=`` and the unpadded urlsafe base64 digest.

    Raises ValueError for an algorithm hashlib does not know.
    """
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


RECORD_ALGORITHMS = frozenset(
    {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"}
)
"""Hashes a RECORD may use: PEP 427 asks for sha256 or stronger (md5 and sha1 are refused)."""


def matches_record_hash(expected: str, data: bytes) -> bool:
    """Whether ``data`` has the RECORD hash ``expected`` (e.g. ``sha256=...``).

    A hash that cannot be checked (an algorithm outside :data:`RECORD_ALGORITHMS`) never
    matches; :func:`parse_record` already refuses such rows.
    """
    algorithm = expected.partition("=")[0]
    if algorithm not in RECORD_ALGORITHMS:
        return False
    return hash_digest(data, algorithm) == expected


def record_line_for_digest(path: str, sha256_hex: str, size: int) -> str:
    """:func:`record_line` for a member whose sha256 (hex) and size are known already."""
    digest = base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).decode("ascii").rstrip("=")
    return _csv_row((path, f"sha256={digest}", str(size)))


def _csv_row(fields: Iterable[str]) -> str:
    # The writer quotes a field when it contains a character of the line terminator, so
    # "\r\n" makes it quote both "\r" and "\n" (with "\n" alone a bare "\r" would go unquoted
    # and split the row on reading). The terminator itself is dropped: rows end in "\n".
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()[: -len("\r\n")]


def record_line(path: str, data: bytes) -> str:
    """One RECORD row for a member, CSV-quoted, without a line terminator.

    >>> record_line("a,b.py", b"")
    '"a,b.py",sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0'
    """
    return _csv_row((path, hash_digest(data), str(len(data))))


def build_record(entries: Iterable[tuple[str, bytes]], record_path: str) -> str:
    """The text of a RECORD file: one row per ``(path, data)`` entry, in the given order.

    The row of the RECORD file itself (``<record_path>,,``, no hash and no size) comes last;
    every row ends in ``\\n``. ``entries`` must not contain ``record_path`` nor the same path
    twice (:class:`ValueError`, a caller bug).
    """
    rows = []
    seen: set[str] = set()
    for path, data in entries:
        if path == record_path:
            raise ValueError(f"RECORD cannot list itself with a hash: {path!r}")
        if path in seen:
            raise ValueError(f"duplicate RECORD entry {path!r}")
        seen.add(path)
        rows.append(record_line(path, data))
    return record_from_lines(rows, record_path)


def record_from_lines(lines: Iterable[str], record_path: str) -> str:
    """RECORD text from rows made by :func:`record_line` (a streaming writer keeps only these)."""
    return "".join(line + "\n" for line in (*lines, _csv_row((record_path, "", ""))))


def _parse_hash(row_number: int, path: str, value: str) -> str:
    if not value:
        return ""
    algorithm, sep, digest = value.partition("=")
    if not sep or not algorithm or not digest:
        raise InvalidWheelError(
            _SUBJECT, f"line {row_number} ({path!r}): hash {value!r} is not '<algorithm>=<digest>'"
        )
    if algorithm not in RECORD_ALGORITHMS:
        raise InvalidWheelError(
            _SUBJECT,
            f"line {row_number} ({path!r}): hash algorithm {algorithm!r} cannot be checked"
            " (PEP 427 wants sha256 or stronger)",
        )
    return value


def _parse_size(row_number: int, path: str, value: str) -> int | None:
    if not value:
        return None
    if not value.isascii() or not value.isdigit():
        raise InvalidWheelError(
            _SUBJECT, f"line {row_number} ({path!r}): size {value!r} is not a non-negative integer"
        )
    return int(value)


def parse_record(text: str) -> dict[str, tuple[str, int | None]]:
    """Parse RECORD text into ``{path: (hash, size)}``, in file order.

    ``hash`` is ``""`` and ``size`` ``None`` when the row leaves them empty (as the RECORD row
    itself does). Blank lines are skipped; ``\\n`` and ``\\r\\n`` line endings are accepted.
    Raises :class:`InvalidWheelError` (subject ``"RECORD"``) on bad CSV, a row without exactly
    three fields, an empty path, a malformed hash or size, or a path listed twice.
    """
    result: dict[str, tuple[str, int | None]] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            if not row:
                continue
            number = reader.line_num
            if len(row) != 3:
                raise InvalidWheelError(
                    _SUBJECT, f"line {number} has {len(row)} fields, expected 3 (path,hash,size)"
                )
            path, hash_value, size_value = row
            if not path:
                raise InvalidWheelError(_SUBJECT, f"line {number} has an empty path")
            if path in result:
                raise InvalidWheelError(_SUBJECT, f"line {number}: {path!r} is listed twice")
            result[path] = (
                _parse_hash(number, path, hash_value),
                _parse_size(number, path, size_value),
            )
    except csv.Error as exc:
        raise InvalidWheelError(
            _SUBJECT, f"not valid CSV near line {reader.line_num} ({exc})"
        ) from exc
    return result
