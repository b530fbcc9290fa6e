"""Stages 3 and 4 helper: every rewrite of a repair, started ahead of the writer in order.

:class:`RewriteQueue` hands :class:`~wheelfix.cache.RewriteJob` values to the worker
processes (through a ``submit`` function) while the writer is still busy with earlier
members, within a bound on the bytes in flight, and gives each output member the result of
its own rewrite (:mod:`wheelfix.rewrite` builds the members around it).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Callable

from wheelfix.cache import GraftCache, RewriteJob, Rewritten
from wheelfix.options import Progress

__all__ = ["DEFAULT_AHEAD_BYTES", "RewriteQueue", "Slot", "SubmitRewrite"]

SubmitRewrite = Callable[[RewriteJob], Callable[[], Rewritten]]
"""Starts one rewrite (``ElfWorker.submit``); the function it returns waits for the result."""

DEFAULT_AHEAD_BYTES = 384 << 20
"""How many bytes of input :class:`RewriteQueue` has started ahead of the writer, at most."""


class Slot:
    """One queued rewrite: not started, running, or done (its result kept until taken)."""

    def __init__(self, make_job: Callable[[], RewriteJob], size: int) -> None:
        self.make_job = make_job
        self.size = size
        self.wait: Callable[[], Rewritten] | None = None
        self.result: Rewritten | None = None


class RewriteQueue:
    """Every rewrite of a repair, started ahead of the writer in archive order.

    Rewrites are added in the order the writer will want them; :meth:`start` submits them
    (to the worker processes, through ``submit``) while less than ``ahead_bytes`` of input
    is started and not yet taken, so a slow one overlaps with writing the members before it.
    A member's ``produce()`` waits only for its own rewrite. ``level`` is the zlib level of
    the compressed members grafted libraries come back with; ``cache`` keeps those.
    """

    def __init__(
        self,
        submit: SubmitRewrite,
        progress: Progress,
        *,
        level: int = 6,
        cache: GraftCache | None = None,
        ahead_bytes: int = DEFAULT_AHEAD_BYTES,
    ) -> None:
        self._submit = submit
        self._progress = progress
        self.level = level
        self.cache = cache
        self._ahead_bytes = ahead_bytes
        self._waiting: collections.deque[Slot] = collections.deque()
        self._started_bytes = 0

    def reorder(self, slots: Sequence[Slot]) -> None:
        """Queue the not yet started ``slots`` in this order (the writer's)."""
        self._waiting = collections.deque(s for s in slots if s.wait is None)

    def add(self, make_job: Callable[[], RewriteJob], size: int) -> Slot:
        """Queue a rewrite (``make_job`` is called when it starts)."""
        slot = Slot(make_job, size)
        self._waiting.append(slot)
        return slot

    def start(self) -> None:
        """Submit queued rewrites while the in-flight budget allows (at least one).

        The ones started together are submitted biggest first: the workers take them in
        that order, so the longest rewrite never waits behind small ones and is not left to
        run alone at the end (the writer still takes them in archive order).
        """
        batch: list[Slot] = []
        while self._waiting and (
            self._started_bytes == 0
            or self._started_bytes + self._waiting[0].size <= self._ahead_bytes
        ):
            slot = self._waiting.popleft()
            batch.append(slot)
            self._started_bytes += slot.size
        for slot in sorted(batch, key=lambda s: s.size, reverse=True):
            slot.wait = self._submit(slot.make_job())

    def peek(self, slot: Slot, label: str) -> Rewritten:
        """Wait for ``slot``'s rewrite (starting it, and those queued before it, if need be)."""
        if slot.result is None:
            if slot.wait is None:
                if slot in self._waiting:
                    while slot.wait is None:
                        self._begin(self._waiting.popleft())
                else:  # taken already: run it again
                    self._begin(slot)
            self._progress(f"rewriting {label}")
            wait, slot.wait = slot.wait, None
            assert wait is not None
            try:
                slot.result = wait()
            finally:
                self._started_bytes -= slot.size
            self.start()
        return slot.result

    def _begin(self, slot: Slot) -> None:
        slot.wait = self._submit(slot.make_job())
        self._started_bytes += slot.size

    def take(self, slot: Slot, label: str) -> Rewritten:
        """Wait for ``slot``'s rewrite and forget it (the writer holds it from now on)."""
        result = self.peek(slot, label)
        slot.result = None
        return result
