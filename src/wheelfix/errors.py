"""Every failure wheelfix reports, one class per kind, each carrying its exit code.

Stages raise these; ``cli.py`` catches :class:`WheelfixError` in one place, prints
``wheelfix: error: <file>: <reason>`` and exits with :attr:`WheelfixError.exit_code`.
The table is repeated in README.md.
"""

from __future__ import annotations


class WheelfixError(Exception):
    """Base class: a failure caused by the input or the environment, not a bug."""

    exit_code = 1

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject = subject
        """The file (or member, or option) the error is about."""
        self.reason = reason
        """What is wrong with it, in one line."""

    def __reduce__(self) -> tuple[type[WheelfixError], tuple[str, str]]:
        # Errors cross process boundaries (see isolation.py): rebuild from both fields.
        return (type(self), (self.subject, self.reason))


class InputFileError(WheelfixError):
    """The input path does not exist, is a directory, or cannot be read."""

    exit_code = 3


class NotAZipError(WheelfixError):
    """The input is not a readable zip archive (not a zip, truncated, bad CRC)."""

    exit_code = 4


class InvalidWheelError(WheelfixError):
    """Bad wheel file name, missing or several .dist-info, broken WHEEL or RECORD."""

    exit_code = 5


class UnsafeWheelError(WheelfixError):
    """Member names that escape the wheel, duplicates, symlinks, or a zip bomb."""

    exit_code = 6


class InvalidElfError(WheelfixError):
    """An ELF member or library is truncated or corrupt."""

    exit_code = 7


class NonPlatformWheelError(WheelfixError):
    """No ELF file for the wheel's architecture: a pure wheel or a mislabelled one."""

    exit_code = 8


class LibraryNotFoundError(WheelfixError):
    """A DT_NEEDED entry that must be grafted cannot be resolved."""

    exit_code = 9


class PolicyError(WheelfixError):
    """The wheel cannot reach the requested tag: too-new symbols, blacklist, ISA, arch or libc."""

    exit_code = 10


class OutputError(WheelfixError):
    """The output cannot be written: unwritable directory, disk full, existing file."""

    exit_code = 11


class ElfWriteError(WheelfixError):
    """LIEF produced no output or output that does not match the intended edits."""

    exit_code = 12


class VerificationError(ElfWriteError):
    """A rewritten ELF file breaks a loader invariant (see ``verify.py``)."""

    exit_code = 13


class CheckFailedError(WheelfixError):
    """``wheelfix check``: the wheel does not satisfy its own tag (or ``--plat``)."""

    exit_code = 14


class NameCollisionError(WheelfixError):
    """Repair would write a member where the input (or another graft) already has one."""

    exit_code = 15


class UndetectableLibcError(WheelfixError):
    """A Python extension links no C library and the wheel's tag names none."""

    exit_code = 16
