"""What callers tell the pipeline: audit and repair options and the progress callback.

Every stage reads its settings from these frozen values; none of them imports the pipeline.
``None`` for the environment means the host's (``os.environ``), for the parser the default
pure-Python reader (``elf/pyread.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from wheelfix.cache import DEFAULT_CACHE_MAX_BYTES
from wheelfix.elf import ElfInfo
from wheelfix.wheel import DEFAULT_MAX_UNCOMPRESSED
from wheelfix.writer import ZipSettings

__all__ = [
    "QUIET",
    "AuditOptions",
    "ElfParser",
    "Progress",
    "RepairOptions",
    "ZipSettings",
    "lib_sdir_problem",
]

ElfParser = Callable[[bytes, str], ElfInfo]
"""Turns ELF bytes (and a name for messages) into an :class:`ElfInfo`."""


@dataclass(frozen=True)
class AuditOptions:
    """How to audit: the knobs ``show``, ``check`` and ``repair`` share."""

    ldpaths: str | None = None
    """``--ldpaths``: replaces ld.so.conf and the default directories."""
    sysroot: Path | None = None
    """``--sysroot``: look every host path up under this directory."""
    environ: Mapping[str, str] | None = None
    """Where ``LD_LIBRARY_PATH`` and ``AUDITWHEEL_LD_LIBRARY_PATH`` come from; None: the
    host's environment."""
    exclude: Sequence[str] = ()
    """``--exclude`` globs (soname or resolved path)."""
    disable_isa_ext_check: bool = False
    """``--disable-isa-ext-check``."""
    musl_policy: str | None = None
    """Which musllinux policy to evaluate (``musllinux_1_1``/``1_2``); default the newest."""
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED
    """Zip-bomb guard: the most uncompressed bytes a wheel (or one input file) may hold."""
    parse: ElfParser | None = None
    """How ELF bytes are parsed; None: the pure-Python ``elf.pyread`` (no LIEF import)."""
    graft_anyway: Sequence[str] = ()
    """``--graft-anyway`` globs: sonames on the never-graft list (GPU and display drivers,
    ``data/never_graft.json``) that are grafted all the same."""
    allow_pure: bool = False
    """``--allow-pure-python-wheel``: a wheel named ``...-any.whl`` with no ELF file is
    accepted (``check`` passes it, ``repair`` copies it unchanged) instead of failing."""


class Progress(Protocol):
    """Receives one line per step of a repair (the CLI prints them on stderr)."""

    def __call__(self, message: str) -> None: ...


class _Quiet:
    """The default progress sink: says nothing."""

    def __call__(self, message: str) -> None:
        del message


QUIET: Progress = _Quiet()
"""A progress sink that prints nothing (the library's default)."""


_LIB_SDIR_FORBIDDEN = {
    ":": "a ':' would split the RPATH in two",
    "$": "a '$' would be expanded by the loader ($ORIGIN, $LIB, $PLATFORM)",
    "\\": "a backslash is not allowed in wheel member names",
}


def lib_sdir_problem(value: str) -> str | None:
    """Why ``-L VALUE`` would make a broken wheel, or None when it is safe (pure)."""
    for char, reason in _LIB_SDIR_FORBIDDEN.items():
        if char in value:
            return reason
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "control characters are not allowed"
    first, *rest = value.split("/")
    if any(part in ("", ".", "..") for part in rest):
        return "'/'-separated parts may not be empty, '.' or '..'"
    if any(part.endswith((".dist-info", ".data")) for part in (first, *rest)):
        return "a directory ending in .dist-info or .data would be taken for wheel metadata"
    return None


@dataclass(frozen=True)
class RepairOptions:
    """How to repair: ``wheelfix repair``'s flags beyond the audit's."""

    wheel_dir: Path = Path("wheelhouse")
    """``-w``: where the repaired wheel goes."""
    plat: str = "auto"
    """``--plat``: the target tag, or ``auto``."""
    lib_sdir: str = ".libs"
    """``-L``: suffix of the grafted libraries' directory."""
    only_plat: bool = False
    """``--only-plat``: write only the requested tag."""
    update_tags: bool = True
    """False with ``--no-update-tags``."""
    strip: bool = False
    """``--strip``."""
    zip: ZipSettings = field(default_factory=ZipSettings)
    """Compression level and timestamp."""
    overwrite: bool = True
    """Replace an existing output file (atomically)."""
    isolate: bool = True
    """Rewrite ELF files in a worker process, so a LIEF crash becomes an error line."""
    sbom: bool = True
    """Write a CycloneDX SBOM of the grafted libraries into ``.dist-info/sboms/``."""
    licenses: bool = True
    """Copy the grafted libraries' license files into ``.dist-info/licenses/`` (PEP 639);
    False with ``--no-licenses``."""
    jobs: int | None = None
    """``-j``: LIEF worker processes (None: one per usable core); never changes the bytes."""
    cache_dir: Path | None = None
    """Cache of rewritten, compressed grafted libraries (None: none; the CLI's default is
    ``wheelfix.cache.default_cache_dir``)."""
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    """The cache's size bound (least recently used entries go first)."""
    include: Sequence[str] = ()
    """``--include``: libraries no DT_NEEDED names (plugins opened with ``dlopen``) to graft under
    the name ``dlopen`` asks for; a value with a ``/`` is a path, else a soname to look up."""

    def __post_init__(self) -> None:
        problem = lib_sdir_problem(self.lib_sdir)
        if problem is not None:
            raise ValueError(f"lib_sdir {self.lib_sdir!r}: {problem}")
