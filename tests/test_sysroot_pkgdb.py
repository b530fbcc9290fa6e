"""A foreign root's package database: the SBOM and license files of a library grafted from a
``--sysroot`` come from that root's dpkg database and ``/usr/share/doc``, never the host's.

The root is made of Debian's real arm64 packages (``base-files``, ``libc6``, ``libffi8``, fetched
and unpacked by ``foreignpy.py``) on a merged ``/usr`` (``lib -> usr/lib``), with the dpkg
database dpkg would have written: ``var/lib/dpkg/status`` (each package's control paragraph
with ``Status: install ok installed``) and ``var/lib/dpkg/info/<package>[:arm64].list`` (the
``.deb``'s data listing). The wheel's extension (``fixtures/foreign_pkgdb``, built with the
aarch64 cross compiler) needs ``libffi.so.8``. This host has ``libffi8:amd64`` of the same
version, so the architecture in the purl tells the databases apart; the root's ``copyright``
gets one line appended, so the license file's bytes tell where it was read.

An apk root (Alpine's layout, x86_64 musl: ``lib/ld-musl-x86_64.so.1`` with its
``libc.musl-x86_64.so.1`` link, ``etc/os-release`` ``ID=alpine``, ``lib/apk/db/installed``)
holds a musl ``libmdep.so.1`` (``fixtures/musl``, built with ``musl-gcc``) owned by a package
whose license is in ``usr/share/licenses/<package>/``, as apk packages ship them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from archrun import dynamic, fail_if_missing, graft_name, missing_tools, skip_unless_present
from foreignpy import (
    DEB_ARCH,
    MULTIARCH,
    deb822_fields,
    deb_control,
    deb_paths,
    fetch_debs,
    make_root,
    unavailable,
)
from runtools import run_wheelfix, wheelfix_env
from wheelbuild import FIXTURES_DIR, compile_cached, make_wheel

CROSS_CC = "aarch64-linux-gnu-gcc"
HINT = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross; .ci/run does"
MISSING = missing_tools([CROSS_CC, "readelf"])
MUSL_CC = "musl-gcc"
MUSL_LIBC = Path("/usr/lib/x86_64-linux-musl/libc.so")
skip_unless_present(MISSING, HINT)

PACKAGES = ("base-files", "libc6", "libffi8")
DIST = "ffidemo"
EXT_MEMBER = "pkg/_ffiext.cpython-311-aarch64-linux-gnu.so"
PLAT = "manylinux_2_27_aarch64"  # libffi 3.4.4 needs GLIBC_2.27
LIBFFI = f"/usr/lib/{MULTIARCH}/libffi.so.8"
DOC = "/usr/share/doc/libffi8/copyright"
MARKER = b"\n(read from the test's arm64 root)\n"
LICENSE_MEMBER = f"{DIST}-1.0.dist-info/licenses/{DIST}.libs/libffi8/copyright"
SBOM_MEMBER = f"{DIST}-1.0.dist-info/sboms/wheelfix.cdx.json"


@dataclass(frozen=True)
class Root:
    root: Path
    wheel: Path
    versions: dict[str, str]
    """Package -> version, from the ``.deb`` control files."""

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def _dpkg_database(root: Path, debs: dict[str, Path]) -> dict[str, str]:
    """Write ``var/lib/dpkg/{status,info/*.list}`` for ``debs`` as dpkg would."""
    info = root / "var" / "lib" / "dpkg" / "info"
    info.mkdir(parents=True)
    stanzas, versions = [], {}
    for name, deb in debs.items():
        control = deb_control(deb).rstrip("\n")
        fields = deb822_fields(control)
        versions[name] = fields["version"]
        package, _, rest = control.partition("\n")
        stanzas.append(f"{package}\nStatus: install ok installed\n{rest}\n")
        same = fields.get("multi-arch") == "same"
        stem = f"{name}:{fields['architecture']}" if same else name
        (info / f"{stem}.list").write_text("".join(f"{p}\n" for p in deb_paths(deb)))
    (root / "var" / "lib" / "dpkg" / "status").write_text("\n".join(stanzas))
    return versions


@pytest.fixture(scope="module")
def foreign(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Root:
    fail_if_missing(MISSING, HINT)
    debs = fetch_debs(PACKAGES)
    if isinstance(debs, str):
        pytest.skip(unavailable(debs))
    base = tmp_path_factory.mktemp("pkgdb-root")
    root = base / "root"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")  # merged /usr, as Debian 12 installs it
    make_root(debs, root)
    versions = _dpkg_database(root, debs)
    with (root / DOC.lstrip("/")).open("ab") as doc:
        doc.write(MARKER)
    real = (root / LIBFFI.lstrip("/")).resolve()
    ext = compile_cached(
        fixture_cache,
        [FIXTURES_DIR / "foreign_pkgdb" / "ffiext.c"],
        Path(EXT_MEMBER).name,
        ["-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed", "-L.", f"-l:{real.name}"],
        compiler=CROSS_CC,
        extra_inputs=[real],
    )
    wheel = make_wheel(
        base / "wheel",
        DIST,
        "1.0",
        {"pkg/__init__.py": b"", EXT_MEMBER: ext},
        tag="cp311-cp311-linux_aarch64",
        extra_dist_info={"METADATA": f"Metadata-Version: 2.4\nName: {DIST}\nVersion: 1.0\n"},
    )
    return Root(root, wheel, versions)


def _repair(foreign: Root, out: Path, root: Path | None = None) -> tuple[dict[str, bytes], str]:
    proc = run_wheelfix(
        "repair", "--plat", PLAT, "--sysroot", root or foreign.root, "-w", out, foreign.wheel
    )
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(proc.stdout.strip()) as archive:
        return {n: archive.read(n) for n in archive.namelist()}, proc.stderr


def test_root_is_a_real_arm64_debian_root(foreign: Root) -> None:
    assert (foreign.root / "etc/os-release").resolve().read_text().count("ID=debian\n") == 1
    assert dynamic(foreign.at(LIBFFI))["SONAME"] == ["libffi.so.8"]
    assert DEB_ARCH == "arm64"
    status = foreign.at("/var/lib/dpkg/status").read_text()
    assert "Package: libffi8\nStatus: install ok installed\n" in status
    listed = foreign.at("/var/lib/dpkg/info/libffi8:arm64.list").read_text().splitlines()
    assert f"{LIBFFI}.1.2" in listed
    assert DOC in listed
    (ext,) = (p for p in foreign.wheel.parent.iterdir() if p.suffix == ".whl")
    with zipfile.ZipFile(ext) as archive:
        data = archive.read(EXT_MEMBER)
    assert data[18:20] == (183).to_bytes(2, "little")  # EM_AARCH64


def test_sbom_and_license_come_from_the_root(foreign: Root, tmp_path: Path) -> None:
    members, stderr = _repair(foreign, tmp_path / "out")
    real = foreign.at(LIBFFI).resolve()  # libffi.so.8.1.2, named as the file is
    grafted = f"{DIST}.libs/{graft_name(real.name, real)}"
    assert f"wheelfix: grafted libffi.so.8 ({real}) as {grafted}" in stderr.splitlines()
    assert "no distro package owns it" not in stderr
    sbom = json.loads(members[SBOM_MEMBER])
    (ffi,) = (c for c in sbom["components"] if c["name"] == "libffi8")
    version = foreign.versions["libffi8"]
    assert ffi["version"] == version
    assert ffi["purl"] == f"pkg:deb/debian/libffi8@{version}?arch=arm64"
    assert [o["location"] for o in ffi["evidence"]["occurrences"]] == [grafted]
    # The root's copyright (with the marker), not this host's libffi8:amd64 one.
    assert members[LICENSE_MEMBER] == foreign.at(DOC).read_bytes()
    assert members[LICENSE_MEMBER].endswith(MARKER)
    host_doc = Path(DOC)
    if host_doc.is_file():
        assert members[LICENSE_MEMBER] != host_doc.read_bytes()
    metadata = members[f"{DIST}-1.0.dist-info/METADATA"].decode()
    assert f"License-File: {DIST}.libs/libffi8/copyright\n" in metadata


def test_root_without_a_database_never_falls_back_to_the_host(
    foreign: Root, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(foreign.root, bare, symlinks=True)
    shutil.rmtree(bare / "var" / "lib" / "dpkg")
    members, stderr = _repair(foreign, tmp_path / "out", bare)
    real = (bare / LIBFFI.lstrip("/")).resolve()
    assert f"wheelfix: warning: {real}: no distro package owns it" in stderr
    assert LICENSE_MEMBER not in members
    sbom = json.loads(members[SBOM_MEMBER])
    assert not [c for c in sbom["components"] if c["name"] == "libffi8"]


#: ``python -c`` as a Python built without ``_sqlite3`` (no libsqlite3 when it was compiled).
_NO_SQLITE = (
    "import sys\n"
    "sys.modules['_sqlite3'] = None  # import _sqlite3 -> ImportError\n"
    "sys.argv[0] = 'wheelfix'\n"
    "from wheelfix.cli import main\n"
    "main()\n"
)


def test_a_python_without_sqlite3_still_reads_the_dpkg_root(foreign: Root, tmp_path: Path) -> None:
    # sqlite3 is an optional stdlib module; only the rpm reader needs it (it was imported
    # unconditionally, and every repair died with a traceback on such a Python).
    with_sqlite, _ = _repair(foreign, tmp_path / "with")
    argv = [
        sys.executable,
        "-c",
        _NO_SQLITE,
        "repair",
        "--plat",
        PLAT,
        "--sysroot",
        str(foreign.root),
    ]
    proc = subprocess.run(
        [*argv, "-w", str(tmp_path / "without"), str(foreign.wheel)],
        env=wheelfix_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        Path(proc.stdout.strip()).read_bytes()
        == (tmp_path / "with" / Path(proc.stdout.strip()).name).read_bytes()
    )
    assert with_sqlite[LICENSE_MEMBER] == foreign.at(DOC).read_bytes()


# --------------------------------------------------------------------------- an apk root

ALPINE_LIBC = "libc.musl-x86_64.so.1"
APK_INSTALLED = """\
C:Q1wheelfixtestmuslpackage00000000=
P:musl
V:1.2.5-r1
A:x86_64
L:MIT
F:lib
R:ld-musl-x86_64.so.1
R:libc.musl-x86_64.so.1

C:Q1wheelfixtestmdeppackage00000000=
P:mdep
V:1.0-r3
A:x86_64
L:MIT
F:usr/lib
R:libmdep.so.1
F:usr/share/licenses/mdep
R:LICENSE

"""


def test_apk_root_names_the_alpine_package(fixture_cache: Path, tmp_path: Path) -> None:
    if shutil.which(MUSL_CC) is None or not MUSL_LIBC.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but musl-gcc is missing; .ci/run installs musl-tools")
        pytest.skip("needs musl-gcc (apt-get install musl-tools)")
    root = tmp_path / "alpine"
    (root / "lib" / "apk" / "db").mkdir(parents=True)
    shutil.copyfile(MUSL_LIBC, root / "lib" / "ld-musl-x86_64.so.1")
    (root / "lib" / ALPINE_LIBC).symlink_to("ld-musl-x86_64.so.1")
    (root / "lib" / "apk" / "db" / "installed").write_text(APK_INSTALLED)
    (root / "etc").mkdir()
    (root / "etc" / "os-release").write_text("ID=alpine\nVERSION_ID=3.20.3\n")
    license_dir = root / "usr" / "share" / "licenses" / "mdep"
    license_dir.mkdir(parents=True)
    (root / "usr" / "lib").mkdir()
    (license_dir / "LICENSE").write_text("mdep: MIT License (the apk root's copy)\n")
    # libc linked under its Alpine name, from the directory test_musl.py links with too.
    alpine_libc = fixture_cache / "musl-alpine-libc"
    alpine_libc.mkdir(exist_ok=True)
    if not (alpine_libc / ALPINE_LIBC).is_symlink():
        (alpine_libc / ALPINE_LIBC).symlink_to(MUSL_LIBC)
    musl_args = ["-nodefaultlibs", f"-L{alpine_libc}", f"-l:{ALPINE_LIBC}"]
    shared = ["-shared", "-O1", "-Wall", "-fPIC", "-Wl,--no-as-needed"]
    src = FIXTURES_DIR / "musl"
    mdep = compile_cached(
        fixture_cache,
        [src / "mdep.c"],
        "libmdep.so.1",
        [*shared, "-Wl,-soname,libmdep.so.1", *musl_args],
        compiler=MUSL_CC,
    )
    shutil.copyfile(mdep, root / "usr" / "lib" / "libmdep.so.1")
    ext = compile_cached(
        fixture_cache,
        [src / "mdemo.c"],
        "_mdemo.cpython-311-x86_64-linux-musl.so",
        [*shared, f"-L{mdep.parent}", "-l:libmdep.so.1", *musl_args],
        compiler=MUSL_CC,
    )
    assert dynamic(ext)["NEEDED"] == ["libmdep.so.1", ALPINE_LIBC]
    wheel = make_wheel(
        tmp_path / "wheel",
        "apkdemo",
        "1.0",
        {"pkg/__init__.py": b"", f"pkg/{ext.name}": ext},
        tag="cp311-cp311-linux_x86_64",
    )
    proc = run_wheelfix("repair", "--sysroot", root, "-w", tmp_path / "out", wheel)
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip())
    assert out.name == "apkdemo-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"
    graft = f"apkdemo.libs/{graft_name('libmdep.so.1', mdep)}"
    source = root / "usr" / "lib" / "libmdep.so.1"
    assert f"wheelfix: grafted libmdep.so.1 ({source}) as {graft}" in proc.stderr.splitlines()
    with zipfile.ZipFile(out) as archive:
        sbom = json.loads(archive.read("apkdemo-1.0.dist-info/sboms/wheelfix.cdx.json"))
        license_text = archive.read("apkdemo-1.0.dist-info/licenses/apkdemo.libs/mdep/LICENSE")
    (component,) = (c for c in sbom["components"] if c["name"] == "mdep")
    assert component["version"] == "1.0-r3"
    assert component["purl"] == "pkg:apk/alpine/mdep@1.0-r3?arch=x86_64"
    assert [o["location"] for o in component["evidence"]["occurrences"]] == [graft]
    assert license_text == (license_dir / "LICENSE").read_bytes()
