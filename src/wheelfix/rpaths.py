"""Stage 3, graft: the RPATH each rewritten ELF file gets (pure).

A rewritten file's new DT_RPATH lists, in order:

1. its old RPATH/RUNPATH entries that point inside the wheel (``$ORIGIN/...``), kept as
   written;
2. its old entries that point to host directories through which an ``--exclude``\\d library
   was found: that library is not grafted, so the loader must still find it where it was;
3. the directory of the grafted libraries, relative to where the file is installed.

For a file installed through ``<dist>.data/data/`` (to ``<prefix>/...``, not site-packages)
step 3 depends on the install scheme: see :func:`libs_dir_entries`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from packaging.tags import Tag

from wheelfix.elf import ElfInfo, Soname
from wheelfix.resolve import HostDir, WheelDir, expand_dst

__all__ = [
    "excluded_host_entries",
    "libs_dir_entries",
    "origin_relative",
    "wheel_entries",
]

_DATA_PREFIX = "<data>"
"""How ``Member.install_path`` spells the root of the ``data`` scheme (the install prefix)."""

_SITE_DIRS = ("site-packages", "dist-packages")
"""platlib's last part: every CPython scheme (posix_prefix, posix_user, venv) uses
site-packages; Debian's patched CPython installs pip packages into dist-packages."""

_INTERPRETER_RE = re.compile(r"^(cp|pp)(3)(\d+)$")


def origin_relative(target: str, start: PurePosixPath) -> str:
    """``$ORIGIN``-relative spelling of directory ``target`` seen from directory ``start``."""
    rel = posixpath.relpath(target, str(start) if str(start) != "." else ".")
    return "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"


def wheel_entries(info: ElfInfo, install_dir: PurePosixPath, arch: str) -> list[str]:
    """Existing RPATH/RUNPATH entries that point inside the wheel (kept as written)."""
    kept: list[str] = []
    for entry in (*info.rpath, *info.runpath):
        expanded = expand_dst(entry, WheelDir(install_dir), "lib", arch)
        if isinstance(expanded, WheelDir) and entry not in kept:
            kept.append(entry)
    return kept


def excluded_host_entries(
    info: ElfInfo,
    origin: WheelDir | HostDir,
    arch: str,
    excluded: Iterable[Soname],
    excluded_dirs: Mapping[Soname, str],
) -> tuple[list[str], list[Soname]]:
    """Entries to keep for the excluded libraries ``info`` loads, and the names none covers.

    ``excluded_dirs`` maps an excluded name to the directory it was found in. An absolute
    entry is kept when it expands to that directory (``$ORIGIN`` entries are not: the file's
    origin changes when it is grafted); a name found some other way (the environment, the
    system directories, nowhere) is returned so the caller can warn about it.
    """
    kept: list[str] = []
    uncovered: list[Soname] = []
    entries = [
        (e, expand_dst(e, origin, "lib", arch))
        for e in (*info.rpath, *info.runpath)
        if "ORIGIN" not in e
    ]
    names = set(excluded)
    for name in (n for n in info.loaded_names if n in names):
        directory = excluded_dirs.get(name)
        matching = [e for e, d in entries if isinstance(d, HostDir) and d.path == directory]
        if directory is None or not matching:
            uncovered.append(name)
        for entry in matching[:1]:
            if entry not in kept:
                kept.append(entry)
    return kept, uncovered


def _site_packages(tags: Iterable[Tag]) -> str | None:
    """``lib/python3.11`` for a wheel of exactly one interpreter version, else None."""
    found = set()
    for tag in tags:
        match = _INTERPRETER_RE.match(tag.interpreter)
        if match is None or tag.abi == "abi3":
            return None
        implementation = "python" if match.group(1) == "cp" else "pypy"
        found.add(f"lib/{implementation}{match.group(2)}.{match.group(3)}")
    return found.pop() if len(found) == 1 else None


def libs_dir_entries(
    install_path: PurePosixPath, libs_dir: str, tags: Iterable[Tag]
) -> list[str] | None:
    """How a file installed at ``install_path`` reaches ``libs_dir`` in platlib.

    Files in site-packages get one ``$ORIGIN``-relative entry. A file of the ``data``
    scheme is installed under the prefix (``<prefix>/bin/x``) while the libraries go to
    ``<prefix>/lib/pythonX.Y/site-packages``, so the entry depends on the Python version and
    the scheme: one entry per known scheme layout. None when that cannot be known (a wheel
    for several Python versions, abi3, or another scheme such as ``headers``).
    """
    parts = install_path.parts
    if not parts or not parts[0].startswith("<"):
        return [origin_relative(libs_dir, install_path.parent)]
    if parts[0] != _DATA_PREFIX:
        return None
    lib_dir = _site_packages(tags)
    if lib_dir is None:
        return None
    start = PurePosixPath(*parts[1:-1]) if len(parts) > 2 else PurePosixPath(".")
    return [origin_relative(f"{lib_dir}/{site}/{libs_dir}", start) for site in _SITE_DIRS]
