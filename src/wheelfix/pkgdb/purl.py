"""Package URLs (purl, https://github.com/package-url/purl-spec) for distro packages (pure).

The canonical form: every component percent-encoded except ``:``, qualifiers sorted by key
and empty ones left out, names of ``apk`` packages lower-cased as the purl type requires.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

_TYPE_RE = re.compile(r"^[a-z][a-z0-9.+-]*$")
_LOWERCASE_TYPES = frozenset({"apk"})


def _quote(value: str) -> str:
    return quote(value, safe=":")


def package_url(
    kind: str,
    name: str,
    version: str | None,
    *,
    namespace: str | None = None,
    qualifiers: Mapping[str, str | None] | None = None,
) -> str:
    """``pkg:<kind>/<namespace>/<name>@<version>?<qualifiers>``, canonically encoded.

    ``pkg:deb/debian/libyaml-0-2@0.2.5-1?arch=amd64``.
    """
    if not _TYPE_RE.match(kind):
        msg = f"invalid package URL type {kind!r}"
        raise ValueError(msg)
    if not name:
        msg = "a package URL needs a name"
        raise ValueError(msg)
    if kind in _LOWERCASE_TYPES:
        name = name.lower()
        namespace = namespace.lower() if namespace else namespace
    parts = [f"pkg:{kind}/"]
    if namespace:
        parts.append("/".join(_quote(seg) for seg in namespace.split("/") if seg) + "/")
    parts.append(_quote(name))
    if version:
        parts.append("@" + _quote(version))
    pairs = sorted((key.lower(), value) for key, value in (qualifiers or {}).items() if value)
    if pairs:
        parts.append("?" + "&".join(f"{key}={_quote(value)}" for key, value in pairs))
    return "".join(parts)
