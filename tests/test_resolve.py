"""The emulated loader: DST expansion, search order, RPATH inheritance, ELF class checks,
in-wheel libraries, sysroots. Where it matters, the real loader (``ldd``) is the oracle."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pytest

from wheelbuild import Scenario, build_scenario, compile_cached, python_ext_suffix
from wheelfix.elf import ElfHeader, Soname, read_header
from wheelfix.ldpaths import SearchPaths, load_search_paths
from wheelfix.libc import Libc
from wheelfix.options import AuditOptions
from wheelfix.pipeline import audit, lddtree
from wheelfix.resolve import (
    ElfTree,
    HostDir,
    Resolver,
    WheelDir,
    compatible,
    expand_dst,
)
from wheelfix.results import Audit
from wheelfix.scan import ScannedElf

EXT = python_ext_suffix()

# --------------------------------------------------------------------------- expand_dst

PKG = WheelDir(PurePosixPath("pkg/sub"))
HOST = HostDir("/opt/app/bin")


@pytest.mark.parametrize(
    ("entry", "origin", "expected"),
    [
        ("$ORIGIN", PKG, WheelDir(PurePosixPath("pkg/sub"))),
        ("$ORIGIN/lib", PKG, WheelDir(PurePosixPath("pkg/sub/lib"))),
        ("${ORIGIN}/lib", PKG, WheelDir(PurePosixPath("pkg/sub/lib"))),
        ("$ORIGIN/../libs", PKG, WheelDir(PurePosixPath("pkg/libs"))),
        ("${ORIGIN}/../../pkg.libs", PKG, WheelDir(PurePosixPath("pkg.libs"))),
        ("$ORIGIN/../..", PKG, WheelDir(PurePosixPath("."))),  # site-packages itself
        # climbing out of the installed wheel: unknowable, so unusable
        ("$ORIGIN/../../..", PKG, None),
        ("${ORIGIN}/../../../lib", PKG, None),
        ("$ORIGIN/$LIB", PKG, WheelDir(PurePosixPath("pkg/sub/lib64"))),
        ("$ORIGIN/${PLATFORM}", PKG, WheelDir(PurePosixPath("pkg/sub/x86_64"))),
        ("/usr/$LIB", PKG, HostDir("/usr/lib64")),
        ("/usr/${LIB}/x", PKG, HostDir("/usr/lib64/x")),
        ("/opt/$PLATFORM/lib", PKG, HostDir("/opt/x86_64/lib")),
        ("/opt//a/./b/", PKG, HostDir("/opt/a/b")),
        # relative entries depend on the process's working directory: ignored
        ("lib", PKG, None),
        ("./lib", PKG, None),
        ("", PKG, None),
        # a host origin (lddtree on a file on disk, or a host library)
        ("$ORIGIN", HOST, HostDir("/opt/app/bin")),
        ("$ORIGIN/../lib", HOST, HostDir("/opt/app/lib")),
        ("${ORIGIN}/../$LIB", HOST, HostDir("/opt/app/lib64")),
    ],
)
def test_expand_dst(entry: str, origin: WheelDir | HostDir, expected: object) -> None:
    assert expand_dst(entry, origin, "lib64", "x86_64") == expected


def test_expand_dst_lib_token_is_per_arch() -> None:
    assert expand_dst("/x/$LIB", PKG, "lib", "i686") == HostDir("/x/lib")
    assert expand_dst("/x/$PLATFORM", PKG, "lib", "i686") == HostDir("/x/i686")


# --------------------------------------------------------------------------- compatible


def _header(**changes: int | bool) -> ElfHeader:
    base = ElfHeader(elf_class=64, little_endian=True, osabi=0, file_type=3, machine=62, flags=0)
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("candidate", "ok"),
    [
        (_header(), True),
        (_header(osabi=3), True),  # GNU/Linux OSABI loads into a SYSV process
        (_header(file_type=2), True),
        (_header(elf_class=32), False),
        (_header(machine=3), False),
        (_header(machine=183), False),
        (_header(little_endian=False), False),
        (_header(osabi=9), False),  # FreeBSD
    ],
)
def test_compatible(candidate: ElfHeader, ok: bool) -> None:
    assert compatible(candidate, _header()) is ok


# --------------------------------------------------------------------------- scenarios


@pytest.fixture(scope="module")
def scenarios(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    names = ("wrong_class", "inwheel_rpath", "stale_rpath", "precedence", "versioned_chain")
    return {n: build_scenario(n, fixture_cache, tmp_path_factory.mktemp(f"res-{n}")) for n in names}


def _audit(wheel: Path, env: Mapping[str, str] | None = None, **options: object) -> Audit:
    return audit(wheel, AuditOptions(environ=dict(env or {}), **options))  # type: ignore[arg-type]


def _only_tree(result: Audit) -> ElfTree:
    (tree,) = result.trees.values()
    return tree


def _tree_of(result: Audit, suffix: str) -> ElfTree:
    (tree,) = (t for p, t in result.trees.items() if p.endswith(suffix))
    return tree


def _resolver(result: Audit, env: Mapping[str, str] | None = None) -> Resolver:
    paths = load_search_paths(Libc.GLIBC, "x86_64", 64, environ=dict(env or {}))
    return Resolver.for_scan(result.scan, paths)


def _with_paths(
    elf: ScannedElf, *, rpath: tuple[str, ...] = (), runpath: tuple[str, ...] = ()
) -> ScannedElf:
    info = dataclasses.replace(elf.info, rpath=rpath, runpath=runpath)
    return dataclasses.replace(elf, info=info)


def test_wrong_class_candidate_is_skipped(scenarios: dict[str, Scenario]) -> None:
    s = scenarios["wrong_class"]
    lib32, lib64 = s.dirs["lib32"], s.dirs["lib64"]
    result = _audit(s.wheel)
    library = _only_tree(result).libraries[Soname("libwc.so.1")]
    assert library.found_via == "rpath"
    assert library.realpath == (lib64 / "libwc.so.1").resolve()
    # the 32-bit copy really is there, first in DT_RPATH, and the loader would refuse it
    wrong = read_header((lib32 / "libwc.so.1").read_bytes(), "lib32")
    assert not compatible(wrong, result.scan.elves[0].info.header)
    root = result.scan.elves[0]
    assert root.info.rpath == (str(lib32), str(lib64))
    # only the wrong-class dir: not found, whatever the file name says
    only32 = _resolver(result).tree(_with_paths(root, rpath=(str(lib32),)))
    assert only32.libraries[Soname("libwc.so.1")].found_via == "not found"
    # the same skip applies to LD_LIBRARY_PATH entries
    env = {"LD_LIBRARY_PATH": f"{lib32}:{lib64}"}
    via_env = _resolver(result, env).tree(_with_paths(root))
    assert via_env.libraries[Soname("libwc.so.1")].found_via == "env"
    assert via_env.libraries[Soname("libwc.so.1")].realpath == (lib64 / "libwc.so.1").resolve()


def test_in_wheel_library_found_via_rpath(scenarios: dict[str, Scenario]) -> None:
    result = _audit(scenarios["inwheel_rpath"].wheel)
    tree = _tree_of(result, EXT)
    inner = tree.libraries[Soname("libinner.so")]
    assert inner.found_via == "rpath"
    assert inner.member == "pkg/inner/libinner.so"
    assert inner.realpath is None
    assert inner.info is not None
    assert tree.root.info.rpath == ("$ORIGIN/inner",)
    # a $ORIGIN entry that leaves the wheel is not searched at all
    climbing = _with_paths(tree.root, rpath=("$ORIGIN/../../inner", "$ORIGIN/../pkg/inner"))
    again = _resolver(result).tree(climbing)
    assert again.libraries[Soname("libinner.so")].member == "pkg/inner/libinner.so"
    outside = _resolver(result).tree(_with_paths(tree.root, rpath=("$ORIGIN/../../pkg/inner",)))
    assert outside.libraries[Soname("libinner.so")].found_via == "not found"


def test_stale_rpath_dir_is_ignored(scenarios: dict[str, Scenario]) -> None:
    s = scenarios["stale_rpath"]
    env = {"LD_LIBRARY_PATH": str(s.lib_dirs[0])}
    library = _only_tree(_audit(s.wheel, env)).libraries[Soname("libstale.so.1")]
    assert library.found_via == "env"
    assert library.realpath == (s.lib_dirs[0] / "libstale.so.1").resolve()
    missing = _only_tree(_audit(s.wheel)).libraries[Soname("libstale.so.1")]
    assert missing.found_via == "not found"
    assert not missing.found


#: precedence variants: (LD_LIBRARY_PATH=C?) -> (dir key, step). The real loader's choices
#: are asserted in test_fixtures_oracle / test_show (pick() values).
PRECEDENCE = {
    ("_rpath", True): ("A", "rpath"),
    ("_rpath", False): ("A", "rpath"),
    ("_runpath", True): ("C", "env"),
    ("_runpath", False): ("B", "runpath"),
    ("_plain", True): ("C", "env"),
    ("_plain", False): (None, "not found"),
}


@pytest.mark.parametrize(("variant", "ldlp"), sorted(PRECEDENCE))
def test_precedence_rpath_env_runpath(
    scenarios: dict[str, Scenario], variant: str, ldlp: bool
) -> None:
    s = scenarios["precedence"]
    env = {"LD_LIBRARY_PATH": str(s.dirs["C"])} if ldlp else {}
    tree = _tree_of(_audit(s.wheel, env), f"/{variant}{EXT}")
    library = tree.libraries[Soname("libpick.so.1")]
    key, step = PRECEDENCE[(variant, ldlp)]
    assert library.found_via == step
    assert library.realpath == ((s.dirs[key] / "libpick.so.1").resolve() if key else None)


def test_breadth_first_order_and_runpath_origin_of_host_library(
    scenarios: dict[str, Scenario],
) -> None:
    s = scenarios["versioned_chain"]
    libs = s.dirs["libs"]
    tree = _only_tree(_audit(s.wheel))
    assert list(tree.libraries)[:2] == list(tree.root.info.needed)
    bar = tree.libraries[Soname("libbar.so.1")]
    foo = tree.libraries[Soname("libfoo.so.1")]
    assert (bar.found_via, bar.realpath) == ("rpath", (libs / "libbar.so.1").resolve())
    assert bar.info is not None
    assert bar.info.runpath == ("$ORIGIN",)
    # libbar has a RUNPATH, so the ext's RPATH is not inherited: $ORIGIN (libbar's dir) is
    assert (foo.found_via, foo.realpath) == ("runpath", (libs / "libfoo.so.1").resolve())
    assert list(tree.libraries).index("libfoo.so.1") > list(tree.libraries).index("libc.so.6")


def test_libpython_and_exclude(scenarios: dict[str, Scenario]) -> None:
    s = scenarios["versioned_chain"]
    result = _audit(s.wheel)
    root = result.scan.elves[0]
    needs_python = dataclasses.replace(
        root,
        info=dataclasses.replace(
            root.info, needed=(Soname("libpython3.11.so.1.0"), *root.info.needed)
        ),
    )
    tree = _resolver(result).tree(needs_python)
    assert tree.libraries[Soname("libpython3.11.so.1.0")].found_via == "libpython"
    paths = load_search_paths(Libc.GLIBC, "x86_64", 64, environ={})
    excluding = Resolver.for_scan(result.scan, paths, exclude=["libfoo.*", "*/libc.so.6"])
    excluded = excluding.tree(root)
    assert excluded.excluded == {"libfoo.so.1", "libc.so.6"}
    assert set(excluded.libraries) == {"libbar.so.1", "ld-linux-x86-64.so.2"}


# --------------------------------------------------------------------------- RPATH inheritance

LEAF_C = "int leafx(int x) { return x + 1; }\n"
MID_C = "extern int leafx(int);\nint mid(int x) { return leafx(x) * 2; }\n"
ROOT_C = "extern int mid(int);\nint root(int x) { return mid(x); }\n"


def _dtags(kind: str | None, value: str) -> list[str]:
    if kind is None:
        return []
    flag = "--disable-new-dtags" if kind == "rpath" else "--enable-new-dtags"
    return [f"-Wl,{flag}", f"-Wl,-rpath,{value}"]


@pytest.fixture(scope="module")
def chain_build(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """libroot -> libmid -> libleafx, with RPATH/RUNPATH variants (cached compiles)."""
    src = tmp_path_factory.mktemp("chain-src")
    for name, text in (("leafx.c", LEAF_C), ("mid.c", MID_C), ("root.c", ROOT_C)):
        (src / name).write_text(text)
    common = ["-shared", "-fPIC", "-O1", "-Wl,--no-as-needed"]
    leaf = compile_cached(
        fixture_cache, [src / "leafx.c"], "libleafx.so.1", [*common, "-Wl,-soname,libleafx.so.1"]
    )
    built = {"leaf": leaf}
    for mid_kind in (None, "runpath"):
        built[f"mid-{mid_kind}"] = compile_cached(
            fixture_cache,
            [src / "mid.c"],
            "libmid.so.1",
            [
                *common,
                "-Wl,-soname,libmid.so.1",
                f"-L{leaf.parent}",
                "-l:libleafx.so.1",
                *_dtags(mid_kind, "$ORIGIN/../nowhere"),
            ],
        )
    for root_kind in ("rpath", "runpath"):
        built[f"root-{root_kind}"] = compile_cached(
            fixture_cache,
            [src / "root.c"],
            "libroot.so",
            [
                *common,
                f"-L{built['mid-None'].parent}",
                "-l:libmid.so.1",
                f"-Wl,-rpath-link,{leaf.parent}",
                *_dtags(root_kind, "$ORIGIN/M:$ORIGIN/L"),
            ],
        )
    return built


def _ldd(path: Path, env: Mapping[str, str]) -> dict[str, str | None]:
    full = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    full.update(env)
    out = subprocess.run(
        ["ldd", str(path)], capture_output=True, text=True, check=True, env=full
    ).stdout
    found: dict[str, str | None] = {}
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) => (not found|(\S+) \(0x[0-9a-f]+\))", line)
        if match:
            found[match.group(1)] = os.path.realpath(match.group(3)) if match.group(3) else None
    return found


#: (root tag, mid has RUNPATH, LD_LIBRARY_PATH=L?) -> how libleafx.so.1 is found
INHERIT_CASES = {
    ("rpath", False, False): "rpath",  # the root's RPATH is inherited by libmid
    ("runpath", False, False): "not found",  # RUNPATH never is
    ("rpath", True, False): "not found",  # libmid has a RUNPATH: no RPATH inheritance
    ("runpath", False, True): "env",
    ("rpath", True, True): "env",
}


@pytest.mark.parametrize(("root_kind", "mid_runpath", "ldlp"), sorted(INHERIT_CASES))
def test_rpath_inheritance_matches_the_real_loader(
    chain_build: dict[str, Path], tmp_path: Path, root_kind: str, mid_runpath: bool, ldlp: bool
) -> None:
    root = tmp_path / "libroot.so"
    shutil.copyfile(chain_build[f"root-{root_kind}"], root)
    (tmp_path / "M").mkdir()
    (tmp_path / "L").mkdir()
    shutil.copyfile(
        chain_build["mid-runpath" if mid_runpath else "mid-None"], tmp_path / "M" / "libmid.so.1"
    )
    shutil.copyfile(chain_build["leaf"], tmp_path / "L" / "libleafx.so.1")
    env = {"LD_LIBRARY_PATH": str(tmp_path / "L")} if ldlp else {}
    # with LD_LIBRARY_PATH the root's own paths only matter for libmid
    tree = lddtree(root, AuditOptions(environ=env))
    oracle = _ldd(root, env)
    mine = {
        name: (os.path.realpath(lib.realpath) if lib.realpath else None)
        for name, lib in tree.libraries.items()
        if not name.startswith("ld-linux")
    }
    assert mine == oracle
    leaf = tree.libraries[Soname("libleafx.so.1")]
    assert leaf.found_via == INHERIT_CASES[(root_kind, mid_runpath, ldlp)]
    assert tree.libraries[Soname("libmid.so.1")].found_via == root_kind


# --------------------------------------------------------------------------- sysroot


def test_sysroot_ld_so_conf_points_inside(scenarios: dict[str, Scenario], tmp_path: Path) -> None:
    s = scenarios["versioned_chain"]
    sysroot = tmp_path / "sysroot"
    (sysroot / "etc" / "ld.so.conf.d").mkdir(parents=True)
    (sysroot / "etc" / "ld.so.conf").write_text("include ld.so.conf.d/*.conf\n")
    (sysroot / "etc" / "ld.so.conf.d" / "mine.conf").write_text("/mylibs\n")
    (sysroot / "mylibs").mkdir()
    (sysroot / "opt" / "real").mkdir(parents=True)
    shutil.copyfile(s.dirs["libs"] / "libfoo.so.1", sysroot / "opt" / "real" / "libfoo.so.1")
    # an absolute symlink: it must be followed inside the sysroot
    (sysroot / "mylibs" / "libfoo.so.1").symlink_to("/opt/real/libfoo.so.1")
    shutil.copyfile(s.dirs["libs"] / "libbar.so.1", sysroot / "mylibs" / "libbar.so.1")
    result = _audit(s.wheel, sysroot=sysroot)
    assert result.paths.system[0] == "/mylibs"
    tree = _only_tree(result)
    bar = tree.libraries[Soname("libbar.so.1")]
    foo = tree.libraries[Soname("libfoo.so.1")]
    # the ext's absolute RPATH does not exist inside the sysroot; ld.so.conf's dir does
    assert (bar.found_via, bar.realpath) == ("system", (sysroot / "mylibs/libbar.so.1").resolve())
    # libbar's RUNPATH $ORIGIN is /mylibs as the target sees it
    assert (foo.found_via, foo.realpath) == (
        "runpath",
        (sysroot / "opt/real/libfoo.so.1").resolve(),
    )
    # the host's libc is not in the sysroot: unresolved (it is whitelisted anyway)
    assert tree.libraries[Soname("libc.so.6")].found_via == "not found"
    libs = result.verdict.external[result.verdict.policies.highest.name].libs
    assert {k: str(v) for k, v in libs.items()} == {
        "libbar.so.1": str((sysroot / "mylibs/libbar.so.1").resolve()),
        "libfoo.so.1": str((sysroot / "opt/real/libfoo.so.1").resolve()),
    }


def test_sysroot_maps_absolute_rpath(scenarios: dict[str, Scenario], tmp_path: Path) -> None:
    s = scenarios["versioned_chain"]
    sysroot = tmp_path / "sysroot"
    inside = sysroot / str(s.dirs["libs"]).lstrip("/")
    shutil.copytree(s.dirs["libs"], inside)
    tree = _only_tree(_audit(s.wheel, sysroot=sysroot))
    bar = tree.libraries[Soname("libbar.so.1")]
    foo = tree.libraries[Soname("libfoo.so.1")]
    assert (bar.found_via, bar.realpath) == ("rpath", (inside / "libbar.so.1").resolve())
    assert (foo.found_via, foo.realpath) == ("runpath", (inside / "libfoo.so.1").resolve())


def test_search_paths_host_without_sysroot() -> None:
    assert SearchPaths((), ()).host("/usr/lib") == Path("/usr/lib")
