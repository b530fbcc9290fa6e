"""licenses: this machine's Debian copyright files (through the doc-directory symlinks, against
dpkg -S and the host's own path resolution), a sysroot whose absolute and escaping links must
stay inside it, bounded reads, an apk root with /usr/share/licenses, and METADATA headers
(checked with packaging's PEP 639 parser)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import textwrap
from pathlib import Path

import pytest
from packaging.metadata import ExceptionGroup, Metadata

from wheelfix.licenses import (
    MAX_LICENSE_BYTES,
    MAX_LICENSE_FILES,
    LicenseFile,
    SkippedLicense,
    add_license_files,
    find_license_files,
    license_file_path,
    license_files,
    license_member,
)
from wheelfix.pkgdb import OwningPackage, PackageIndex

_MULTIARCH = sysconfig.get_config_var("MULTIARCH") or ""


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, "utf-8")
    else:
        path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# This machine: the dpkg database and /usr/share/doc


@pytest.fixture(scope="module")
def host_index() -> PackageIndex:
    if not _MULTIARCH or shutil.which("dpkg") is None or not Path("/var/lib/dpkg/status").is_file():
        pytest.skip("the host has no dpkg database (not Debian-based)")
    return PackageIndex()


def _host_owner(index: PackageIndex, soname: str) -> OwningPackage:
    path = Path("/usr/lib", _MULTIARCH, soname)
    if not path.exists():
        pytest.skip(f"{soname} is not installed")
    owner = index.find_owner(path)
    assert owner is not None
    return owner


def _dpkg_package_of(path: str) -> str:
    run = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, check=True)
    return run.stdout.split(":")[0]


@pytest.mark.parametrize("soname", ["libz.so.1", "libstdc++.so.6", "libgcc_s.so.1", "libdrm.so.2"])
def test_host_copyright(host_index: PackageIndex, soname: str) -> None:
    owner = _host_owner(host_index, soname)
    doc = Path("/usr/share/doc", owner.name)
    real = Path(os.path.realpath(doc / "copyright"))
    found = find_license_files(owner, host_index, None)
    assert found.skipped == ()
    assert found.files == (
        LicenseFile("copyright", real.read_bytes(), f"/usr/share/doc/{owner.name}/copyright"),
    )
    assert license_files(owner, host_index, None) == found.files
    # dpkg agrees on who installed the text that was read
    expected = os.readlink(doc) if doc.is_symlink() else owner.name
    assert _dpkg_package_of(str(real)) == expected


def test_host_libstdcxx_doc_is_another_packages(host_index: PackageIndex) -> None:
    """Debian's libstdc++6 ships no doc directory of its own: /usr/share/doc/libstdc++6 links to
    gcc-N-base's, and that package's copyright file is the one read."""
    owner = _host_owner(host_index, "libstdc++.so.6")
    doc = Path("/usr/share/doc/libstdc++6")
    if not doc.is_symlink():
        pytest.skip("this Debian release ships a real libstdc++6 doc directory")
    base = os.readlink(doc)
    assert base.startswith("gcc-")
    assert "/usr/share/doc/libstdc++6" in host_index.files(owner)
    (found,) = license_files(owner, host_index, None)
    assert found.data == Path("/usr/share/doc", base, "copyright").read_bytes()
    assert b"libstdc++" in found.data


def test_index_for_another_root_is_refused(host_index: PackageIndex, tmp_path: Path) -> None:
    owner = _host_owner(host_index, "libz.so.1")
    with pytest.raises(ValueError, match="the package index is for /, not"):
        license_files(owner, host_index, tmp_path)


# --------------------------------------------------------------------------------------------
# A sysroot: Debian doc links that must resolve inside it

_STATUS = "".join(
    f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n"
    for name in ("libfoo1", "libbar1", "libbaz1", "libbig1", "libmax1", "libfifo1", "libdir1")
)
_LIB = "/usr/lib/x86_64-linux-gnu"
HOST_DOC = "/usr/share/doc/gcc-12-base"
"""A host directory the sysroot's absolute link names; on this machine it has a copyright."""


