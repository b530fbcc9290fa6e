"""Policy data for Android wheels (PEP 738): the one policy an ``android_<api>_<abi>`` wheel has.

An Android wheel's platform tag names the API level (OS version) it was built for, and repair
never changes it: the tag only decides which system libraries the wheel may link. The table in
``data/android-policy.json`` (auditwheel 6.8.2's) lists only the API levels at which the NDK's
stable libraries changed; a wheel gets the newest listed level not above its own, renamed to
its own tag. The set is then ``linux_<arch>`` and that one policy. Pure functions, no I/O
besides the packaged table.

Bionic's loader reads DT_RUNPATH only from API level 24 on, and ignores DT_RPATH entirely, so a
repaired Android wheel gets DT_RUNPATH entries, and one that needs them below level 24 cannot be
repaired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from wheelfix.elf import ElfEdit
from wheelfix.errors import PolicyError
from wheelfix.libc import android_api_level

if TYPE_CHECKING:
    from wheelfix.policy import Policy
    from wheelfix.wheel import MemberPath

__all__ = [
    "RUNPATH_MIN_API",
    "RUNPATH_REFUSAL",
    "android_edits",
    "android_policies",
    "needs_runpath",
    "runpath_refusal",
]

RUNPATH_MIN_API = 24
"""The first Android API level whose loader honours DT_RUNPATH."""

RUNPATH_REFUSAL = "Grafting libraries with RUNPATH requires API level 24 or higher"
"""auditwheel's sentence for an Android wheel below :data:`RUNPATH_MIN_API` that needs one."""


def android_policies(
    table: list[dict[str, Any]],
    arch: str,
    platform: str,
    make: Callable[[dict[str, Any]], Policy],
    subject: str,
) -> tuple[Policy, Policy]:
    """``linux_<arch>`` and the policy for the Android tag ``platform``, renamed to it.

    ``make(raw)`` turns one table row into a :class:`Policy` for ``arch``. Raises
    :class:`PolicyError` about ``subject`` (the wheel), in auditwheel's words, when no listed
    API level applies: the tag is
    below the first supported level (21), or the table has no entry for the architecture
    (``armeabi_v7a`` and ``x86`` wheels).
    """
    api = android_api_level(platform)
    rows = sorted(
        (make(raw) for raw in table if raw["name"] == "linux" or arch in raw["symbol_versions"]),
    )
    linux = rows[0]
    for policy in rows[1:]:
        level = android_api_level(policy.name)
        if api is not None and level is not None and level <= api:
            return linux, replace(policy, name=platform, aliases=())
    raise PolicyError(subject, f"no Android policies match the platform tag {platform!r}")


def needs_runpath(policy: Policy) -> bool:
    """True for an Android policy: a search path is written as DT_RUNPATH, never DT_RPATH."""
    return policy.is_android


def runpath_refusal(policy: Policy) -> str | None:
    """auditwheel's reason when ``policy`` is an Android tag below API level 24, else None."""
    api = android_api_level(policy.name)
    if api is not None and api < RUNPATH_MIN_API:
        return RUNPATH_REFUSAL
    return None


def android_edits(
    edits: Mapping[MemberPath, ElfEdit], target: Policy, wheel: str
) -> dict[MemberPath, ElfEdit]:
    """``edits`` with every new search path written as DT_RUNPATH for an Android ``target``
    (other targets' edits are returned as they are).

    Raises :class:`PolicyError` with auditwheel's sentence when the target's API level is below
    24 and some file needs a search path (an ELF that links a grafted library, or a grafted
    library that links another); clearing a path is always allowed.
    """
    if not target.is_android:
        return dict(edits)
    refusal = runpath_refusal(target)
    needing = sorted(path for path, edit in edits.items() if edit.rpath)
    if refusal is not None and needing:
        raise PolicyError(
            wheel,
            f"{refusal} (the tag is {target.name}; {needing[0]} would need DT_RUNPATH"
            f" {edits[needing[0]].rpath})",
        )
    return {
        path: replace(edit, runpath=True) if edit.rpath else edit for path, edit in edits.items()
    }
