"""``wheelfix patchelf``: patchelf 0.19's command line, editing ELF files in-process.

``args`` parses the command line, ``elfview`` reads an ELF file (pure ``struct``),
``inplace`` makes the edits that fit without moving anything, ``lief_ops`` does the rest
with LIEF in a worker process, and ``main`` runs one invocation file by file. Every
failure is a :class:`PatchelfError` carrying patchelf's own message text.
"""

from __future__ import annotations


class PatchelfError(Exception):
    """A failure reported as ``patchelf: <message>`` with exit status 1, as patchelf does."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        """The text after ``patchelf: ``."""

    def __reduce__(self) -> tuple[type[PatchelfError], tuple[str]]:
        # Errors cross the LIEF worker's process boundary.
        return (type(self), (self.message,))
