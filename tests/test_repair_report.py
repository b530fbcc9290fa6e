"""repair_report: documents built from real records (this machine's libz and its dpkg package)
validate against the shipped JSON Schema 2020-12, the schema rejects bad documents, the text
is canonical (same bytes whatever the input order, hash seed or process), and inconsistent
records are refused before they reach the file."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from wheelfix import __version__
from wheelfix.pkgdb import OwningPackage, PackageIndex
from wheelfix.repair_report import (
    DynamicEntries,
    GraftedLibrary,
    NotGrafted,
    RepairFailure,
    RewrittenFile,
    Timings,
    WheelReport,
    dump_report,
    report_document,
    report_schema,
)

SCHEMA_PATH = Path(__file__).parents[1] / "src/wheelfix/data/repair-report.schema.json"
_MULTIARCH = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
ZLIB = OwningPackage(
    "zlib1g", "1:1.2.13.dfsg-1", "amd64", "debian", "deb",
    "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64",
)  # fmt: skip


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = report_schema()
    assert schema == json.loads(SCHEMA_PATH.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def libz() -> GraftedLibrary:
    """The host's real libz, described as repair would graft it."""
    source = Path(f"/lib/{_MULTIARCH}/libz.so.1")
    if not source.exists():
        pytest.skip("no libz.so.1 on this host")
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    real_name = source.resolve().name  # libz.so.1.2.13
    new_name = real_name.replace(".so", f"-{digest[:8]}.so", 1)
    owner = PackageIndex().find_owner(source) if Path("/var/lib/dpkg/status").exists() else None
    return GraftedLibrary(
        "libz.so.1", str(source), f"demo.libs/{new_name}", new_name, len(data), digest, owner
    )


def _repaired(libz: GraftedLibrary, *, reverse: bool = False) -> WheelReport:
    other = GraftedLibrary(
        "libdemo.so.1", "/opt/demo/lib/libdemo.so.1", "demo.libs/libdemo-0123abcd.so.1",
        "libdemo-0123abcd.so.1", 4096, hashlib.sha256(b"demo").hexdigest(), None,
    )  # fmt: skip
    rewritten = (
        RewrittenFile(
            "demo/_ext.cpython-311-x86_64-linux-gnu.so",
            DynamicEntries(
                ("libdemo.so.1", "libz.so.1", "libc.so.6"), None, (), ("/opt/demo/lib",)
            ),
            DynamicEntries(
                (other.new_name, libz.new_name, "libc.so.6"), None, ("$ORIGIN/../demo.libs",), ()
            ),
        ),
        RewrittenFile(
            other.member,
            DynamicEntries(("libz.so.1",), "libdemo.so.1"),
            DynamicEntries((libz.new_name,), other.new_name, ("$ORIGIN",)),
        ),
    )
    grafted = (libz, other)
    not_grafted = (
        NotGrafted("libcuda.so.1", "never-graft", "nvidia-driver"),
        NotGrafted("libfoo.so.2", "exclude", "libfoo*"),
    )
    if reverse:
        grafted, rewritten, not_grafted = grafted[::-1], rewritten[::-1], not_grafted[::-1]
    return WheelReport(
        input="dist/demo-1.0-cp311-cp311-linux_x86_64.whl",
        output="wheelhouse/demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        tags_before=("cp311-cp311-linux_x86_64",),
        tags_after=(
            ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64")[
                :: -1 if reverse else 1
            ]
        ),
        grafted=grafted,
        not_grafted=not_grafted,
        rewritten=rewritten,
        warnings=("libcuda.so.1 is a driver library (nvidia-driver): not grafted",),
        seconds=Timings(audit=0.12345, graft=0.5, write=1.25049, total=1.9),
    )


FAILED = WheelReport(
    input="dist/broken-1.0-cp311-cp311-linux_x86_64.whl",
    output=None,
    tags_before=("cp311-cp311-linux_x86_64",),
    warnings=(),
    seconds=Timings(audit=0.01, total=0.02),
    error=RepairFailure(9, "libmissing.so.3: not found (needed by broken/_ext.so)"),
)


