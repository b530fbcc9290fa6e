"""sbom: the CycloneDX document validated against the official 1.6 JSON schema (as shipped in
cyclonedx-python-lib, loaded with no network), checked for determinism, and compared with
auditwheel 6.8.2's own SBOM of the same library."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packageurl import PackageURL
from packaging.utils import InvalidWheelFilename
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from wheelfix.pkgdb import OwningPackage, PackageIndex
from wheelfix.sbom import SbomLibrary, describe_grafted, sbom_document, sbom_path, wheel_purl

WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
SCHEMA_BASE = "http://cyclonedx.org/schema/"

ZLIB = OwningPackage(
    name="zlib1g",
    version="1:1.2.13.dfsg-1",
    arch="amd64",
    distro="debian",
    kind="deb",
    purl="pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64",
)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


LIBS = (
    SbomLibrary("demo.libs/libz-0a1b2c3d.so.1.2.13", _sha("z"), "libz.so.1", ZLIB),
    SbomLibrary(
        "demo.libs/liba-11111111.so.1.0.0", _sha("a"), "liba.so.1", None, ("libb.so.1", "libc.so.6")
    ),
    SbomLibrary(
        "demo.libs/libb-22222222.so.1.0.0", _sha("b"), "libb.so.1", None, ("libz.so.1", "libb.so.1")
    ),
)


# --------------------------------------------------------------------------------------------
# The official schema, from the installed package only


def _schema_files() -> dict[str, Any]:
    folder = resources.files("cyclonedx.schema") / "_res"
    return {
        entry.name: json.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    }


def _no_network(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    files = _schema_files()
    schema = files["bom-1.6.SNAPSHOT.schema.json"]
    assert schema["$id"] == f"{SCHEMA_BASE}bom-1.6.schema.json"
    # The bom schema refers to its neighbours by file name, relative to its $id.
    registry: Registry[Any] = Registry(retrieve=_no_network).with_resources(
        (SCHEMA_BASE + name, Resource.from_contents(contents)) for name, contents in files.items()
    )
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def _errors(validator: jsonschema.protocols.Validator, document: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


def test_document_is_valid_cyclonedx_1_6(validator: jsonschema.protocols.Validator) -> None:
    document = json.loads(sbom_document(WHEEL, LIBS))
    assert _errors(validator, document) == []
    assert document["specVersion"] == "1.6"
    assert document["$schema"] == f"{SCHEMA_BASE}bom-1.6.schema.json"


def test_empty_document_is_valid(validator: jsonschema.protocols.Validator) -> None:
    document = json.loads(sbom_document(WHEEL, ()))
    assert _errors(validator, document) == []
    assert document["components"] == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("components", 0, "type"), "shared-object"),
        (("components", 0, "hashes", 0, "alg"), "SHA256"),
        (("serialNumber",), "urn:uuid:not-a-uuid"),
        (("metadata", "tools", "components", 0, "type"), "tool"),
    ],
)
def test_schema_rejects_broken_documents(
    validator: jsonschema.protocols.Validator, path: tuple[Any, ...], value: str
) -> None:
    """The validator really checks (so the passing tests above mean something)."""
    document = json.loads(sbom_document(WHEEL, LIBS))
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(validator, document)


def test_host_library_document_is_valid(
    validator: jsonschema.protocols.Validator, tmp_path: Path
) -> None:
    """A document from a real lookup on this machine (owned when dpkg/rpm/apk owns libc)."""
    index = PackageIndex()
    libc = Path("/lib64/ld-linux-x86-64.so.2")
    if not libc.exists():
        libc = Path(os.path.realpath(sys.executable))
    unowned = tmp_path / "libown.so.1"
    unowned.write_bytes(b"\x7fELF")
    libraries = [
        describe_grafted(libc, "demo.libs/ld-12345678.so.2", _sha("ld"), "ld.so", index),
        describe_grafted(
            unowned, "demo.libs/libown-1234abcd.so.1", _sha("own"), "libown.so.1", index
        ),
    ]
    assert libraries[1].owner is None
    if Path("/var/lib/dpkg/status").is_file() and libc.name.startswith("ld-linux"):
        assert libraries[0].owner is not None
        assert libraries[0].owner.name == "libc6"
    document = json.loads(sbom_document(WHEEL, libraries))
    assert _errors(validator, document) == []


# --------------------------------------------------------------------------------------------
# Content


def test_components_and_dependencies() -> None:
    document = json.loads(sbom_document(WHEEL, LIBS, tool_version="9.9"))
    root = "pkg:pypi/demo@1.0?file_name=" + WHEEL
    zlib_ref = ZLIB.purl + "#demo.libs/libz-0a1b2c3d.so.1.2.13"
    assert document["metadata"]["component"] == {
        "type": "library",
        "bom-ref": root,
        "name": "demo",
        "version": "1.0",
        "purl": root,
    }
    assert document["metadata"]["tools"] == {
        "components": [{"type": "application", "name": "wheelfix", "version": "9.9"}]
    }
    assert [c["evidence"]["occurrences"][0]["location"] for c in document["components"]] == sorted(
        lib.member for lib in LIBS
    )
    zlib = next(c for c in document["components"] if c.get("purl"))
    assert zlib == {
        "type": "library",
        "bom-ref": zlib_ref,
        "name": "zlib1g",
        "version": "1:1.2.13.dfsg-1",
        "purl": ZLIB.purl,
        "hashes": [{"alg": "SHA-256", "content": _sha("z")}],
        "evidence": {"occurrences": [{"location": "demo.libs/libz-0a1b2c3d.so.1.2.13"}]},
        "properties": [{"name": "wheelfix:soname", "value": "libz.so.1"}],
    }
    unowned = next(c for c in document["components"] if c["name"] == "liba.so.1")
    assert "purl" not in unowned
    assert "version" not in unowned
    # The wheel needs every grafted library; a library needs the grafted libraries in its
    # DT_NEEDED (never itself, never a library that was not grafted).
    assert document["dependencies"] == sorted(
        [
            {
                "ref": root,
                "dependsOn": sorted(
                    [
                        zlib_ref,
                        "demo.libs/liba-11111111.so.1.0.0",
                        "demo.libs/libb-22222222.so.1.0.0",
                    ]
                ),
            },
            {
                "ref": "demo.libs/liba-11111111.so.1.0.0",
                "dependsOn": ["demo.libs/libb-22222222.so.1.0.0"],
            },
            {"ref": "demo.libs/libb-22222222.so.1.0.0", "dependsOn": [zlib_ref]},
            {"ref": zlib_ref},
        ],
        key=lambda dependency: dependency["ref"],
    )
    refs = [document["metadata"]["component"]["bom-ref"]] + [
        c["bom-ref"] for c in document["components"]
    ]
    assert len(set(refs)) == len(refs)  # bom-refs are unique in the document


def test_sbom_member_path() -> None:
    assert sbom_path("demo-1.0.dist-info") == "demo-1.0.dist-info/sboms/wheelfix.cdx.json"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        sbom_document(WHEEL, [LIBS[0], LIBS[0]])
    with pytest.raises(ValueError, match="SHA-256"):
        sbom_document(WHEEL, [SbomLibrary("demo.libs/x.so", "ABC", "x.so", None)])
    with pytest.raises(InvalidWheelFilename):
        sbom_document("demo.whl", LIBS)


# --------------------------------------------------------------------------------------------
# Determinism


def test_same_input_same_bytes_in_any_order() -> None:
    first = sbom_document(WHEEL, LIBS)
    assert {sbom_document(WHEEL, order) for order in itertools.permutations(LIBS)} == {first}
    # Canonical JSON: sorted keys, no whitespace, no timestamp.
    parsed = json.loads(first)
    assert json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode() == first
    assert b"timestamp" not in first


def test_serial_number_follows_the_content() -> None:
    serial = json.loads(sbom_document(WHEEL, LIBS))["serialNumber"]
    assert serial.startswith("urn:uuid:")
    changed = (LIBS[0], LIBS[1], SbomLibrary(LIBS[2].member, _sha("b2"), "libb.so.1", None))
    assert json.loads(sbom_document(WHEEL, changed))["serialNumber"] != serial
    other_wheel = WHEEL.replace("1.0", "1.1")
    assert json.loads(sbom_document(other_wheel, LIBS))["serialNumber"] != serial


def test_same_bytes_across_processes(tmp_path: Path) -> None:
    """Different hash seeds (set and dict order) in fresh interpreters give the same bytes."""
    script = tmp_path / "make.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from wheelfix.sbom import SbomLibrary, sbom_document
            libs = [
                SbomLibrary("d.libs/lib{{0}}-00000000.so".format(n), "{"0" * 64}", "lib{{0}}.so".format(n),
                            None, tuple("lib{{0}}.so".format(m) for m in range(n)))
                for n in range(12)
            ]
            sys.stdout.buffer.write(sbom_document({WHEEL!r}, libs))
            """
        )
    )
    outputs = {
        subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert len(json.loads(outputs.pop())["components"]) == 12


# --------------------------------------------------------------------------------------------
# purls, and auditwheel's own SBOM as the oracle


@pytest.mark.parametrize(
    ("filename", "purl"),
    [
        (WHEEL, f"pkg:pypi/demo@1.0?file_name={WHEEL}"),
        (
            "scikit_learn-1.5.2-cp312-cp312-manylinux_2_17_x86_64.whl",
            "pkg:pypi/scikit_learn@1.5.2?file_name=scikit_learn-1.5.2-cp312-cp312-manylinux_2_17_x86_64.whl",
        ),
        (
            "torch-2.0.0+cpu-1-cp311-cp311-linux_x86_64.whl",
            "pkg:pypi/torch@2.0.0%2Bcpu?file_name=torch-2.0.0%2Bcpu-1-cp311-cp311-linux_x86_64.whl",
        ),
    ],
)
def test_wheel_purl(filename: str, purl: str) -> None:
    assert wheel_purl(filename)[0] == purl
    parsed = PackageURL.from_string(purl)
    assert (parsed.type, parsed.qualifiers) == ("pypi", {"file_name": filename})


def test_library_purls_parse_back() -> None:
    document = json.loads(sbom_document(WHEEL, LIBS))
    for component in document["components"]:
        if "purl" in component:
            parsed = PackageURL.from_string(component["purl"])
            assert parsed.to_string() == component["purl"]
            assert (parsed.name, parsed.version) == (component["name"], component["version"])


def _dpkg_listed_real_library() -> Path | None:
    """A host library whose real path is exactly what dpkg lists (auditwheel's lookup
    runs ``dpkg -S`` on the real path, which misses files listed under ``/lib``)."""
    for candidate in sorted(Path("/usr/lib").glob("*-linux-gnu/libstdc++.so.6.*")):
        real = Path(os.path.realpath(candidate))
        run = subprocess.run(["dpkg", "-S", str(real)], capture_output=True, check=False)
        if run.returncode == 0:
            return real
    return None


@pytest.mark.oracle
@pytest.mark.parametrize("filename", [WHEEL, "torch-2.0.0+cpu-1-cp311-cp311-linux_x86_64.whl"])
def test_matches_auditwheel_sbom(filename: str) -> None:
    from auditwheel import sboms

    if not Path("/var/lib/dpkg/status").is_file():
        pytest.skip("auditwheel's lookup needs dpkg here")
    library = _dpkg_listed_real_library()
    if library is None:
        pytest.skip("no dpkg-listed libstdc++ on this host")
    theirs = sboms.create_sbom_for_wheel(filename, [library])
    assert theirs is not None
    grafted = describe_grafted(
        library, "demo.libs/libstdc++-12345678.so.6", _sha("x"), "libstdc++.so.6", PackageIndex()
    )
    ours = json.loads(sbom_document(filename, [grafted]))
    assert ours["metadata"]["component"] == theirs["metadata"]["component"]
    [their_lib] = theirs["components"][1:]
    [our_lib] = ours["components"]
    assert (our_lib["name"], our_lib["version"]) == (their_lib["name"], their_lib["version"])
    theirs_purl, ours_purl = (
        PackageURL.from_string(their_lib["purl"]),
        PackageURL.from_string(our_lib["purl"]),
    )
    fields = ("type", "namespace", "name", "version")
    assert [getattr(ours_purl, f) for f in fields] == [getattr(theirs_purl, f) for f in fields]
    assert ours_purl.qualifiers == {"arch": grafted.owner.arch if grafted.owner else None}
    # The same shape of relations: the wheel depends on the library.
    assert [d.get("dependsOn") for d in theirs["dependencies"]] == [[their_lib["bom-ref"]], None]
    root_dependency = next(
        d for d in ours["dependencies"] if d["ref"] == ours["metadata"]["component"]["bom-ref"]
    )
    assert root_dependency["dependsOn"] == [our_lib["bom-ref"]]


def test_schema_neighbours_load_locally(validator: jsonschema.protocols.Validator) -> None:
    """The spdx sub-schema resolves from the package (no network): a real SPDX id passes,
    a made-up one fails."""
    document = json.loads(sbom_document(WHEEL, LIBS))
    document["components"][0]["licenses"] = [{"license": {"id": "MIT"}}]
    assert _errors(validator, document) == []
    document["components"][0]["licenses"] = [{"license": {"id": "Not-A-Licence-1.0"}}]
    assert _errors(validator, document)
