"""Command line, failure side: every error and signal becomes one stderr line and an exit code.

:func:`errors_reported` wraps each command's work. A :class:`~wheelfix.errors.WheelfixError`
prints ``wheelfix: error: <file>: <reason>`` and exits with its code; Ctrl-C, SIGTERM and
SIGHUP exit ``128 + n`` (the writers remove their partial output on the way); a closed stdout
exits 141 quietly; anything else is a bug (exit 1, the traceback only with ``-v``).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Callable

import click

from wheelfix.errors import InvalidElfError, WheelfixError

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "Terminated",
    "errors_reported",
    "fail",
    "lddtree_hint",
]

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE

_TERMINATING_SIGNALS = ("SIGTERM", "SIGHUP")
"""Handled as Ctrl-C is: stop, remove the partial output, exit 128 + the signal number."""


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM or SIGHUP arrives (like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    del frame
    raise Terminated(signum)


def _install_signal_handlers() -> None:
    for name in _TERMINATING_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _raise_terminated)


def lddtree_hint(path: Path, error: InvalidElfError) -> InvalidElfError:
    """``lddtree`` given a wheel: the error says what lddtree takes and what looks inside."""
    if path.suffix != ".whl":
        return error
    hint = "lddtree takes one ELF file; to look inside a wheel, use `wheelfix show WHEEL`"
    return InvalidElfError(error.subject, f"{error.reason}; {hint}")


def fail(error: WheelfixError) -> None:
    click.echo(f"wheelfix: error: {error.subject}: {error.reason}", err=True)
    sys.exit(error.exit_code)


def _silence_stdout() -> None:
    """After EPIPE on stdout: point it at /dev/null so the interpreter's flush at exit is quiet."""
    with suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextmanager
def errors_reported(
    verbose: bool, on_error: Callable[[WheelfixError], None] | None = None
) -> Iterator[None]:
    """Turn every failure into one stderr line and an exit code (``on_error`` sees each
    :class:`WheelfixError` first, e.g. for a JSON report)."""
    _install_signal_handlers()
    try:
        yield
    except WheelfixError as error:
        if verbose:
            traceback.print_exc()
        if on_error is not None:
            on_error(error)
        fail(error)
    except KeyboardInterrupt:
        click.echo("wheelfix: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Terminated as stop:
        click.echo(f"wheelfix: interrupted ({signal.Signals(stop.signum).name})", err=True)
        sys.exit(128 + stop.signum)
    except BrokenPipeError:
        # The reader of stdout went away (`wheelfix show W | head -1`): stop quietly, as
        # a tool killed by SIGPIPE would.
        _silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if verbose:
            traceback.print_exc()
        click.echo(
            f"wheelfix: internal error: {type(exc).__name__}: {exc} (run with -v for a traceback)",
            err=True,
        )
        sys.exit(1)