def test_document_validates_and_has_the_expected_shape(
    validator: jsonschema.Draft202012Validator, libz: GraftedLibrary
) -> None:
    document = report_document([_repaired(libz), FAILED])
    validator.validate(document)
    assert document["version"] == 1
    assert document["tool"] == {"name": "wheelfix", "version": __version__}
    repaired, failed = document["wheels"]
    assert repaired["status"] == "repaired"
    assert repaired["error"] is None
    assert repaired["tags_after"] == [
        "cp311-cp311-manylinux2014_x86_64",
        "cp311-cp311-manylinux_2_17_x86_64",
    ]
    assert [g["member"] for g in repaired["grafted"]] == sorted(
        g["member"] for g in repaired["grafted"]
    )
    zlib = next(g for g in repaired["grafted"] if g["soname"] == "libz.so.1")
    assert zlib["sha256"] == hashlib.sha256(Path(libz.source).read_bytes()).hexdigest()
    if libz.package is not None:  # a Debian host: the real owner, from the dpkg database
        assert zlib["package"]["name"] == "zlib1g"
        assert zlib["package"]["purl"].startswith("pkg:deb/debian/zlib1g@")
    assert repaired["rewritten"][0]["after"]["rpath"] == ["$ORIGIN"]
    assert repaired["rewritten"][1]["before"] == {
        "needed": ["libdemo.so.1", "libz.so.1", "libc.so.6"],  # file order kept
        "soname": None,
        "rpath": [],
        "runpath": ["/opt/demo/lib"],
    }
    assert repaired["not_grafted"][0] == {
        "soname": "libcuda.so.1", "cause": "never-graft", "detail": "nvidia-driver",
    }  # fmt: skip
    assert repaired["seconds"] == {"audit": 0.123, "graft": 0.5, "write": 1.25, "total": 1.9}
    assert failed == {
        "input": FAILED.input,
        "output": None,
        "status": "failed",
        "error": {"exit_code": 9, "message": FAILED.error.message if FAILED.error else ""},
        "tags_before": ["cp311-cp311-linux_x86_64"],
        "tags_after": [],
        "grafted": [],
        "not_grafted": [],
        "rewritten": [],
        "warnings": [],
        "seconds": {"audit": 0.01, "graft": 0.0, "write": 0.0, "total": 0.02},
    }
    assert report_document([])["wheels"] == []
    validator.validate(report_document([]))


def test_text_is_canonical(libz: GraftedLibrary) -> None:
    text = dump_report(report_document([_repaired(libz), FAILED]))
    assert text == dump_report(report_document([_repaired(libz, reverse=True), FAILED]))
    assert text.endswith("}\n")
    assert json.loads(text) == report_document([_repaired(libz), FAILED])
    lines = text.splitlines()
    assert lines[1] == '  "tool": {'  # sorted keys, two-space indent
    assert dump_report({"b": "é", "a": 1}) == '{\n  "a": 1,\n  "b": "é"\n}\n'


_PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def test_text_is_the_same_in_other_processes() -> None:
    script = textwrap.dedent(
        """
        from wheelfix.pkgdb import OwningPackage
        from wheelfix.repair_report import *
        owner = OwningPackage("zlib1g", "1", "amd64", "debian", "deb", "pkg:deb/debian/zlib1g@1")
        libs = tuple(
            GraftedLibrary(f"lib{n}.so.1", f"/l/lib{n}.so.1", f"d.libs/lib{n}-x.so.1",
                           f"lib{n}-x.so.1", n, format(n, "064x"), owner if n % 2 else None)
            for n in range(20)
        )
        wheel = WheelReport("in.whl", "out.whl", ("b-c-d", "a-b-c", "a-b-c"), ("x-y-z",), libs)
        print(dump_report(report_document([wheel], tool_version="9")), end="")
        """
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, **_PYTHONPATH},
        ).stdout
        for seed in ("0", "1", "12345")
    }  # fmt: skip
    assert len(outputs) == 1
    document = json.loads(outputs.pop())
    jsonschema.Draft202012Validator(report_schema()).validate(document)
    assert document["wheels"][0]["tags_before"] == ["a-b-c", "b-c-d"]


def _valid() -> dict[str, Any]:
    libz = GraftedLibrary(
        "libz.so.1", "/lib/libz.so.1", "demo.libs/libz-0a1b2c3d.so.1", "libz-0a1b2c3d.so.1",
        100, "a" * 64, ZLIB,
    )  # fmt: skip
    wheel = WheelReport(
        "in/demo-1.0-py3-none-linux_x86_64.whl",
        "out/demo-1.0-py3-none-manylinux_2_17_x86_64.whl",
        ("py3-none-linux_x86_64",),
        ("py3-none-manylinux_2_17_x86_64",),
        grafted=(libz,),
        rewritten=(RewrittenFile("demo/x.so", DynamicEntries(("libz.so.1",)), DynamicEntries()),),
        not_grafted=(NotGrafted("libGL.so.1", "never-graft", "opengl-dispatch"),),
    )
    return report_document([wheel, FAILED])


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(_valid())
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


