"""The state of one file while ``wheelfix patchelf``'s options run over it.

:class:`Patch` is what every option handler (``edits``, ``rpath``, ``rescache``) takes: the
bytes being edited in place, the parsed options, where output, warnings and debug text go,
and the edits left for LIEF. :func:`add_entry` is the one way a handler adds a
``.dynamic`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from wheelfix.patchelf import PatchelfError
from wheelfix.patchelf.args import Options
from wheelfix.patchelf.inplace import InPlace
from wheelfix.patchelf.lief_ops import Rewrite

Emit = Callable[[str], None]


def _ignore(text: str) -> None:
    del text


@dataclass
class Patch:
    """The state of one file while the options run over it."""

    work: InPlace
    """The file's bytes, edited in place."""
    opts: Options
    emit: Emit
    """``--print-*`` output (one line, without the newline)."""
    debug: Emit
    """``--debug`` text (with its newline)."""
    changed: bool = False
    """An option changed something: the file is written."""
    plan: Rewrite = field(default_factory=Rewrite)
    """The edits left for LIEF."""
    warn: Emit = _ignore
    """``warning: ...`` lines for stderr (with the newline)."""

    def defer(self, **changes: object) -> None:
        """Leave an edit to LIEF."""
        self.plan = replace(self.plan, **changes)  # type: ignore[arg-type]
        self.changed = True


def add_entry(state: Patch, tag: int, value: int) -> None:
    """Add a ``.dynamic`` entry at the top (a spare slot, or ``.dynamic`` moves)."""
    view = state.work.view
    _, slots = view.dynamic_span()
    if len(view.dynamic()) >= slots:
        raise PatchelfError("setSubstr: write extends past end of section")
    state.work.insert_entries([(tag, value)])
    state.changed = True
