"""The CLI's progress sink for repair: one updating status line on a terminal, summary lines.

``cli.py`` makes one :class:`StatusRenderer` per run and passes it to the pipeline as its
``progress`` callback (it is a ``pipeline.Progress``: ``renderer(message)``), and calls the
richer events of :class:`ProgressEvents` around each wheel. On a terminal (stderr is a tty)
the renderer keeps one status line, ``wheelfix: [2/5] demo.whl: rewriting x.so``, redrawn in
place with a carriage return at most ten times a second (``clock`` is injectable) and wiped
before any other line and at the end. Elsewhere (a pipe, a CI log) there is no status line,
only whole lines. ``quiet=True`` prints nothing but errors. Colour is used only on a
terminal, never when ``NO_COLOR`` is set and non-empty, nor for ``TERM=dumb``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Protocol, TextIO

__all__ = [
    "LARGE_MEMBER",
    "REDRAW_INTERVAL",
    "ProgressEvents",
    "StatusRenderer",
    "WheelSummary",
    "human_size",
    "summary_line",
]

REDRAW_INTERVAL = 0.1
"""Seconds between two redraws of the status line (at most ten a second)."""
LARGE_MEMBER = 1 << 20
"""Members at least this large (1 MiB) get a byte count on the status line."""

_RED, _GREEN, _YELLOW, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"


@dataclass(frozen=True)
class WheelSummary:
    """One repaired wheel, for its summary line."""

    name: str
    """The input wheel's file name."""
    tag: str
    """The platform tag it now has (``manylinux_2_17_x86_64``)."""
    grafted: int
    """How many libraries were grafted."""
    size: int
    """The output wheel's size in bytes."""
    seconds: float
    """Wall-clock time the wheel took."""


class ProgressEvents(Protocol):
    """What the CLI and the pipeline tell the renderer."""

    def __call__(self, message: str) -> None:
        """A step (``pipeline.Progress``); ``warning: ...`` messages are kept as lines."""

    def wheel_started(self, name: str, index: int, total: int) -> None:
        """Wheel ``index`` (from 1) of ``total`` begins."""

    def member_progress(self, name: str, done_bytes: int, total_bytes: int) -> None:
        """``done_bytes`` of member ``name`` have been read, rewritten or written."""

    def wheel_done(self, summary: WheelSummary) -> None:
        """A wheel was repaired."""

    def error(self, message: str) -> None:
        """A wheel failed: ``message`` is ``<file>: <reason>``."""

    def close(self) -> None:
        """The run is over: wipe the status line."""


def human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``14.2 MiB``, ``2.0 GiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _plural(count: int) -> str:
    if count == 0:
        return "no libraries grafted"
    return f"{count} {'library' if count == 1 else 'libraries'} grafted"


def summary_line(summary: WheelSummary) -> str:
    """``repaired demo.whl -> manylinux_2_17_x86_64, 2 libraries grafted, 1.4 MiB, 0.8 s``."""
    return (
        f"repaired {summary.name} -> {summary.tag}, {_plural(summary.grafted)}, "
        f"{human_size(summary.size)}, {summary.seconds:.1f} s"
    )


def _elide(name: str, room: int) -> str:
    """``name`` shortened in the middle (``demo-1...x86_64.whl``) to ``room`` (at least 12)."""
    if len(name) <= room:
        return name
    keep = max(room, 12) - 3
    return name[: (keep + 1) // 2] + "..." + name[len(name) - keep // 2 :]


class StatusRenderer:
    """Renders progress on ``stream`` (stderr by default); see the module docstring."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        verbose: bool = False,
        tty: bool | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet
        self._verbose = verbose
        self._tty = self._stream.isatty() if tty is None else tty
        env = os.environ if environ is None else environ
        self._colour = self._tty and not env.get("NO_COLOR") and env.get("TERM") != "dumb"
        self._clock = clock
        self._width = width
        self._counter = ""
        self._wheel = ""
        self._detail = ""
        self._shown = 0  # characters of the status line on screen
        self._last_draw: float | None = None

    @property
    def status_line(self) -> bool:
        """True when a status line is kept (a terminal, not quiet)."""
        return self._tty and not self._quiet

    # events ---------------------------------------------------------------------------------

    def __call__(self, message: str) -> None:
        """A pipeline step: a warning line, a line under ``verbose``, else the status."""
        if message.startswith("warning:"):
            self._line(self._paint("warning:", _YELLOW) + message[len("warning:") :])
        elif self._verbose:
            self._line(message)
        else:
            self._detail = message
            self._draw()

    def wheel_started(self, name: str, index: int, total: int) -> None:
        """Show the new wheel at once."""
        self._counter = f"[{index}/{total}] " if total > 1 else ""
        self._wheel = name
        self._detail = ""
        self._draw(force=True)

    def member_progress(self, name: str, done_bytes: int, total_bytes: int) -> None:
        """Byte counts of a large member (small members are not worth a redraw)."""
        if total_bytes < LARGE_MEMBER:
            return
        percent = 100 * min(done_bytes, total_bytes) // total_bytes
        self._detail = f"{name} {percent}% of {human_size(total_bytes)}"
        self._draw()

    def wheel_done(self, summary: WheelSummary) -> None:
        """The summary line: on a terminal or under ``verbose``, never under ``quiet``.

        On a pipe (CI logs, scripts parsing stderr) repair prints what auditwheel users
        expect and nothing more.
        """
        self._wheel = self._detail = ""
        self._wipe()
        if not (self._tty or self._verbose):
            return
        line = summary_line(summary)
        self._line(self._paint("repaired", _GREEN) + line[len("repaired") :])

    def line(self, text: str) -> None:
        """Any other stderr line of the CLI (``wheelfix: `` is prefixed), above the status."""
        self._line(text)

    def clear_line(self) -> None:
        """Wipe the status line before something else is printed on the terminal (stdout)."""
        self._wipe()

    def error(self, message: str) -> None:
        """``wheelfix: error: <message>``, printed even under ``quiet``; the wheel is over."""
        self._wheel = self._detail = ""
        self._wipe()
        self._write(f"wheelfix: {self._paint('error:', _RED)} {message}\n")

    def close(self) -> None:
        """Wipe the status line (safe to call twice)."""
        self._wheel = self._detail = ""
        self._wipe()

    def __enter__(self) -> StatusRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # drawing --------------------------------------------------------------------------------

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{_RESET}" if self._colour else text

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def _line(self, text: str) -> None:
        if self._quiet:
            return
        self._wipe()
        self._write(f"wheelfix: {text}\n")
        self._draw(force=True)

    def _columns(self) -> int:
        if self._width is not None:
            return self._width
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns or 80

    def _draw(self, *, force: bool = False) -> None:
        if not self.status_line or not self._wheel:
            return
        now = self._clock()
        if not force and self._last_draw is not None and now - self._last_draw < REDRAW_INTERVAL:
            return
        self._last_draw = now
        limit = max(self._columns() - 1, 1)  # never wrap: \r must return to the line's start
        head = f"wheelfix: {self._counter}"
        tail = f": {self._detail}" if self._detail else ""
        text = (head + _elide(self._wheel, limit - len(head) - len(tail)) + tail)[:limit]
        self._write("\r" + text + " " * max(self._shown - len(text), 0))
        self._shown = len(text)

    def _wipe(self) -> None:
        if self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0
