"""Repair, after grafting: the license texts of grafted libraries' distro packages (PEP 639).

For each package that owns a grafted library (``pkgdb.PackageIndex.find_owner``),
:func:`find_license_files` reads its license texts from the root (``/`` or ``--sysroot``):

- deb: ``/usr/share/doc/<package>/copyright``, through Debian's doc-directory symlinks
  (``/usr/share/doc/libstdc++6 -> gcc-12-base``);
- every kind: the files the package lists under ``/usr/share/licenses/`` (rpm's ``%license``);
- rpm and apk: the files in ``/usr/share/licenses/<package>/``.

Reads are bounded and stay in the root: symlinks are followed as if chrooted there (an
absolute link starts again at the sysroot, never at the build machine's ``/``), only regular
files of at most 1 MiB are read, and a refused file is reported, not fatal. The files go to
``<dist-info>/licenses/<dist>.libs/<package>/<name>`` (:func:`license_member`).

:func:`add_license_files` adds ``License-File`` headers to METADATA, but only when its
Metadata-Version is 2.4 or newer: the field does not exist before 2.4 (packaging rejects it:
"license-file introduced in metadata version 2.4"), and raising the version would re-declare
the project's own metadata under rules it was not written for. Older wheels still carry the
files in ``.dist-info/licenses/`` (listed in RECORD), where PEP 639 puts them.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from wheelfix.ldpaths import resolve_in_sysroot
from wheelfix.pkgdb import OwningPackage, PackageIndex

__all__ = [
    "MAX_LICENSE_BYTES",
    "MAX_LICENSE_FILES",
    "LicenseFile",
    "LicenseSearch",
    "SkippedLicense",
    "add_license_files",
    "find_license_files",
    "license_file_path",
    "license_files",
    "license_member",
]

MAX_LICENSE_BYTES = 1 << 20
"""A license file larger than this (1 MiB) is refused."""
MAX_LICENSE_FILES = 64
"""At most this many files per package; the rest are refused."""

_DOC = "/usr/share/doc"
_LICENSES = "/usr/share/licenses"
_PEP639_VERSION = Version("2.4")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class LicenseFile:
    """One license text to add to the wheel."""

    name: str
    """Posix path relative to ``.dist-info/licenses/<dist>.libs/<package>/`` (``copyright``,
    ``LICENSE``, ``other/COPYING``)."""
    data: bytes
    """The file's bytes."""
    source: str
    """Where it was read, as the target system names it (``/usr/share/doc/x/copyright``)."""


@dataclass(frozen=True)
class SkippedLicense:
    """A license file that exists but was not taken."""

    path: str
    """The file as the target system names it."""
    reason: str
    """Why: too large, not a regular file, outside the sysroot, unreadable..."""


@dataclass(frozen=True)
class LicenseSearch:
    """What :func:`find_license_files` found for one package."""

    files: tuple[LicenseFile, ...]
    """The files taken, sorted by ``name``."""
    skipped: tuple[SkippedLicense, ...]
    """The files refused, in the order they were met (warn about them)."""


def _candidates(owner: OwningPackage, index: PackageIndex) -> Iterator[tuple[str, str]]:
    """``(archive name, target path)`` in priority order; the first of each name wins."""
    if owner.kind == "deb":
        yield "copyright", posixpath.join(_DOC, owner.name, "copyright")
    for listed in sorted(index.files(owner)):
        name = _licenses_name(owner, posixpath.normpath(listed))
        if name is not None:
            yield name, listed
    if owner.kind != "deb":
        yield from _directory_files(owner, index.root)


def _licenses_name(owner: OwningPackage, path: str) -> str | None:
    """``/usr/share/licenses/<dir>/<rest>`` -> ``<rest>`` for the owner's dir, else ``<dir>/<rest>``."""
    if not path.startswith(_LICENSES + "/"):
        return None
    parts = path[len(_LICENSES) + 1 :].split("/")
    if len(parts) < 2:
        return None
    return "/".join(parts[1:] if parts[0] == owner.name else parts)


def _directory_files(owner: OwningPackage, root: Path) -> Iterator[tuple[str, str]]:
    """The files under ``/usr/share/licenses/<package>/`` (directories not followed if linked)."""
    top = posixpath.join(_LICENSES, owner.name)
    host_top = resolve_in_sysroot(root, top)
    if not _inside(root, host_top) or not host_top.is_dir():
        return
    found: list[str] = []
    for directory, dirs, names in os.walk(host_top):
        dirs.sort()
        relative = Path(directory).relative_to(host_top).as_posix()
        found.extend(posixpath.normpath(posixpath.join(relative, name)) for name in names)
        if len(found) > MAX_LICENSE_FILES:
            break
    for name in sorted(found):
        yield name, posixpath.join(top, name)


