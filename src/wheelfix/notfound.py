"""Between resolve and graft: why a library that must be grafted was not found (pure).

``graft.py`` refuses to repair a wheel whose ELF file needs a library the emulated loader did
not find (exit 9). The reason carries auditwheel's sentence (``Cannot repair wheel, because
required library "<soname>" could not be located``), then what wheelfix knows and auditwheel
does not say: copies of that name the search met and skipped (another ELF class, byte order or
machine, with their paths), and a hint that fits the search lists actually used, so it never
says "set LD_LIBRARY_PATH" when ``--ldpaths`` made wheelfix ignore it.
"""

from __future__ import annotations

from collections.abc import Sequence

from wheelfix.elf import ElfHeader, Soname
from wheelfix.ldpaths import SearchPaths
from wheelfix.resolve import ElfTree

__all__ = ["describe_header", "not_found_reason", "search_hint"]


def describe_header(header: ElfHeader | None) -> str:
    """``a 32-bit i686 ELF file``, ``a 64-bit big-endian ELF file for e_machine 22``..."""
    if header is None:
        return "not an ELF file"
    endian = "" if header.little_endian else " big-endian"
    what = header.arch or f"for e_machine {header.machine}"
    if header.arch:
        return f"a {header.elf_class}-bit{endian} {what} ELF file"
    return f"a {header.elf_class}-bit{endian} ELF file {what}"


def search_hint(paths: SearchPaths) -> str:
    """Where to put the missing library's directory, for the search lists that were used."""
    if paths.cross_android:
        return (
            "an Android wheel is cross-compiled: only --ldpaths and AUDITWHEEL_LD_LIBRARY_PATH"
            " are searched, not LD_LIBRARY_PATH or the build machine's directories"
        )
    if not paths.ldpaths_given:
        return "set LD_LIBRARY_PATH or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude"
    if paths.ignored_env:
        return (
            "--ldpaths replaced the default search path and LD_LIBRARY_PATH"
            f" ({':'.join(paths.ignored_env)}), which was not searched: add the library's"
            " directory to --ldpaths or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude"
        )
    return (
        "--ldpaths replaced the default search path and LD_LIBRARY_PATH: add the library's"
        " directory to --ldpaths or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude"
    )


def not_found_reason(
    tree: ElfTree | None, missing: Sequence[Soname], paths: SearchPaths, wheel_arch: str
) -> str:
    """The one-line reason for ``missing`` (sorted sonames, at least one) in ``tree``."""
    first, *others = missing
    parts = [f'Cannot repair wheel, because required library "{first}" could not be located']
    if others:
        parts.append(f" (nor could {', '.join(others)})")
    skipped = [
        (path, header)
        for name in missing
        for path, header in (
            tree.libraries[name].skipped if tree and name in tree.libraries else ()
        )
    ]
    if tree is not None and skipped:
        what = "a copy of the wrong architecture" if all(h for _, h in skipped) else "a file"
        listed = ", ".join(f"{path} ({describe_header(header)})" for path, header in skipped)
        wanted = f"a {tree.root.info.header.elf_class}-bit {wheel_arch} ELF file"
        parts.append(f"; {what} was found and skipped: {listed}; the wheel needs {wanted}")
    parts.append(f" ({search_hint(paths)})")
    return "".join(parts)
