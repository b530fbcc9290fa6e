"""Between policy and graft: choose the tag repair aims for, or explain why it cannot (pure).

``auto`` takes the best tag reachable by grafting; an explicit ``--plat`` must match the
wheel's architecture and libc (an Android wheel's only policy is its own tag) and must not be older than the wheel's symbols, blacklist and ISA
level allow. Failures name the offending files and symbol versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wheelfix.elf import ElfInfo
from wheelfix.errors import PolicyError
from wheelfix.libc import Libc, android_api_level, platform_arch, split_platform
from wheelfix.policy import Policy, all_platform_names
from wheelfix.policy.blockers import BlockerKind, blockers
from wheelfix.policy.evaluate import is_loader

if TYPE_CHECKING:
    from wheelfix.results import Audit


@dataclass(frozen=True)
class RequestedPlatform:
    """A ``--plat`` value, parsed."""

    base: str
    """e.g. ``manylinux_2_17`` or the alias ``manylinux2014``."""
    arch: str
    """e.g. ``x86_64``."""

    @property
    def libc(self) -> Libc:
        """The libc the tag family implies."""
        if self.base.startswith("android_"):
            return Libc.ANDROID
        return Libc.MUSL if self.base.startswith("musllinux") else Libc.GLIBC

    @property
    def elf_arch(self) -> str:
        """The ELF architecture: ``arch``, or what an Android ABI name stands for."""
        return platform_arch(f"{self.base}_{self.arch}") or self.arch


def parse_plat(value: str) -> RequestedPlatform | None:
    """Parse ``--plat``: None for ``auto``; PolicyError for unknown names."""
    if value == "auto":
        return None
    if value not in all_platform_names() and android_api_level(value) is None:
        raise PolicyError("--plat", f"unknown platform tag {value!r}")
    parts = split_platform(value)
    assert parts is not None
    return RequestedPlatform(base=parts[0], arch=parts[1])


def offending_versions(audit: Audit, target: Policy, grafted: Iterable[str]) -> list[str]:
    """``file: VERSION`` for every required symbol version the target does not allow."""
    found: list[str] = []
    sources: list[tuple[str, ElfInfo]] = [(elf.path, elf.info) for elf in audit.scan.elves]
    for tree in audit.trees.values():
        for name, lib in tree.libraries.items():
            if name in grafted and lib.info is not None:
                sources.append((str(lib.realpath), lib.info))
    for source, info in sources:
        for library, versions in info.version_requirements:
            if is_loader(library):
                continue
            bad = target.disallowed_versions(versions)
            if bad:
                found.append(f"{source}: {', '.join(bad)}")
    return sorted(set(found))


def choose_target(audit: Audit, requested: RequestedPlatform | None) -> Policy:
    """The policy repair writes, after checking the wheel can reach it."""
    verdict = audit.verdict
    scan = audit.scan
    wheel = str(scan.wheel)
    if requested is not None:
        plat = f"{requested.base}_{requested.arch}"
        if requested.elf_arch != scan.arch:
            raise PolicyError(
                wheel,
                f"can't repair wheel {scan.wheel.name} with {scan.arch} architecture to a"
                f" wheel targeting {requested.arch} (--plat {plat})",
            )
        if requested.libc is not scan.libc:
            raise PolicyError(
                wheel,
                f"can't repair wheel {scan.wheel.name} with {scan.libc.name} libc to a wheel"
                f" targeting {requested.libc.name} (--plat {plat})",
            )
        target = verdict.policies.find(plat)
        if target is None:
            raise PolicyError(wheel, f"no policy named {plat!r} found")
    else:
        target = verdict.repair_overall()
        if target.is_linux:
            target = verdict.policies.newest
    try:
        _check_reachable(audit, target)
    except PolicyError as error:
        if requested is None:
            family = verdict.policies.libc.family
            reason = f"{error.reason} No {family} tag is reachable (--plat auto)."
            raise PolicyError(error.subject, reason) from None
        raise
    return target


def _check_reachable(audit: Audit, target: Policy) -> None:
    verdict = audit.verdict
    found = blockers(verdict, target, grafting=True)
    if not found:
        return
    wheel = str(audit.scan.wheel)
    blocker, name = found[0], target.name
    if blocker.kind is BlockerKind.SYMBOLS:
        bad = offending_versions(audit, target, verdict.external[name].libs)
        detail = "; ".join(bad) or f"they need {verdict.sym.name}"
        reason = (
            "because of the presence of too-recent versioned symbols. You'll need to compile"
            f" the wheel on an older toolchain. Too recent: {detail}."
        )
    elif blocker.kind is BlockerKind.BLACKLIST:
        used = verdict.external[name].blacklist
        listed = "; ".join(f"From {lib}: {', '.join(s)}" for lib, s in used.items())
        reason = f"because it depends on black-listed symbols. {listed}."
    elif blocker.kind is BlockerKind.ISA:
        reason = (
            "because it depends on unsupported ISA extensions."
            f" Files: {', '.join(blocker.names)}; see --disable-isa-ext-check."
        )
    elif blocker.kind is BlockerKind.UCS2:
        reason = (
            "because it was compiled against a UCS2 build of Python. You'll need to compile"
            " the wheel against a wide-unicode build of Python."
        )
    else:
        reason = (
            "because it uses the PyFPE_jbuf function, which is not compatible with the"
            " manylinux/musllinux tags."
        )
    raise PolicyError(wheel, f'cannot repair "{audit.scan.wheel.name}" to "{name}" ABI {reason}')


def tags_to_write(audit: Audit, target: Policy, *, only_plat: bool) -> list[str]:
    """The target and its aliases, plus a better tag the grafted wheel also meets."""
    verdict = audit.verdict
    names = [target.name, *target.aliases]
    if only_plat:
        return names
    better = verdict.repair_overall(target.base_name)
    grafted = set(verdict.external[target.name].libs)
    if better > target and set(verdict.external[better.name].libs) <= grafted:
        names = [better.name, *better.aliases, *names]
    return names
