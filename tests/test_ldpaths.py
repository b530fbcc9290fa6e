"""Loader configuration: ld.so.conf (include globs, comments), the musl path file, defaults,
the environment, ``--ldpaths`` and ``--sysroot`` (everything under a temporary sysroot)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wheelbuild import RunCli, Scenario
from wheelfix.ldpaths import (
    SearchPaths,
    default_dirs,
    load_search_paths,
    parse_ld_so_conf,
    split_library_path,
    split_path_list,
    system_dirs,
)
from wheelfix.libc import Libc
from wheelfix.options import AuditOptions
from wheelfix.pipeline import audit

DEFAULTS_64 = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")
DEFAULTS_32 = ("/lib", "/usr/lib", "/lib32", "/usr/lib32")


def _write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    """A sysroot whose ld.so.conf uses comments, relative and absolute include globs,
    an include cycle, a hwcap line and a glob that matches nothing."""
    root = tmp_path / "sysroot"
    _write(
        root,
        "/etc/ld.so.conf",
        "# the main file\n"
        "/opt/first   # trailing comment\n"
        "\n"
        "   \t\n"
        "include ld.so.conf.d/*.conf\n"
        "include /etc/extra/*.conf /etc/single.conf\n"
        "include /etc/nothing-here/*.conf\n"
        "hwcap 1 nosegneg\n"
        "\t/opt/last\t\n",
    )
    _write(root, "/etc/ld.so.conf.d/b.conf", "/opt/b\n")
    _write(root, "/etc/ld.so.conf.d/a.conf", "# only comments and one dir\n/opt/a\n#/opt/not\n")
    _write(root, "/etc/ld.so.conf.d/ignored.txt", "/opt/never\n")
    # a cycle back to the main file, through a relative include with '..'
    _write(root, "/etc/extra/x.conf", "/opt/x\ninclude ../ld.so.conf\n")
    _write(root, "/etc/single.conf", "/opt/single\n")
    return root


EXPECTED_CONF = ["/opt/first", "/opt/a", "/opt/b", "/opt/x", "/opt/single", "/opt/last"]


def test_ld_so_conf_includes_and_comments(sysroot: Path) -> None:
    assert parse_ld_so_conf("/etc/ld.so.conf", sysroot) == EXPECTED_CONF


def test_ld_so_conf_missing_file_is_empty(tmp_path: Path) -> None:
    assert parse_ld_so_conf("/etc/ld.so.conf", tmp_path) == []


def test_ld_so_conf_absolute_include_stays_in_sysroot(tmp_path: Path) -> None:
    # /etc/ld.so.conf.d/*.conf exists on the host, but must be read from the sysroot
    _write(tmp_path, "/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    _write(tmp_path, "/etc/ld.so.conf.d/only.conf", "/inside/sysroot\n")
    assert parse_ld_so_conf("/etc/ld.so.conf", tmp_path) == ["/inside/sysroot"]


def test_system_dirs_glibc_conf_then_defaults(sysroot: Path) -> None:
    assert system_dirs(Libc.GLIBC, "x86_64", 64, sysroot) == (*EXPECTED_CONF, *DEFAULTS_64)
    assert system_dirs(Libc.GLIBC, "i686", 32, sysroot) == (*EXPECTED_CONF, *DEFAULTS_32)


def test_system_dirs_dedupes(tmp_path: Path) -> None:
    _write(tmp_path, "/etc/ld.so.conf", "/usr/lib\n/opt/a/\n/opt/a\n/usr/lib64/../lib64\n")
    assert system_dirs(Libc.GLIBC, "x86_64", 64, tmp_path) == (
        "/usr/lib",
        "/opt/a",
        "/usr/lib64",
        "/lib64",
        "/lib",
    )


def test_default_dirs() -> None:
    assert default_dirs(Libc.GLIBC, 64) == DEFAULTS_64
    assert default_dirs(Libc.GLIBC, 32) == DEFAULTS_32
    assert default_dirs(Libc.MUSL, 64) == ("/lib", "/usr/local/lib", "/usr/lib")


@pytest.mark.parametrize(
    ("arch", "file"),
    [
        ("x86_64", "ld-musl-x86_64.path"),
        ("i686", "ld-musl-i386.path"),
        ("armv7l", "ld-musl-armhf.path"),
        ("aarch64", "ld-musl-aarch64.path"),
    ],
)
def test_musl_path_file(tmp_path: Path, arch: str, file: str) -> None:
    _write(tmp_path, f"/etc/{file}", "/usr/local/musl\n/opt/m:/opt/n\n\n")
    assert system_dirs(Libc.MUSL, arch, 64, tmp_path) == ("/usr/local/musl", "/opt/m", "/opt/n")
    # ld.so.conf is a glibc thing: musl ignores it
    _write(tmp_path, "/etc/ld.so.conf", "/glibc/only\n")
    assert "/glibc/only" not in system_dirs(Libc.MUSL, arch, 64, tmp_path)


def test_musl_without_path_file_uses_defaults(tmp_path: Path) -> None:
    assert system_dirs(Libc.MUSL, "x86_64", 64, tmp_path) == ("/lib", "/usr/local/lib", "/usr/lib")


def test_split_path_list() -> None:
    assert split_path_list("") == ()
    assert split_path_list("/a::/b:") == ("/a", "/b")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("/a", ("/a",)),
        ("/a::/b", ("/a", ".", "/b")),
        (":/a", (".", "/a")),
        ("/a:", ("/a", ".")),
        ("/a;/b", ("/a", "/b")),
        (":", (".", ".")),
    ],
)
def test_split_library_path_like_glibc(value: str, expected: tuple[str, ...]) -> None:
    """glibc splits LD_LIBRARY_PATH on ':' and ';'; an empty entry is the current directory."""
    assert split_library_path(value) == expected


ENV = {
    "AUDITWHEEL_LD_LIBRARY_PATH": "/aw1:/aw2",
    "LD_LIBRARY_PATH": "/ld1:/ld2;/aw1",
    "PATH": "/usr/bin",
}


def test_environment_order_and_dedupe(sysroot: Path) -> None:
    paths = load_search_paths(Libc.GLIBC, "x86_64", 64, environ=ENV, sysroot=sysroot)
    assert paths.env == ("/aw1", "/aw2", "/ld1", "/ld2")
    assert paths.system == (*EXPECTED_CONF, *DEFAULTS_64)
    assert paths.sysroot == sysroot


def test_ldpaths_replace_system_and_drop_ld_library_path(sysroot: Path) -> None:
    paths = load_search_paths(
        Libc.GLIBC, "x86_64", 64, ldpaths="/x::/y", environ=ENV, sysroot=sysroot
    )
    assert paths.env == ("/aw1", "/aw2")  # AUDITWHEEL_LD_LIBRARY_PATH kept, first
    assert paths.system == ("/x", "/y")  # no ld.so.conf, no defaults
    empty = load_search_paths(Libc.GLIBC, "x86_64", 64, ldpaths="", environ={})
    assert empty.env == ()
    assert empty.system == ()


def test_relative_environment_entries_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = load_search_paths(
        Libc.GLIBC, "x86_64", 64, ldpaths="", environ={"LD_LIBRARY_PATH": "rel/dir"}
    )
    assert paths.env == ()  # --ldpaths drops LD_LIBRARY_PATH
    paths = load_search_paths(Libc.GLIBC, "x86_64", 64, environ={"LD_LIBRARY_PATH": "rel/dir"})
    assert paths.env == (str(tmp_path / "rel" / "dir"),)


def test_host_maps_into_sysroot(tmp_path: Path) -> None:
    assert SearchPaths((), ()).host("/usr/lib/libz.so.1") == Path("/usr/lib/libz.so.1")
    inside = SearchPaths((), (), sysroot=tmp_path).host("/usr/lib/libz.so.1")
    assert inside == tmp_path / "usr" / "lib" / "libz.so.1"


def test_host_follows_absolute_symlinks_inside_sysroot(tmp_path: Path) -> None:
    # Sysroots (docker exports, Debian alternatives) hold absolute symlinks: they point
    # into the sysroot, never to the build machine.
    (tmp_path / "usr" / "lib" / "real").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "real" / "libq.so.1").write_bytes(b"q")
    (tmp_path / "etc" / "alternatives").mkdir(parents=True)
    (tmp_path / "etc" / "alternatives" / "libq.so.1").symlink_to("/usr/lib/real/libq.so.1")
    (tmp_path / "usr" / "lib" / "libq.so.1").symlink_to("/etc/alternatives/libq.so.1")
    (tmp_path / "lib").symlink_to("/usr/lib")  # an absolute directory link
    paths = SearchPaths((), (), sysroot=tmp_path)
    for loader_path in ("/usr/lib/libq.so.1", "/lib/libq.so.1", "/lib/../lib/libq.so.1"):
        host = paths.host(loader_path)
        assert host.is_file(), loader_path
        assert Path(os.path.realpath(host)) == (tmp_path / "usr/lib/real/libq.so.1").resolve()


# --------------------------------------------------------------------------- end to end

#: (options, env, libstale.so.1 is found) for the stale_rpath wheel, whose only library lives
#: in the scenario's ``libs`` dir and whose DT_RPATH points nowhere.
LDPATHS_CASES = {
    "ld_library_path": ([], {"LD_LIBRARY_PATH": "LIBS"}, True),
    "ldpaths_drops_ld_library_path": (
        ["--ldpaths", "/nonexistent-dir"],
        {"LD_LIBRARY_PATH": "LIBS"},
        False,
    ),
    "ldpaths_keeps_auditwheel_ld_library_path": (
        ["--ldpaths", "/nonexistent-dir"],
        {"AUDITWHEEL_LD_LIBRARY_PATH": "LIBS"},
        True,
    ),
    "ldpaths_is_searched": (["--ldpaths", "/nonexistent-dir:LIBS"], {}, True),
}


@pytest.fixture(scope="module")
def stale(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    from wheelbuild import build_scenario

    return build_scenario("stale_rpath", fixture_cache, tmp_path_factory.mktemp("ldp-stale"))


def _ldpaths_case(stale: Scenario, case: str) -> tuple[list[str], dict[str, str], str | None]:
    """The case's arguments and environment with LIBS filled in, and the path it finds."""
    args, env, found = LDPATHS_CASES[case]
    libs = str(stale.lib_dirs[0])
    expected_path = str(stale.lib_dirs[0] / "libstale.so.1") if found else None
    return (
        [a.replace("LIBS", libs) for a in args],
        {k: v.replace("LIBS", libs) for k, v in env.items()},
        expected_path,
    )


@pytest.mark.parametrize("case", sorted(LDPATHS_CASES))
def test_ldpaths_end_to_end(stale: Scenario, case: str) -> None:
    args, env, expected_path = _ldpaths_case(stale, case)
    ldpaths = args[1] if args else None
    result = audit(stale.wheel, AuditOptions(ldpaths=ldpaths, environ=env))
    libs_found = result.verdict.external[result.verdict.policies.highest.name].libs
    assert {k: str(v) if v else None for k, v in libs_found.items()} == {
        "libstale.so.1": expected_path
    }


@pytest.mark.oracle
@pytest.mark.parametrize("case", sorted(LDPATHS_CASES))
def test_ldpaths_end_to_end_agrees_with_auditwheel(
    stale: Scenario, run_cli: RunCli, case: str
) -> None:
    args, env, expected_path = _ldpaths_case(stale, case)
    proc = run_cli(["auditwheel", "show", "--json", *args, stale.wheel], env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["external_libs"] == {"libstale.so.1": expected_path}
