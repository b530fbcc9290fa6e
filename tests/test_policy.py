"""Policy tables and the pure policy evaluation (no wheel files; a few tiny compiled ELFs).

* The stored tables keep the PEP 600 invariant, cover every architecture, and resolve aliases.
* ``symbol_policy`` maps required symbol versions to the right tag (table-driven).
* ``evaluate`` is exercised with hand-made ``ElfInfo``/``ElfTree`` values: blacklist (weak vs
  non-weak), ISA level, libpython, PyFPE/UCS2, whitelisted vs grafted closures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from values import EXT, HEADER_AARCH64, LIBC, elf_info, evaluated, host_lib, scanned_elf
from wheelbuild import RunCli, compile_cached, make_wheel, python_wheel_tag
from wheelfix.elf import Soname
from wheelfix.elf.lief_io import parse_info
from wheelfix.libc import KNOWN_ARCHES, Libc
from wheelfix.options import AuditOptions
from wheelfix.pipeline import audit
from wheelfix.policy import Policy, PolicySet, all_platform_names, load_table, policy_set
from wheelfix.policy.evaluate import external_refs, symbol_policy
from wheelfix.resolve import ElfTree, ResolvedLibrary
from wheelfix.wheel import MemberPath

GLIBC_X86_64 = policy_set(Libc.GLIBC, "x86_64")

# --------------------------------------------------------------------------- tables


def _oldest_first(policies: PolicySet) -> list[Policy]:
    return sorted(policies.policies[1:], key=lambda p: -p.priority)


@pytest.mark.parametrize("arch", KNOWN_ARCHES)
def test_pep600_newer_policies_contain_older_ones(arch: str) -> None:
    real = _oldest_first(policy_set(Libc.GLIBC, arch))
    for older, newer in zip(real, real[1:]):
        assert older.priority > newer.priority
        assert older.whitelist <= newer.whitelist, (older.name, newer.name)
        newer_symbols = newer.symbol_map()
        for prefix, versions in older.symbol_map().items():
            missing = versions - newer_symbols.get(prefix, frozenset())
            assert not missing, (older.name, newer.name, prefix, sorted(missing))


def test_pep600_invariant_holds_across_musl_policies() -> None:
    table = {raw["name"]: raw for raw in load_table(Libc.MUSL)}
    old, new = table["musllinux_1_1"], table["musllinux_1_2"]
    assert old["priority"] > new["priority"]
    assert set(old["lib_whitelist"]) <= set(new["lib_whitelist"])
    assert set(old["symbol_versions"]) <= set(new["symbol_versions"])


@pytest.mark.parametrize("arch", KNOWN_ARCHES)
def test_every_arch_has_manylinux_policies(arch: str) -> None:
    policies = policy_set(Libc.GLIBC, arch)
    assert policies.linux.name == f"linux_{arch}"
    assert policies.linux.is_linux
    assert len(policies.policies) > 1
    assert all(p.name.startswith("manylinux_2_") for p in policies.policies[1:])
    assert all(p.name.endswith(f"_{arch}") for p in policies.policies)
    # linux first, then newest to oldest
    assert [p.priority for p in policies.policies] == sorted(p.priority for p in policies.policies)
    assert "libc.so.6" in policies.highest.whitelist
    assert policies.highest.symbol_map()["GLIBC"]


@pytest.mark.parametrize(
    ("arch", "oldest"),
    [
        ("x86_64", "manylinux_2_5"),
        ("i686", "manylinux_2_5"),
        ("aarch64", "manylinux_2_17"),
        ("armv7l", "manylinux_2_17"),
        ("ppc64le", "manylinux_2_17"),
        ("ppc64", "manylinux_2_17"),
        ("s390x", "manylinux_2_17"),
        ("riscv64", "manylinux_2_31"),
        ("loongarch64", "manylinux_2_36"),
    ],
)
def test_oldest_manylinux_policy_per_arch(arch: str, oldest: str) -> None:
    assert policy_set(Libc.GLIBC, arch).highest.name == f"{oldest}_{arch}"


@pytest.mark.parametrize("arch", [a for a in KNOWN_ARCHES if a != "ppc64"])
def test_every_arch_but_ppc64_has_musllinux(arch: str) -> None:
    policies = policy_set(Libc.MUSL, arch)
    assert [p.name for p in policies.policies] == [f"linux_{arch}", f"musllinux_1_2_{arch}"]
    assert "libz.so.1" in policies.highest.whitelist


def test_ppc64_big_endian_has_no_musllinux() -> None:
    assert [p.name for p in policy_set(Libc.MUSL, "ppc64").policies] == ["linux_ppc64"]


@pytest.mark.parametrize(
    ("alias", "arch", "name"),
    [
        ("manylinux1_x86_64", "x86_64", "manylinux_2_5_x86_64"),
        ("manylinux1_i686", "i686", "manylinux_2_5_i686"),
        ("manylinux2010_x86_64", "x86_64", "manylinux_2_12_x86_64"),
        ("manylinux2010", "i686", "manylinux_2_12_i686"),
        ("manylinux2014_aarch64", "aarch64", "manylinux_2_17_aarch64"),
        ("manylinux2014", "ppc64le", "manylinux_2_17_ppc64le"),
        ("manylinux2014_s390x", "s390x", "manylinux_2_17_s390x"),
        ("manylinux_2_28", "x86_64", "manylinux_2_28_x86_64"),
        ("manylinux_2_28_x86_64", "x86_64", "manylinux_2_28_x86_64"),
    ],
)
def test_aliases_resolve(alias: str, arch: str, name: str) -> None:
    policy = policy_set(Libc.GLIBC, arch).find(alias)
    assert policy is not None
    assert policy.name == name


def test_find_rejects_other_arch_and_unknown_names() -> None:
    assert GLIBC_X86_64.find("manylinux2014_aarch64") is None
    assert GLIBC_X86_64.find("manylinux_2_3_x86_64") is None
    assert policy_set(Libc.GLIBC, "aarch64").find("manylinux1_aarch64") is None


@pytest.mark.parametrize("base", ["musllinux_1_1", "musllinux_1_2"])
def test_musllinux_policies_exist(base: str) -> None:
    policies = policy_set(Libc.MUSL, "x86_64", base)
    assert [p.name for p in policies.policies] == ["linux_x86_64", f"{base}_x86_64"]
    chosen = policies.highest
    assert chosen.base_name == base
    assert chosen.symbol_versions == ()
    # musl's loader maps every DT_NEEDED "libc.*" to itself: both names are allowed.
    assert {"libc.musl-x86_64.so.1", "libc.so", "libz.so.1"} == chosen.whitelist
    assert policies.find(base) is chosen
    names = all_platform_names()
    assert f"{base}_x86_64" in names
    assert f"{base}_aarch64" in names


def test_musl_libc_soname_per_arch() -> None:
    expected = {
        "x86_64": "libc.musl-x86_64.so.1",
        "i686": "libc.musl-x86.so.1",
        "aarch64": "libc.musl-aarch64.so.1",
        "armv7l": "libc.musl-armv7.so.1",
        "ppc64le": "libc.musl-ppc64le.so.1",
        "s390x": "libc.musl-s390x.so.1",
        "riscv64": "libc.musl-riscv64.so.1",
        "loongarch64": "libc.musl-loongarch64.so.1",
    }
    for arch, soname in expected.items():
        assert soname in policy_set(Libc.MUSL, arch).highest.whitelist, arch


def test_all_platform_names_has_every_alias_and_no_linux() -> None:
    names = set(all_platform_names())
    assert {
        "manylinux1_x86_64",
        "manylinux2010_i686",
        "manylinux2014_armv7l",
        "manylinux2014_ppc64",
        "manylinux_2_31_riscv64",
        "manylinux_2_36_loongarch64",
        "musllinux_1_2_loongarch64",
    } <= names
    assert not any(n.startswith("linux_") for n in names)
    assert "manylinux1_aarch64" not in names
    assert "musllinux_1_1_loongarch64" not in names


# --------------------------------------------------------------------------- symbol_policy


def _req(*versions: str, lib: str = "libc.so.6") -> dict[Soname, frozenset[str]]:
    return {Soname(lib): frozenset(versions)}


@pytest.mark.parametrize(
    ("arch", "required", "expected"),
    [
        ("x86_64", {}, "manylinux_2_5_x86_64"),
        ("x86_64", _req("GLIBC_2.2.5"), "manylinux_2_5_x86_64"),
        ("x86_64", _req("GLIBC_2.2.5", "GLIBC_2.3.4"), "manylinux_2_5_x86_64"),
        ("x86_64", _req("GLIBC_2.7"), "manylinux_2_12_x86_64"),
        ("x86_64", _req("GLIBC_2.17"), "manylinux_2_17_x86_64"),
        ("x86_64", _req("GLIBC_2.18"), "manylinux_2_24_x86_64"),
        ("x86_64", _req("GLIBC_2.34"), "manylinux_2_34_x86_64"),
        ("x86_64", _req("GLIBC_2.35"), "manylinux_2_35_x86_64"),
        ("x86_64", _req("GLIBC_2.41"), "manylinux_2_41_x86_64"),
        ("x86_64", _req("GLIBC_2.99"), "linux_x86_64"),
        ("x86_64", _req("GLIBCXX_3.4.19", lib="libstdc++.so.6"), "manylinux_2_17_x86_64"),
        ("x86_64", _req("GLIBCXX_3.4.29", lib="libstdc++.so.6"), "manylinux_2_34_x86_64"),
        ("x86_64", _req("GLIBCXX_3.4.30", lib="libstdc++.so.6"), "manylinux_2_35_x86_64"),
        ("x86_64", _req("CXXABI_1.3.13", lib="libstdc++.so.6"), "manylinux_2_34_x86_64"),
        ("x86_64", _req("GCC_7.0.0", lib="libgcc_s.so.1"), "manylinux_2_27_x86_64"),
        ("x86_64", _req("ZLIB_1.2.9", lib="libz.so.1"), "manylinux_2_27_x86_64"),
        # an unknown prefix never constrains the tag
        ("x86_64", _req("FOO_1.0", "BAR_99", lib="libfoo.so.1"), "manylinux_2_5_x86_64"),
        ("x86_64", _req("OPENSSL_3.0.0", lib="libssl.so.3"), "manylinux_2_5_x86_64"),
        # GLIBC_PRIVATE fails every policy
        ("x86_64", _req("GLIBC_PRIVATE"), "linux_x86_64"),
        ("x86_64", _req("GLIBC_2.2.5", "GLIBC_PRIVATE"), "linux_x86_64"),
        # several libraries: the strictest one decides
        (
            "x86_64",
            {**_req("GLIBC_2.17"), **_req("GLIBCXX_3.4.30", lib="libstdc++.so.6")},
            "manylinux_2_35_x86_64",
        ),
        ("aarch64", _req("GLIBC_2.17"), "manylinux_2_17_aarch64"),
        ("aarch64", _req("GLIBC_2.28"), "manylinux_2_28_aarch64"),
        ("aarch64", _req("GLIBC_2.2.5"), "linux_aarch64"),  # x86_64's base version
        ("i686", _req("GLIBC_2.0", "GLIBC_2.1.3"), "manylinux_2_5_i686"),
        ("ppc64le", _req("GLIBC_2.17"), "manylinux_2_17_ppc64le"),
        ("s390x", _req("GLIBC_2.2"), "manylinux_2_17_s390x"),
    ],
)
def test_symbol_policy(arch: str, required: Mapping[Soname, frozenset[str]], expected: str) -> None:
    assert symbol_policy(policy_set(Libc.GLIBC, arch), required).name == expected


# --------------------------------------------------------------------------- evaluate


def test_clean_extension_is_oldest_policy() -> None:
    verdict = evaluated(elf_info())
    assert verdict.show_overall.name == "manylinux_2_5_x86_64"
    assert verdict.sym.name == "manylinux_2_5_x86_64"
    assert verdict.repair_overall().name == "manylinux_2_5_x86_64"
    assert all(not ref.libs and not ref.blacklist for ref in verdict.external.values())
    assert verdict.isa_offenders == ()


def test_blacklisted_non_weak_symbol_makes_wheel_linux() -> None:
    libz = host_lib("libz.so.1", elf_info(("libc.so.6",)))
    root = elf_info(("libz.so.1", "libc.so.6"), undefined={"zcalloc", "deflate", "free"})
    verdict = evaluated(root, (libz, LIBC))
    assert verdict.blacklist.name == "linux_x86_64"
    assert verdict.show_overall.name == "linux_x86_64"
    assert verdict.sym.name == "manylinux_2_5_x86_64"
    for name, ref in verdict.external.items():
        assert ref.libs == {}, name  # libz is whitelisted everywhere
        if ref.policy.is_linux:
            assert ref.blacklist == {}
        else:
            assert ref.blacklist == {"libz.so.1": ("zcalloc",)}, name


def test_weak_reference_to_blacklisted_symbol_is_allowed() -> None:
    # ElfInfo.undefined_symbols holds undefined *non-weak* symbols only; a weak zcalloc
    # reference is therefore absent (see test_parse_info_drops_weak_undefined_symbols).
    libz = host_lib("libz.so.1", elf_info(("libc.so.6",)))
    verdict = evaluated(elf_info(("libz.so.1", "libc.so.6"), undefined={"deflate"}), (libz, LIBC))
    assert verdict.blacklist.name == "manylinux_2_5_x86_64"
    assert verdict.show_overall.name == "manylinux_2_5_x86_64"


def test_blacklist_only_counts_for_libraries_the_elf_names() -> None:
    # zcalloc is undefined but libz.so.1 is not in DT_NEEDED: not a blacklist hit.
    verdict = evaluated(elf_info(("libc.so.6",), undefined={"zcalloc"}))
    assert verdict.show_overall.name == "manylinux_2_5_x86_64"


def test_glibc_blacklist_applies_to_old_policies_only() -> None:
    root = elf_info(undefined={"__cxa_thread_atexit_impl"})
    verdict = evaluated(root)
    assert verdict.blacklist.name == "manylinux_2_24_x86_64"
    upgrades = {n: r.blacklist for n, r in verdict.external.items() if r.blacklist}
    assert set(upgrades) == {
        "manylinux_2_5_x86_64",
        "manylinux_2_12_x86_64",
        "manylinux_2_17_x86_64",
    }
    assert upgrades["manylinux_2_17_x86_64"] == {"libc.so.6": ("__cxa_thread_atexit_impl",)}


@pytest.mark.parametrize(("bits", "level"), [(0x1, 1), (0x2, 2), (0x4, 3), (0x8, 4), (0x7, 3)])
def test_isa_level_bits(bits: int, level: int) -> None:
    assert elf_info(isa=bits).x86_isa_level == level


@pytest.mark.parametrize("bits", [0x2, 0x4, 0x8])
def test_isa_above_baseline_is_linux_unless_disabled(bits: int) -> None:
    verdict = evaluated(elf_info(isa=bits | 0x1))
    assert verdict.machine.name == "linux_x86_64"
    assert verdict.show_overall.name == "linux_x86_64"
    assert verdict.repair_overall().name == "linux_x86_64"
    assert verdict.isa_offenders == (EXT,)
    disabled = evaluated(elf_info(isa=bits), disable_isa=True)
    assert disabled.machine.name == "manylinux_2_5_x86_64"
    assert disabled.show_overall.name == "manylinux_2_5_x86_64"
    assert disabled.isa_offenders == ()


def test_isa_baseline_is_fine() -> None:
    assert evaluated(elf_info(isa=0x1)).show_overall.name == "manylinux_2_5_x86_64"


def test_isa_of_external_library_counts() -> None:
    libfoo = host_lib("libfoo.so.1", elf_info(("libc.so.6",), isa=0x4))
    verdict = evaluated(elf_info(("libfoo.so.1", "libc.so.6")), (libfoo, LIBC))
    assert verdict.machine.name == "linux_x86_64"
    assert verdict.isa_offenders == ("/usr/lib/libfoo.so.1",)
    # a whitelisted library is the system's business, whatever its ISA level
    libm = host_lib("libm.so.6", elf_info(("libc.so.6",), isa=0x4))
    ok = evaluated(elf_info(("libm.so.6", "libc.so.6")), (libm, LIBC))
    assert ok.machine.name == "manylinux_2_5_x86_64"


def test_isa_bits_are_ignored_off_x86_64() -> None:
    root = elf_info(isa=0x4, header=HEADER_AARCH64, versions={"libc.so.6": ["GLIBC_2.17"]})
    verdict = evaluated(root, (), arch="aarch64")
    assert verdict.show_overall.name == "manylinux_2_17_aarch64"


@pytest.mark.parametrize("via", ["libpython", "system"])
def test_libpython_is_external_with_no_path(via: str) -> None:
    """As auditwheel: linking libpython is forbidden, so it is external (never grafted: no
    path, even when a copy exists on the host) and the wheel is linux_* until repair drops it."""
    name = "libpython3.11.so.1.0"
    if via == "libpython":
        libpython = ResolvedLibrary(Soname(name), None, None, None, "libpython")
    else:  # even when it resolves on the host
        libpython = host_lib(name, elf_info(("libc.so.6", "libm.so.6")))
    libfoo = host_lib("libfoo.so.1", elf_info(("libpython3.11.so.1.0", "libc.so.6")))
    verdict = evaluated(elf_info((name, "libfoo.so.1", "libc.so.6")), (libpython, libfoo, LIBC))
    for policy_name, ref in verdict.external.items():
        if not ref.policy.is_linux:
            assert set(ref.libs) == {"libfoo.so.1", name}, policy_name
            assert ref.libs[Soname(name)] is None, policy_name
    only = evaluated(elf_info((name, "libc.so.6")), (libpython, LIBC))
    assert only.show_overall.name == "linux_x86_64"
    assert only.repair_overall().name == "manylinux_2_5_x86_64"


def test_external_closure_follows_only_non_whitelisted_libraries() -> None:
    # libfoo (external) -> libbar (external) -> libstdc++ (whitelisted) -> libquux (never
    # followed: it is a dependency of a whitelisted library)
    libquux = host_lib("libquux.so.1")
    libstdcxx = host_lib("libstdc++.so.6", elf_info(("libquux.so.1", "libc.so.6")))
    libbar = host_lib("libbar.so.1", elf_info(("libstdc++.so.6", "libc.so.6")))
    libfoo = host_lib("libfoo.so.1", elf_info(("libbar.so.1", "ld-linux-x86-64.so.2")))
    verdict = evaluated(
        elf_info(("libfoo.so.1", "libc.so.6")), (libfoo, LIBC, libbar, libstdcxx, libquux)
    )
    ref = verdict.external["manylinux_2_5_x86_64"]
    assert ref.libs == {
        "libbar.so.1": Path("/usr/lib/libbar.so.1"),
        "libfoo.so.1": Path("/usr/lib/libfoo.so.1"),
    }
    assert verdict.ref.name == "linux_x86_64"
    assert verdict.show_overall.name == "linux_x86_64"
    assert verdict.repair_overall().name == "manylinux_2_5_x86_64"


def test_library_missing_on_host_is_external_with_no_path() -> None:
    missing = ResolvedLibrary(Soname("libgone.so.1"), None, None, None, "not found")
    verdict = evaluated(elf_info(("libgone.so.1", "libc.so.6")), (missing, LIBC))
    assert verdict.external["manylinux_2_5_x86_64"].libs == {"libgone.so.1": None}
    assert verdict.show_overall.name == "linux_x86_64"


def test_library_in_the_wheel_is_not_external() -> None:
    inner_info = elf_info(("libc.so.6",))
    inner = ResolvedLibrary(
        Soname("libinner.so"), None, MemberPath("pkg/inner/libinner.so"), inner_info, "rpath"
    )
    extra = scanned_elf("pkg/inner/libinner.so", inner_info)
    verdict = evaluated(elf_info(("libinner.so", "libc.so.6")), (inner, LIBC), extra=(extra,))
    assert all(not r.libs for r in verdict.external.values())
    assert verdict.show_overall.name == "manylinux_2_5_x86_64"


def test_whitelisted_library_is_not_external() -> None:
    tree_root = elf_info(("libnsl.so.1", "libc.so.6"))
    libnsl = host_lib("libnsl.so.1", elf_info(("libc.so.6",)))
    assert evaluated(tree_root, (libnsl, LIBC)).show_overall.name == "manylinux_2_5_x86_64"


def test_grafted_library_symbol_versions_count() -> None:
    libfoo = host_lib(
        "libfoo.so.1",
        elf_info(("libc.so.6",), versions={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.34"]}),
    )
    verdict = evaluated(elf_info(("libfoo.so.1", "libc.so.6")), (libfoo, LIBC))
    assert verdict.sym.name == "manylinux_2_34_x86_64"
    assert verdict.versioned_symbols["libc.so.6"] == {"GLIBC_2.2.5", "GLIBC_2.34"}
    assert verdict.repair_overall().name == "manylinux_2_34_x86_64"


@pytest.mark.parametrize(("pyfpe", "ucs2"), [(True, False), (False, True)])
def test_pyfpe_and_ucs2_make_wheel_linux(pyfpe: bool, ucs2: bool) -> None:
    verdict = evaluated(elf_info(pyfpe=pyfpe, ucs2=ucs2))
    assert verdict.show_overall.name == "linux_x86_64"
    assert verdict.pyfpe.is_linux is pyfpe
    assert verdict.ucs.is_linux is ucs2


def test_external_refs_linux_policy_is_empty() -> None:
    elf = scanned_elf(EXT, elf_info(("libfoo.so.1",), undefined={"zcalloc"}))
    tree = ElfTree(
        root=elf, libraries={Soname("libfoo.so.1"): host_lib("libfoo.so.1")}, excluded=frozenset()
    )
    ref = external_refs(tree, GLIBC_X86_64.linux)
    assert ref.libs == {}
    assert ref.blacklist == {}
    assert set(external_refs(tree, GLIBC_X86_64.highest).libs) == {"libfoo.so.1"}


# --------------------------------------------------------------------------- weak, for real

WEAK_SOURCE = """
/* zcalloc is referenced weakly; zcfree strongly unless ONLY_WEAK is defined. */
extern void *zcalloc(void *opaque, unsigned items, unsigned size) __attribute__((weak));
extern void zcfree(void *opaque, void *ptr);
int has_zcalloc(void) { return zcalloc != 0; }
#ifndef ONLY_WEAK
void release(void *p) { zcfree(0, p); }
#endif
"""


@pytest.fixture(scope="module")
def weak_libs(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    src_dir = tmp_path_factory.mktemp("weak-src")
    source = src_dir / "weakz.c"
    source.write_text(WEAK_SOURCE)
    out = {}
    for variant, defines in (("strong", []), ("weak", ["-DONLY_WEAK"])):
        out[variant] = compile_cached(
            fixture_cache,
            [source],
            "libweakz.so",
            ["-shared", "-fPIC", "-O1", *defines, "-Wl,--no-as-needed", "-l:libz.so.1"],
        )
    return out


def test_parse_info_drops_weak_undefined_symbols(weak_libs: dict[str, Path]) -> None:
    strong = parse_info(weak_libs["strong"].read_bytes(), "strong")
    weak = parse_info(weak_libs["weak"].read_bytes(), "weak")
    assert "libz.so.1" in strong.needed
    assert "zcfree" in strong.undefined_symbols
    assert "zcalloc" not in strong.undefined_symbols
    assert "zcalloc" not in weak.undefined_symbols
    assert "zcfree" not in weak.undefined_symbols
    assert "libz.so.1" in weak.needed


WEAK_CASES = [("strong", "linux_x86_64", ["zcfree"]), ("weak", "manylinux_2_5_x86_64", None)]


def _weakz_wheel(tmp_path: Path, library: Path) -> Path:
    return make_wheel(
        tmp_path,
        "weakz",
        "1.0",
        {"weakz/__init__.py": b"", "weakz/libweakz.so": library},
        tag=python_wheel_tag(),
    )


@pytest.mark.parametrize(("variant", "overall", "blacklisted"), WEAK_CASES)
def test_weak_vs_strong_blacklist_on_a_real_wheel(
    weak_libs: dict[str, Path],
    tmp_path: Path,
    variant: str,
    overall: str,
    blacklisted: list[str] | None,
) -> None:
    wheel = _weakz_wheel(tmp_path, weak_libs[variant])
    result = audit(wheel, AuditOptions(environ={}))
    verdict = result.verdict
    assert verdict.show_overall.name == overall
    refs = verdict.external["manylinux_2_5_x86_64"]
    assert refs.libs == {}
    assert refs.blacklist == ({"libz.so.1": tuple(blacklisted)} if blacklisted else {})


@pytest.mark.oracle
@pytest.mark.parametrize(("variant", "overall", "blacklisted"), WEAK_CASES)
def test_auditwheel_agrees_on_weak_vs_strong_blacklist(
    weak_libs: dict[str, Path],
    tmp_path: Path,
    run_cli: RunCli,
    variant: str,
    overall: str,
    blacklisted: list[str] | None,
) -> None:
    # auditwheel agrees: weak references are optional, strong ones are blacklist hits
    proc = run_cli(["auditwheel", "show", "--json", _weakz_wheel(tmp_path, weak_libs[variant])])
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["overall_tag"] == overall
    hits = document["policy_upgrades"].get("manylinux_2_5_x86_64", {})
    assert hits.get("blacklisted_symbols") == ({"libz.so.1": blacklisted} if blacklisted else None)


def test_policy_table_files_parse() -> None:
    for libc in Libc:
        table = load_table(libc)
        assert table[0]["name"] == "linux"
        assert json.loads(json.dumps(table)) == table