@pytest.fixture
def deb_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    _write(root / "etc/os-release", "ID=debian\n")
    _write(root / "var/lib/dpkg/status", _STATUS)
    (root / "lib").symlink_to("/usr/lib")  # absolute: merged /usr, resolved in the root
    doc = root / "usr/share/doc"
    doc.mkdir(parents=True)
    for name in ("foo", "bar", "baz", "big", "max", "fifo", "dir"):
        package = f"lib{name}1"
        _write(root / f"usr/lib/x86_64-linux-gnu/lib{name}.so.1", name)
        _write(
            root / f"var/lib/dpkg/info/{package}:amd64.list",
            f"/lib/x86_64-linux-gnu/lib{name}.so.1\n/usr/share/doc/{package}\n",
        )
    # libfoo1's doc dir is an absolute link to another package's, as Debian does (relatively)
    (doc / "libfoo1").symlink_to(HOST_DOC)
    _write(root / HOST_DOC.lstrip("/") / "copyright", b"sysroot gcc-12-base copyright\n")
    # libbar1's copyright climbs with ".." towards the host's /etc/hostname
    (doc / "libbar1").mkdir()
    (doc / "libbar1/copyright").symlink_to("../" * 12 + "etc/hostname")
    # libbaz1's copyright is a chain of links longer than the loader's limit, then the host's /
    (doc / "libbaz1").mkdir()
    (doc / "libbaz1/hop-41").symlink_to("/etc/hostname")
    for hop in range(41, 0, -1):
        (doc / f"libbaz1/hop-{hop - 1}").symlink_to(f"hop-{hop}")
    (doc / "libbaz1/copyright").symlink_to("hop-0")
    _write(doc / "libbig1/copyright", b"x" * (MAX_LICENSE_BYTES + 1))
    _write(doc / "libmax1/copyright", b"y" * MAX_LICENSE_BYTES)
    (doc / "libfifo1").mkdir()
    os.mkfifo(doc / "libfifo1/copyright")
    (doc / "libdir1/copyright").mkdir(parents=True)
    return root


def _owner(index: PackageIndex, root: Path, name: str) -> OwningPackage:
    owner = index.find_owner(root / f"usr/lib/x86_64-linux-gnu/lib{name}.so.1")
    assert owner is not None
    assert owner.name == f"lib{name}1"
    return owner


def test_sysroot_absolute_doc_link_stays_in_the_sysroot(deb_root: Path) -> None:
    host = Path(HOST_DOC, "copyright")
    if not host.is_file():
        pytest.skip(f"{host} is absent: a host-side resolution would not show")
    assert host.read_bytes() != b"sysroot gcc-12-base copyright\n"
    index = PackageIndex(deb_root)
    found = find_license_files(_owner(index, deb_root, "foo"), index, deb_root)
    assert found == find_license_files(_owner(index, deb_root, "foo"), index, Path(str(deb_root)))
    assert found.files == (
        LicenseFile(
            "copyright", b"sysroot gcc-12-base copyright\n", "/usr/share/doc/libfoo1/copyright"
        ),
    )
    assert found.skipped == ()


def test_sysroot_dotdot_cannot_climb_out(deb_root: Path) -> None:
    assert Path("/etc/hostname").exists()  # what a host-side resolution would read
    index = PackageIndex(deb_root)
    found = find_license_files(_owner(index, deb_root, "bar"), index, deb_root)
    assert found.files == ()
    assert found.skipped == ()  # /etc/hostname is absent from the sysroot: no license at all


def test_sysroot_link_chain_past_the_limit_is_refused(deb_root: Path) -> None:
    index = PackageIndex(deb_root)
    found = find_license_files(_owner(index, deb_root, "baz"), index, deb_root)
    assert found.files == ()
    assert found.skipped == (
        SkippedLicense("/usr/share/doc/libbaz1/copyright", "resolves outside the sysroot"),
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("big", (SkippedLicense("/usr/share/doc/libbig1/copyright", "larger than 1048576 bytes"),)),
        ("max", ()),
        ("fifo", (SkippedLicense("/usr/share/doc/libfifo1/copyright", "not a regular file"),)),
        ("dir", ()),
    ],
)
def test_sysroot_bounded_reads(deb_root: Path, name: str, expected: tuple[SkippedLicense]) -> None:
    index = PackageIndex(deb_root)
    found = find_license_files(_owner(index, deb_root, name), index, deb_root)
    assert found.skipped == expected
    if name == "max":
        assert [(f.name, len(f.data)) for f in found.files] == [("copyright", MAX_LICENSE_BYTES)]
    else:
        assert found.files == ()


# --------------------------------------------------------------------------------------------
# apk (and rpm's layout): /usr/share/licenses/<package>/, listed and found in the directory

_APK = """\
C:Q1vN3cJJtmJDzS0VuAJsWNbu6hhD8=
P:zlib
V:1.3.1-r0
A:x86_64
F:usr/lib
R:libz.so.1
F:usr/share/licenses/zlib
R:LICENSE
F:usr/share/licenses/zlib-common
R:COPYING

C:Q1nrbc4Iyk34bQgHBlv2pW3S0Yn0k=
P:libmany
V:2-r0
A:x86_64
F:usr/lib
R:libmany.so.2
"""


@pytest.fixture
def apk_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    _write(root / "etc/os-release", "ID=alpine\n")
    _write(root / "lib/apk/db/installed", _APK)
    _write(root / "usr/lib/libz.so.1", "z")
    _write(root / "usr/lib/libmany.so.2", "m")
    licenses = root / "usr/share/licenses"
    _write(licenses / "zlib/LICENSE", "zlib license\n")
    _write(licenses / "zlib/extra/NOTICE", "notice (not listed, found in the directory)\n")
    _write(licenses / "zlib/back\\slash", "unsafe name\n")
    (licenses / "zlib/linked").symlink_to("/usr/share/licenses/zlib-common/COPYING")
    _write(licenses / "zlib-common/COPYING", "common copying\n")
    for number in range(MAX_LICENSE_FILES + 6):
        _write(licenses / f"libmany/LICENSE.{number:03d}", f"{number}\n")
    return root


