"""Policy data: the manylinux, musllinux and Android tables, loaded into :class:`Policy` values.

The tables in ``data/`` are auditwheel 6.8.2's policy files (public data; see ``data/ORIGIN.md``).
Android wheels get one policy named after their own tag (``android.py``).
A policy applies to an architecture when the table lists symbol versions for it. Priorities
order policies: higher means older and more compatible; ``linux`` is 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering
from importlib import resources
from typing import Any

from wheelfix.libc import KNOWN_ARCHES, Libc, android_api_level, split_platform

_MUSL_LIBC = {
    "x86_64": "libc.musl-x86_64.so.1",
    "i686": "libc.musl-x86.so.1",
    "aarch64": "libc.musl-aarch64.so.1",
    "s390x": "libc.musl-s390x.so.1",
    "ppc64le": "libc.musl-ppc64le.so.1",
    "armv7l": "libc.musl-armv7.so.1",
    "riscv64": "libc.musl-riscv64.so.1",
    "loongarch64": "libc.musl-loongarch64.so.1",
}


@total_ordering
@dataclass(frozen=True)
class Policy:
    """One platform policy for one architecture, e.g. ``manylinux_2_17_x86_64``."""

    name: str
    """Full tag, e.g. ``manylinux_2_17_x86_64`` (``linux_x86_64`` for the catch-all)."""
    aliases: tuple[str, ...]
    """Legacy names, e.g. ``('manylinux2014_x86_64',)``."""
    priority: int
    """Higher is older and more compatible; ``linux`` is 0."""
    symbol_versions: tuple[tuple[str, frozenset[str]], ...]
    """Allowed versions per prefix, as full names: (``GLIBC``, {``GLIBC_2.17``, ...})."""
    whitelist: frozenset[str]
    """Sonames the platform guarantees."""
    blacklist: tuple[tuple[str, frozenset[str]], ...]
    """Symbols of whitelisted libraries that must not be used, per soname."""

    @property
    def base_name(self) -> str:
        """The name without its architecture: ``manylinux_2_17``."""
        parts = split_platform(self.name)
        return parts[0] if parts else self.name

    @property
    def is_android(self) -> bool:
        """True for an ``android_<api>_<abi>`` policy (PEP 738)."""
        return android_api_level(self.name) is not None

    @property
    def is_linux(self) -> bool:
        """True for the catch-all ``linux_<arch>`` policy."""
        return self.priority == 0

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return self.priority < other.priority

    def symbol_map(self) -> dict[str, frozenset[str]]:
        """``symbol_versions`` as a dict."""
        return dict(self.symbol_versions)

    def blacklist_map(self) -> dict[str, frozenset[str]]:
        """``blacklist`` as a dict."""
        return dict(self.blacklist)

    def disallowed_versions(self, versions: Iterable[str]) -> list[str]:
        """The symbol versions this policy does not allow, sorted (the one symbol rule).

        A version is checked against the policy's list for its prefix (``GLIBC``,
        ``CXXABI``...); prefixes the policy does not list are not restricted, and
        ``GLIBC_PRIVATE`` is never allowed. ``linux`` allows everything.
        """
        if self.is_linux:
            return []
        allowed = self.symbol_map()
        bad = set()
        for version in versions:
            prefix = version.partition("_")[0]
            if version == "GLIBC_PRIVATE" or (prefix in allowed and version not in allowed[prefix]):
                bad.add(version)
        return sorted(bad)


def load_table(libc: Libc) -> list[dict[str, Any]]:
    """The raw policy table for a libc."""
    filename = f"{libc.family}-policy.json"
    text = resources.files("wheelfix.policy").joinpath("data").joinpath(filename).read_text("utf-8")
    table: list[dict[str, Any]] = json.loads(text)
    return table


@dataclass(frozen=True)
class PolicySet:
    """The policies that apply to one (libc, architecture), sorted from ``linux`` upwards."""

    libc: Libc
    """The C library family."""
    arch: str
    """The architecture, e.g. ``aarch64``."""
    policies: tuple[Policy, ...]
    """``linux`` first, then newest to oldest (ascending priority)."""

    @property
    def linux(self) -> Policy:
        """The catch-all policy."""
        return self.policies[0]

    @property
    def highest(self) -> Policy:
        """The most compatible (oldest) policy."""
        return self.policies[-1]

    @property
    def newest(self) -> Policy:
        """The least compatible real policy (largest whitelist)."""
        return self.policies[1] if len(self.policies) > 1 else self.policies[0]

    def find(self, name: str) -> Policy | None:
        """A policy by full name or alias, with or without the architecture suffix."""
        for policy in self.policies:
            names = (policy.name, *policy.aliases)
            if name in names or f"{name}_{self.arch}" in names:
                return policy
        return None


def _policy(raw: dict[str, Any], libc: Libc, arch: str) -> Policy:
    symbols = raw["symbol_versions"].get(arch, {}) if raw["name"] != "linux" else {}
    whitelist = set(raw["lib_whitelist"])
    if libc is Libc.MUSL and "libc.so" in whitelist and arch in _MUSL_LIBC:
        # Keep "libc.so" too: musl's loader maps every DT_NEEDED "libc.*" to itself (reserved
        # names in ldso/dynlink.c), and Rust/zig musl toolchains link against "libc.so".
        whitelist.add(_MUSL_LIBC[arch])
    return Policy(
        name=f"{raw['name']}_{arch}",
        aliases=tuple(f"{alias}_{arch}" for alias in raw["aliases"]),
        priority=int(raw["priority"]),
        symbol_versions=tuple(
            sorted(
                (prefix, frozenset(f"{prefix}_{v}" for v in vs)) for prefix, vs in symbols.items()
            )
        ),
        whitelist=frozenset(whitelist),
        blacklist=tuple(sorted((lib, frozenset(s)) for lib, s in raw["blacklist"].items())),
    )


def policy_set(
    libc: Libc,
    arch: str,
    musl_policy: str | None = None,
    *,
    android_platform: str | None = None,
    wheel: str | None = None,
) -> PolicySet:
    """The policies for ``libc``/``arch``.

    For musl only one real policy is active, as in auditwheel: musl has no symbol versions, so
    nothing in a binary tells musllinux_1_1 from 1_2. It is ``musl_policy`` (e.g. from
    ``--plat``) or else the newest known one. For Android it is the one for the wheel's own
    tag, ``android_platform`` (:class:`~wheelfix.errors.PolicyError` about ``wheel`` when there
    is none).
    """
    if libc is Libc.ANDROID:
        from wheelfix.policy.android import android_policies

        if android_platform is None:
            raise ValueError("an Android policy set needs the wheel's platform tag")
        pair = android_policies(
            load_table(libc),
            arch,
            android_platform,
            lambda raw: _policy(raw, libc, arch),
            wheel or android_platform,
        )
        return PolicySet(libc=libc, arch=arch, policies=pair)
    entries = [
        _policy(raw, libc, arch)
        for raw in load_table(libc)
        if raw["name"] == "linux" or arch in raw["symbol_versions"]
    ]
    entries.sort()
    if libc is Libc.MUSL and len(entries) > 1:
        chosen = [p for p in entries[1:] if p.base_name == musl_policy] or [entries[1]]
        entries = [entries[0], chosen[0]]
    return PolicySet(libc=libc, arch=arch, policies=tuple(entries))


def all_platform_names() -> list[str]:
    """Every policy name and alias for every known architecture (for ``--plat``)."""
    names: list[str] = []
    for libc in (Libc.GLIBC, Libc.MUSL):  # an Android wheel keeps its own tag
        for raw in load_table(libc):
            if raw["name"] == "linux":
                continue
            for arch in KNOWN_ARCHES:
                if arch in raw["symbol_versions"]:
                    names.append(f"{raw['name']}_{arch}")
                    names.extend(f"{alias}_{arch}" for alias in raw["aliases"])
    return names
