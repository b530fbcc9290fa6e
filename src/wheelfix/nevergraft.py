"""Graft stage guard: driver libraries repair must leave to the user's machine (never grafted).

The list is data, ``data/never_graft.json``: per family of libraries (NVIDIA driver, GL
dispatch, libdrm, loaders...), fnmatch globs on the soname and one sentence saying why a
bundled copy breaks other machines. It also records libraries deliberately *not* listed
(``not_listed``: the CUDA toolkit, ROCm) with the reason, for the README. Repair asks
:meth:`NeverGraft.match` for every library it would graft; a match is left external (as
``--exclude`` does) with a warning, unless a ``--graft-anyway`` glob names the soname.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from typing import Any

__all__ = [
    "DATA_FILE",
    "Family",
    "NeverGraft",
    "NeverGraftData",
    "NotListed",
    "load_never_graft",
    "markdown_table",
    "parse_never_graft",
]

DATA_FILE = "never_graft.json"
"""The list's file name in ``wheelfix/data/``."""

_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Family:
    """A family of libraries that must come from the user's machine."""

    name: str
    """Short stable identifier (``nvidia-driver``), shown in warnings and the repair report."""
    title: str
    """What the family is, for people."""
    patterns: tuple[str, ...]
    """Case-sensitive fnmatch globs on the soname (``libcuda.so*``)."""
    reason: str
    """One sentence: why bundling it breaks other machines."""
    examples: tuple[str, ...] = ()
    """Real sonames of the family; each must match ``patterns`` (checked on load)."""

    def matches(self, soname: str) -> bool:
        """True when a pattern matches ``soname``."""
        return any(fnmatchcase(soname, pattern) for pattern in self.patterns)


@dataclass(frozen=True)
class NotListed:
    """Libraries considered for the list and left off it, with the reason."""

    title: str
    """What they are."""
    patterns: tuple[str, ...]
    """Globs naming them (for people; nothing matches against these)."""
    reason: str
    """Why grafting them is fine."""
    examples: tuple[str, ...] = ()
    """Real sonames; none may match a listed family (checked on load)."""


@dataclass(frozen=True)
class NeverGraftData:
    """The whole data file."""

    families: tuple[Family, ...]
    """The never-graft families, in file order."""
    not_listed: tuple[NotListed, ...] = ()
    """The documented decisions not to list a library."""


def _strings(
    entry: dict[str, Any], key: str, where: str, *, required: bool = True
) -> tuple[str, ...]:
    value = entry.get(key, None if required else [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        msg = f"{where}: {key!r} must be a list of non-empty strings"
        raise ValueError(msg)
    if required and not value:
        msg = f"{where}: {key!r} is empty"
        raise ValueError(msg)
    return tuple(value)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        msg = f"{where}: {key!r} must be a non-empty single-line string"
        raise ValueError(msg)
    return value


def _entries(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = document.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        msg = f"never-graft list: {key!r} must be a list of objects"
        raise ValueError(msg)
    return entries


def _family(entry: dict[str, Any], index: int) -> Family:
    where = f"never-graft family {index}"
    family = Family(
        name=_text(entry, "name", where),
        title=_text(entry, "title", where),
        patterns=_strings(entry, "patterns", where),
        reason=_text(entry, "reason", where),
        examples=_strings(entry, "examples", where, required=False),
    )
    for example in family.examples:
        if not family.matches(example):
            msg = f"never-graft family {family.name}: example {example} matches no pattern"
            raise ValueError(msg)
    return family


def _not_listed(entry: dict[str, Any], index: int, families: Sequence[Family]) -> NotListed:
    where = f"never-graft not_listed entry {index}"
    decision = NotListed(
        title=_text(entry, "title", where),
        patterns=_strings(entry, "patterns", where),
        reason=_text(entry, "reason", where),
        examples=_strings(entry, "examples", where, required=False),
    )
    for example in decision.examples:
        for family in families:
            if family.matches(example):
                msg = f"{where}: example {example} matches family {family.name}"
                raise ValueError(msg)
    return decision


def parse_never_graft(text: str) -> NeverGraftData:
    """The JSON text of a never-graft list -> :class:`NeverGraftData` (``ValueError`` if bad).

    Checked: the format ``version``, every field's type, unique family names, and that each
    family matches its own examples while no family matches a ``not_listed`` example.
    """
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        msg = f'never-graft list: expected an object with "version": {_FORMAT_VERSION}'
        raise ValueError(msg)
    families = tuple(
        _family(entry, index) for index, entry in enumerate(_entries(document, "families"))
    )
    names = [family.name for family in families]
    if len(set(names)) != len(names):
        msg = f"never-graft list: family names repeat: {names}"
        raise ValueError(msg)
    not_listed = tuple(
        _not_listed(entry, index, families)
        for index, entry in enumerate(_entries(document, "not_listed"))
    )
    return NeverGraftData(families, not_listed)


def load_never_graft() -> NeverGraftData:
    """The list shipped with wheelfix (read on every call; callers keep the result)."""
    text = resources.files("wheelfix").joinpath("data").joinpath(DATA_FILE).read_text("utf-8")
    return parse_never_graft(text)


@dataclass(frozen=True)
class NeverGraft:
    """The never-graft families plus the user's ``--graft-anyway`` overrides."""

    families: tuple[Family, ...]
    """The families, in the list's order (the first match wins)."""
    graft_anyway: tuple[str, ...] = ()
    """fnmatch globs on the soname (``--graft-anyway``): matching sonames are grafted anyway."""

    @classmethod
    def load(cls, graft_anyway: Iterable[str] = ()) -> NeverGraft:
        """The shipped list, with ``graft_anyway`` overrides."""
        return cls(load_never_graft().families, tuple(graft_anyway))

    def overridden(self, soname: str) -> bool:
        """True when a ``--graft-anyway`` glob matches ``soname``."""
        return any(fnmatchcase(soname, pattern) for pattern in self.graft_anyway)

    def match(self, soname: str) -> Family | None:
        """The family ``soname`` belongs to, or None (also when ``--graft-anyway`` names it)."""
        if self.overridden(soname):
            return None
        for family in self.families:
            if family.matches(soname):
                return family
        return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _globs(patterns: Sequence[str]) -> str:
    return ", ".join(f"`{pattern}`" for pattern in patterns)


def markdown_table(data: NeverGraftData) -> str:
    """README tables: the families (name, sonames, reason), then the libraries not listed."""
    lines = [
        "| family | sonames | why it must come from the user's machine |",
        "|---|---|---|",
    ]
    lines.extend(
        f"| `{family.name}`: {_cell(family.title)} | {_globs(family.patterns)} "
        f"| {_cell(family.reason)} |"
        for family in data.families
    )
    if data.not_listed:
        lines += ["", "| not listed | sonames | why grafting them is fine |", "|---|---|---|"]
        lines.extend(
            f"| {_cell(entry.title)} | {_globs(entry.patterns)} | {_cell(entry.reason)} |"
            for entry in data.not_listed
        )
    return "\n".join(lines) + "\n"
