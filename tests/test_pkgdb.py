"""pkgdb: package ownership read from real dpkg, rpm and apk databases, checked against the
package managers themselves where they are installed (dpkg -S, rpm -qf, rpm -ql)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
import sysconfig
import textwrap
from pathlib import Path

import pytest
from packageurl import PackageURL

from wheelfix.pkgdb import OwningPackage, PackageIndex
from wheelfix.pkgdb.apk import parse_installed
from wheelfix.pkgdb.dpkg import DpkgDatabase, installed_packages
from wheelfix.pkgdb.osrelease import distro_id, parse_os_release
from wheelfix.pkgdb.purl import package_url
from wheelfix.pkgdb.rpm import RpmHeaderError, parse_header

IN_CI = os.environ.get("CI") == "true"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _symlink(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


# --------------------------------------------------------------------------------------------
# purl and os-release (pure)


@pytest.mark.parametrize(
    ("kind", "namespace", "name", "version", "qualifiers"),
    [
        ("deb", "debian", "libyaml-0-2", "0.2.5-1", {"arch": "amd64"}),
        ("deb", "debian", "libstdc++6", "12.2.0-14+deb12u1", {"arch": "amd64"}),
        ("deb", "ubuntu", "zlib1g", "1:1.2.13.dfsg-1ubuntu5~22.04", {"arch": "arm64"}),
        ("rpm", "fedora", "zlib-ng-compat", "2.1.6-2.fc40", {"arch": "x86_64", "epoch": "1"}),
        ("rpm", "almalinux", "libgfortran", "11.4.1-3.el9", {"arch": "x86_64"}),
        ("apk", "alpine", "musl", "1.2.4_git20230717-r4", {"arch": "x86_64"}),
        ("apk", "Alpine", "Libfoo", "1.0-r0", {"arch": "aarch64"}),
        ("deb", None, "libc6", "2.36-9", {"arch": "amd64"}),
        ("deb", "debian", "libc6", "2.36-9", {}),
    ],
)
def test_purl_matches_packageurl(
    kind: str, namespace: str | None, name: str, version: str, qualifiers: dict[str, str]
) -> None:
    ours = package_url(kind, name, version, namespace=namespace, qualifiers=qualifiers)
    reference = PackageURL(
        type=kind, namespace=namespace, name=name, version=version, qualifiers=qualifiers
    )
    assert ours == reference.to_string()
    parsed = PackageURL.from_string(ours)
    assert (parsed.name, parsed.version, parsed.qualifiers) == (
        name.lower() if kind == "apk" else name,
        version,
        qualifiers,
    )


def test_purl_drops_empty_qualifiers_and_sorts_them() -> None:
    purl = package_url("rpm", "zlib", "1.2-3", qualifiers={"epoch": "2", "arch": "x86_64"})
    assert purl == "pkg:rpm/zlib@1.2-3?arch=x86_64&epoch=2"
    assert package_url("rpm", "zlib", "1.2-3", qualifiers={"arch": None}) == "pkg:rpm/zlib@1.2-3"
    with pytest.raises(ValueError, match="type"):
        package_url("DEB/x", "zlib", "1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ID=debian\nVERSION_ID=12\n", {"ID": "debian", "VERSION_ID": "12"}),
        ('ID="fedora"\n# comment\n\nNAME="Fedora Linux"', {"ID": "fedora", "NAME": "Fedora Linux"}),
        ("ID='alpine'\nbroken line\n", {"ID": "alpine"}),
        ('PRETTY_NAME="Say \\"hi\\""\n', {"PRETTY_NAME": 'Say "hi"'}),
        ('ID_LIKE="rhel centos fedora"\n', {"ID_LIKE": "rhel centos fedora"}),
        ('UNTERMINATED="x\nID=ok\n', {"ID": "ok"}),
    ],
)
def test_parse_os_release(text: str, expected: dict[str, str]) -> None:
    assert parse_os_release(text) == expected


def test_distro_id_under_a_root(tmp_path: Path) -> None:
    assert distro_id(tmp_path) is None
    _write(tmp_path / "usr/lib/os-release", "ID=arch\n")
    assert distro_id(tmp_path) == "arch"  # the specification's fallback location
    _symlink(tmp_path / "etc/os-release", "/usr/lib/os-release.d/real")  # absolute: in the root
    _write(tmp_path / "usr/lib/os-release.d/real", 'ID="Ubuntu"\n')
    assert distro_id(tmp_path) == "ubuntu"


# --------------------------------------------------------------------------------------------
# dpkg: the host's own database against dpkg -S / dpkg-query


def _dpkg_owner(path: str) -> str | None:
    """``dpkg -S`` for exactly ``path``: the package (``name`` or ``name:arch``) or None."""
    run = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, check=False)
    for line in run.stdout.splitlines():
        if line.startswith("diversion by"):
            continue
        packages, _, listed = line.rpartition(": ")
        if listed == path:
            return packages.split(", ")[0]
    return None


def _aliases(path: str) -> list[str]:
    """``path`` and its spelling through the merged-/usr symlink, when ``/lib`` is one."""
    forms = [path]
    if Path("/lib").is_symlink():
        if path.startswith("/usr/lib/"):
            forms.append(path[len("/usr") :])
        elif path.startswith("/lib/"):
            forms.append("/usr" + path)
    return forms


_MULTIARCH = sysconfig.get_config_var("MULTIARCH") or ""
_HOST_SONAMES = ("libz.so.1", "libc.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libm.so.6")


def _host_library(soname: str) -> str | None:
    for directory in (f"/lib/{_MULTIARCH}", f"/usr/lib/{_MULTIARCH}"):
        if _MULTIARCH and Path(directory, soname).exists():
            return f"{directory}/{soname}"
    return None


@pytest.fixture(scope="module")
def host_index() -> PackageIndex:
    if shutil.which("dpkg-query") is None or not Path("/var/lib/dpkg/status").is_file():
        pytest.skip("the host has no dpkg database (not Debian-based)")
    return PackageIndex()


@pytest.mark.parametrize("soname", _HOST_SONAMES)
def test_host_dpkg_owner_matches_dpkg(host_index: PackageIndex, soname: str) -> None:
    found = _host_library(soname)
    if found is None:
        pytest.skip(f"{soname} not in /lib/{_MULTIARCH} or /usr/lib/{_MULTIARCH}")
    real = os.path.realpath(found)
    # The oracle: whichever spelling of the real file dpkg itself lists.
    package = next(
        (owner for form in _aliases(real) + _aliases(found) if (owner := _dpkg_owner(form))),
        None,
    )
    assert package is not None, f"dpkg -S knows no spelling of {real}"
    version, arch = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version} ${Architecture}", package],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    name = package.split(":")[0]
    distro = distro_id(Path("/"))
    expected = OwningPackage(
        name=name,
        version=version,
        arch=arch,
        distro=distro,
        kind="deb",
        purl=PackageURL(
            type="deb", namespace=distro, name=name, version=version, qualifiers={"arch": arch}
        ).to_string(),
    )
    # The loader's spelling, its merged-/usr twin and the real path all map to one package.
    for form in {*_aliases(found), *_aliases(real)}:
        assert host_index.find_owner(Path(form)) == expected, form


def test_host_dpkg_merged_usr_path_dpkg_cannot_find(host_index: PackageIndex) -> None:
    """``dpkg -S`` compares strings, so one spelling of a merged-/usr file is unknown to it;
    the reader still attributes it."""
    if not Path("/lib").is_symlink():
        pytest.skip("/lib is not a symlink here (no merged /usr)")
    checked = 0
    for soname in _HOST_SONAMES:
        found = _host_library(soname)
        if found is None:
            continue
        forms = _aliases(found)
        owners = [_dpkg_owner(form) for form in forms]
        if None not in owners or owners == [None, None]:
            continue  # both spellings listed, or neither
        listed_owner = next(owner for owner in owners if owner)
        for form in forms:
            owner = host_index.find_owner(Path(form))
            assert owner is not None, form
            assert owner.name == listed_owner.split(":")[0]
        checked += 1
    assert checked, "no host library is listed under only one spelling"


def test_host_dpkg_files_match_dpkg_listfiles(host_index: PackageIndex) -> None:
    found = _host_library("libz.so.1")
    assert found is not None
    owner = host_index.find_owner(Path(found))
    assert owner is not None
    listed = subprocess.run(
        ["dpkg-query", "-L", f"{owner.name}:{owner.arch}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert set(host_index.files(owner)) == {line for line in listed if line}


def test_host_unowned_file(host_index: PackageIndex, tmp_path: Path) -> None:
    lib = tmp_path / "libz.so.1"  # same name as a packaged library, but not that file
    lib.write_bytes(b"\x7fELF")
    assert host_index.find_owner(lib) is None
    assert host_index.find_owner(Path("/nonexistent/libc.so.6")) is None


# --------------------------------------------------------------------------------------------
# dpkg: a database written in a sysroot (merged /usr with an absolute symlink, multi-arch)

_STATUS = """
Package: libfoo1
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 1:1.2.3-1
Description: foo
 a long description line

