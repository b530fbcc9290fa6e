"""Stage 4, retag: new platform tags for the wheel's file name and WHEEL file (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.tags import parse_tag

from wheelfix.errors import InvalidWheelError
from wheelfix.wheel import WheelName

_SUBJECT = "WHEEL"
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
"""RFC 5322 field name: printable ASCII except space and colon."""


def platform_tags_after(
    current: Sequence[str], new: Sequence[str], *, update: bool
) -> tuple[str, ...]:
    """The platform tags the repaired wheel carries, sorted and unique.

    ``current`` are the input wheel's platform tags, ``new`` the target policy's name and its
    aliases. Without ``update`` (``--no-update-tags``) the current tags stay. With it, as in
    auditwheel, the generic ``linux_<arch>`` tags and ``any`` are dropped, every other current
    tag (an older or newer manylinux/musllinux tag the wheel already claims) is kept, and the
    new tags are added.

    >>> platform_tags_after(["linux_x86_64"], ["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    ...                     update=True)
    ('manylinux2014_x86_64', 'manylinux_2_17_x86_64')
    """
    if not update:
        result = set(current)
    else:
        result = {tag for tag in current if tag != "any" and not tag.startswith("linux_")}
        result.update(new)
    if not result:
        raise ValueError("no platform tag left for the wheel")
    return tuple(sorted(result))


def retag_filename(name: WheelName, platforms: Sequence[str]) -> str:
    """The wheel file name with its platform part replaced by ``platforms`` (joined by ``.``).

    Everything before the platform part (``name-version[-build]-py-abi``) is kept verbatim;
    ``platforms`` are used in the order given (pass :func:`platform_tags_after`'s result).
    """
    if not platforms:
        raise ValueError("a wheel file name needs at least one platform tag")
    return f"{name.prefix}-{'.'.join(platforms)}.whl"


@dataclass(frozen=True)
class _Header:
    name: str
    """The field name as written."""
    lines: tuple[str, ...]
    """The field's physical lines (first line plus continuation lines), without line ends."""

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def value(self) -> str:
        first = self.lines[0].split(":", 1)[1]
        return " ".join(part.strip() for part in (first, *self.lines[1:])).strip()


def _parse_headers(text: str) -> tuple[list[_Header], str]:
    """Split WHEEL text into its header fields and the (normally empty) body."""
    lines = text.splitlines()
    headers: list[_Header] = []
    end = len(lines)
    for index, line in enumerate(lines):
        if not line.strip():
            end = index + 1
            break
        if line[0] in " \t":
            if not headers:
                raise InvalidWheelError(_SUBJECT, f"line {index + 1} continues no header field")
            last = headers[-1]
            headers[-1] = _Header(last.name, (*last.lines, line))
            continue
        name, sep, _ = line.partition(":")
        if not sep or not _FIELD_NAME.fullmatch(name):
            raise InvalidWheelError(_SUBJECT, f"line {index + 1} is not a header field: {line!r}")
        headers.append(_Header(name, (line,)))
    body = "\n".join(lines[end:]).strip("\n")
    return headers, body


def _py_abi_pairs(tags: Sequence[str]) -> list[str]:
    """Unique ``py-abi`` pairs of the Tag values, in first-seen order (compressed sets expanded)."""
    pairs: dict[str, None] = {}
    for tag in tags:
        parts = tag.split("-")
        if len(parts) != 3 or not all(parts):
            raise InvalidWheelError(_SUBJECT, f"Tag {tag!r} is not '<python>-<abi>-<platform>'")
        try:  # packaging expands "py2.py3-none-any" and refuses empty components
            expanded = sorted(parse_tag(tag), key=str)
        except ValueError:
            expanded = []
        if not expanded or any(not t.interpreter or not t.abi for t in expanded):
            # (packaging before 24 returns empty components instead of raising)
            raise InvalidWheelError(_SUBJECT, f"Tag {tag!r} has an empty tag component")
        for parsed in expanded:
            pairs[f"{parsed.interpreter}-{parsed.abi}"] = None
    return list(pairs)


def retag_wheel_metadata(text: str, platforms: Sequence[str]) -> str:
    """Rewrite the WHEEL file for new platform tags.

    Every header field other than ``Tag`` and ``Root-Is-Purelib`` keeps its place and exact
    text. ``Root-Is-Purelib`` becomes ``false`` (once, at its first place, or just before the
    tags when it was missing): a wheel with a platform tag is not purelib. The ``Tag`` fields
    are replaced, where the first one was, by one ``Tag: <py>-<abi>-<platform>`` field for each
    unique ``py-abi`` pair of the old tags (first-seen order; compressed sets such as
    ``py2.py3`` are expanded) and each platform (sorted). A body after the headers, which a
    WHEEL file should not have, is kept. The result uses ``\\n`` and ends in exactly one.

    Raises :class:`InvalidWheelError` (subject ``"WHEEL"``) when the text has no ``Tag``, a
    malformed ``Tag`` or a line that is no header field.
    """
    targets = sorted(set(platforms))
    if not targets:
        raise ValueError("a WHEEL file needs at least one platform tag")
    headers, body = _parse_headers(text)
    tag_values = [header.value for header in headers if header.key == "tag"]
    if not tag_values:
        raise InvalidWheelError(_SUBJECT, "has no Tag field")
    new_tags = [
        f"Tag: {pair}-{platform}" for pair in _py_abi_pairs(tag_values) for platform in targets
    ]
    purelib = "Root-Is-Purelib: false"
    has_purelib = any(header.key == "root-is-purelib" for header in headers)

    out: list[str] = []
    tags_written = purelib_written = False
    for header in headers:
        if header.key == "tag":
            if not tags_written:
                if not has_purelib:
                    out.append(purelib)
                out.extend(new_tags)
                tags_written = True
        elif header.key == "root-is-purelib":
            if not purelib_written:
                out.append(purelib)
                purelib_written = True
        else:
            out.extend(header.lines)
    if body:
        out.extend(("", body))
    return "\n".join(out) + "\n"
