"""The distribution's identity from ``os-release``, for the namespace of package URLs.

Read as a file under the root (``/etc/os-release``, else ``/usr/lib/os-release``, as the
os-release specification says); nothing is run and nothing is cached between calls.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from wheelfix.ldpaths import resolve_in_sysroot

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
"""Where os-release lives, in the order the specification says to look."""

_LINE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines -> a dict; values may be quoted with shell quoting rules.

    Comments, blank lines and lines that do not parse are skipped (the specification asks
    readers to ignore what they do not understand).
    """
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        match = _LINE_RE.match(line)
        if match is None:
            continue
        key, value = match.groups()
        try:
            words = shlex.split(value, comments=False, posix=True)
        except ValueError:
            continue
        result[key] = words[0] if len(words) == 1 else " ".join(words)
    return result


def read_os_release(root: Path) -> dict[str, str]:
    """The os-release fields of the system installed at ``root`` (empty when absent)."""
    for path in OS_RELEASE_PATHS:
        try:
            text = resolve_in_sysroot(root, path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return parse_os_release(text)
    return {}


def distro_id(root: Path) -> str | None:
    """The ``ID`` field (``debian``, ``ubuntu``, ``fedora``, ``alpine``...), or None."""
    value = read_os_release(root).get("ID", "").strip().lower()
    return value or None
