"""``python -m wheelfix.patchelf``: the same as the ``wheelfix-patchelf`` console script."""

from __future__ import annotations

from wheelfix.patchelf.main import console

console()
