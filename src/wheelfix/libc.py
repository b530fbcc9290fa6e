"""Scan stage helpers: which architecture and C library a wheel targets (pure functions).

The answer comes from the wheel's platform tags when they tell, else from the ELF files
(PT_INTERP, DT_NEEDED, the extension file name suffix).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from wheelfix.errors import InvalidWheelError

if TYPE_CHECKING:
    from wheelfix.elf import ElfInfo

KNOWN_ARCHES = (
    "x86_64",
    "i686",
    "aarch64",
    "armv7l",
    "ppc64le",
    "ppc64",
    "s390x",
    "riscv64",
    "loongarch64",
)

_PLATFORM_RE = re.compile(
    r"^(?:(?P<family>manylinux|musllinux)_\d+_\d+|(?P<legacy>manylinux1|manylinux2010|manylinux2014)"
    r"|(?P<linux>linux))_(?P<arch>.+)$"
)


class Libc(enum.Enum):
    """The C library a wheel is built for."""

    GLIBC = "glibc"
    MUSL = "musl"

    @property
    def family(self) -> str:
        """The platform tag family: ``manylinux`` or ``musllinux``."""
        return "manylinux" if self is Libc.GLIBC else "musllinux"


def split_platform(platform: str) -> tuple[str, str] | None:
    """``manylinux_2_17_x86_64`` -> (``manylinux_2_17``, ``x86_64``); None if not Linux."""
    match = _PLATFORM_RE.match(platform)
    if match is None:
        return None
    arch = match.group("arch")
    return platform[: -len(arch) - 1], arch


def wheel_arch(platforms: Iterable[str], wheel: str) -> str | None:
    """The single architecture of the wheel's platform tags, or None for ``any``."""
    arches = set()
    for platform in platforms:
        if platform == "any":
            continue
        parts = split_platform(platform)
        if parts is None:
            raise InvalidWheelError(wheel, f"platform tag {platform!r} is not a Linux tag")
        arches.add(parts[1])
    if len(arches) > 1:
        raise InvalidWheelError(
            wheel, f"platform tags name several architectures: {sorted(arches)}"
        )
    return next(iter(arches), None)


def wheel_libc(platforms: Iterable[str]) -> Libc | None:
    """The libc the platform tags promise, or None when only ``linux_*``/``any`` tags exist."""
    for platform in platforms:
        if platform.startswith("musllinux"):
            return Libc.MUSL
        if platform.startswith("manylinux"):
            return Libc.GLIBC
    return None


def detect_elf_libc(info: ElfInfo, filename: str) -> Libc | None:
    """What one ELF file says about its libc: interpreter, DT_NEEDED, then name suffix."""
    if info.interpreter is not None:
        return Libc.MUSL if "ld-musl-" in info.interpreter else Libc.GLIBC
    for needed in info.needed:
        if needed.startswith(("libc.musl-", "ld-musl-")):
            return Libc.MUSL
        if needed == "libc.so.6" or needed.startswith(("ld-linux", "ld64.so")):
            return Libc.GLIBC
    if re.search(r"-linux-musl[a-z0-9]*\.so$", filename):
        return Libc.MUSL
    return None
