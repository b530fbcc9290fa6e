"""wheelfix: audit and repair Linux wheels for manylinux/musllinux, in pure Python with LIEF.

The public API is :func:`audit` (scan -> resolve -> policy) with its result types; the
command line in ``cli.py`` is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Audit", "AuditOptions", "__version__", "audit"]


def __getattr__(name: str) -> object:
    # Import lazily so `wheelfix --version` does not pay for importing LIEF.
    if name in ("Audit", "AuditOptions", "audit"):
        from wheelfix import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
