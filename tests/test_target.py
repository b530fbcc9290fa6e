"""``wheelfix.target``: which tag repair aims for, and why it cannot reach one (pure).

Audits are built from values (``values.py``): one extension per wheel, its DT_NEEDED resolved
on the host, the policy tables of the package. No files, no LIEF.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from values import EXT, LIBC, WHEEL, audit_of, elf_info, host_lib, scanned_elf, tree_of
from wheelfix.errors import PolicyError
from wheelfix.libc import Libc
from wheelfix.policy import Policy
from wheelfix.results import Audit
from wheelfix.target import (
    RequestedPlatform,
    choose_target,
    offending_versions,
    parse_plat,
    tags_to_write,
)

MUSL_EXT = "pkg/_ext.cpython-311-x86_64-linux-musl.so"
MUSL_LIBC = host_lib("libc.musl-x86_64.so.1", elf_info(()), path="/lib/libc.musl-x86_64.so.1")

#: Host libraries by soname; each needs libc and the versions given.
FOO = host_lib("libfoo.so.1", elf_info(("libc.so.6",)))
FOO_234 = host_lib(
    "libfoo.so.1", elf_info(("libc.so.6",), versions={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.34"]})
)
EXPAT = host_lib("libexpat.so.1", elf_info(("libc.so.6",)))  # whitelisted from manylinux_2_12


def _audit(
    needed: Iterable[str] = ("libc.so.6",),
    libraries: Iterable = (LIBC,),
    *,
    versions: Mapping[str, Iterable[str]] | None = None,
    **info: object,
) -> Audit:
    root = scanned_elf(EXT, elf_info(needed, versions=versions, **info))  # type: ignore[arg-type]
    return audit_of([tree_of(root, libraries)])


def _musl_audit() -> Audit:
    root = scanned_elf(MUSL_EXT, elf_info(("libc.musl-x86_64.so.1",), versions={}))
    return audit_of([tree_of(root, (MUSL_LIBC,))], libc=Libc.MUSL)


def _policy(audit: Audit, name: str) -> Policy:
    found = audit.verdict.policies.find(name)
    assert found is not None, name
    return found


# --------------------------------------------------------------------------- parse_plat


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", None),
        ("manylinux_2_17_x86_64", RequestedPlatform("manylinux_2_17", "x86_64")),
        ("manylinux2014_x86_64", RequestedPlatform("manylinux2014", "x86_64")),
        ("manylinux1_i686", RequestedPlatform("manylinux1", "i686")),
        ("manylinux_2_28_aarch64", RequestedPlatform("manylinux_2_28", "aarch64")),
        ("musllinux_1_2_armv7l", RequestedPlatform("musllinux_1_2", "armv7l")),
        ("musllinux_1_1_x86_64", RequestedPlatform("musllinux_1_1", "x86_64")),
        ("manylinux_2_36_loongarch64", RequestedPlatform("manylinux_2_36", "loongarch64")),
    ],
)
def test_parse_plat(value: str, expected: RequestedPlatform | None) -> None:
    assert parse_plat(value) == expected


@pytest.mark.parametrize(
    ("value", "libc"),
    [
        ("manylinux_2_17_x86_64", Libc.GLIBC),
        ("manylinux1_x86_64", Libc.GLIBC),
        ("musllinux_1_2_aarch64", Libc.MUSL),
    ],
)
def test_requested_platform_libc(value: str, libc: Libc) -> None:
    requested = parse_plat(value)
    assert requested is not None
    assert requested.libc is libc


@pytest.mark.parametrize(
    "value",
    [
        "manylinux2014",  # an alias needs its architecture
        "manylinux_2_3_x86_64",  # no such policy
        "manylinux1_aarch64",  # manylinux1 was x86 only
        "musllinux_1_1_loongarch64",
        "linux_x86_64",  # the catch-all is not a target
        "macosx_11_0_arm64",
        "",
    ],
)
def test_parse_plat_refuses_unknown_names(value: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_plat(value)
    assert str(caught.value) == f"--plat: unknown platform tag {value!r}"


# --------------------------------------------------------------------------- choose_target


@pytest.mark.parametrize(
    ("needed", "libraries", "versions", "expected"),
    [
        # nothing to graft: the oldest policy
        (("libc.so.6",), (LIBC,), None, "manylinux_2_5_x86_64"),
        # symbol versions cap the tag
        (
            ("libc.so.6",),
            (LIBC,),
            {"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.28"]},
            "manylinux_2_28_x86_64",
        ),
        # a library to graft does not cap it
        (("libfoo.so.1", "libc.so.6"), (FOO, LIBC), None, "manylinux_2_5_x86_64"),
        # ... but its own symbol versions do
        (("libfoo.so.1", "libc.so.6"), (FOO_234, LIBC), None, "manylinux_2_34_x86_64"),
        # auto grafts no more than it must: libexpat is whitelisted from manylinux_2_12 on
        (("libexpat.so.1", "libc.so.6"), (EXPAT, LIBC), None, "manylinux_2_12_x86_64"),
    ],
)
def test_choose_target_auto(
    needed: tuple[str, ...],
    libraries: tuple,
    versions: Mapping[str, list[str]] | None,
    expected: str,
) -> None:
    assert choose_target(_audit(needed, libraries, versions=versions), None).name == expected


@pytest.mark.parametrize(
    ("plat", "expected"),
    [
        ("manylinux_2_17_x86_64", "manylinux_2_17_x86_64"),
        ("manylinux2014_x86_64", "manylinux_2_17_x86_64"),
        ("manylinux1_x86_64", "manylinux_2_5_x86_64"),
        ("manylinux2010_x86_64", "manylinux_2_12_x86_64"),
        ("manylinux_2_41_x86_64", "manylinux_2_41_x86_64"),
    ],
)
def test_choose_target_explicit(plat: str, expected: str) -> None:
    assert choose_target(_audit(), parse_plat(plat)).name == expected


def test_choose_target_explicit_musl() -> None:
    assert choose_target(_musl_audit(), parse_plat("musllinux_1_2_x86_64")).name == (
        "musllinux_1_2_x86_64"
    )
    assert choose_target(_musl_audit(), None).name == "musllinux_1_2_x86_64"


@pytest.mark.parametrize(
    ("musl", "plat", "message"),
    [
        (
            False,
            "manylinux_2_17_aarch64",
            f"{WHEEL}: can't repair wheel {WHEEL} with x86_64 architecture to a wheel targeting"
            " aarch64 (--plat manylinux_2_17_aarch64)",
        ),
        (
            False,
            "manylinux2014_s390x",
            f"{WHEEL}: can't repair wheel {WHEEL} with x86_64 architecture to a wheel targeting"
            " s390x (--plat manylinux2014_s390x)",
        ),
        (
            False,
            "musllinux_1_2_x86_64",
            f"{WHEEL}: can't repair wheel {WHEEL} with GLIBC libc to a wheel targeting MUSL"
            " (--plat musllinux_1_2_x86_64)",
        ),
        (
            True,
            "manylinux_2_17_x86_64",
            f"{WHEEL}: can't repair wheel {WHEEL} with MUSL libc to a wheel targeting GLIBC"
            " (--plat manylinux_2_17_x86_64)",
        ),
        (
            True,
            "musllinux_1_2_aarch64",
            f"{WHEEL}: can't repair wheel {WHEEL} with x86_64 architecture to a wheel targeting"
            " aarch64 (--plat musllinux_1_2_aarch64)",
        ),
    ],
)
def test_choose_target_arch_and_libc_mismatch(musl: bool, plat: str, message: str) -> None:
    audit = _musl_audit() if musl else _audit()
    with pytest.raises(PolicyError) as caught:
        choose_target(audit, parse_plat(plat))
    assert str(caught.value) == message


TOO_NEW = (
    "because of the presence of too-recent versioned symbols. You'll need to compile the wheel"
    " on an older toolchain. Too recent: {}."
)
REFUSED = f'cannot repair "{WHEEL}" to "{{}}" ABI '
AUTO = " No manylinux tag is reachable (--plat auto)."


@pytest.mark.parametrize(
    ("needed", "libraries", "info", "plat", "reason"),
    [
        (
            ("libc.so.6",),
            (LIBC,),
            {"versions": {"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.28"]}},
            "manylinux_2_17_x86_64",
            REFUSED.format("manylinux_2_17_x86_64") + TOO_NEW.format(f"{EXT}: GLIBC_2.28"),
        ),
        # the grafted library's versions are named by its host path
        (
            ("libfoo.so.1", "libc.so.6"),
            (FOO_234, LIBC),
            {},
            "manylinux2014_x86_64",
            REFUSED.format("manylinux_2_17_x86_64")
            + TOO_NEW.format("/usr/lib/libfoo.so.1: GLIBC_2.34"),
        ),
        # GLIBC_PRIVATE reaches nothing: auto says no tag at all
        (
            ("libc.so.6",),
            (LIBC,),
            {"versions": {"libc.so.6": ["GLIBC_PRIVATE"]}},
            "auto",
            REFUSED.format("manylinux_2_41_x86_64")
            + TOO_NEW.format(f"{EXT}: GLIBC_PRIVATE")
            + AUTO,
        ),
        (
            ("libc.so.6",),
            (LIBC,),
            {"undefined": {"__cxa_thread_atexit_impl"}},
            "manylinux_2_17_x86_64",
            REFUSED.format("manylinux_2_17_x86_64") + "because it depends on black-listed symbols."
            " From libc.so.6: __cxa_thread_atexit_impl.",
        ),
        (
            ("libz.so.1", "libc.so.6"),
            (host_lib("libz.so.1"), LIBC),
            {"undefined": {"zcalloc", "zcfree", "deflate"}},
            "auto",
            REFUSED.format("manylinux_2_41_x86_64")
            + "because it depends on black-listed symbols. From libz.so.1: zcalloc, zcfree."
            + AUTO,
        ),
        (
            ("libc.so.6",),
            (LIBC,),
            {"isa": 0x4},
            "auto",
            REFUSED.format("manylinux_2_41_x86_64")
            + f"because it depends on unsupported ISA extensions. Files: {EXT};"
            " see --disable-isa-ext-check." + AUTO,
        ),
        (
            ("libc.so.6",),
            (LIBC,),
            {"pyfpe": True},
            "manylinux_2_5_x86_64",
            REFUSED.format("manylinux_2_5_x86_64")
            + "because it uses the PyFPE_jbuf function, which is not compatible with the"
            " manylinux/musllinux tags.",
        ),
        (
            ("libc.so.6",),
            (LIBC,),
            {"ucs2": True},
            "auto",
            REFUSED.format("manylinux_2_41_x86_64")
            + "because it was compiled against a UCS2 build of Python. You'll need to compile"
            " the wheel against a wide-unicode build of Python." + AUTO,
        ),
    ],
)
def test_choose_target_refuses(
    needed: tuple[str, ...],
    libraries: tuple,
    info: dict[str, object],
    plat: str,
    reason: str,
) -> None:
    audit = _audit(needed, libraries, **info)
    with pytest.raises(PolicyError) as caught:
        choose_target(audit, parse_plat(plat))
    assert caught.value.subject == WHEEL
    assert caught.value.reason == reason


def test_blacklist_blocks_only_old_policies() -> None:
    audit = _audit(undefined={"__cxa_thread_atexit_impl"})
    assert choose_target(audit, None).name == "manylinux_2_24_x86_64"
    assert choose_target(audit, parse_plat("manylinux_2_24_x86_64")).name == (
        "manylinux_2_24_x86_64"
    )


def test_isa_check_disabled_reaches_the_oldest_tag() -> None:
    root = scanned_elf(EXT, elf_info(isa=0x4))
    audit = audit_of([tree_of(root)], disable_isa=True)
    assert choose_target(audit, None).name == "manylinux_2_5_x86_64"


# --------------------------------------------------------------------------- offending_versions


@pytest.mark.parametrize(
    ("target", "grafted", "expected"),
    [
        ("manylinux_2_17_x86_64", ("libfoo.so.1",), ["/usr/lib/libfoo.so.1: GLIBC_2.34"]),
        # a library not grafted is not the wheel's concern
        ("manylinux_2_17_x86_64", (), []),
        ("manylinux_2_34_x86_64", ("libfoo.so.1",), []),
    ],
)
def test_offending_versions_of_grafted_libraries(
    target: str, grafted: tuple[str, ...], expected: list[str]
) -> None:
    audit = _audit(("libfoo.so.1", "libc.so.6"), (FOO_234, LIBC))
    assert offending_versions(audit, _policy(audit, target), grafted) == expected


def test_offending_versions_lists_each_file_and_skips_the_loader() -> None:
    versions = {
        "libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.28", "GLIBC_2.17"],
        "libstdc++.so.6": ["GLIBCXX_3.4.30", "CXXABI_1.3"],
        "ld-linux-x86-64.so.2": ["GLIBC_2.35"],
    }
    audit = _audit(("libc.so.6",), (LIBC,), versions=versions)
    assert offending_versions(audit, _policy(audit, "manylinux_2_17_x86_64"), ()) == [
        f"{EXT}: GLIBCXX_3.4.30",  # one row per library, sorted as text
        f"{EXT}: GLIBC_2.28",
    ]


# --------------------------------------------------------------------------- tags_to_write


@pytest.mark.parametrize(
    ("needed", "libraries", "target", "only_plat", "expected"),
    [
        (
            ("libc.so.6",),
            (LIBC,),
            "manylinux_2_5_x86_64",
            False,
            ["manylinux_2_5_x86_64", "manylinux1_x86_64"],
        ),
        # the grafted wheel also meets an older tag: it goes first
        (
            ("libc.so.6",),
            (LIBC,),
            "manylinux_2_17_x86_64",
            False,
            [
                "manylinux_2_5_x86_64",
                "manylinux1_x86_64",
                "manylinux_2_17_x86_64",
                "manylinux2014_x86_64",
            ],
        ),
        # --only-plat: the target and its aliases only
        (
            ("libc.so.6",),
            (LIBC,),
            "manylinux_2_17_x86_64",
            True,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
        ),
        (("libc.so.6",), (LIBC,), "manylinux_2_28_x86_64", True, ["manylinux_2_28_x86_64"]),
        # an older tag that needs more grafts than the target (libexpat) is not added
        (
            ("libexpat.so.1", "libc.so.6"),
            (EXPAT, LIBC),
            "manylinux_2_24_x86_64",
            False,
            ["manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux_2_24_x86_64"],
        ),
        (
            ("libexpat.so.1", "libc.so.6"),
            (EXPAT, LIBC),
            "manylinux_2_12_x86_64",
            False,
            ["manylinux_2_12_x86_64", "manylinux2010_x86_64"],
        ),
        # the same grafts reach the oldest tag
        (
            ("libfoo.so.1", "libc.so.6"),
            (FOO, LIBC),
            "manylinux_2_28_x86_64",
            False,
            ["manylinux_2_5_x86_64", "manylinux1_x86_64", "manylinux_2_28_x86_64"],
        ),
        # symbol versions keep the older tags away
        (
            ("libfoo.so.1", "libc.so.6"),
            (FOO_234, LIBC),
            "manylinux_2_35_x86_64",
            False,
            ["manylinux_2_34_x86_64", "manylinux_2_35_x86_64"],
        ),
    ],
)
def test_tags_to_write(
    needed: tuple[str, ...],
    libraries: tuple,
    target: str,
    only_plat: bool,
    expected: list[str],
) -> None:
    audit = _audit(needed, libraries)
    assert tags_to_write(audit, _policy(audit, target), only_plat=only_plat) == expected


def test_tags_to_write_musl() -> None:
    audit = _musl_audit()
    assert tags_to_write(audit, _policy(audit, "musllinux_1_2"), only_plat=False) == [
        "musllinux_1_2_x86_64"
    ]