def _inside(root: Path, host: Path) -> bool:
    """True when ``host`` (symlinks followed by the host) lies in ``root``."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(host)]) == real_root


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    if _UNSAFE.search(name) or any(part in ("", ".", "..") for part in parts):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the file name (surrogate escapes)
        return False
    return True


def _read(root: Path, path: str) -> bytes | str | None:
    """The bytes of ``path`` in the root, a reason to refuse it, or None if it is absent."""
    host = resolve_in_sysroot(root, path)
    if not os.path.lexists(host):
        return None
    if not _inside(root, host):
        return "resolves outside the sysroot"
    real = Path(os.path.realpath(host))
    try:
        mode = real.stat().st_mode
        if stat.S_ISDIR(mode):
            return None
        data = _read_regular(real) if stat.S_ISREG(mode) else "not a regular file"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return data


def _read_regular(real: Path) -> bytes | str:
    """At most :data:`MAX_LICENSE_BYTES` of a regular file, opened without following links."""
    too_large = f"larger than {MAX_LICENSE_BYTES} bytes"
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    with os.fdopen(os.open(real, flags), "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):  # replaced since it was looked at
            return "not a regular file"
        if info.st_size > MAX_LICENSE_BYTES:
            return too_large
        data = file.read(MAX_LICENSE_BYTES + 1)
    return too_large if len(data) > MAX_LICENSE_BYTES else data


def _root(index: PackageIndex, sysroot: Path | None) -> Path:
    root = Path(os.path.abspath(sysroot)) if sysroot is not None else Path("/")
    if root != index.root:
        msg = f"the package index is for {index.root}, not {root}"
        raise ValueError(msg)
    return root


def find_license_files(
    owner: OwningPackage, index: PackageIndex, sysroot: Path | None
) -> LicenseSearch:
    """The license texts of ``owner`` (from ``index``, made for the same ``sysroot``)."""
    root = _root(index, sysroot)
    taken: dict[str, LicenseFile] = {}
    skipped: list[SkippedLicense] = []
    for name, path in _candidates(owner, index):
        if name in taken:
            continue
        if not _safe_name(name):
            skipped.append(SkippedLicense(path, "file name unsafe in a wheel"))
            continue
        if len(taken) >= MAX_LICENSE_FILES:
            skipped.append(SkippedLicense(path, f"more than {MAX_LICENSE_FILES} license files"))
            continue
        result = _read(root, path)
        if isinstance(result, bytes):
            taken[name] = LicenseFile(name, result, path)
        elif isinstance(result, str):
            skipped.append(SkippedLicense(path, result))
    return LicenseSearch(tuple(taken[name] for name in sorted(taken)), tuple(skipped))


def license_files(
    owner: OwningPackage, index: PackageIndex, sysroot: Path | None
) -> tuple[LicenseFile, ...]:
    """The license files :func:`find_license_files` takes (ignoring what it refused)."""
    return find_license_files(owner, index, sysroot).files


def license_file_path(libs_dir: str, package: str, name: str) -> str:
    """The PEP 639 ``License-File`` value: relative to ``.dist-info/licenses/``."""
    return posixpath.join(libs_dir, package, name)


def license_member(dist_info: str, libs_dir: str, package: str, name: str) -> str:
    """The wheel member: ``<dist-info>/licenses/<dist>.libs/<package>/<name>``."""
    return posixpath.join(dist_info, "licenses", license_file_path(libs_dir, package, name))


def _split_headers(text: str) -> tuple[list[str], str]:
    """METADATA -> (header lines with their line ends, the rest from the blank line on)."""
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line in ("\n", "\r\n", "\r"):
            return lines[:number], "".join(lines[number:])
    return lines, ""


def _field(line: str) -> tuple[str, str] | None:
    if line[:1] in (" ", "\t") or ":" not in line:
        return None
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


def add_license_files(metadata_text: str, paths: Sequence[str]) -> str:
    """METADATA with a ``License-File: <path>`` header for each of ``paths`` not yet listed.

    Only for Metadata-Version 2.4 or newer; older (or unreadable) versions are returned
    unchanged. New headers follow the last header (after existing ``License-File`` ones);
    the body and every existing header are kept byte for byte.
    """
    for path in paths:
        if not path or "\n" in path or "\r" in path:
            msg = f"not a single-line License-File path: {path!r}"
            raise ValueError(msg)
    headers, body = _split_headers(metadata_text)
    fields = [field for field in map(_field, headers) if field is not None]
    version = next((value for name, value in fields if name == "metadata-version"), None)
    try:
        if version is None or Version(version) < _PEP639_VERSION:
            return metadata_text
    except InvalidVersion:
        return metadata_text
    listed = {value for name, value in fields if name == "license-file"}
    new = [path for path in dict.fromkeys(paths) if path not in listed]
    if not new:
        return metadata_text
    newline = "\r\n" if headers and headers[0].endswith("\r\n") else "\n"
    if headers and not headers[-1].endswith(("\n", "\r")):
        headers[-1] += newline
    added = [f"License-File: {path}{newline}" for path in new]
    return "".join(headers + added) + body
