"""The wheel reader: names, members, schemes, and every kind of bad input it must refuse.

:data:`badinputs.BAD_INPUTS` builds each bad input from a valid wheel; ``test_cli_errors.py``
runs the same inputs through the CLI.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import pytest

from badinputs import (
    BAD_INPUTS,
    TAG,
    Elves,
    build_elves,
    good_wheel,
    missing_library,
    rewrite_zip,
    subject,
)
from wheelbuild import make_wheel
from wheelfix.errors import (
    InvalidWheelError,
    LibraryNotFoundError,
    UnsafeWheelError,
    WheelfixError,
)
from wheelfix.options import AuditOptions
from wheelfix.pipeline import audit
from wheelfix.wheel import MemberPath, WheelReader, parse_wheel_name


@pytest.fixture(scope="module")
def elves(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Elves:
    return build_elves(fixture_cache, tmp_path_factory.mktemp("wheel-src"))


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_its_error(name: str, elves: Elves, tmp_path: Path) -> None:
    bad = BAD_INPUTS[name]
    path = bad.build(tmp_path, elves)
    with pytest.raises(bad.error) as info:
        audit(path, AuditOptions(environ={}))
    error = info.value
    assert type(error) is bad.error
    assert error.exit_code == bad.code
    assert error.subject == subject(path, bad)
    if name in ("zip_bomb", "declared_huge"):
        assert error.reason.startswith(bad.reason)
        assert error.reason.endswith("(zip bomb guard)")
    else:
        assert error.reason == bad.reason
    assert "\n" not in error.reason


def test_exit_codes_are_distinct_per_kind() -> None:
    codes: dict[type[WheelfixError], int] = {b.error: b.code for b in BAD_INPUTS.values()}
    codes[LibraryNotFoundError] = LibraryNotFoundError.exit_code
    assert len(set(codes.values())) == len(codes)
    assert {e: e.exit_code for e in codes} == codes


def test_total_declared_size_guard(elves: Elves, tmp_path: Path) -> None:
    wheel = good_wheel(tmp_path, elves)
    with pytest.raises(UnsafeWheelError, match="declares more than 100 uncompressed bytes"):
        WheelReader(wheel, max_uncompressed=100)
    with WheelReader(wheel) as reader:  # the default limit is far away
        assert reader.members


def test_missing_library_is_reported_not_raised(elves: Elves, tmp_path: Path) -> None:
    result = audit(missing_library(tmp_path, elves), AuditOptions(environ={}))
    libs = result.verdict.external[result.verdict.policies.highest.name].libs
    assert libs == {"libwfmissing.so.1": None}
    assert result.verdict.show_overall.name == "linux_x86_64"


# --------------------------------------------------------------------------- good wheels


@pytest.mark.parametrize(
    ("filename", "platforms", "prefix", "build"),
    [
        (f"demo-1.0-{TAG}.whl", (TAG.split("-")[2],), f"demo-1.0-{TAG.rsplit('-', 1)[0]}", ()),
        (
            "Demo_Pkg-2.0.1-1abc-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ("manylinux2014_x86_64", "manylinux_2_17_x86_64"),
            "Demo_Pkg-2.0.1-1abc-cp39-abi3",
            (1, "abc"),
        ),
        ("pure-1.0-py2.py3-none-any.whl", ("any",), "pure-1.0-py2.py3-none", ()),
    ],
)
def test_parse_wheel_name(
    filename: str, platforms: tuple[str, ...], prefix: str, build: tuple[object, ...]
) -> None:
    name = parse_wheel_name(Path("/somewhere") / filename)
    assert name.filename == filename
    assert name.platforms == platforms
    assert name.prefix == prefix
    assert name.build == build
    assert name.distribution == filename.split("-", maxsplit=1)[0]
    assert name.version == filename.split("-")[1]


@pytest.mark.parametrize(
    "filename",
    [
        "demo.whl",
        "demo-1.0.whl",
        "demo-1.0-py3-none.whl",
        "de mo-1.0-py3-none-any.whl",
        "demo-1.0-py3-none-any.tar.gz",
    ],
)
def test_parse_wheel_name_rejects(filename: str) -> None:
    with pytest.raises(InvalidWheelError) as info:
        parse_wheel_name(Path(filename))
    assert info.value.exit_code == 5


def test_reader_members_schemes_and_modes(elves: Elves, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "datademo",
        "1.0",
        {
            "datademo/__init__.py": b"",
            "datademo/lib.so": elves.plain,
            "datademo-1.0.data/scripts/tool": b"#!/bin/sh\n",
            "datademo-1.0.data/purelib/extra/mod.py": b"",
            "datademo-1.0.data/platlib/native/x.so": elves.plain,
            "datademo-1.0.data/headers/x.h": b"",
        },
        tag=TAG,
        modes={"datademo-1.0.data/scripts/tool": 0o750},
    )
    with WheelReader(wheel) as reader:
        assert reader.dist_info == "datademo-1.0.dist-info"
        assert reader.root_is_purelib is False
        assert "Wheel-Version: 1.0" in reader.wheel_metadata
        members = {m.path: m for m in reader.members}
        assert set(members) == {
            "datademo/__init__.py",
            "datademo/lib.so",
            "datademo-1.0.data/scripts/tool",
            "datademo-1.0.data/purelib/extra/mod.py",
            "datademo-1.0.data/platlib/native/x.so",
            "datademo-1.0.data/headers/x.h",
            "datademo-1.0.dist-info/METADATA",
            "datademo-1.0.dist-info/WHEEL",
            "datademo-1.0.dist-info/RECORD",
        }
        expected = {
            "datademo/lib.so": (PurePosixPath("datademo/lib.so"), "platlib", 0o755),
            "datademo/__init__.py": (PurePosixPath("datademo/__init__.py"), "platlib", 0o644),
            "datademo-1.0.data/scripts/tool": (PurePosixPath("<scripts>/tool"), "scripts", 0o750),
            "datademo-1.0.data/purelib/extra/mod.py": (
                PurePosixPath("extra/mod.py"),
                "purelib",
                0o644,
            ),
            "datademo-1.0.data/platlib/native/x.so": (
                PurePosixPath("native/x.so"),
                "platlib",
                0o755,
            ),
            "datademo-1.0.data/headers/x.h": (PurePosixPath("<headers>/x.h"), "headers", 0o644),
        }
        for path, (install, scheme, mode) in expected.items():
            member = members[path]
            assert (member.install_path, member.scheme, member.mode) == (install, scheme, mode)
        assert members["datademo/lib.so"].size == len(elves.plain)
        assert reader.read(MemberPath("datademo/lib.so")) == elves.plain
        assert reader.read_head(MemberPath("datademo/lib.so"), 4) == b"\x7fELF"
        assert reader.zipinfo(MemberPath("datademo/lib.so")).file_size == len(elves.plain)


def test_reader_skips_directory_entries_and_defaults_mode(elves: Elves, tmp_path: Path) -> None:
    source = good_wheel(tmp_path / "src", elves)
    directory = zipfile.ZipInfo("demo/sub/", date_time=(1980, 1, 1, 0, 0, 0))
    no_mode = zipfile.ZipInfo("demo/nomode.txt", date_time=(1980, 1, 1, 0, 0, 0))
    no_mode.create_system = 0  # made on Windows: only the DOS archive bit, no unix mode
    no_mode.external_attr = 0x20
    wheel = rewrite_zip(source, tmp_path / source.name, add=[(directory, b""), (no_mode, b"x")])
    with WheelReader(wheel) as reader:
        members = {m.path: m for m in reader.members}
        assert "demo/sub/" not in members
        assert members["demo/nomode.txt"].mode == 0o644


def test_root_is_purelib_puts_elf_in_purelib(elves: Elves, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path, "mixed", "1.0", {"mixed/lib.so": elves.plain}, tag=TAG, root_is_purelib=True
    )
    with WheelReader(wheel) as reader:
        assert reader.root_is_purelib is True
        assert reader.members[0].scheme == "purelib"
    # As auditwheel: a Root-Is-Purelib wheel's root ELF files are audited...
    assert audit(wheel, AuditOptions(environ={})).scan.elves[0].path == "mixed/lib.so"
    # ...only ELF files under .data/purelib/ are refused.
    data = make_wheel(
        tmp_path / "data",
        "mixed",
        "1.0",
        {"mixed-1.0.data/purelib/mixed/lib.so": elves.plain},
        tag=TAG,
    )
    with pytest.raises(InvalidWheelError, match="found the following shared library/libraries"):
        audit(data, AuditOptions(environ={}))
