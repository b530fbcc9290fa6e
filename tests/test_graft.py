"""``wheelfix.graft``: the repair plan, decided from values (pure; no files, no LIEF).

Audits come from ``values.py``: wheel ELF members resolved to host libraries under
``/usr/lib``; digests are given by hand, so every hashed name is known in advance.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from values import EXT, LIBC, WHEEL, audit_of, elf_info, host_lib, scanned_elf, tree_of
from wheelfix.elf import ElfEdit, ElfHeader, Soname
from wheelfix.errors import LibraryNotFoundError, NameCollisionError, PolicyError
from wheelfix.graft import (
    GraftedLibrary,
    GraftOptions,
    GraftPlan,
    hashed_name,
    plan_graft,
    script_shim,
)
from wheelfix.outnames import check_output_names
from wheelfix.resolve import ElfTree, ResolvedLibrary
from wheelfix.results import Audit
from wheelfix.wheel import MemberPath

#: Digests by host path: the first 8 hex digits name the graft.
DIGESTS = {
    Path("/usr/lib/libfoo.so.1.2"): "f00f00f0" + "0" * 56,
    Path("/usr/lib/libbar.so.1"): "ba4ba4ba" + "0" * 56,
    Path("/opt/a/libfoo.so.1"): "aaaaaaaa" + "0" * 56,
    Path("/opt/b/libfoo.so.1"): "bbbbbbbb" + "0" * 56,
}
FOO_GRAFT = "libfoo-f00f00f0.so.1.2"
BAR_GRAFT = "libbar-ba4ba4ba.so.1"

#: libfoo.so.1 (a symlink to libfoo.so.1.2) needs libbar.so.1; both are external.
FOO = host_lib("libfoo.so.1", elf_info(("libbar.so.1", "libc.so.6")), path="/usr/lib/libfoo.so.1.2")
BAR = host_lib("libbar.so.1", elf_info(("libc.so.6",)))
CHAIN = (FOO, LIBC, BAR)
LIBPYTHON = ResolvedLibrary(Soname("libpython3.11.so.1.0"), None, None, None, "libpython")
LIBPYTHON_WARNING = (
    "Removing libpython3.11.so.1.0 dependency from {}. Linking with libpython is forbidden"
    " for manylinux/musllinux wheels."
)


def _plan(
    trees: Iterable[ElfTree],
    *,
    wheel: str = WHEEL,
    target: str = "manylinux_2_5_x86_64",
    lib_sdir: str = ".libs",
    strip: bool = False,
) -> GraftPlan:
    audit = audit_of(trees, wheel=wheel)
    return _plan_for(audit, target, lib_sdir=lib_sdir, strip=strip)


def _plan_for(
    audit: Audit, target: str, *, lib_sdir: str = ".libs", strip: bool = False
) -> GraftPlan:
    policy = audit.verdict.policies.find(target)
    assert policy is not None
    return plan_graft(audit, policy, DIGESTS, GraftOptions(lib_sdir=lib_sdir, strip=strip))


def _ext_tree(
    needed: Iterable[str] = ("libfoo.so.1", "libc.so.6"),
    libraries: Iterable[ResolvedLibrary] = CHAIN,
    *,
    path: str = EXT,
    **info: object,
) -> ElfTree:
    return tree_of(scanned_elf(path, elf_info(needed, **info)), libraries)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- hashed_name


@pytest.mark.parametrize(
    ("filename", "digest", "expected"),
    [
        ("libyaml-0.so.2.0.9", "8ec1a697ffff", "libyaml-0-8ec1a697.so.2.0.9"),
        ("libfoo.so.1", "0123456789abcdef", "libfoo-01234567.so.1"),
        ("libfoo.so", "deadbeef00", "libfoo-deadbeef.so"),
        ("libstdc++.so.6.0.30", "cafebabe99", "libstdc++-cafebabe.so.6.0.30"),
        ("noext", "12345678", "noext-12345678"),
        # already hashed with this digest: unchanged
        ("libyaml-0-8ec1a697.so.2.0.9", "8ec1a697ffff", "libyaml-0-8ec1a697.so.2.0.9"),
        # hashed with another digest: hashed again
        ("libfoo-aaaaaaaa.so.1", "bbbbbbbb", "libfoo-aaaaaaaa-bbbbbbbb.so.1"),
    ],
)
def test_hashed_name(filename: str, digest: str, expected: str) -> None:
    assert hashed_name(filename, digest) == expected


@pytest.mark.parametrize("filename", ["libyaml-0.so.2.0.9", "libfoo.so.1", "noext", "a.b.c.d"])
def test_hashed_name_is_idempotent(filename: str) -> None:
    once = hashed_name(filename, "0badf00d" * 8)
    assert once != filename
    assert hashed_name(once, "0badf00d" * 8) == once


# --------------------------------------------------------------------------- plan_graft


def test_chain_is_grafted_with_renames_sonames_and_rpaths() -> None:
    plan = _plan([_ext_tree()])
    assert plan.libs_dir == "demo.libs"
    assert plan.grafted == (
        GraftedLibrary(
            Path("/usr/lib/libbar.so.1"),
            Soname("libbar.so.1"),
            MemberPath(f"demo.libs/{BAR_GRAFT}"),
        ),
        GraftedLibrary(
            Path("/usr/lib/libfoo.so.1.2"),
            Soname("libfoo.so.1"),
            MemberPath(f"demo.libs/{FOO_GRAFT}"),
        ),
    )
    assert [g.new_name for g in plan.grafted] == [BAR_GRAFT, FOO_GRAFT]
    assert plan.edits == {
        EXT: ElfEdit(replace_needed=(("libfoo.so.1", FOO_GRAFT),), rpath="$ORIGIN/../demo.libs"),
        f"demo.libs/{BAR_GRAFT}": ElfEdit(soname=BAR_GRAFT, rpath=""),
        f"demo.libs/{FOO_GRAFT}": ElfEdit(
            replace_needed=(("libbar.so.1", BAR_GRAFT),), soname=FOO_GRAFT, rpath="$ORIGIN"
        ),
    }
    assert plan.moves == {}
    assert plan.shims == {}
    assert plan.warnings == ()


def test_nothing_to_graft_is_an_empty_plan() -> None:
    plan = _plan([_ext_tree(("libc.so.6",), (LIBC,))])
    assert plan == GraftPlan("demo.libs", (), {}, {}, {}, ())


@pytest.mark.parametrize(
    ("lib_sdir", "libs_dir"), [(".libs", "demo.libs"), ("_vendor", "demo_vendor"), (".l", "demo.l")]
)
def test_libs_dir_suffix(lib_sdir: str, libs_dir: str) -> None:
    plan = _plan([_ext_tree()], lib_sdir=lib_sdir)
    assert plan.libs_dir == libs_dir
    assert sorted(plan.edits) == sorted([EXT, f"{libs_dir}/{BAR_GRAFT}", f"{libs_dir}/{FOO_GRAFT}"])
    assert plan.edits[EXT].rpath == f"$ORIGIN/../{libs_dir}"


def test_two_files_of_one_soname_get_two_grafts() -> None:
    """Each extension keeps the libfoo.so.1 its own RPATH found."""
    a_lib = host_lib(
        "libfoo.so.1", elf_info(("libc.so.6",)), path="/opt/a/libfoo.so.1", via="rpath"
    )
    b_lib = host_lib(
        "libfoo.so.1", elf_info(("libc.so.6",)), path="/opt/b/libfoo.so.1", via="rpath"
    )
    a_ext = "pkg/a.cpython-311-x86_64-linux-gnu.so"
    b_ext = "pkg/b.cpython-311-x86_64-linux-gnu.so"
    plan = _plan(
        [
            _ext_tree(libraries=(a_lib, LIBC), path=a_ext, rpath=("/opt/a",)),
            _ext_tree(libraries=(b_lib, LIBC), path=b_ext, rpath=("/opt/b",)),
        ]
    )
    assert [(str(g.source), g.member) for g in plan.grafted] == [
        ("/opt/a/libfoo.so.1", "demo.libs/libfoo-aaaaaaaa.so.1"),
        ("/opt/b/libfoo.so.1", "demo.libs/libfoo-bbbbbbbb.so.1"),
    ]
    assert plan.edits[a_ext].replace_needed == (("libfoo.so.1", "libfoo-aaaaaaaa.so.1"),)
    assert plan.edits[b_ext].replace_needed == (("libfoo.so.1", "libfoo-bbbbbbbb.so.1"),)
    # the host RPATHs go: the libraries are in the wheel now
    assert plan.edits[a_ext].rpath == plan.edits[b_ext].rpath == "$ORIGIN/../demo.libs"


def test_one_host_file_needed_twice_is_grafted_once() -> None:
    other = "pkg/other.cpython-311-x86_64-linux-gnu.so"
    plan = _plan([_ext_tree(), _ext_tree(("libbar.so.1", "libc.so.6"), (BAR, LIBC), path=other)])
    assert [g.new_name for g in plan.grafted] == [BAR_GRAFT, FOO_GRAFT]
    assert plan.edits[other] == ElfEdit(
        replace_needed=(("libbar.so.1", BAR_GRAFT),), rpath="$ORIGIN/../demo.libs"
    )


def test_same_name_and_hash_prefix_for_two_files_is_refused() -> None:
    a_lib = host_lib("libfoo.so.1", elf_info(("libc.so.6",)), path="/opt/a/libfoo.so.1")
    b_lib = host_lib("libfoo.so.1", elf_info(("libc.so.6",)), path="/opt/b/libfoo.so.1")
    audit = audit_of(
        [
            _ext_tree(libraries=(a_lib, LIBC), path="pkg/a.cpython-311-x86_64-linux-gnu.so"),
            _ext_tree(libraries=(b_lib, LIBC), path="pkg/b.cpython-311-x86_64-linux-gnu.so"),
        ]
    )
    same_prefix = {Path("/opt/a/libfoo.so.1"): "12345678" + "a" * 56}
    same_prefix[Path("/opt/b/libfoo.so.1")] = "12345678" + "b" * 56
    with pytest.raises(NameCollisionError) as caught:
        plan_graft(audit, audit.verdict.policies.highest, same_prefix, GraftOptions())
    assert str(caught.value) == (
        "/opt/b/libfoo.so.1: its grafted name demo.libs/libfoo-12345678.so.1 is taken by a"
        " different file with the same name and hash prefix"
    )


@pytest.mark.parametrize(
    ("needed", "libraries", "expected"),
    [
        # libpython only: removed, and nothing else changes (no RPATH to an empty libs dir)
        (
            ("libpython3.11.so.1.0", "libc.so.6"),
            (LIBPYTHON, LIBC),
            ElfEdit(remove_needed=("libpython3.11.so.1.0",)),
        ),
        # with grafts: removed as well
        (
            ("libfoo.so.1", "libpython3.11.so.1.0", "libc.so.6"),
            (FOO, LIBPYTHON, LIBC, BAR),
            ElfEdit(
                replace_needed=(("libfoo.so.1", FOO_GRAFT),),
                remove_needed=("libpython3.11.so.1.0",),
                rpath="$ORIGIN/../demo.libs",
            ),
        ),
    ],
)
def test_libpython_is_removed(
    needed: tuple[str, ...], libraries: tuple[ResolvedLibrary, ...], expected: ElfEdit
) -> None:
    plan = _plan([_ext_tree(needed, libraries)])
    assert plan.edits[EXT] == expected
    assert plan.warnings == (LIBPYTHON_WARNING.format(EXT),)


def test_libpython_is_removed_from_a_grafted_library() -> None:
    foo = host_lib(
        "libfoo.so.1",
        elf_info(("libpython3.11.so.1.0", "libc.so.6")),
        path="/usr/lib/libfoo.so.1.2",
    )
    plan = _plan([_ext_tree(libraries=(foo, LIBC, LIBPYTHON))])
    member = f"demo.libs/{FOO_GRAFT}"
    assert plan.edits[member] == ElfEdit(
        remove_needed=("libpython3.11.so.1.0",), soname=FOO_GRAFT, rpath=""
    )
    assert plan.warnings == (LIBPYTHON_WARNING.format(member),)


def test_missing_library_is_refused() -> None:
    gone = ResolvedLibrary(Soname("libgone.so.1"), None, None, None, "not found")
    with pytest.raises(LibraryNotFoundError) as caught:
        _plan([_ext_tree(("libgone.so.1", "libc.so.6"), (gone, LIBC))])
    assert str(caught.value) == (
        f'{WHEEL}!{EXT}: Cannot repair wheel, because required library "libgone.so.1" could not'
        " be located (set LD_LIBRARY_PATH or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude)"
    )


# --------------------------------------------------------------------------- RPATH composition


@pytest.mark.parametrize(
    ("path", "install_path", "rpath", "runpath", "expected"),
    [
        (EXT, None, (), (), "$ORIGIN/../demo.libs"),
        ("_top.cpython-311-x86_64-linux-gnu.so", None, (), (), "$ORIGIN/demo.libs"),
        ("pkg/sub/deep/_x.so", None, (), (), "$ORIGIN/../../../demo.libs"),
        # entries inside the wheel stay first, as written; host entries go
        (
            "pkg/sub/_x.so",
            None,
            ("$ORIGIN/../lib", "/opt/x"),
            (),
            "$ORIGIN/../lib:$ORIGIN/../../demo.libs",
        ),
        ("pkg/_x.so", None, ("${ORIGIN}/vendor",), (), "${ORIGIN}/vendor:$ORIGIN/../demo.libs"),
        ("pkg/_x.so", None, (), ("$ORIGIN", "/usr/local/lib"), "$ORIGIN:$ORIGIN/../demo.libs"),
        ("pkg/_x.so", None, ("$ORIGIN/../demo.libs",), (), "$ORIGIN/../demo.libs"),  # no duplicate
        # an $ORIGIN entry climbing out of the wheel is not kept
        ("pkg/_x.so", None, ("$ORIGIN/../../outside",), (), "$ORIGIN/../demo.libs"),
        # platlib through .data: the install path decides
        ("demo-1.0.data/platlib/pkg/_x.so", "pkg/_x.so", (), (), "$ORIGIN/../demo.libs"),
        # the data scheme: one entry per site directory name
        (
            "demo-1.0.data/data/bin/tool",
            "<data>/bin/tool",
            (),
            (),
            "$ORIGIN/../lib/python3.11/site-packages/demo.libs"
            ":$ORIGIN/../lib/python3.11/dist-packages/demo.libs",
        ),
        (
            "demo-1.0.data/data/share/demo/lib/x.so",
            "<data>/share/demo/lib/x.so",
            (),
            (),
            "$ORIGIN/../../../lib/python3.11/site-packages/demo.libs"
            ":$ORIGIN/../../../lib/python3.11/dist-packages/demo.libs",
        ),
    ],
)
def test_rpath_of_a_wheel_elf(
    path: str,
    install_path: str | None,
    rpath: tuple[str, ...],
    runpath: tuple[str, ...],
    expected: str,
) -> None:
    elf = scanned_elf(
        path,
        elf_info(("libbar.so.1", "libc.so.6"), rpath=rpath, runpath=runpath),
        install_path=install_path,
    )
    plan = _plan([tree_of(elf, (BAR, LIBC))])
    assert plan.edits[MemberPath(path)].rpath == expected


@pytest.mark.parametrize(
    "wheel",
    ["demo-1.0-cp311-abi3-linux_x86_64.whl", "demo-1.0-cp310.cp311-cp310.cp311-linux_x86_64.whl"],
)
def test_data_scheme_elf_needs_one_python_version(wheel: str) -> None:
    elf = scanned_elf(
        "demo-1.0.data/data/bin/tool",
        elf_info(("libbar.so.1", "libc.so.6")),
        install_path="<data>/bin/tool",
        scheme="data",
    )
    with pytest.raises(PolicyError) as caught:
        _plan([tree_of(elf, (BAR, LIBC))], wheel=wheel)
    assert str(caught.value) == (
        f"{wheel}!demo-1.0.data/data/bin/tool: is installed outside site-packages and the path"
        " from there to the grafted libraries in demo.libs/ depends on the Python version: only"
        " a wheel for one CPython or PyPy version can be repaired"
    )


def test_excluded_library_keeps_its_host_rpath_entry() -> None:
    root = scanned_elf(
        EXT,
        elf_info(
            ("libbar.so.1", "libx.so.1", "liby.so.1", "libc.so.6"), rpath=("/opt/x", "/opt/y")
        ),
    )
    tree = tree_of(
        root,
        (BAR, LIBC),
        excluded=("libx.so.1", "liby.so.1"),
        excluded_dirs={"libx.so.1": "/opt/x"},
    )
    plan = _plan([tree])
    assert plan.edits[EXT].rpath == "/opt/x:$ORIGIN/../demo.libs"
    assert plan.warnings == (
        f"{EXT}: liby.so.1 is excluded (--exclude), not grafted: the target system must provide"
        " it on its library path",
    )


# --------------------------------------------------------------------------- scripts, strip

SCRIPT = "demo-1.0.data/scripts/tool"


def _script_tree(needed: Iterable[str] = ("libbar.so.1", "libc.so.6")) -> ElfTree:
    info = elf_info(needed, interpreter="/lib64/ld-linux-x86-64.so.2")
    elf = scanned_elf(SCRIPT, info, install_path="<scripts>/tool", scheme="scripts")
    return tree_of(elf, (BAR, LIBC))


def test_script_that_needs_grafts_moves_to_platlib() -> None:
    plan = _plan([_script_tree()])
    assert plan.moves == {SCRIPT: "demo.scripts/tool"}
    assert plan.shims == {SCRIPT: script_shim(MemberPath("demo.scripts/tool"))}
    assert plan.edits["demo.scripts/tool"] == ElfEdit(
        replace_needed=(("libbar.so.1", BAR_GRAFT),), rpath="$ORIGIN/../demo.libs"
    )
    assert SCRIPT not in plan.edits


def test_script_that_needs_nothing_stays() -> None:
    plan = _plan([_script_tree(("libc.so.6",))])
    assert plan.moves == {}
    assert plan.shims == {}
    assert plan.edits == {}


def test_script_shim_runs_the_moved_executable() -> None:
    shim = script_shim(MemberPath("demo.scripts/tool")).decode()
    assert shim.startswith("#!python\n")
    assert "os.path.join(sysconfig.get_path('platlib'), 'demo.scripts/tool')" in shim
    assert "os.execv(executable, [executable, *sys.argv[1:]])" in shim
    compile(shim, "shim", "exec")


@pytest.mark.parametrize(
    ("file_type", "strip", "warnings"),
    [
        (3, True, ()),
        (2, True, ()),
        (
            1,
            False,
            (
                "pkg/_x.o: left unstripped (a non-PIE executable: stripping LIEF's output of those breaks them)",
            ),
        ),
    ],
)
def test_strip(file_type: int, strip: bool, warnings: tuple[str, ...]) -> None:
    header = ElfHeader(
        elf_class=64, little_endian=True, osabi=0, file_type=file_type, machine=62, flags=0
    )
    elf = scanned_elf("pkg/_x.o", elf_info(("libbar.so.1", "libc.so.6"), header=header))
    plan = _plan([tree_of(elf, (BAR, LIBC))], strip=True)
    assert plan.edits[MemberPath("pkg/_x.o")].strip is strip
    assert plan.edits[MemberPath(f"demo.libs/{BAR_GRAFT}")].strip is True
    assert plan.warnings == warnings


# --------------------------------------------------------------------------- check_output_names

CHAIN_INPUT = (EXT, "pkg/__init__.py", "demo-1.0.dist-info/RECORD")


@pytest.mark.parametrize(
    ("extra_input", "subject", "reason"),
    [
        (
            f"demo.libs/{FOO_GRAFT}",
            f"demo.libs/{FOO_GRAFT}",
            "the wheel already has this member, where repair must write the grafted library"
            " /usr/lib/libfoo.so.1.2",
        ),
        (
            "demo.libs",
            "demo.libs",
            "is a file, but repair must write the grafted library /usr/lib/libbar.so.1 inside a"
            " directory of this name",
        ),
    ],
)
def test_check_output_names_refuses_collisions(extra_input: str, subject: str, reason: str) -> None:
    plan = _plan([_ext_tree()])
    with pytest.raises(NameCollisionError) as caught:
        check_output_names("demo.whl", (*CHAIN_INPUT, extra_input), plan)
    assert caught.value.subject == f"demo.whl!{subject}"
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("extra_input", "subject", "reason"),
    [
        (
            "demo.scripts/tool",
            "demo.scripts/tool",
            f"the wheel already has this member, where repair must write the moved executable {SCRIPT}",
        ),
        (
            "demo.scripts",
            "demo.scripts",
            f"is a file, but repair must write the moved executable {SCRIPT} inside a directory of"
            " this name",
        ),
    ],
)
def test_check_output_names_refuses_moved_script_collisions(
    extra_input: str, subject: str, reason: str
) -> None:
    plan = _plan([_script_tree()])
    with pytest.raises(NameCollisionError) as caught:
        check_output_names("demo.whl", (SCRIPT, extra_input), plan)
    assert caught.value.subject == f"demo.whl!{subject}"
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "inputs",
    [
        CHAIN_INPUT,
        (*CHAIN_INPUT, "demo.libs/README"),  # a directory shared with other files is fine
        (*CHAIN_INPUT, "demo.libs2/libfoo.so"),
    ],
)
def test_check_output_names_accepts(inputs: tuple[str, ...]) -> None:
    assert check_output_names("demo.whl", inputs, _plan([_ext_tree()])) is None


def test_moved_script_frees_its_old_path() -> None:
    plan = _plan([_script_tree()])
    assert check_output_names("demo.whl", (SCRIPT, "demo-1.0.data/scripts/other"), plan) is None