Package: libfoo-dev
Status: install ok installed
Architecture: amd64
Version: 1:1.2.3-1

Package: libbar-dev
Status: install ok installed
Architecture: amd64
Version: 2.0-3

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 0.9-1
"""

_LISTS = {
    "libfoo1:amd64": [
        "/.",
        "/lib",
        "/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu/libfoo.so.1.2.3",
        "/lib/x86_64-linux-gnu/libfoo.so.1",
    ],
    "libfoo-dev": ["/usr/lib/x86_64-linux-gnu/libfoo.so"],
    "libbar-dev": ["/usr/lib/x86_64-linux-gnu/libbar.so"],
    "oldpkg": ["/usr/lib/x86_64-linux-gnu/libold.so.1"],
}


@pytest.fixture
def deb_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    libdir = root / "usr/lib/x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (libdir / "libfoo.so.1.2.3").write_bytes(b"foo")
    (libdir / "libfoo.so.1").symlink_to("libfoo.so.1.2.3")
    (libdir / "libfoo.so").symlink_to("libfoo.so.1")
    (libdir / "libbar.so.2").write_bytes(b"bar")
    (libdir / "libbar.so").symlink_to("libbar.so.2")
    (libdir / "libold.so.1").write_bytes(b"old")
    (root / "lib").symlink_to("/usr/lib")  # absolute: must resolve inside the root
    _write(root / "etc/os-release", "ID=debian\n")
    _write(root / "var/lib/dpkg/status", _STATUS)
    for stem, paths in _LISTS.items():
        _write(root / f"var/lib/dpkg/info/{stem}.list", "\n".join(paths) + "\n")
    _write(root / "var/lib/dpkg/info/libfoo1:amd64.md5sums", "/lib/not-a-list\n")
    return root


def test_dpkg_status_parsing() -> None:
    packages = installed_packages(textwrap.dedent(_STATUS))
    assert sorted(packages) == [
        "libbar-dev", "libbar-dev:amd64", "libfoo-dev", "libfoo-dev:amd64", "libfoo1", "libfoo1:amd64",
    ]  # fmt: skip
    foo = packages["libfoo1:amd64"]
    assert (foo.name, foo.version, foo.arch, foo.key) == (
        "libfoo1",
        "1:1.2.3-1",
        "amd64",
        "libfoo1:amd64",
    )


@pytest.mark.parametrize(
    "path",
    [
        "usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3",  # listed only as /lib/...
        "lib/x86_64-linux-gnu/libfoo.so.1.2.3",
        "lib/x86_64-linux-gnu/libfoo.so.1",
        "usr/lib/x86_64-linux-gnu/libfoo.so.1",
        "usr/lib/x86_64-linux-gnu/libfoo.so",  # -dev lists the link; libfoo1 the real file
    ],
)
def test_dpkg_sysroot_owner(deb_root: Path, path: str) -> None:
    owner = PackageIndex(deb_root).find_owner(deb_root / path)
    assert owner == OwningPackage(
        name="libfoo1",
        version="1:1.2.3-1",
        arch="amd64",
        distro="debian",
        kind="deb",
        purl="pkg:deb/debian/libfoo1@1:1.2.3-1?arch=amd64",
    )


def test_dpkg_sysroot_link_owner_and_unowned(deb_root: Path) -> None:
    index = PackageIndex(deb_root)
    lib = deb_root / "usr/lib/x86_64-linux-gnu"
    # Nobody lists libbar.so.2; the package listing the link itself is the owner of the link.
    bar = index.find_owner(lib / "libbar.so")
    assert bar is not None
    assert (bar.name, bar.version) == ("libbar-dev", "2.0-3")
    assert index.find_owner(lib / "libbar.so.2") is None
    # A config-files package's list does not count; a path outside the sysroot is not looked up.
    assert index.find_owner(lib / "libold.so.1") is None
    assert index.find_owner(Path("/usr/lib/x86_64-linux-gnu/libfoo.so.1")) is None
    # The target's own spelling, without the sysroot prefix.
    foo = index.find_target_owner("/lib/x86_64-linux-gnu/libfoo.so.1")
    assert foo is not None
    assert foo.name == "libfoo1"
    assert index.files(foo) == tuple(_LISTS["libfoo1:amd64"])
    assert index.files(OwningPackage("x", "1", None, None, "deb", "pkg:deb/x@1")) == ()


def test_dpkg_lists_read_lazily_and_once(deb_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    original = DpkgDatabase._list_bytes

    def counting(self: DpkgDatabase, stem: str) -> bytes | None:
        reads.append(stem)
        return original(self, stem)

    monkeypatch.setattr(DpkgDatabase, "_list_bytes", counting)
    index = PackageIndex(deb_root)
    assert index.distro == "debian"
    assert len(index.databases()) == 1
    assert reads == []  # nothing looked up, nothing read
    index.find_owner(deb_root / "usr/lib/x86_64-linux-gnu/libfoo.so.1")
    # every installed package's list, once (not the config-files package's)
    assert sorted(reads) == sorted(stem for stem in _LISTS if stem != "oldpkg")
    index.find_owner(deb_root / "usr/lib/x86_64-linux-gnu/libbar.so")
    assert len(reads) == len(_LISTS) - 1


def test_dpkg_lookup_matches_whole_file_names(deb_root: Path) -> None:
    """The bytes search finds a name only as a whole last component, in every list."""
    info = deb_root / "var/lib/dpkg/info"
    # libfoo-dev's list: no final newline, and names that contain libfoo.so.1 as a part
    (info / "libfoo-dev.list").write_bytes(
        b"/usr/lib/x86_64-linux-gnu/libfoo.so\n/usr/lib/x86_64-linux-gnu/xlibfoo.so.1\n"
        b"/usr/lib/x86_64-linux-gnu/libfoo.so.1.2\n/opt/libfoo.so.1/README\n/opt/libfoo.so.1"
    )
    database = DpkgDatabase(deb_root)
    assert [(path, record.key) for path, record in database.listed("libfoo.so.1")] == [
        ("/lib/x86_64-linux-gnu/libfoo.so.1", "libfoo1:amd64"),
        ("/opt/libfoo.so.1", "libfoo-dev:amd64"),
    ]
    assert [path for path, _ in database.listed("libfoo.so")] == [
        "/usr/lib/x86_64-linux-gnu/libfoo.so"
    ]
    assert database.listed("README") == [
        ("/opt/libfoo.so.1/README", database.packages()["libfoo-dev"])
    ]
    assert database.listed("libold.so.1") == []  # only in the config-files package's list
    assert database.listed("") == [] and database.listed("x86_64-linux-gnu/libfoo.so") == []


def test_no_databases(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/libz.so.1").write_bytes(b"z")
    index = PackageIndex(tmp_path)
    assert index.databases() == ()
    assert index.distro is None
    assert index.find_owner(tmp_path / "lib/libz.so.1") is None


# --------------------------------------------------------------------------------------------
# rpm: a real rpmdb.sqlite made by rpmbuild + rpm --root

_RPM_MISSING = [tool for tool in ("rpm", "rpmbuild") if shutil.which(tool) is None]

_COMMON = """
License: MIT
%define __os_install_post %{nil}
%define _build_id_links none
%define debug_package %{nil}
%description
test package
"""

#: Two packages: an arch-specific library with an epoch, and noarch data without one.
_SPECS = {
    "libdemo": """
