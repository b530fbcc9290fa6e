"""The CycloneDX 1.6 SBOM of the libraries repair grafts into a wheel (PEP 770), pure.

:func:`sbom_document` turns the grafted libraries, each with the distro package that owns it
(``pkgdb.PackageIndex.find_owner``), into the JSON bytes of
``<dist-info>/sboms/wheelfix.cdx.json``. As auditwheel's ``auditwheel.cdx.json``: the wheel is
the root (``pkg:pypi/<name>@<version>?file_name=<wheel file>``, name and version as spelled
in the file name) and depends on every grafted library. Unlike auditwheel, libraries no
package owns are listed too (by soname and hash), each component carries the SHA-256 of the
file as written and its path in the wheel, and libraries depend on the grafted libraries they
need. The output is canonical: sorted keys and components, no timestamp, and a serial number
derived from the content, so the same input always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.utils import parse_wheel_filename

from wheelfix import __version__
from wheelfix.pkgdb import OwningPackage, PackageIndex

SPEC_VERSION = "1.6"
SBOM_FILE_NAME = "wheelfix.cdx.json"
"""The document's file name inside ``<dist-info>/sboms/``."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class SbomLibrary:
    """One grafted library, as the SBOM describes it."""

    member: str
    """Its path in the repaired wheel, e.g. ``demo.libs/libz-a1b2c3d4.so.1.2.13``."""
    sha256: str
    """Lower-case hex SHA-256 of the bytes written into the wheel."""
    soname: str
    """The name the wheel's ELF files asked for (``libz.so.1``)."""
    owner: OwningPackage | None
    """The distro package that installed the host file, or None (built from source...)."""
    needed: tuple[str, ...] = ()
    """The library's own DT_NEEDED names; those naming another grafted library's ``soname``
    become dependency links."""
    included: bool = False
    """Grafted because ``--include`` asked for it (a library loaded with ``dlopen``)."""


def sbom_path(dist_info: str) -> str:
    """The SBOM member for a ``.dist-info`` directory: ``<dist-info>/sboms/wheelfix.cdx.json``."""
    return posixpath.join(dist_info, "sboms", SBOM_FILE_NAME)


def describe_grafted(
    source: Path,
    member: str,
    sha256: str,
    soname: str,
    index: PackageIndex,
    needed: Sequence[str] = (),
) -> SbomLibrary:
    """One grafted library: ``source`` is the host file copied (looked up in ``index``)."""
    return SbomLibrary(member, sha256, soname, index.find_owner(source), tuple(needed))


def wheel_purl(wheel_filename: str) -> tuple[str, str, str]:
    """``(purl, name, version)`` of the wheel, as auditwheel spells them.

    Name and version are the file name's first two fields, unnormalised
    (``scikit_learn``), each percent-encoded, plus the whole file name as ``file_name``.
    """
    parse_wheel_filename(wheel_filename)  # raises InvalidWheelFilename
    name, version = wheel_filename.split("-")[:2]
    purl = (
        f"pkg:pypi/{quote(name, safe='')}@{quote(version, safe='')}"
        f"?file_name={quote(wheel_filename, safe='')}"
    )
    return purl, name, version


def _bom_ref(library: SbomLibrary) -> str:
    return f"{library.owner.purl}#{library.member}" if library.owner else library.member


def _component(library: SbomLibrary) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": _bom_ref(library),
        "name": library.owner.name if library.owner else library.soname,
        "hashes": [{"alg": "SHA-256", "content": library.sha256}],
        "evidence": {"occurrences": [{"location": library.member}]},
        "properties": [{"name": "wheelfix:soname", "value": library.soname}],
    }
    if library.included:
        component["properties"].append({"name": "wheelfix:included", "value": "true"})
    if library.owner is not None:
        component["version"] = library.owner.version
        component["purl"] = library.owner.purl
    return component


def _check(libraries: Sequence[SbomLibrary]) -> list[SbomLibrary]:
    ordered = sorted(libraries, key=lambda library: library.member)
    for first, second in zip(ordered, ordered[1:]):
        if first.member == second.member:
            msg = f"library listed twice: {first.member}"
            raise ValueError(msg)
    for library in ordered:
        if not _SHA256_RE.match(library.sha256):
            msg = f"{library.member}: not a lower-case hex SHA-256: {library.sha256!r}"
            raise ValueError(msg)
    return ordered


def _dependencies(root: str, libraries: list[SbomLibrary]) -> list[dict[str, Any]]:
    by_soname = {library.soname: _bom_ref(library) for library in libraries}
    dependencies = [{"ref": root, "dependsOn": sorted(_bom_ref(lib) for lib in libraries)}]
    for library in libraries:
        ref = _bom_ref(library)
        needs = {by_soname[name] for name in library.needed if name in by_soname} - {ref}
        dependencies.append({"ref": ref, "dependsOn": sorted(needs)} if needs else {"ref": ref})
    return sorted(dependencies, key=lambda dependency: str(dependency["ref"]))


def _canonical(document: dict[str, Any]) -> bytes:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sbom_document(
    wheel_filename: str,
    libraries: Sequence[SbomLibrary],
    *,
    tool_version: str = __version__,
) -> bytes:
    """The CycloneDX 1.6 JSON document (canonical UTF-8 bytes) for the repaired wheel.

    ``wheel_filename`` is the *output* wheel's file name (after retagging).
    """
    purl, name, version = wheel_purl(wheel_filename)
    ordered = _check(libraries)
    document: dict[str, Any] = {
        "$schema": f"http://cyclonedx.org/schema/bom-{SPEC_VERSION}.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "component": {
                "type": "library",
                "bom-ref": purl,
                "name": name,
                "version": version,
                "purl": purl,
            },
            "tools": {
                "components": [{"type": "application", "name": "wheelfix", "version": tool_version}]
            },
        },
        "components": [_component(library) for library in ordered],
        "dependencies": _dependencies(purl, ordered),
    }
    digest = hashlib.sha256(_canonical(document)).hexdigest()
    document["serialNumber"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{purl}#{digest}").urn
    return _canonical(document)
