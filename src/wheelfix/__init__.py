"""wheelfix: audit and repair Linux wheels for manylinux/musllinux, in pure Python with LIEF.

The public API: :func:`audit` (scan -> resolve -> policy), :func:`check`, :func:`repair`
(-> graft -> retag -> write) and :func:`lddtree`, their option and result types, and the
errors they raise (each with the exit code the command line uses). The command line in
``cli.py`` is a thin layer over these. Importing wheelfix does not import LIEF; the first ELF
file read does.

>>> from pathlib import Path
>>> from wheelfix import AuditOptions, RepairOptions, repair
>>> result = repair(Path("dist/demo-1.0-cp311-cp311-linux_x86_64.whl"),
...                 AuditOptions(), RepairOptions(wheel_dir=Path("wheelhouse")))  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names for type checkers; at run time __getattr__ imports on first use
    from wheelfix.errors import (
        CheckFailedError,
        ElfWriteError,
        InputFileError,
        InvalidElfError,
        InvalidWheelError,
        LibraryNotFoundError,
        NameCollisionError,
        NonPlatformWheelError,
        NotAZipError,
        OutputError,
        PolicyError,
        UndetectableLibcError,
        UnsafeWheelError,
        VerificationError,
        WheelfixError,
    )
    from wheelfix.options import (
        QUIET,
        AuditOptions,
        Progress,
        RepairOptions,
        ZipSettings,
    )
    from wheelfix.pipeline import RepairResult, audit, check, lddtree, repair
    from wheelfix.resolve import ElfTree
    from wheelfix.results import Audit, CheckResult

_HOMES = {
    "errors": (
        "CheckFailedError ElfWriteError InputFileError InvalidElfError InvalidWheelError"
        " LibraryNotFoundError NameCollisionError NonPlatformWheelError NotAZipError"
        " OutputError PolicyError UndetectableLibcError UnsafeWheelError VerificationError"
        " WheelfixError"
    ),
    "options": "QUIET AuditOptions Progress RepairOptions ZipSettings",
    "pipeline": "RepairResult audit check lddtree repair",
    "resolve": "ElfTree",
    "results": "Audit CheckResult",
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names.split()}


def __getattr__(name: str) -> object:
    # Lazy, so `wheelfix --version` and `wheelfix-patchelf` start fast.
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'wheelfix' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"wheelfix.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "QUIET",
    "Audit",
    "AuditOptions",
    "CheckFailedError",
    "CheckResult",
    "ElfTree",
    "ElfWriteError",
    "InputFileError",
    "InvalidElfError",
    "InvalidWheelError",
    "LibraryNotFoundError",
    "NameCollisionError",
    "NonPlatformWheelError",
    "NotAZipError",
    "OutputError",
    "PolicyError",
    "Progress",
    "RepairOptions",
    "RepairResult",
    "UndetectableLibcError",
    "UnsafeWheelError",
    "VerificationError",
    "WheelfixError",
    "ZipSettings",
    "__version__",
    "audit",
    "check",
    "lddtree",
    "repair",
]
