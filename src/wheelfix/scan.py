"""Stage 1, scan: a wheel becomes a :class:`ScanResult`, with an :class:`ElfInfo` for every ELF.

ELF files are found by their magic bytes among *all* members, not by extension and not only
among those listed in RECORD. The wheel's architecture and libc are decided here, from the file
name first and the ELF files second, because every later stage depends on them. An Android
wheel (``android_<api>_<abi>``, PEP 738) has exactly one platform tag, and its ELF files that
link glibc or musl are left out, as auditwheel does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from wheelfix.elf import ElfInfo, is_elf
from wheelfix.errors import (
    InvalidElfError,
    InvalidWheelError,
    NonPlatformWheelError,
)
from wheelfix.libc import Libc, detect_elf_libc, wheel_arch, wheel_libc
from wheelfix.options import ElfParser
from wheelfix.wheel import Member, MemberPath, WheelName, WheelReader


@dataclass(frozen=True)
class ScannedElf:
    """One ELF member of the wheel with what the scan read from it."""

    member: Member
    """The archive member."""
    info: ElfInfo
    """Dynamic information read from its bytes (``elf.pyread``)."""
    python_version: int | None
    """3 or 2 when the file is a Python extension for the module its name gives, else None."""

    @property
    def path(self) -> MemberPath:
        """The member's name in the archive."""
        return self.member.path

    @property
    def install_path(self) -> PurePosixPath:
        """Where the file lands when installed, relative to site-packages."""
        return self.member.install_path


@dataclass(frozen=True)
class ScanResult:
    """Everything the later stages need to know about the wheel's content."""

    wheel: Path
    """The wheel file (for messages; the stages after scan do not read it)."""
    name: WheelName
    """Its parsed file name: distribution, version, tags."""
    arch: str
    """The architecture every considered ELF is built for, e.g. ``x86_64``."""
    libc: Libc
    """The C library the wheel targets."""
    libc_guessed: bool
    """True when nothing in the wheel told the libc and the default was assumed."""
    elves: tuple[ScannedElf, ...]
    """The ELF members of the wheel's architecture, sorted by path."""
    ignored: tuple[tuple[MemberPath, str], ...]
    """ELF members left out, with the reason (other architecture, other libc)."""

    def top_level(self) -> tuple[ScannedElf, ...]:
        """Extensions, plus other ELFs that no ELF of the wheel names in DT_NEEDED."""
        needed = {name for elf in self.elves for name in elf.info.needed}
        return tuple(
            e
            for e in self.elves
            if e.python_version is not None or PurePosixPath(e.path).name not in needed
        )


def find_elf_members(reader: WheelReader) -> list[Member]:
    """Members whose first bytes are the ELF magic."""
    return [m for m in reader.members if m.size >= 52 and is_elf(reader.read_head(m.path, 4))]


def scan_wheel(reader: WheelReader, parse: ElfParser) -> ScanResult:
    """Read every ELF member and decide the wheel's architecture and libc."""
    name = reader.name
    wheel = str(reader.path)
    arch = wheel_arch(name.platforms, wheel)
    libc = wheel_libc(name.platforms)
    if libc is Libc.ANDROID and len(set(name.platforms)) != 1:
        raise InvalidWheelError(
            wheel,
            f"Android wheels must have exactly one platform tag, got {sorted(set(name.platforms))}",
        )
    scanned: list[ScannedElf] = []
    ignored: list[tuple[MemberPath, str]] = []
    in_purelib: list[str] = []
    for member in find_elf_members(reader):
        label = f"{wheel}!{member.path}"
        info = parse(reader.read(member.path), label)
        elf_arch = info.header.arch
        if elf_arch is None:
            ignored.append((member.path, "unknown architecture"))
            continue
        if arch is None:
            arch = elf_arch
        if elf_arch != arch:
            ignored.append((member.path, f"{elf_arch} architecture"))
            continue
        parts = PurePosixPath(member.path).parts
        if len(parts) > 2 and parts[0].endswith(".data") and parts[1] == "purelib":
            # Only the .data/purelib/ directory, as auditwheel: a Root-Is-Purelib wheel's root
            # is audited (the repaired wheel says Root-Is-Purelib: false).
            in_purelib.append(member.path)
        if libc is Libc.ANDROID:
            other = detect_elf_libc(info, member.path)
            if other is not None and other is not Libc.ANDROID:
                ignored.append((member.path, f"{other.value} libc"))
                continue
        version = info.python_extension_version(member.path)
        scanned.append(ScannedElf(member=member, info=info, python_version=version))
    if in_purelib:
        raise InvalidWheelError(
            wheel,
            "Invalid binary wheel, found the following shared library/libraries in purelib"
            f" folder: {', '.join(sorted(in_purelib))}; the wheel has to be platlib compliant"
            " in order to be repaired",
        )
    if not scanned:
        raise NonPlatformWheelError(wheel, _no_platform_reason(arch, ignored))
    libc, guessed = _settle_libc(libc, scanned, wheel)
    assert arch is not None
    return ScanResult(
        wheel=reader.path,
        name=reader.name,
        arch=arch,
        libc=libc,
        libc_guessed=guessed,
        elves=tuple(sorted(scanned, key=lambda e: e.path)),
        ignored=tuple(ignored),
    )


NO_ELF_FOUND = "no ELF executable or shared library file (including compiled Python C extension)"
"""auditwheel's words for a wheel without a usable ELF file (both of its messages use them)."""


def _no_platform_reason(arch: str | None, ignored: list[tuple[MemberPath, str]]) -> str:
    found = ", ".join(f"{path} ({why})" for path, why in ignored)
    if arch is None or not ignored:
        reason = (
            f"This does not look like a platform wheel, {NO_ELF_FOUND} found in the wheel archive"
        )
        if found:
            return f"{reason}; ignored: {found}"
        if arch is None:  # every platform tag is `any`: a pure Python wheel
            return f"{reason} (a pure Python wheel: --allow-pure-python-wheel accepts it)"
        return reason
    return (
        f"Invalid binary wheel: {NO_ELF_FOUND} with a {arch!r} architecture found."
        f" The following ELF files were found: {found}"
    )


def _settle_libc(
    from_name: Libc | None, scanned: list[ScannedElf], wheel: str
) -> tuple[Libc, bool]:
    votes = {detect_elf_libc(e.info, e.path) for e in scanned} - {None, Libc.ANDROID}
    if from_name is Libc.ANDROID:
        return from_name, False
    if len(votes) > 1:
        raise InvalidElfError(wheel, "ELF files disagree on the C library (glibc and musl)")
    from_elves = next(iter(votes), None)
    if from_name is not None:
        return from_name, False
    if from_elves is not None:
        return from_elves, False
    return Libc.GLIBC, True