W = ("wheels", 0)
F = ("wheels", 1)
G = (*W, "grafted", 0)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("version",), 2),
        (("tool", "name"), "auditwheel"),
        (("tool", "version"), KeyError),
        (("extra",), True),
        ((*W, "status"), "ok"),
        ((*W, "error"), {"exit_code": 9, "message": "x"}),  # repaired with an error
        ((*W, "output"), None),
        ((*W, "tags_after"), []),
        ((*W, "tags_after"), ["manylinux_2_17_x86_64"]),  # a platform, not a tag
        ((*W, "tags_before"), ["a-b-c", "a-b-c"]),
        ((*W, "seconds", "write"), -0.5),
        ((*W, "seconds", "total"), KeyError),
        ((*W, "warnings"), [1]),
        ((*W, "not_grafted", 0, "cause"), "too-big"),
        ((*W, "rewritten", 0, "before", "soname"), 3),
        ((*W, "rewritten", 0, "after", "needed"), KeyError),
        ((*W, "rewritten", 0, "member"), "/demo/x.so"),
        ((*G, "sha256"), "A" * 64),
        ((*G, "size"), -1),
        ((*G, "size"), 1.5),
        ((*G, "member"), "demo.libs\\libz.so.1"),
        ((*G, "member"), "demo.libs//libz.so.1"),
        ((*G, "soname"), None),
        ((*G, "package", "purl"), "zlib1g"),
        ((*G, "package", "name"), KeyError),
        ((*G, "unknown"), 1),
        ((*F, "output"), "out/broken.whl"),  # failed with an output
        ((*F, "error"), None),
        ((*F, "error", "exit_code"), 0),
        ((*F, "error", "message"), ""),
        ((*F, "grafted"), [_valid()["wheels"][0]["grafted"][0]]),
    ],
)
def test_schema_rejects(
    validator: jsonschema.Draft202012Validator, path: tuple[Any, ...], value: Any
) -> None:
    validator.validate(_valid())
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_set(path, value))


@pytest.mark.parametrize(
    ("wheel", "message"),
    [
        (WheelReport("a.whl", None), "exactly one of output and error"),
        (
            WheelReport("a.whl", "b.whl", error=RepairFailure(5, "bad")),
            "exactly one of output and error",
        ),
        (WheelReport("a.whl", "b.whl"), "a repaired wheel has tags"),
        (
            WheelReport("a.whl", None, tags_after=("a-b-c",), error=RepairFailure(5, "bad")),
            "a failed wheel has no tags_after",
        ),
        (
            WheelReport(
                "a.whl", "b.whl", ("a-b-c",), ("a-b-d",),
                (GraftedLibrary("l.so", "/l.so", "d.libs/l.so", "l.so", 1, "F" * 64),),
            ),
            "not a lower-case hex SHA-256",
        ),
        (
            WheelReport("a.whl", "b.whl", ("a-b-c",), ("a-b-d",), not_grafted=(NotGrafted("l", "x", "y"),)),
            "cause must be one of",
        ),
        (
            WheelReport(
                "a.whl", "b.whl", ("a-b-c",), ("a-b-d",),
                (GraftedLibrary("l.so", "/l.so", "d.libs/l.so", "l.so", 1, "f" * 64),),
                rewritten=(RewrittenFile("d.libs/l.so", DynamicEntries(), DynamicEntries()),) * 2,
            ),
            "a member is listed twice in rewritten",
        ),
        (
            WheelReport(
                "a.whl", "b.whl", ("a-b-c",), ("a-b-d",),
                (GraftedLibrary("l.so", "/l.so", "d.libs/l.so", "l.so", 1, "f" * 64),) * 2,
            ),
            "a member is listed twice in grafted",
        ),
    ],
)  # fmt: skip
def test_inconsistent_records_are_refused(wheel: WheelReport, message: str) -> None:
    with pytest.raises(ValueError, match=f"^a.whl: .*{message}"):
        report_document([wheel])
