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
        if requested.elf_arch != scan.arch:
            raise PolicyError(
                wheel,
                f"cannot repair a wheel with {scan.arch} architecture to"
                f" {requested.base}_{requested.arch}",
            )
        if requested.libc is not scan.libc:
            raise PolicyError(
                wheel,
                f"cannot repair a {scan.libc.value} wheel to {requested.base}_{requested.arch}",
            )
        target = verdict.policies.find(f"{requested.base}_{requested.arch}")
        if target is None:
            raise PolicyError(wheel, f"no policy {requested.base}_{requested.arch}")
    else:
        target = verdict.repair_overall()
        if target.is_linux:
            target = verdict.policies.newest
    try:
        _check_reachable(audit, target)
    except PolicyError as error:
        if requested is None:
            family = verdict.policies.libc.family
            reason = error.reason.replace(
                f"cannot repair to {target.name}", f"no {family} tag is reachable"
            )
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
        detail = "; ".join(bad) or verdict.sym.name
        reason = f"too-recent versioned symbols ({detail}); build on an older toolchain"
    elif blocker.kind is BlockerKind.BLACKLIST:
        used = verdict.external[name].blacklist
        listed = "; ".join(f"{lib}: {', '.join(s)}" for lib, s in used.items())
        reason = f"depends on blacklisted symbols ({listed})"
    elif blocker.kind is BlockerKind.ISA:
        reason = (
            f"depends on unsupported ISA extensions ({', '.join(blocker.names)});"
            " see --disable-isa-ext-check"
        )
    elif blocker.kind is BlockerKind.UCS2:
        reason = "built against a UCS2 Python"
    else:
        reason = "uses PyFPE_jbuf"
    raise PolicyError(wheel, f"cannot repair to {name}: {reason}")


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
