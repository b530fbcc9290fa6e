"""``wheelfix.report``: verdicts, check results and trees rendered as text and JSON (pure).

Verdicts and trees are built from values (``values.py``). Text is compared paragraph by
paragraph with its line wrapping undone, so each case states every sentence ``show`` prints.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from values import EXT, HEADER, LIBC, elf_info, evaluated, host_lib, scanned_elf, tree_of, wheel_lib
from wheelfix.elf import Soname
from wheelfix.libc import Libc
from wheelfix.policy import policy_set
from wheelfix.policy.evaluate import Verdict
from wheelfix.report import (
    SCHEMA_VERSION,
    check_text,
    error_json,
    policy_upgrades,
    pure_json,
    show_json,
    show_text,
    tree_json,
    tree_text,
)
from wheelfix.resolve import ElfTree, ResolvedLibrary
from wheelfix.results import CheckResult

FOO = host_lib("libfoo.so.1", elf_info(("libc.so.6",)))
ALL_X86_64 = [p.name for p in policy_set(Libc.GLIBC, "x86_64").policies[1:]]
"""Every real x86_64 policy, newest first (the order of ``policy_upgrades``)."""

CONSISTENT = 'demo.whl is consistent with the following platform tag: "{}".'
SYMBOLS = (
    "The wheel references external versioned symbols in these system-provided shared libraries: {}"
)
NO_LIBS = "The wheel requires no external shared libraries! :)"
CONSTRAINS = (
    'This constrains the platform tag to "{}". In order to achieve a more compatible tag, you'
    " would need to recompile a new wheel from source on a system with earlier versions of"
    " these libraries, such as a recent manylinux image."
)
ELIMINATE_LIBS = (
    "In order to achieve the tag platform tag '{}' the following shared library dependencies"
    " will need to be eliminated:"
)
ELIMINATE_SYMBOLS = (
    "In order to achieve the tag platform tag '{}' the following black-listed symbol"
    " dependencies will need to be eliminated:"
)
PYFPE = (
    "This wheel uses the PyFPE_jbuf function, which is not compatible with the"
    " manylinux/musllinux tags. (see https://www.python.org/dev/peps/pep-0513/"
    "#fpectl-builds-vs-no-fpectl-builds)"
)
UCS2 = (
    "This wheel is compiled against a narrow unicode (UCS2) version of Python, which is not"
    " compatible with the manylinux/musllinux tags."
)
GLIBC_225 = "libc.so.6 with versions GLIBC_2.2.5"


def _paragraphs(text: str) -> list[str]:
    assert text.startswith("\n")
    assert text.endswith("\n")
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def _verdict(case: str) -> Verdict:
    return {
        "clean": lambda: evaluated(elf_info()),
        "external": lambda: evaluated(elf_info(("libfoo.so.1", "libc.so.6")), (FOO, LIBC)),
        "new_glibc": lambda: evaluated(
            elf_info(versions={"libc.so.6": ["GLIBC_2.28", "GLIBC_2.2.5"]})
        ),
        "blacklist": lambda: evaluated(elf_info(undefined={"__cxa_thread_atexit_impl"})),
        "isa": lambda: evaluated(elf_info(isa=0x4)),
        "pyfpe": lambda: evaluated(elf_info(pyfpe=True)),
        "ucs2": lambda: evaluated(elf_info(ucs2=True)),
        "no_versions": lambda: evaluated(elf_info(versions={})),
    }[case]()


BLACKLISTED_UPGRADES = [
    paragraph
    for name in ("manylinux_2_17_x86_64", "manylinux_2_12_x86_64", "manylinux_2_5_x86_64")
    for paragraph in (
        ELIMINATE_SYMBOLS.format(name),
        "From libc.so.6: __cxa_thread_atexit_impl",
    )
]
EXTERNAL_UPGRADES = [
    paragraph for name in ALL_X86_64 for paragraph in (ELIMINATE_LIBS.format(name), "libfoo.so.1")
]


@pytest.mark.parametrize(
    ("case", "verbose", "expected"),
    [
        (
            "clean",
            False,
            [CONSISTENT.format("manylinux_2_5_x86_64"), SYMBOLS.format(GLIBC_225), NO_LIBS],
        ),
        (
            "no_versions",
            False,
            [
                CONSISTENT.format("manylinux_2_5_x86_64"),
                "The wheel references no external versioned symbols from system-provided"
                " shared libraries.",
                NO_LIBS,
            ],
        ),
        (
            "external",
            False,
            [
                CONSISTENT.format("linux_x86_64"),
                SYMBOLS.format(GLIBC_225),
                "The following external shared libraries are required by the wheel:"
                ' { "libfoo.so.1": "/usr/lib/libfoo.so.1" }',
                *EXTERNAL_UPGRADES,
            ],
        ),
        # too-recent symbols: the explanation ends the text, unless verbose
        (
            "new_glibc",
            False,
            [
                CONSISTENT.format("manylinux_2_28_x86_64"),
                SYMBOLS.format("libc.so.6 with versions GLIBC_2.2.5, GLIBC_2.28"),
                CONSTRAINS.format("manylinux_2_28_x86_64"),
            ],
        ),
        (
            "new_glibc",
            True,
            [
                CONSISTENT.format("manylinux_2_28_x86_64"),
                SYMBOLS.format("libc.so.6 with versions GLIBC_2.2.5, GLIBC_2.28"),
                CONSTRAINS.format("manylinux_2_28_x86_64"),
                NO_LIBS,
            ],
        ),
        (
            "blacklist",
            False,
            [
                CONSISTENT.format("manylinux_2_24_x86_64"),
                SYMBOLS.format(GLIBC_225),
                NO_LIBS,
                *BLACKLISTED_UPGRADES,
            ],
        ),
        # a stopping fact ends the text, unless verbose
        (
            "isa",
            False,
            [
                CONSISTENT.format("linux_x86_64"),
                f"This wheel depends on unsupported ISA extensions. Files: {EXT}.",
            ],
        ),
        ("pyfpe", False, [CONSISTENT.format("linux_x86_64"), PYFPE]),
        (
            "pyfpe",
            True,
            [CONSISTENT.format("linux_x86_64"), PYFPE, SYMBOLS.format(GLIBC_225), NO_LIBS],
        ),
        ("ucs2", False, [CONSISTENT.format("linux_x86_64"), UCS2]),
    ],
)
def test_show_text(case: str, verbose: bool, expected: list[str]) -> None:
    assert _paragraphs(show_text("demo.whl", _verdict(case), verbose=verbose)) == expected


def test_show_text_wraps_lines_without_breaking_words() -> None:
    text = show_text("demo.whl", _verdict("external"))
    assert max(len(line) for line in text.splitlines()) <= 70
    assert "/usr/lib/libfoo.so.1" in text


# --------------------------------------------------------------------------- show --json

SHOW_KEYS = [
    "version",
    "wheel",
    "pure",
    "overall_tag",
    "sym_tag",
    "pyfpe",
    "ucs2",
    "unsupported_isa",
    "versioned_symbols",
    "external_libs",
    "policy_upgrades",
]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "clean",
            {
                "overall_tag": "manylinux_2_5_x86_64",
                "sym_tag": "manylinux_2_5_x86_64",
                "pyfpe": False,
                "ucs2": False,
                "unsupported_isa": False,
                "versioned_symbols": {"libc.so.6": ["GLIBC_2.2.5"]},
                "external_libs": {},
                "policy_upgrades": {},
            },
        ),
        (
            "external",
            {
                "overall_tag": "linux_x86_64",
                "sym_tag": "manylinux_2_5_x86_64",
                "pyfpe": False,
                "ucs2": False,
                "unsupported_isa": False,
                "versioned_symbols": {"libc.so.6": ["GLIBC_2.2.5"]},
                "external_libs": {"libfoo.so.1": "/usr/lib/libfoo.so.1"},
                "policy_upgrades": {n: {"libs_to_eliminate": ["libfoo.so.1"]} for n in ALL_X86_64},
            },
        ),
        (
            "new_glibc",
            {
                "overall_tag": "manylinux_2_28_x86_64",
                "sym_tag": "manylinux_2_28_x86_64",
                "pyfpe": False,
                "ucs2": False,
                "unsupported_isa": False,
                "versioned_symbols": {"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.28"]},
                "external_libs": {},
                "policy_upgrades": {},
            },
        ),
        (
            "blacklist",
            {
                "overall_tag": "manylinux_2_24_x86_64",
                "sym_tag": "manylinux_2_5_x86_64",
                "pyfpe": False,
                "ucs2": False,
                "unsupported_isa": False,
                "versioned_symbols": {"libc.so.6": ["GLIBC_2.2.5"]},
                "external_libs": {},
                "policy_upgrades": {
                    n: {"blacklisted_symbols": {"libc.so.6": ["__cxa_thread_atexit_impl"]}}
                    for n in (
                        "manylinux_2_17_x86_64",
                        "manylinux_2_12_x86_64",
                        "manylinux_2_5_x86_64",
                    )
                },
            },
        ),
        ("isa", {"overall_tag": "linux_x86_64", "unsupported_isa": True}),
        ("pyfpe", {"overall_tag": "linux_x86_64", "pyfpe": True, "ucs2": False}),
        ("ucs2", {"overall_tag": "linux_x86_64", "pyfpe": False, "ucs2": True}),
    ],
)
def test_show_json(case: str, expected: dict[str, Any]) -> None:
    text = show_json("demo.whl", _verdict(case))
    document = json.loads(text)
    assert list(document) == SHOW_KEYS
    assert document["version"] == SCHEMA_VERSION == 1
    assert document["wheel"] == "demo.whl"
    assert document["pure"] is False
    assert {k: document[k] for k in expected} == expected
    assert text == json.dumps(document, indent=4)


def test_policy_upgrades_lists_only_better_policies() -> None:
    verdict = _verdict("blacklist")  # manylinux_2_24 as it is
    assert list(policy_upgrades(verdict)) == [
        "manylinux_2_17_x86_64",
        "manylinux_2_12_x86_64",
        "manylinux_2_5_x86_64",
    ]
    assert policy_upgrades(_verdict("clean")) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            pure_json("demo-1.0-py3-none-any.whl"),
            {"version": 1, "wheel": "demo-1.0-py3-none-any.whl", "pure": True},
        ),
        (error_json("demo.whl", "no ELF"), {"version": 1, "wheel": "demo.whl", "error": "no ELF"}),
    ],
)
def test_pure_and_error_json(text: str, expected: dict[str, Any]) -> None:
    assert json.loads(text) == expected
    assert list(json.loads(text)) == list(expected)


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            CheckResult("demo.whl", ("manylinux_2_17_x86_64",), "manylinux_2_5_x86_64"),
            "demo.whl: OK (consistent with manylinux_2_5_x86_64)",
        ),
        (
            CheckResult(
                "demo.whl",
                ("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
                "manylinux_2_17_x86_64",
            ),
            "demo.whl: OK (consistent with manylinux_2_17_x86_64)",
        ),
        (CheckResult("p.whl", (), "pure", pure=True), "p.whl: pure Python wheel, OK"),
    ],
)
def test_check_text(result: CheckResult, expected: str) -> None:
    assert check_text(result) == expected


# --------------------------------------------------------------------------- lddtree

INNER = scanned_elf("pkg/libinner.so", elf_info(("libfoo.so.1", "libc.so.6")))
MISSING = ResolvedLibrary(Soname("libgone.so.1"), None, None, None, "not found")


def _tree() -> ElfTree:
    root = scanned_elf(
        EXT,
        elf_info(
            ("libinner.so", "libfoo.so.1", "libgone.so.1", "libc.so.6"),
            rpath=("$ORIGIN",),
            soname="_ext.so",
        ),
    )
    libraries = (
        wheel_lib("libinner.so", INNER),
        host_lib("libfoo.so.1", elf_info(("libc.so.6",)), via="env"),
        MISSING,
        LIBC,
    )
    return tree_of(root, libraries, excluded=("libz.so.1",))


def test_tree_text() -> None:
    assert tree_text(_tree()) == (
        f"{EXT} (interpreter => none)\n"
        "    libinner.so => pkg/libinner.so\n"
        "        libfoo.so.1 => /usr/lib/libfoo.so.1\n"
        "            libc.so.6 => /usr/lib/libc.so.6\n"
        "        libc.so.6 => /usr/lib/libc.so.6\n"
        "    libfoo.so.1 => /usr/lib/libfoo.so.1\n"
        "    libgone.so.1 => not found\n"
        "    libc.so.6 => /usr/lib/libc.so.6\n"
    )


def test_tree_text_names_the_interpreter() -> None:
    root = scanned_elf(
        "bin/tool", elf_info(("libc.so.6",), interpreter="/lib64/ld-linux-x86-64.so.2")
    )
    assert tree_text(tree_of(root, (LIBC,))) == (
        "bin/tool (interpreter => /lib64/ld-linux-x86-64.so.2)\n"
        "    libc.so.6 => /usr/lib/libc.so.6\n"
    )


X86_64_PLATFORM = {
    "_elf_osabi": "ELFOSABI_SYSV",
    "_elf_class": 64,
    "_elf_little_endian": True,
    "_elf_machine": "EM_X86_64",
    "_base_arch": "x86_64",
    "_ext_arch": None,
    "_error_msg": None,
}
#: ``realpath`` entries are left out: they are the host's view of the paths.
LIBRARY_KEYS = ["soname", "path", "realpath", "platform", "needed", "in_wheel", "found_via"]


def _without_realpath(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "realpath"}


def test_tree_json() -> None:
    document = json.loads(tree_json(_tree(), "glibc"))
    assert list(document) == [
        "interpreter",
        "libc",
        "path",
        "realpath",
        "platform",
        "needed",
        "rpath",
        "runpath",
        "libraries",
        "arch",
        "elf_class",
        "little_endian",
        "machine",
        "soname",
        "excluded",
    ]
    libraries = document.pop("libraries")
    document.pop("realpath")
    assert document == {
        "interpreter": None,
        "libc": "glibc",
        "path": EXT,
        "platform": X86_64_PLATFORM,
        "needed": ["libinner.so", "libfoo.so.1", "libgone.so.1", "libc.so.6"],
        "rpath": ["$ORIGIN"],
        "runpath": [],
        "arch": "x86_64",
        "elf_class": HEADER.elf_class,
        "little_endian": True,
        "machine": 62,
        "soname": "_ext.so",
        "excluded": ["libz.so.1"],
    }
    assert list(libraries) == ["libinner.so", "libfoo.so.1", "libgone.so.1", "libc.so.6"]
    assert all(list(entry) == LIBRARY_KEYS for entry in libraries.values())
    assert libraries["libgone.so.1"]["realpath"] is None
    assert {k: _without_realpath(v) for k, v in libraries.items()} == {
        "libinner.so": {
            "soname": "libinner.so",
            "path": "pkg/libinner.so",
            "platform": X86_64_PLATFORM,
            "needed": ["libfoo.so.1", "libc.so.6"],
            "in_wheel": True,
            "found_via": "rpath",
        },
        "libfoo.so.1": {
            "soname": "libfoo.so.1",
            "path": "/usr/lib/libfoo.so.1",
            "platform": X86_64_PLATFORM,
            "needed": ["libc.so.6"],
            "in_wheel": False,
            "found_via": "env",
        },
        "libgone.so.1": {
            "soname": "libgone.so.1",
            "path": None,
            "platform": None,
            "needed": [],
            "in_wheel": False,
            "found_via": "not found",
        },
        "libc.so.6": {
            "soname": "libc.so.6",
            "path": "/usr/lib/libc.so.6",
            "platform": X86_64_PLATFORM,
            "needed": ["ld-linux-x86-64.so.2"],
            "in_wheel": False,
            "found_via": "system",
        },
    }


def test_tree_json_without_libc() -> None:
    assert json.loads(tree_json(_tree()))["libc"] is None
