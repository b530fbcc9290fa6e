"""Resolve stage input: the one place host loader configuration is read.

``/etc/ld.so.conf`` (with ``include`` globs), the musl path file, the default directories, the
environment (``AUDITWHEEL_LD_LIBRARY_PATH``, ``LD_LIBRARY_PATH``), ``--ldpaths`` and
``--sysroot`` become one :class:`SearchPaths` value that ``resolve.py`` searches. An Android
wheel is cross-compiled: nothing of the build machine is searched for it (no ld.so.conf, no
default directories, no ``LD_LIBRARY_PATH``), only ``--ldpaths`` and
``AUDITWHEEL_LD_LIBRARY_PATH``, as in auditwheel.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wheelfix.libc import Libc

_MUSL_ARCH = {
    "x86_64": "x86_64",
    "i686": "i386",
    "aarch64": "aarch64",
    "armv7l": "armhf",
    "ppc64le": "powerpc64le",
    "ppc64": "powerpc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}
_MUSL_DEFAULT = ("/lib", "/usr/local/lib", "/usr/lib")
_MAX_SYMLINKS = 40


@dataclass(frozen=True)
class SearchPaths:
    """The directory lists the emulated loader searches, besides each ELF's own paths."""

    env: tuple[str, ...]
    """``AUDITWHEEL_LD_LIBRARY_PATH`` then ``LD_LIBRARY_PATH`` (searched after RPATH)."""
    system: tuple[str, ...]
    """ld.so.conf (or the musl path file) followed by the default directories."""
    sysroot: Path | None = None
    """If set, every absolute host path is looked up under this directory."""
    ldpaths_given: bool = False
    """True when ``--ldpaths`` replaced the system part (and ``LD_LIBRARY_PATH``)."""
    ignored_env: tuple[str, ...] = ()
    """``LD_LIBRARY_PATH`` entries not searched because ``--ldpaths`` was given."""
    cross_android: bool = False
    """True for an Android wheel: only ``--ldpaths`` and ``AUDITWHEEL_LD_LIBRARY_PATH``."""

    def host(self, path: str) -> Path:
        """Where an absolute loader path lives on this machine."""
        return _host(path, self.sysroot)


def split_path_list(value: str) -> tuple[str, ...]:
    """Split a colon-separated path list; empty entries are dropped."""
    return tuple(p for p in value.split(":") if p)


def split_library_path(value: str) -> tuple[str, ...]:
    """Split ``LD_LIBRARY_PATH`` as glibc's loader does.

    Entries are separated by ``:`` or ``;``, and an empty entry (``a::b``, a leading or
    trailing separator) means the current directory. A variable that is empty as a whole is
    ignored.
    """
    if not value:
        return ()
    return tuple(p or "." for p in re.split("[:;]", value))


def parse_ld_so_conf(path: str, sysroot: Path | None, seen: set[str] | None = None) -> list[str]:
    """Directories listed in an ld.so.conf file, following ``include`` lines (globs)."""
    seen = set() if seen is None else seen
    path = os.path.normpath(path)
    host = _host(path, sysroot)
    if path in seen or not host.is_file():
        return []
    seen.add(path)
    dirs: list[str] = []
    try:
        text = host.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include") and line[7:8] in (" ", "\t"):
            for pattern in line[8:].split():
                dirs.extend(_include(pattern, path, sysroot, seen))
        elif not line.startswith("hwcap"):
            dirs.extend(p for p in line.replace(",", " ").replace("\t", " ").split() if p)
    return dirs


def _include(pattern: str, conf: str, sysroot: Path | None, seen: set[str]) -> list[str]:
    if not pattern.startswith("/"):
        pattern = os.path.join(os.path.dirname(conf), pattern)
    host_pattern = str(_host(pattern, sysroot))
    prefix = len(str(sysroot).rstrip("/")) if sysroot is not None else 0
    dirs: list[str] = []
    for match in sorted(glob.glob(host_pattern)):
        dirs.extend(parse_ld_so_conf(match[prefix:] or "/", sysroot, seen))
    return dirs


def _host(path: str, sysroot: Path | None) -> Path:
    return Path(path) if sysroot is None else resolve_in_sysroot(sysroot, path)


def resolve_in_sysroot(sysroot: Path, path: str) -> Path:
    """Where the target's absolute ``path`` lives under ``sysroot``, as if chrooted there.

    Symbolic links are followed inside the sysroot: an absolute link target starts again at
    the sysroot (never at the build machine's ``/``) and ``..`` never climbs above it.
    Missing components are kept as they are.
    """
    todo = [part for part in path.split("/") if part not in ("", ".")]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        here = sysroot.joinpath(*done, part)
        try:
            target = str(here.readlink()) if hops < _MAX_SYMLINKS and here.is_symlink() else None
        except OSError:
            target = None
        if target is None:
            done.append(part)
            continue
        hops += 1
        if target.startswith("/"):
            done = []
        todo[:0] = [p for p in target.split("/") if p not in ("", ".")]
    return sysroot.joinpath(*done)


def default_dirs(libc: Libc, elf_class: int) -> tuple[str, ...]:
    """The loader's built-in directories."""
    if libc is Libc.MUSL:
        return _MUSL_DEFAULT
    if elf_class == 64:
        return ("/lib64", "/usr/lib64", "/lib", "/usr/lib")
    return ("/lib", "/usr/lib", "/lib32", "/usr/lib32")


def system_dirs(libc: Libc, arch: str, elf_class: int, sysroot: Path | None) -> tuple[str, ...]:
    """ld.so.conf (glibc) or ``/etc/ld-musl-<arch>.path`` (musl), then the defaults."""
    if libc is Libc.MUSL:
        path_file = _host(f"/etc/ld-musl-{_MUSL_ARCH.get(arch, arch)}.path", sysroot)
        if path_file.is_file():
            text = path_file.read_text(encoding="utf-8", errors="replace")
            return tuple(p for p in text.replace("\n", ":").split(":") if p.strip())
        return _MUSL_DEFAULT
    return _dedupe([*parse_ld_so_conf("/etc/ld.so.conf", sysroot), *default_dirs(libc, elf_class)])


def load_search_paths(
    libc: Libc,
    arch: str,
    elf_class: int,
    *,
    ldpaths: str | None = None,
    environ: Mapping[str, str] | None = None,
    sysroot: Path | None = None,
) -> SearchPaths:
    """Build the search lists as auditwheel users expect them.

    ``ldpaths`` (``--ldpaths``) replaces the system part and drops ``LD_LIBRARY_PATH``, so only
    ``AUDITWHEEL_LD_LIBRARY_PATH`` remains from the environment. Android always behaves as if
    ``--ldpaths`` were given (empty when it is not).
    """
    environ = os.environ if environ is None else environ
    if libc is Libc.ANDROID:
        ldpaths = ldpaths or ""
    env = list(split_library_path(environ.get("AUDITWHEEL_LD_LIBRARY_PATH", "")))
    library_path = split_library_path(environ.get("LD_LIBRARY_PATH", ""))
    if ldpaths is None:
        env.extend(library_path)
        system = system_dirs(libc, arch, elf_class, sysroot)
    else:
        system = split_path_list(ldpaths)
    return SearchPaths(
        env=_dedupe(env),
        system=system,
        sysroot=sysroot,
        ldpaths_given=ldpaths is not None,
        ignored_env=library_path if ldpaths is not None else (),
        cross_android=libc is Libc.ANDROID,
    )


def _dedupe(paths: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for path in paths:
        normal = os.path.normpath(path) if path.startswith("/") else os.path.abspath(path)
        if normal not in out:
            out.append(normal)
    return tuple(out)
