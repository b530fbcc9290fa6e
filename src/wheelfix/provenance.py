"""Stage 4 additions: where the grafted libraries came from, written into the repaired wheel.

For every grafted library, :func:`find_provenance` asks the distro package databases (read as
files, ``pkgdb``) which package installed it, and collects that package's license texts. The
repair then adds, in ``.dist-info``:

- ``licenses/<dist>.libs/<package>/...``: the license files (PEP 639 layout), listed as
  ``License-File:`` in METADATA when its Metadata-Version (2.4+) has the field;
- ``sboms/wheelfix.cdx.json``: a CycloneDX SBOM of the grafted libraries (PEP 770), with the
  SHA-256 of each library *as written*, so it is produced after the libraries are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from wheelfix.graft import GraftPlan
from wheelfix.licenses import find_license_files, license_file_path, license_member
from wheelfix.pkgdb import OwningPackage, PackageIndex
from wheelfix.rewrite import GraftDigests, OutputMember
from wheelfix.sbom import SbomLibrary, sbom_document, sbom_path

__all__ = [
    "LicenseMember",
    "Provenance",
    "find_provenance",
    "provenance_members",
    "sbom_bytes",
]


@dataclass(frozen=True)
class LicenseMember:
    """One license text to add to the wheel."""

    member: str
    """``<dist-info>/licenses/<dist>.libs/<package>/<name>``."""
    data: bytes
    source: str
    """Where it was read, as the target system names it."""


@dataclass(frozen=True)
class Provenance:
    """Owners and license files of one repair's grafted libraries."""

    owners: Mapping[Path, OwningPackage | None]
    """Each grafted host file -> the package that installed it (None: no package did)."""
    licenses: tuple[LicenseMember, ...]
    """License files to add, sorted by member."""
    license_paths: tuple[str, ...]
    """Their ``License-File`` values (relative to ``.dist-info/licenses/``)."""
    warnings: tuple[str, ...]
    """Libraries without a license found, files refused."""
    sbom_member: str
    """Where the SBOM goes."""


def find_provenance(
    plan: GraftPlan, index: PackageIndex, sysroot: Path | None, dist_info: str, *, licenses: bool
) -> Provenance:
    """Look up every grafted library's package and (with ``licenses``) its license texts."""
    owners = {g.source: index.find_owner(g.source) for g in plan.grafted}
    members: dict[str, LicenseMember] = {}
    paths: list[str] = []
    warnings: list[str] = []
    done: set[OwningPackage] = set()
    for library in plan.grafted if licenses else ():
        owner = owners[library.source]
        if owner is None:
            warnings.append(
                f"{library.source}: no distro package owns it, so no license file is added"
                " (add its license to the wheel yourself)"
            )
            continue
        if owner in done:
            continue
        done.add(owner)
        search = find_license_files(owner, index, sysroot)
        warnings.extend(f"{s.path}: license file not added ({s.reason})" for s in search.skipped)
        if not search.files:
            warnings.append(f"{library.source}: package {owner.name} ships no license file")
        for found in search.files:
            member = license_member(dist_info, plan.libs_dir, owner.name, found.name)
            members[member] = LicenseMember(member, found.data, found.source)
            paths.append(license_file_path(plan.libs_dir, owner.name, found.name))
    return Provenance(
        owners=owners,
        licenses=tuple(members[m] for m in sorted(members)),
        license_paths=tuple(sorted(set(paths))),
        warnings=tuple(warnings),
        sbom_member=sbom_path(dist_info),
    )


def sbom_bytes(
    provenance: Provenance,
    plan: GraftPlan,
    needed: Mapping[Path, Sequence[str]],
    written: Mapping[str, str],
    output_name: str,
) -> bytes:
    """The SBOM document; ``written`` maps each graft member to the sha256 of its bytes."""
    libraries = []
    for library in plan.grafted:
        digest = written.get(str(library.member))
        if digest is None:
            raise RuntimeError(f"{library.member} must be written before the SBOM")
        libraries.append(
            SbomLibrary(
                str(library.member),
                digest,
                str(library.original),
                provenance.owners.get(library.source),
                tuple(needed.get(library.source, ())),
                library.included,
            )
        )
    unique = {lib.member: lib for lib in libraries}
    return sbom_document(output_name, list(unique.values()))


def provenance_members(
    provenance: Provenance,
    plan: GraftPlan,
    digests: GraftDigests,
    output_name: str,
    *,
    sbom: bool,
) -> list[OutputMember]:
    """The license files and (with ``sbom``, when anything is grafted) the SBOM as members."""
    members = [
        OutputMember(lic.member, 0o644, partial(bytes, lic.data)) for lic in provenance.licenses
    ]
    if sbom and plan.grafted:
        needed = {
            g.source: [old for old, _new in plan.edits[g.member].replace_needed]
            for g in plan.grafted
        }
        produce = partial(sbom_bytes, provenance, plan, needed, digests.by_member, output_name)
        members.append(OutputMember(provenance.sbom_member, 0o644, produce))
    return members
