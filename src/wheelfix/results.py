"""What the pipeline hands back: the audit of a wheel and the outcome of ``check``.

Stages after resolve (policy targets, graft planning, reports) take an :class:`Audit`; they
import it from here, never from ``pipeline.py``, so no stage depends on the module that runs
the stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wheelfix.ldpaths import SearchPaths
from wheelfix.policy.evaluate import Verdict
from wheelfix.resolve import ElfTree
from wheelfix.scan import ScanResult
from wheelfix.wheel import MemberPath

__all__ = ["Audit", "CheckResult"]


@dataclass(frozen=True)
class Audit:
    """Everything known about one wheel after scan, resolve and policy evaluation."""

    scan: ScanResult
    """Stage 1 result."""
    paths: SearchPaths
    """The search lists that were used."""
    trees: Mapping[MemberPath, ElfTree]
    """Stage 2 result: one resolved tree per wheel ELF."""
    verdict: Verdict
    """Policy result."""


@dataclass(frozen=True)
class CheckResult:
    """``check``: the tags a wheel was checked against; it satisfies them all."""

    wheel: str
    """The wheel's file name."""
    checked: tuple[str, ...]
    """The platform tags verified (its own manylinux/musllinux tags, or ``--plat``)."""
    consistent_with: str
    """The best tag the wheel satisfies as it is (``"pure"`` for a pure wheel)."""
    pure: bool = False
    """True for a pure Python wheel accepted with ``allow_pure``."""