Name: libdemo
Version: 1.2.3
Release: 4.fc40
Epoch: 2
Summary: demo library
"""
    + _COMMON
    + """
%install
mkdir -p %{buildroot}/usr/lib64
echo library > %{buildroot}/usr/lib64/libdemo.so.1.2.3
ln -s libdemo.so.1.2.3 %{buildroot}/usr/lib64/libdemo.so.1
%files
/usr/lib64/libdemo.so.1.2.3
/usr/lib64/libdemo.so.1
""",
    "demo-data": """
Name: demo-data
Version: 0.5
Release: 1
Summary: demo data
BuildArch: noarch
"""
    + _COMMON
    + """
%install
mkdir -p %{buildroot}/usr/share/demo
echo data > %{buildroot}/usr/share/demo/data.txt
%files
/usr/share/demo/data.txt
""",
}

_RPM_DB = "var/lib/rpm/rpmdb.sqlite"


def _rpm(root: Path, *args: str) -> str:
    command = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm"]
    command += ["--define", "_db_backend sqlite", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def rpm_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """``(root, rpm files)``: the two packages built and installed into a fresh root."""
    if _RPM_MISSING:
        if IN_CI:
            pytest.fail(f"CI=true but {_RPM_MISSING} missing; .ci/run installs rpm", pytrace=False)
        pytest.skip(f"rpm tests need {', '.join(_RPM_MISSING)} (apt-get install rpm)")
    work = tmp_path_factory.mktemp("rpm")
    for name, text in _SPECS.items():
        spec = _write(work / f"{name}.spec", text)
        subprocess.run(
            ["rpmbuild", "-bb", "--define", f"_topdir {work / 'top'}", str(spec)],
            capture_output=True,
            check=True,
        )
    rpms = sorted((work / "top/RPMS").rglob("*.rpm"))
    assert len(rpms) == 2
    root = work / "root"
    root.mkdir()
    _rpm(root, "--nodeps", "--ignorearch", "--noscripts", "-i", *map(str, rpms))
    assert (root / _RPM_DB).is_file(), "rpm did not write the sqlite backend"
    (root / "lib64").symlink_to("usr/lib64")  # merged /usr, made after the install
    _write(root / "etc/os-release", 'ID="fedora"\nVERSION_ID=40\n')
    return root, rpms


def _rpm_oracle(root: Path, path: str) -> OwningPackage:
    fields = _rpm(root, "-qf", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{EPOCH}", path)
    name, version, release, arch, epoch = fields.split()
    epoch_value = None if epoch == "(none)" else epoch
    return OwningPackage(
        name=name,
        version=f"{version}-{release}",
        arch=arch,
        distro="fedora",
        kind="rpm",
        purl=PackageURL(
            type="rpm",
            namespace="fedora",
            name=name,
            version=f"{version}-{release}",
            qualifiers={"arch": arch, **({"epoch": epoch_value} if epoch_value else {})},
        ).to_string(),
    )


@pytest.mark.parametrize(
    ("query", "listed"),
    [
        ("usr/lib64/libdemo.so.1.2.3", "/usr/lib64/libdemo.so.1.2.3"),
        ("usr/lib64/libdemo.so.1", "/usr/lib64/libdemo.so.1"),
        ("lib64/libdemo.so.1", "/usr/lib64/libdemo.so.1"),  # through the directory symlink
        ("usr/share/demo/data.txt", "/usr/share/demo/data.txt"),
    ],
)
def test_rpm_owner_matches_rpm_qf(
    rpm_build: tuple[Path, list[Path]], query: str, listed: str
) -> None:
    root, _ = rpm_build
    assert PackageIndex(root).find_owner(root / query) == _rpm_oracle(root, listed)


def test_rpm_owner_fields(rpm_build: tuple[Path, list[Path]]) -> None:
    root, _ = rpm_build
    index = PackageIndex(root)
    lib = index.find_owner(root / "lib64/libdemo.so.1")
    assert lib is not None
    assert (lib.name, lib.version, lib.distro, lib.kind) == (
        "libdemo",
        "1.2.3-4.fc40",
        "fedora",
        "rpm",
    )
    assert lib.purl == f"pkg:rpm/fedora/libdemo@1.2.3-4.fc40?arch={lib.arch}&epoch=2"
    data = index.find_owner(root / "usr/share/demo/data.txt")
    assert data is not None
    assert data.purl == "pkg:rpm/fedora/demo-data@0.5-1?arch=noarch"
    assert set(index.files(lib)) == set(_rpm(root, "-ql", "libdemo").split())
    unowned = root / "usr/lib64/libother.so"
    unowned.write_bytes(b"x")
    assert index.find_owner(unowned) is None


def _headers(root: Path) -> list[bytes]:
    with sqlite3.connect(root / _RPM_DB) as db:
        blobs = [bytes(row[0]) for row in db.execute("SELECT blob FROM Packages ORDER BY hnum")]
    db.close()
    return blobs


def test_rpm_header_blob_parsing(rpm_build: tuple[Path, list[Path]]) -> None:
    root, rpms = rpm_build
    headers = {header.name: header for header in map(parse_header, _headers(root))}
    assert sorted(headers) == ["demo-data", "libdemo"]
    lib = headers["libdemo"]
    assert (lib.version, lib.release, lib.epoch) == ("1.2.3", "4.fc40", 2)
    assert lib.files == tuple(_rpm(root, "-ql", "libdemo").split())
    assert headers["demo-data"].epoch is None
    assert headers["demo-data"].arch == "noarch"
    # The same header inside the .rpm file: 96-byte lead, signature header (padded to 8),
    # then the main header with its magic.
    data = next(path for path in rpms if "libdemo" in path.name).read_bytes()
    il, dl = struct.unpack_from(">II", data, 96 + 8)
    main = 96 + (16 + 16 * il + dl + 7) // 8 * 8
    assert data[main : main + 4] == b"\x8e\xad\xe8\x01"
    from_file = parse_header(data[main:])
    assert (from_file.name, from_file.version, from_file.release, from_file.epoch, from_file.files) == (
        lib.name, lib.version, lib.release, lib.epoch, lib.files,
    )  # fmt: skip


def test_rpm_header_corruption_is_an_error(rpm_build: tuple[Path, list[Path]]) -> None:
    root, _ = rpm_build
    blob = _headers(root)[0]
    for bad in (blob[:6], blob[: len(blob) - 5], b"\xff\xff\xff\xff" + blob[4:]):
        with pytest.raises(RpmHeaderError):
            parse_header(bad)
    # An entry pointing past the data store: rewrite NAME's offset.
    il = struct.unpack_from(">I", blob, 0)[0]
    entries = [struct.unpack_from(">iIiI", blob, 8 + 16 * i) for i in range(il)]
    index = next(i for i, entry in enumerate(entries) if entry[0] == 1000)
    tag, kind, _, count = entries[index]
    broken = bytearray(blob)
    struct.pack_into(">iIiI", broken, 8 + 16 * index, tag, kind, 10**6, count)
    with pytest.raises(RpmHeaderError, match="outside"):
        parse_header(bytes(broken))


def test_rpm_without_basenames_index_and_with_a_corrupt_header(
    rpm_build: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    original, _ = rpm_build
    root = tmp_path / "root"
    shutil.copytree(original, root, symlinks=True)
    with sqlite3.connect(root / _RPM_DB) as db:
        db.execute("DROP TABLE Basenames")  # every header is parsed instead
        db.execute(
            "UPDATE Packages SET blob = substr(blob, 1, 40) WHERE hnum = "
            "(SELECT hnum FROM Packages ORDER BY hnum DESC LIMIT 1)"
        )
    db.close()
    index = PackageIndex(root)
    survivors = [
        index.find_owner(root / path) for path in ("lib64/libdemo.so.1", "usr/share/demo/data.txt")
    ]
    assert sorted(owner.name for owner in survivors if owner) == ["libdemo"]
    assert survivors.count(None) == 1  # the package whose header is broken is skipped


def test_rpm_database_in_sysimage(rpm_build: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """Fedora 36+ keeps the database in /usr/lib/sysimage/rpm."""
    original, _ = rpm_build
    root = tmp_path / "root"
    shutil.copytree(original, root, symlinks=True)
    (root / "usr/lib/sysimage").mkdir(parents=True)
    (root / "var/lib/rpm").rename(root / "usr/lib/sysimage/rpm")
    owner = PackageIndex(root).find_owner(root / "usr/lib64/libdemo.so.1")
    assert owner == _rpm_oracle(original, "/usr/lib64/libdemo.so.1")


# --------------------------------------------------------------------------------------------
# apk: an installed database in the documented format

_APK_INSTALLED = """
C:Q1p3bWl0mOsYtJzfJsdxDMbWxVuLA=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
L:MIT
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1nrbc4Iyk34bQgHBlv2pW3S0Yn0k=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q1pyCPB8vUqvMVPCnzs8lVv0nS9Fk=

