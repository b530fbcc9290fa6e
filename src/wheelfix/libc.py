"""Scan stage helpers: which architecture and C library a wheel targets (pure functions).

The answer comes from the wheel's platform tags when they tell, else from the ELF files
(PT_INTERP, DT_NEEDED, the extension file name suffix). Android wheels (PEP 738,
``android_<api>_<abi>``) are known by their tag alone: a Bionic ELF needs plain ``libc.so``,
which a musl toolchain may link too, so the tag decides.
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

ANDROID_ABIS = {"arm64_v8a": "aarch64", "x86_64": "x86_64", "armeabi_v7a": "armv7l", "x86": "i686"}
"""PEP 738's Android ABI names -> the ELF architecture they are built for."""

_ANDROID_RE = re.compile(r"^(?P<base>android_(?P<api>\d+))_(?P<abi>[a-z0-9_]+)$")


class Libc(enum.Enum):
    """The C library a wheel is built for."""

    GLIBC = "glibc"
    MUSL = "musl"
    ANDROID = "android"

    @property
    def family(self) -> str:
        """The platform tag family: ``manylinux``, ``musllinux`` or ``android``."""
        return {"glibc": "manylinux", "musl": "musllinux"}.get(self.value, self.value)


def split_platform(platform: str) -> tuple[str, str] | None:
    """``manylinux_2_17_x86_64`` -> (``manylinux_2_17``, ``x86_64``); None if not Linux.

    An Android tag splits into its API level and ABI name: ``android_24_arm64_v8a`` ->
    (``android_24``, ``arm64_v8a``).
    """
    android = _ANDROID_RE.match(platform)
    if android is not None:
        return android.group("base"), android.group("abi")
    match = _PLATFORM_RE.match(platform)
    if match is None:
        return None
    arch = match.group("arch")
    return platform[: -len(arch) - 1], arch


def android_api_level(platform: str) -> int | None:
    """The API level of an ``android_<api>_<abi>`` tag (also of a policy name), else None."""
    match = _ANDROID_RE.match(platform)
    return int(match.group("api")) if match is not None else None


def platform_arch(platform: str) -> str | None:
    """The ELF architecture a Linux or Android platform tag is for (``arm64_v8a`` ->
    ``aarch64``); None when the tag is neither."""
    parts = split_platform(platform)
    if parts is None:
        return None
    if android_api_level(platform) is not None:
        return ANDROID_ABIS.get(parts[1], parts[1])
    return parts[1]


def wheel_arch(platforms: Iterable[str], wheel: str) -> str | None:
    """The single architecture of the wheel's platform tags, or None for ``any``."""
    arches = set()
    for platform in platforms:
        if platform == "any":
            continue
        arch = platform_arch(platform)
        if arch is None:
            raise InvalidWheelError(wheel, f"platform tag {platform!r} is not a Linux tag")
        arches.add(arch)
    if len(arches) > 1:
        raise InvalidWheelError(
            wheel, f"wheels with multiple architectures are not supported, got {sorted(arches)}"
        )
    return next(iter(arches), None)


def wheel_libc(platforms: Iterable[str]) -> Libc | None:
    """The libc the platform tags promise, or None when only ``linux_*``/``any`` tags exist."""
    for platform in platforms:
        if android_api_level(platform) is not None:
            return Libc.ANDROID
        if platform.startswith("musllinux"):
            return Libc.MUSL
        if platform.startswith("manylinux"):
            return Libc.GLIBC
    return None


def detect_elf_libc(info: ElfInfo, filename: str) -> Libc | None:
    """What one ELF file says about its libc: interpreter, DT_NEEDED, then name suffix.

    Android's loader (``/system/bin/linker64``) and extension suffix (``-linux-android.so``)
    say Bionic; its ``libc.so`` does not (musl toolchains link that name too).
    """
    interpreter = info.interpreter
    if interpreter is not None:
        if interpreter.startswith("/system/bin/linker"):
            return Libc.ANDROID
        return Libc.MUSL if "ld-musl-" in interpreter else Libc.GLIBC
    for needed in info.needed:
        if needed.startswith(("libc.musl-", "ld-musl-")):
            return Libc.MUSL
        if needed == "libc.so.6" or needed.startswith(("ld-linux", "ld64.so")):
            return Libc.GLIBC
    suffix = re.search(r"-linux-(musl|android)[a-z0-9]*\.so$", filename)
    if suffix is None:
        return None
    return Libc.MUSL if suffix.group(1) == "musl" else Libc.ANDROID
