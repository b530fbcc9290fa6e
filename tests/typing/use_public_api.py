"""A user's script against wheelfix's public API: `mypy --strict` must accept it as it is."""

from __future__ import annotations

from pathlib import Path

from wheelfix import (
    Audit,
    AuditOptions,
    CheckResult,
    ElfTree,
    RepairOptions,
    RepairResult,
    WheelfixError,
    audit,
    check,
    lddtree,
    repair,
)


def repair_all(wheels: list[Path], out: Path) -> list[Path]:
    """Repair every wheel into ``out``; return the outputs, skipping failures."""
    outputs: list[Path] = []
    for wheel in wheels:
        try:
            result: RepairResult = repair(wheel, AuditOptions(), RepairOptions(wheel_dir=out))
        except WheelfixError as error:
            print(f"{error.subject}: {error.reason} (exit {error.exit_code})")
            continue
        outputs.append(result.output)
        if result.plan is not None:
            print(sorted(str(g.member) for g in result.plan.grafted))
    return outputs


def best_tag(wheel: Path) -> str:
    found: Audit = audit(wheel, AuditOptions(environ={}))
    return found.verdict.show_overall.name


def verify(wheel: Path) -> bool:
    result: CheckResult = check(wheel, AuditOptions(), plat=None)
    return not result.pure


def needed(path: Path) -> list[str]:
    tree: ElfTree = lddtree(path, AuditOptions())
    return sorted(tree.libraries)
