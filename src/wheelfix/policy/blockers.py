"""Between policy and the outputs: why a tag is out of reach, said once for every caller.

``repair`` (via ``target.py``), ``check`` (in ``pipeline.py``) and ``show`` (via
``report.py``) all ask :func:`blockers` what stands between a wheel and a policy, and only
format the answer. The symbol rule (:meth:`Policy.disallowed_versions`) is the one the
policy evaluation itself uses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wheelfix.policy import Policy
from wheelfix.policy.evaluate import Verdict

__all__ = ["Blocker", "BlockerKind", "blockers"]


class BlockerKind(enum.Enum):
    """What keeps a wheel from a tag, in the order auditwheel checks them."""

    SYMBOLS = "symbol versions"
    LIBRARIES = "external libraries"
    BLACKLIST = "blacklisted symbols"
    ISA = "unsupported ISA extensions"
    UCS2 = "UCS2 Python"
    PYFPE = "PyFPE_jbuf"


@dataclass(frozen=True)
class Blocker:
    """One reason a wheel cannot carry a tag."""

    kind: BlockerKind
    names: tuple[str, ...]
    """What is at fault: ``lib: VERSION`` rows, sonames, ``lib: symbol`` rows, or files."""
    needs: str = ""
    """For symbol versions: the best policy they allow."""

    def describe(self) -> str:
        """A short phrase for one-line messages (``check``)."""
        if self.kind is BlockerKind.SYMBOLS:
            return f"symbol versions need {self.needs}"
        if self.kind is BlockerKind.BLACKLIST:
            symbols = sorted({row.split(": ", 1)[1] for row in self.names})
            return f"blacklisted symbols {', '.join(symbols)}"
        listed = ", ".join(self.names)
        return {
            BlockerKind.LIBRARIES: f"external libraries {listed}",
            BlockerKind.ISA: f"unsupported ISA extensions ({listed})",
            BlockerKind.UCS2: "built for UCS2 Python",
            BlockerKind.PYFPE: "uses PyFPE_jbuf",
        }[self.kind]


def blockers(verdict: Verdict, target: Policy, *, grafting: bool = False) -> tuple[Blocker, ...]:
    """Everything that keeps the wheel from ``target``; empty when it can carry the tag.

    With ``grafting`` (what ``repair`` asks), external libraries do not count: they will be
    grafted. Their own symbol versions do count, through the verdict's symbol policy.
    """
    found: list[Blocker] = []
    if verdict.sym < target:
        rows = [
            f"{lib}: {version}"
            for lib, versions in sorted(verdict.versioned_symbols.items())
            for version in target.disallowed_versions(versions)
        ]
        found.append(Blocker(BlockerKind.SYMBOLS, tuple(rows), needs=verdict.sym.name))
    refs = verdict.external[target.name]
    if refs.libs and not grafting:
        found.append(Blocker(BlockerKind.LIBRARIES, tuple(sorted(refs.libs))))
    if refs.blacklist:
        rows = [
            f"{lib}: {symbol}" for lib, syms in sorted(refs.blacklist.items()) for symbol in syms
        ]
        found.append(Blocker(BlockerKind.BLACKLIST, tuple(rows)))
    if verdict.machine < target:
        found.append(Blocker(BlockerKind.ISA, verdict.isa_offenders))
    if verdict.ucs < target:
        found.append(Blocker(BlockerKind.UCS2, ()))
    if verdict.pyfpe < target:
        found.append(Blocker(BlockerKind.PYFPE, ()))
    return tuple(found)
