"""Tests for retag.py: platform tags after repair, the new file name and the new WHEEL file."""

from __future__ import annotations

from email.parser import HeaderParser
from pathlib import Path

import pytest

from wheelfix.errors import InvalidWheelError
from wheelfix.retag import platform_tags_after, retag_filename, retag_wheel_metadata
from wheelfix.wheel import parse_wheel_name

M2014 = ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]

# (input file name, target tags, update, expected output file name)
RETAG_CASES = [
    pytest.param(
        "demo-1.0-cp311-cp311-linux_x86_64.whl",
        M2014,
        True,
        "demo-1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        id="linux-to-manylinux2014-with-alias",
    ),
    pytest.param(
        "demo-1.0-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
        M2014,
        True,
        "demo-1.0-cp311-cp311-manylinux1_x86_64.manylinux2014_x86_64"
        ".manylinux_2_17_x86_64.manylinux_2_5_x86_64.whl",
        id="existing-manylinux-tags-kept",
    ),
    pytest.param(
        "demo-1.0-cp311-cp311-linux_x86_64.manylinux2014_x86_64.whl",
        ["manylinux_2_28_x86_64"],
        True,
        "demo-1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_28_x86_64.whl",
        id="linux-dropped-manylinux-kept",
    ),
    pytest.param(
        "demo-1.0-cp311-cp311-linux_x86_64.whl",
        M2014,
        False,
        "demo-1.0-cp311-cp311-linux_x86_64.whl",
        id="no-update-tags-keeps",
    ),
    pytest.param(
        "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.linux_x86_64.whl",
        M2014,
        False,
        "demo-1.0-cp311-cp311-linux_x86_64.manylinux_2_28_x86_64.whl",
        id="no-update-tags-sorts",
    ),
    pytest.param(
        "demo-1.0-7-cp311-cp311-linux_x86_64.whl",
        M2014,
        True,
        "demo-1.0-7-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        id="build-tag-kept",
    ),
    pytest.param(
        "Demo_Pkg-2.0.post1-12abc-py2.py3-none-linux_aarch64.whl",
        ["manylinux_2_28_aarch64"],
        True,
        "Demo_Pkg-2.0.post1-12abc-py2.py3-none-manylinux_2_28_aarch64.whl",
        id="prefix-verbatim-with-compressed-python-tag",
    ),
    pytest.param(
        "demo-1.0-cp312-cp312-linux_x86_64.whl",
        ["musllinux_1_2_x86_64"],
        True,
        "demo-1.0-cp312-cp312-musllinux_1_2_x86_64.whl",
        id="musllinux",
    ),
    pytest.param(
        "demo-1.0-py3-none-any.whl",
        M2014,
        True,
        "demo-1.0-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        id="any-dropped",
    ),
    pytest.param(
        "demo-1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        M2014,
        True,
        "demo-1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        id="already-tagged-is-stable",
    ),
]


@pytest.mark.parametrize(("filename", "new", "update", "expected"), RETAG_CASES)
def test_retag_filename_table(filename: str, new: list[str], update: bool, expected: str) -> None:
    name = parse_wheel_name(Path(filename))
    platforms = platform_tags_after(name.platforms, new, update=update)
    assert list(platforms) == sorted(platforms)
    assert retag_filename(name, platforms) == expected
    # the result is a valid wheel name again
    parsed = parse_wheel_name(Path(expected))
    assert parsed.platforms == platforms
    assert parsed.build == name.build


def test_platform_tags_after_dedupes_and_returns_tuple() -> None:
    result = platform_tags_after(
        ["manylinux2014_x86_64", "linux_x86_64"], [*M2014, *M2014], update=True
    )
    assert result == ("manylinux2014_x86_64", "manylinux_2_17_x86_64")


def test_platform_tags_after_without_any_tag_left() -> None:
    with pytest.raises(ValueError, match="no platform tag"):
        platform_tags_after(["linux_x86_64"], [], update=True)


def test_retag_filename_needs_a_platform() -> None:
    with pytest.raises(ValueError, match="platform"):
        retag_filename(parse_wheel_name(Path("d-1-py3-none-any.whl")), [])


WHEEL_SIMPLE = """\
Wheel-Version: 1.0
Generator: setuptools (75.1.0)
Root-Is-Purelib: false
Tag: cp311-cp311-linux_x86_64

"""

