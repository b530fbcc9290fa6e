"""``wheelfix.libc``: the wheel's architecture and C library, from its tags and its ELF files.

Pure functions over strings and hand-built ``ElfInfo`` values (``values.py``); no files.
"""

from __future__ import annotations

import pytest

from values import elf_info
from wheelfix.errors import InvalidWheelError
from wheelfix.libc import Libc, detect_elf_libc, split_platform, wheel_arch, wheel_libc

# --------------------------------------------------------------------------- split_platform


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("manylinux_2_17_x86_64", ("manylinux_2_17", "x86_64")),
        ("manylinux_2_28_aarch64", ("manylinux_2_28", "aarch64")),
        ("manylinux_2_5_i686", ("manylinux_2_5", "i686")),
        ("musllinux_1_2_armv7l", ("musllinux_1_2", "armv7l")),
        ("musllinux_1_1_ppc64le", ("musllinux_1_1", "ppc64le")),
        ("manylinux1_x86_64", ("manylinux1", "x86_64")),
        ("manylinux2010_i686", ("manylinux2010", "i686")),
        ("manylinux2014_s390x", ("manylinux2014", "s390x")),
        ("linux_x86_64", ("linux", "x86_64")),
        ("linux_loongarch64", ("linux", "loongarch64")),
        # the architecture is whatever follows the family: x86_64 keeps its underscore
        ("manylinux_2_31_riscv64", ("manylinux_2_31", "riscv64")),
        ("any", None),
        ("win_amd64", None),
        ("macosx_11_0_arm64", None),
        ("manylinux_x86_64", None),  # no glibc version
        ("manylinux_2_x86_64", None),  # half a version
        ("manylinux2015_x86_64", None),  # not a legacy alias
        ("musllinux2014_x86_64", None),
        ("linux", None),
    ],
)
def test_split_platform(platform: str, expected: tuple[str, str] | None) -> None:
    assert split_platform(platform) == expected


# --------------------------------------------------------------------------- wheel_arch


@pytest.mark.parametrize(
    ("platforms", "expected"),
    [
        (("linux_x86_64",), "x86_64"),
        (("manylinux_2_17_aarch64", "manylinux2014_aarch64"), "aarch64"),
        (("musllinux_1_2_i686",), "i686"),
        (("any",), None),
        ((), None),
        (("any", "linux_s390x"), "s390x"),
    ],
)
def test_wheel_arch(platforms: tuple[str, ...], expected: str | None) -> None:
    assert wheel_arch(platforms, "demo.whl") == expected


@pytest.mark.parametrize(
    ("platforms", "message"),
    [
        (("win_amd64",), "demo.whl: platform tag 'win_amd64' is not a Linux tag"),
        (
            ("linux_x86_64", "macosx_11_0_arm64"),
            "demo.whl: platform tag 'macosx_11_0_arm64' is not a Linux tag",
        ),
        (
            ("manylinux_2_17_x86_64", "manylinux_2_17_aarch64"),
            "demo.whl: wheels with multiple architectures are not supported,"
            " got ['aarch64', 'x86_64']",
        ),
    ],
)
def test_wheel_arch_refuses(platforms: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidWheelError) as caught:
        wheel_arch(platforms, "demo.whl")
    assert str(caught.value) == message


# --------------------------------------------------------------------------- wheel_libc


@pytest.mark.parametrize(
    ("platforms", "expected"),
    [
        (("manylinux_2_17_x86_64",), Libc.GLIBC),
        (("manylinux1_x86_64",), Libc.GLIBC),
        (("manylinux2014_aarch64", "manylinux_2_17_aarch64"), Libc.GLIBC),
        (("musllinux_1_1_x86_64",), Libc.MUSL),
        (("linux_x86_64", "musllinux_1_2_x86_64"), Libc.MUSL),
        (("linux_x86_64",), None),
        (("any",), None),
        ((), None),
    ],
)
def test_wheel_libc(platforms: tuple[str, ...], expected: Libc | None) -> None:
    assert wheel_libc(platforms) is expected


@pytest.mark.parametrize(("libc", "family"), [(Libc.GLIBC, "manylinux"), (Libc.MUSL, "musllinux")])
def test_libc_family(libc: Libc, family: str) -> None:
    assert libc.family == family


# --------------------------------------------------------------------------- detect_elf_libc

GNU_SO = "pkg/_ext.cpython-311-x86_64-linux-gnu.so"
MUSL_SO = "pkg/_ext.cpython-311-x86_64-linux-musl.so"


@pytest.mark.parametrize(
    ("interpreter", "needed", "filename", "expected"),
    [
        # PT_INTERP decides first, whatever DT_NEEDED or the name say
        ("/lib/ld-musl-x86_64.so.1", ("libc.so.6",), GNU_SO, Libc.MUSL),
        ("/lib64/ld-linux-x86-64.so.2", ("libc.musl-x86_64.so.1",), MUSL_SO, Libc.GLIBC),
        ("/lib/ld-linux-aarch64.so.1", (), "bin/tool", Libc.GLIBC),
        # then DT_NEEDED, in order
        (None, ("libc.musl-x86_64.so.1",), GNU_SO, Libc.MUSL),
        (None, ("ld-musl-aarch64.so.1",), "lib/libx.so", Libc.MUSL),
        (None, ("libc.so.6",), MUSL_SO, Libc.GLIBC),
        (None, ("ld-linux-x86-64.so.2",), "lib/libx.so", Libc.GLIBC),
        (None, ("ld64.so.2",), "lib/libx.so", Libc.GLIBC),
        (None, ("libm.so.6", "libc.musl-x86_64.so.1", "libc.so.6"), "x.so", Libc.MUSL),
        (None, ("libc.so.6", "libc.musl-x86_64.so.1"), "x.so", Libc.GLIBC),
        # then the extension suffix
        (None, ("libfoo.so.1",), MUSL_SO, Libc.MUSL),
        (None, (), "pkg/_ext.cpython-312-aarch64-linux-musleabihf.so", Libc.MUSL),
        (None, ("libfoo.so.1",), GNU_SO, None),
        # "libc.so" (Rust/zig musl toolchains) says nothing by itself
        (None, ("libc.so",), "lib/libx.so", None),
        (None, (), "lib/libx.so", None),
    ],
)
def test_detect_elf_libc(
    interpreter: str | None, needed: tuple[str, ...], filename: str, expected: Libc | None
) -> None:
    info = elf_info(needed, interpreter=interpreter)
    assert detect_elf_libc(info, filename) is expected