C:Q1vN3cJJtmJDzS0VuAJsWNbu6hhD8=
P:zlib
V:1.3.1-r0
A:x86_64
F:usr
F:usr/lib
R:libz.so.1
R:libz.so.1.3.1
"""


@pytest.fixture
def apk_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    (root / "lib/ld-musl-x86_64.so.1").write_bytes(b"musl")
    (root / "lib/libc.musl-x86_64.so.1").symlink_to("ld-musl-x86_64.so.1")
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/libz.so.1.3.1").write_bytes(b"zlib")
    (root / "usr/lib/libz.so.1").symlink_to("libz.so.1.3.1")
    _write(root / "etc/os-release", 'NAME="Alpine Linux"\nID=alpine\n')
    _write(root / "lib/apk/db/installed", _APK_INSTALLED)
    return root


def test_apk_parse_installed() -> None:
    packages = parse_installed(textwrap.dedent(_APK_INSTALLED))
    assert [(p.record.name, p.record.version, p.record.arch) for p in packages] == [
        ("musl", "1.2.4_git20230717-r4", "x86_64"),
        ("zlib", "1.3.1-r0", "x86_64"),
    ]
    assert packages[0].files == ("/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1")
    assert packages[1].files == ("/usr/lib/libz.so.1", "/usr/lib/libz.so.1.3.1")


@pytest.mark.parametrize(
    ("path", "name", "purl"),
    [
        (
            "lib/libc.musl-x86_64.so.1",
            "musl",
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64",
        ),
        ("lib/ld-musl-x86_64.so.1", "musl", "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"),
        ("usr/lib/libz.so.1", "zlib", "pkg:apk/alpine/zlib@1.3.1-r0?arch=x86_64"),
    ],
)
def test_apk_owner(apk_root: Path, path: str, name: str, purl: str) -> None:
    index = PackageIndex(apk_root)
    owner = index.find_owner(apk_root / path)
    assert owner is not None
    assert (owner.name, owner.kind, owner.distro, owner.purl) == (name, "apk", "alpine", purl)
    assert PackageURL.from_string(owner.purl).to_string() == owner.purl
    assert f"/{path}" in index.files(owner)


def test_apk_merged_usr_location(apk_root: Path) -> None:
    """apk's database under /usr/lib on a merged-/usr root, found through /lib -> usr/lib."""
    merged = apk_root.parent / "merged"
    (merged / "usr").mkdir(parents=True)
    shutil.copytree(apk_root / "lib", merged / "usr/lib", symlinks=True)
    (merged / "lib").symlink_to("usr/lib")
    index = PackageIndex(merged, distro="alpine")
    owner = index.find_owner(merged / "lib/libc.musl-x86_64.so.1")
    assert owner is not None
    assert owner.name == "musl"
