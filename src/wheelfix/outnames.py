"""Stage 3, before writing: refuse a graft plan whose output names collide.

:func:`check_output_names` compares the plan's new members (grafted libraries, moved
scripts, license files, the SBOM) with the input wheel's members, before any byte is written.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from wheelfix.errors import NameCollisionError
from wheelfix.graft import GraftPlan

__all__ = ["check_output_names"]


def check_output_names(
    wheel: str,
    input_names: Iterable[str],
    plan: GraftPlan,
    extra: Iterable[tuple[str, str]] = (),
) -> None:
    """Refuse a plan whose output would hold one path twice, or a file where a directory goes.

    Run before anything is written. The input may already have a member where repair wants
    to put a grafted library or a moved script, or a *file* named like the libs directory;
    either would make a wheel that installs wrongly (or that overwrites the member).
    ``extra`` adds other new members as ``(name, what)`` (license files, the SBOM).
    """
    moved_away = set(plan.moves)
    outputs: dict[str, str] = {}
    for name in input_names:
        if name not in moved_away:
            outputs[name] = f"the input member {name}"
    new = [(str(g.member), f"the grafted library {g.source}") for g in plan.grafted]
    new += [
        (str(target), f"the moved executable {source}") for source, target in plan.moves.items()
    ]
    new += list(extra)
    for name, what in sorted(set(new)):
        if name in outputs and outputs[name] != what:
            raise NameCollisionError(
                f"{wheel}!{name}",
                f"the wheel already has this member, where repair must write {what}",
            )
        outputs[name] = what
    for name in sorted(outputs):
        parent = posixpath.dirname(name)
        while parent:
            if parent in outputs:
                raise NameCollisionError(
                    f"{wheel}!{parent}",
                    f"is a file, but repair must write {outputs[name]} inside a directory"
                    " of this name",
                )
            parent = posixpath.dirname(parent)