def test_apk_licenses(apk_root: Path) -> None:
    index = PackageIndex(apk_root)
    owner = index.find_owner(apk_root / "usr/lib/libz.so.1")
    assert owner is not None
    found = find_license_files(owner, index, apk_root)
    assert [(f.name, f.data, f.source) for f in found.files] == [
        ("LICENSE", b"zlib license\n", "/usr/share/licenses/zlib/LICENSE"),
        (
            "extra/NOTICE",
            b"notice (not listed, found in the directory)\n",
            "/usr/share/licenses/zlib/extra/NOTICE",
        ),
        ("linked", b"common copying\n", "/usr/share/licenses/zlib/linked"),
        ("zlib-common/COPYING", b"common copying\n", "/usr/share/licenses/zlib-common/COPYING"),
    ]
    assert found.skipped == (
        SkippedLicense("/usr/share/licenses/zlib/back\\slash", "file name unsafe in a wheel"),
    )


def test_apk_license_count_is_bounded(apk_root: Path) -> None:
    index = PackageIndex(apk_root)
    owner = index.find_owner(apk_root / "usr/lib/libmany.so.2")
    assert owner is not None
    found = find_license_files(owner, index, apk_root)
    assert [f.name for f in found.files] == [f"LICENSE.{n:03d}" for n in range(MAX_LICENSE_FILES)]
    assert found.skipped
    assert {s.reason for s in found.skipped} == {f"more than {MAX_LICENSE_FILES} license files"}


def test_paths_in_the_wheel() -> None:
    assert license_file_path("demo.libs", "libstdc++6", "copyright") == (
        "demo.libs/libstdc++6/copyright"
    )
    assert license_member("demo-1.0.dist-info", "demo.libs", "zlib", "extra/NOTICE") == (
        "demo-1.0.dist-info/licenses/demo.libs/zlib/extra/NOTICE"
    )


# --------------------------------------------------------------------------------------------
# METADATA

_META_24 = textwrap.dedent(
    """\
    Metadata-Version: 2.4
    Name: demo
    Version: 1.0
    License-Expression: MIT
    License-File: LICENSE
    Description-Content-Type: text/plain

    The description.
    License-File: not/a/header
    """
)


def test_add_license_files_for_2_4() -> None:
    paths = ["demo.libs/zlib1g/copyright", "LICENSE", "demo.libs/zlib1g/copyright", "démo/x"]
    out = add_license_files(_META_24, paths)
    head, _, body = _META_24.partition("\n\n")
    assert out == (
        head + "\nLicense-File: demo.libs/zlib1g/copyright\nLicense-File: démo/x\n\n" + body
    )
    metadata = Metadata.from_email(out, validate=True)
    assert metadata.license_files == ["LICENSE", "demo.libs/zlib1g/copyright", "démo/x"]
    assert metadata.description == "The description.\nLicense-File: not/a/header\n"
    assert add_license_files(out, paths) == out  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nbody\n",
        "Metadata-Version: 2.3\nName: demo\nVersion: 1.0\n",
        "Name: demo\nVersion: 1.0\n\nMetadata-Version: 2.4\n",  # only in the body
        "Metadata-Version: two\nName: demo\n",
        "",
    ],
)
def test_add_license_files_leaves_older_metadata_alone(text: str) -> None:
    assert add_license_files(text, ["demo.libs/zlib1g/copyright"]) == text


def test_older_metadata_would_be_invalid_with_the_header() -> None:
    """Why 2.1 is left alone: the field does not exist there."""
    text = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense-File: a\n"
    with pytest.raises(ExceptionGroup) as caught:
        Metadata.from_email(text, validate=True)
    assert [str(error) for error in caught.value.exceptions] == [
        "license-file introduced in metadata version 2.4, not 2.1"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # CRLF kept, continuation lines kept, no body
            "Metadata-Version: 2.5\r\nName: demo\r\nSummary: a\r\n  continued\r\n",
            "Metadata-Version: 2.5\r\nName: demo\r\nSummary: a\r\n  continued\r\n"
            "License-File: x/y\r\n",
        ),
        (  # no newline after the last header
            "Metadata-Version: 2.4\nName: demo",
            "Metadata-Version: 2.4\nName: demo\nLicense-File: x/y\n",
        ),
        (  # field names are case-insensitive
            "metadata-version: 2.4\nlicense-file: x/y\n\nbody",
            "metadata-version: 2.4\nlicense-file: x/y\n\nbody",
        ),
    ],
)
def test_add_license_files_shapes(text: str, expected: str) -> None:
    assert add_license_files(text, ["x/y"]) == expected


@pytest.mark.parametrize("path", ["a\nLicense-Expression: GPL", "a\rb", ""])
def test_add_license_files_refuses_multiline_paths(path: str) -> None:
    with pytest.raises(ValueError, match="single-line"):
        add_license_files(_META_24, [path])
