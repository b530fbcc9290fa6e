"""Policy stage: scan and resolve results become a :class:`Verdict` (pure functions, no I/O).

Evaluation follows auditwheel's documented rules so that tags agree:

- external libraries per policy: DT_NEEDED minus the loader and the whitelist, closed over the
  non-whitelisted libraries' own DT_NEEDED, minus what resolves inside the wheel;
- symbol versions: set membership per prefix (``GLIBC``, ``GLIBCXX``...), unknown prefixes are
  ignored, ``GLIBC_PRIVATE`` fails every policy; the versions required by libraries that would
  be grafted for a policy count against that policy;
- blacklist: only undefined, non-weak symbols of an ELF that names the blacklisted library;
- an x86-64 ISA level above the baseline makes the wheel ``linux``, unless disabled;
- PyFPE and UCS2 symbols make the wheel ``linux``; libpython is an external library with no
  path (repair drops it), except for an Android policy, where linking it is normal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wheelfix.elf import ElfInfo, Soname
from wheelfix.policy import Policy, PolicySet
from wheelfix.resolve import LIBPYTHON_RE, ElfTree, FileRoot
from wheelfix.scan import ScanResult
from wheelfix.wheel import MemberPath

SymbolVersions = Mapping[Soname, frozenset[str]]


@dataclass(frozen=True)
class ExternalRefs:
    """What one policy would have to graft, and which blacklisted symbols stand in its way."""

    policy: Policy
    """The policy these references are computed for."""
    libs: Mapping[Soname, Path | None]
    """External libraries (not whitelisted, not in the wheel) and where they resolved."""
    blacklist: Mapping[Soname, tuple[str, ...]]
    """Blacklisted symbols used, per whitelisted library."""


@dataclass(frozen=True)
class Verdict:
    """The policy evaluation of a whole wheel."""

    policies: PolicySet
    """The policies that were considered."""
    sym: Policy
    """Best policy allowed by the symbol versions (grafted libraries included)."""
    ucs: Policy
    """``linux`` when UCS2 symbols are used, else the best policy."""
    pyfpe: Policy
    """``linux`` when PyFPE symbols are used, else the best policy."""
    blacklist: Policy
    """Best policy with no blacklisted symbol in use."""
    machine: Policy
    """Best policy allowed by the ISA level of the ELF files."""
    ref: Policy
    """Best policy that needs no grafting at all."""
    versioned_symbols: SymbolVersions
    """Symbol versions required, per library (for the chosen symbol policy)."""
    external: Mapping[str, ExternalRefs]
    """External references of the top-level ELF files, merged, per policy name."""
    per_elf: Mapping[MemberPath, Mapping[str, ExternalRefs]]
    """External references of every wheel ELF, per policy name (what repair patches)."""
    isa_offenders: tuple[str, ...] = ()
    """Files whose ISA level is above the baseline."""

    @property
    def show_overall(self) -> Policy:
        """The tag the wheel satisfies as it is, without grafting (``show``'s answer)."""
        return min(self.sym, self.ucs, self.pyfpe, self.blacklist, self.machine, self.ref)

    def graft_policy(self, requested_base: str | None) -> Policy:
        """Best policy that grafts no more libraries than needed for the requested family."""
        real = [e for e in self.external.values() if not e.policy.is_linux]
        if requested_base is not None:
            real = [e for e in real if e.policy.base_name == requested_base] or real
        fewest = min((len(e.libs) for e in real), default=0)
        return max(
            (e.policy for e in self.external.values() if len(e.libs) <= fewest),
            default=self.policies.linux,
        )

    def repair_overall(self, requested_base: str | None = None) -> Policy:
        """Best tag reachable by grafting (``repair``'s answer for ``auto``)."""
        return min(
            self.sym,
            self.ucs,
            self.pyfpe,
            self.blacklist,
            self.machine,
            self.graft_policy(requested_base),
        )


def is_loader(soname: str) -> bool:
    """True for the dynamic loader's own names (never external, never grafted)."""
    return (
        "ld-linux" in soname
        or soname in ("ld64.so.1", "ld64.so.2")
        or soname.startswith("ld-musl-")
    )


def versioned_symbols(infos: Iterable[ElfInfo]) -> dict[Soname, frozenset[str]]:
    """Symbol versions required from each library, the dynamic loader left out."""
    found: dict[Soname, set[str]] = {}
    for info in infos:
        for library, versions in info.version_requirements:
            if not is_loader(library):
                found.setdefault(library, set()).update(versions)
    return {k: frozenset(v) for k, v in found.items()}


def symbol_policy(policies: PolicySet, required: SymbolVersions) -> Policy:
    """The most compatible policy whose symbol sets contain everything required."""
    wanted = {version for versions in required.values() for version in versions}
    for policy in reversed(policies.policies):
        if not policy.disallowed_versions(wanted):
            return policy
    return policies.linux


def _filter_external(names: Iterable[Soname], policy: Policy) -> list[Soname]:
    # libpython stays in: linking it is forbidden in manylinux/musllinux wheels, so, as in
    # auditwheel, it is an external library with no path (repair removes the entry). On
    # Android an extension links libpython as a normal dependency.
    return [
        n
        for n in names
        if not is_loader(n)
        and n not in policy.whitelist
        and not (policy.is_android and LIBPYTHON_RE.match(n))
    ]


def external_refs(tree: ElfTree, policy: Policy) -> ExternalRefs:
    """External libraries and blacklisted symbols of one tree under one policy."""
    if policy.is_linux:
        return ExternalRefs(policy, {}, {})
    info = tree.root.info
    todo = _filter_external(info.loaded_names, policy)
    closure: list[Soname] = []
    while todo:
        name = todo.pop(0)
        if name in closure or name not in tree.libraries:
            continue
        closure.append(name)
        todo.extend(_filter_external(tree.libraries[name].needed, policy))
    libs = {
        name: None if LIBPYTHON_RE.match(name) else tree.libraries[name].realpath
        for name in sorted(closure)
        if tree.libraries[name].member is None
    }
    blacklist: dict[Soname, tuple[str, ...]] = {}
    for library, symbols in policy.blacklist:
        if library in info.needed:
            hits = symbols & (info.undefined_symbols | {"*"})
            if hits:
                blacklist[Soname(library)] = tuple(sorted(hits))
    return ExternalRefs(policy, libs, blacklist)


def _merge(refs: Iterable[ExternalRefs], policy: Policy) -> ExternalRefs:
    libs: dict[Soname, Path | None] = {}
    blacklist: dict[Soname, set[str]] = {}
    for ref in refs:
        libs.update(ref.libs)
        for lib, syms in ref.blacklist.items():
            blacklist.setdefault(lib, set()).update(syms)
    return ExternalRefs(
        policy,
        dict(sorted(libs.items())),
        {k: tuple(sorted(v)) for k, v in sorted(blacklist.items())},
    )


def machine_policy(
    policies: PolicySet, trees: Iterable[ElfTree], external: Mapping[str, ExternalRefs]
) -> tuple[Policy, tuple[str, ...]]:
    """Cap the policy by the x86-64 ISA level of top-level ELFs and external libraries."""
    if policies.arch != "x86_64":
        return policies.highest, ()
    external_names = {name for ref in external.values() for name in ref.libs}
    result = policies.highest
    offenders: list[str] = []
    for tree in trees:
        if tree.root.info.x86_isa_level > 1:
            offenders.append(tree.root.path)
            result = policies.linux
        for name, library in tree.libraries.items():
            if name not in external_names or library.info is None:
                continue
            if library.info.x86_isa_level <= 1:
                continue
            allowed = [p for p in policies.policies if name in p.whitelist]
            offenders.append(str(library.realpath))
            result = min(result, max(allowed, default=policies.linux))
    return result, tuple(offenders)


def evaluate(
    scan: ScanResult,
    trees: Mapping[MemberPath, ElfTree],
    policies: PolicySet,
    *,
    disable_isa_ext_check: bool = False,
) -> Verdict:
    """Evaluate every policy against the wheel."""
    top_paths = {e.path for e in scan.top_level()}
    # Trees rooted in a file outside the wheel (repair --include) count as top-level.
    top_paths |= {path for path, tree in trees.items() if isinstance(tree.root, FileRoot)}
    per_elf = {
        path: {p.name: external_refs(tree, p) for p in policies.policies}
        for path, tree in sorted(trees.items())
    }
    external = {
        p.name: _merge((per_elf[path][p.name] for path in per_elf if path in top_paths), p)
        for p in policies.policies
    }
    own_symbols = versioned_symbols(e.info for e in scan.elves)
    sym, chosen_symbols = _symbol_policy_with_grafts(policies, own_symbols, external, trees)
    top_trees = [trees[p] for p in sorted(top_paths) if p in trees]
    machine, offenders = (
        (policies.highest, ())
        if disable_isa_ext_check
        else machine_policy(policies, top_trees, external)
    )
    real = [e for e in external.values() if not e.policy.is_linux]
    return Verdict(
        policies=policies,
        sym=sym,
        ucs=policies.linux if any(e.info.uses_ucs2 for e in scan.top_level()) else policies.highest,
        pyfpe=policies.linux
        if any(e.info.uses_pyfpe for e in scan.top_level())
        else policies.highest,
        blacklist=max((e.policy for e in real if not e.blacklist), default=policies.linux),
        machine=machine,
        ref=max((e.policy for e in real if not e.libs), default=policies.linux),
        versioned_symbols=chosen_symbols,
        external=external,
        per_elf=per_elf,
        isa_offenders=offenders,
    )


def _symbol_policy_with_grafts(
    policies: PolicySet,
    own: dict[Soname, frozenset[str]],
    external: Mapping[str, ExternalRefs],
    trees: Mapping[MemberPath, ElfTree],
) -> tuple[Policy, SymbolVersions]:
    # Keyed by file, not soname: two trees may resolve one soname to different files, and
    # both are grafted.
    grafted_infos: dict[Path, tuple[Soname, ElfInfo]] = {}
    for tree in trees.values():
        for name, library in tree.libraries.items():
            if library.info is not None and library.member is None and library.realpath:
                grafted_infos.setdefault(library.realpath, (name, library.info))
    best: tuple[Policy, SymbolVersions] | None = None
    for ref in external.values():
        if ref.policy.is_linux:
            continue
        combined = {k: set(v) for k, v in own.items()}
        extra = versioned_symbols(info for n, info in grafted_infos.values() if n in ref.libs)
        for lib, versions in extra.items():
            combined.setdefault(lib, set()).update(versions)
        frozen = {k: frozenset(v) for k, v in combined.items()}
        found = min(ref.policy, symbol_policy(policies, frozen))
        if best is None or found > best[0]:
            best = (found, frozen)
    if best is None:
        return symbol_policy(policies, own), own
    return best