# (WHEEL text, platforms, expected WHEEL text)
WHEEL_CASES = [
    pytest.param(
        WHEEL_SIMPLE,
        ["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
        "Wheel-Version: 1.0\n"
        "Generator: setuptools (75.1.0)\n"
        "Root-Is-Purelib: false\n"
        "Tag: cp311-cp311-manylinux2014_x86_64\n"
        "Tag: cp311-cp311-manylinux_2_17_x86_64\n",
        id="simple",
    ),
    pytest.param(
        "Wheel-Version: 1.0\n"
        "Generator: bdist_wheel (0.30.0)\n"
        "Root-Is-Purelib: true\n"
        "Tag: py2-none-linux_x86_64\n"
        "Tag: py3-none-linux_x86_64\n",
        ["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
        "Wheel-Version: 1.0\n"
        "Generator: bdist_wheel (0.30.0)\n"
        "Root-Is-Purelib: false\n"
        "Tag: py2-none-manylinux2014_x86_64\n"
        "Tag: py2-none-manylinux_2_17_x86_64\n"
        "Tag: py3-none-manylinux2014_x86_64\n"
        "Tag: py3-none-manylinux_2_17_x86_64\n",
        id="two-py-abi-pairs-purelib-flipped",
    ),
    pytest.param(
        "Wheel-Version: 1.0\n"
        "Generator: x\n"
        "Tag: cp311-cp311-linux_x86_64\n"
        "Tag: cp311-cp311-manylinux1_x86_64\n"
        "Build: 7\n",
        ["manylinux_2_5_x86_64", "manylinux1_x86_64"],
        "Wheel-Version: 1.0\n"
        "Generator: x\n"
        "Root-Is-Purelib: false\n"
        "Tag: cp311-cp311-manylinux1_x86_64\n"
        "Tag: cp311-cp311-manylinux_2_5_x86_64\n"
        "Build: 7\n",
        id="missing-purelib-added-before-tags-build-kept-in-place",
    ),
    pytest.param(
        "Tag: cp310-abi3-linux_x86_64\r\n"
        "Wheel-Version: 1.0\r\n"
        "Root-Is-Purelib: True\r\n"
        "root-is-purelib: true\r\n"
        "Generator: custom\r\n"
        "  continued\r\n",
        ["musllinux_1_2_x86_64"],
        "Tag: cp310-abi3-musllinux_1_2_x86_64\n"
        "Wheel-Version: 1.0\n"
        "Root-Is-Purelib: false\n"
        "Generator: custom\n"
        "  continued\n",
        id="crlf-duplicates-continuation-tags-first",
    ),
    pytest.param(
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: py2.py3-none-any\n",
        ["manylinux_2_28_aarch64"],
        "Wheel-Version: 1.0\n"
        "Root-Is-Purelib: false\n"
        "Tag: py2-none-manylinux_2_28_aarch64\n"
        "Tag: py3-none-manylinux_2_28_aarch64\n",
        id="compressed-tag-expanded",
    ),
    pytest.param(
        "Wheel-Version: 1.0\n"
        "Root-Is-Purelib: false\n"
        "Tag: cp311-cp311-manylinux2014_x86_64\n"
        "Tag: cp311-cp311-manylinux_2_17_x86_64\n"
        "Tag: cp311-cp311-manylinux2014_x86_64\n",
        ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2014_x86_64"],
        "Wheel-Version: 1.0\n"
        "Root-Is-Purelib: false\n"
        "Tag: cp311-cp311-manylinux2014_x86_64\n"
        "Tag: cp311-cp311-manylinux_2_17_x86_64\n",
        id="idempotent-and-deduped",
    ),
]


@pytest.mark.parametrize(("text", "platforms", "expected"), WHEEL_CASES)
def test_retag_wheel_metadata_table(text: str, platforms: list[str], expected: str) -> None:
    result = retag_wheel_metadata(text, platforms)
    assert result == expected
    assert result.endswith("\n")
    assert not result.endswith("\n\n")
    # applying it again changes nothing
    assert retag_wheel_metadata(result, platforms) == result
    # the standard parser agrees
    headers = HeaderParser().parsestr(result)
    assert headers.get_all("Root-Is-Purelib") == ["false"]


def test_retag_wheel_metadata_keeps_a_body() -> None:
    text = WHEEL_SIMPLE + "some body\n\n\n"
    result = retag_wheel_metadata(text, ["manylinux1_x86_64"])
    assert result.endswith("Tag: cp311-cp311-manylinux1_x86_64\n\nsome body\n")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n", "no Tag"),
        ("", "no Tag"),
        ("Wheel-Version: 1.0\nTag: cp311-linux_x86_64\n", "cp311-linux_x86_64"),
        ("Wheel-Version: 1.0\nTag: cp311-cp311-linux-x86_64\n", "not"),
        ("Wheel-Version: 1.0\nTag: cp311..py3-none-any\n", "empty"),
        ("Wheel-Version: 1.0\nTag: \n", "not"),
        ("Wheel-Version: 1.0\nnot a header\nTag: py3-none-any\n", "line 2"),
        (" leading continuation\nTag: py3-none-any\n", "line 1"),
    ],
)
def test_retag_wheel_metadata_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidWheelError) as info:
        retag_wheel_metadata(text, ["manylinux1_x86_64"])
    assert info.value.subject == "WHEEL"
    assert fragment in info.value.reason


def test_retag_wheel_metadata_needs_a_platform() -> None:
    with pytest.raises(ValueError, match="platform"):
        retag_wheel_metadata(WHEEL_SIMPLE, [])
