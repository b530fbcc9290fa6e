"""nevergraft: the shipped list parses and is self-consistent, sonames map to families (table),
``--graft-anyway`` overrides, bad data is refused, and the globs sort this machine's real GPU
libraries (DT_SONAME by readelf, owning package by dpkg -S) from everything else."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from wheelfix.nevergraft import (
    Family,
    NeverGraft,
    NeverGraftData,
    load_never_graft,
    markdown_table,
    parse_never_graft,
)

DATA = Path(__file__).parents[1] / "src/wheelfix/data/never_graft.json"


@pytest.fixture(scope="module")
def never_graft() -> NeverGraft:
    return NeverGraft.load()


def test_shipped_list_loads_from_the_package() -> None:
    data = load_never_graft()
    assert data == parse_never_graft(DATA.read_text("utf-8"))
    assert [family.name for family in data.families] == [
        "nvidia-driver", "opengl-dispatch", "mesa", "drm", "vulkan-loader", "opencl-icd-loader",
        "video-acceleration", "wsl-gpu",
    ]  # fmt: skip
    assert len(data.not_listed) == 3
    for family in data.families:
        assert family.reason.endswith(".")
        assert family.examples


@pytest.mark.parametrize(
    ("soname", "family"),
    [
        ("libcuda.so.1", "nvidia-driver"),
        ("libcuda.so", "nvidia-driver"),
        ("libcuda.so.570.133.07", "nvidia-driver"),
        ("libnvidia-ml.so.1", "nvidia-driver"),
        ("libnvidia-ptxjitcompiler.so.1", "nvidia-driver"),
        ("libnvcuvid.so.1", "nvidia-driver"),
        ("libOpenCL.so.1", "opencl-icd-loader"),
        ("libGL.so.1", "opengl-dispatch"),
        ("libGLX_nvidia.so.0", "opengl-dispatch"),
        ("libEGL_mesa.so.0", "opengl-dispatch"),
        ("libGLESv2.so.2", "opengl-dispatch"),
        ("libGLESv1_CM.so.1", "opengl-dispatch"),
        ("libgbm.so.1", "mesa"),
        ("libdrm.so.2", "drm"),
        ("libdrm_amdgpu.so.1", "drm"),
        ("libvulkan.so.1", "vulkan-loader"),
        ("libva.so.2", "video-acceleration"),
        ("libva-drm.so.2", "video-acceleration"),
        ("libvdpau_nvidia.so.1", "video-acceleration"),
        ("libdxcore.so", "wsl-gpu"),
        # not drivers: toolkit runtimes, ROCm user space, GL helpers, look-alike names
        ("libcudart.so.12", None),
        ("libcudart-a1b2c3d4.so.12", None),
        ("libcublasLt.so.12", None),
        ("libnvrtc.so.12", None),
        ("libnvJitLink.so.12", None),
        ("libnvToolsExt.so.1", None),
        ("libamdhip64.so.6", None),
        ("libhsa-runtime64.so.1", None),
        ("libGLU.so.1", None),
        ("libGLEW.so.2.2", None),
        ("libglib-2.0.so.0", None),
        ("libvala-0.56.so.0", None),
        ("libvarnishapi.so.3", None),
        ("libdrmfoo.so.1", None),
        ("libgl.so.1", None),  # sonames are case-sensitive
        ("libz.so.1", None),
        ("libstdc++.so.6", None),
    ],
)
def test_match(never_graft: NeverGraft, soname: str, family: str | None) -> None:
    found = never_graft.match(soname)
    assert (found.name if found else None) == family


def test_graft_anyway_overrides_only_what_it_names() -> None:
    never_graft = NeverGraft.load(graft_anyway=["libdrm*", "libGLX_mesa.so.0"])
    assert never_graft.graft_anyway == ("libdrm*", "libGLX_mesa.so.0")
    assert never_graft.match("libdrm.so.2") is None
    assert never_graft.match("libdrm_intel.so.1") is None
    assert never_graft.match("libGLX_mesa.so.0") is None
    assert never_graft.overridden("libGLX_mesa.so.0")
    glx = never_graft.match("libGLX_nvidia.so.0")
    assert glx is not None
    assert glx.name == "opengl-dispatch"
    cuda = never_graft.match("libcuda.so.1")
    assert cuda is not None
    assert cuda.name == "nvidia-driver"
    assert NeverGraft.load(graft_anyway=["*"]).match("libcuda.so.1") is None


def test_first_family_wins() -> None:
    first = Family("a", "A", ("libx*",), "A reason.")
    second = Family("b", "B", ("libx.so.1",), "B reason.")
    assert NeverGraft((first, second)).match("libx.so.1") is first
    assert NeverGraft((second, first)).match("libx.so.1") is second
    assert NeverGraft(()).match("libcuda.so.1") is None


def _document() -> dict[str, Any]:
    return {
        "version": 1,
        "families": [
            {
                "name": "gpu",
                "title": "GPU",
                "patterns": ["libgpu.so*"],
                "reason": "Drivers.",
                "examples": ["libgpu.so.1"],
            }
        ],
        "not_listed": [
            {
                "title": "Runtime",
                "patterns": ["librt*"],
                "reason": "Fine.",
                "examples": ["librt.so.1"],
            }
        ],
    }


def _broken(path: tuple[Any, ...], value: Any) -> str:
    document = _document()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(document)


def test_parse_minimal() -> None:
    data = parse_never_graft(json.dumps(_document()))
    assert data.families == (Family("gpu", "GPU", ("libgpu.so*",), "Drivers.", ("libgpu.so.1",)),)
    assert data.not_listed[0].examples == ("librt.so.1",)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("version",), 2, "version"),
        (("families",), {"gpu": 1}, "list of objects"),
        (("families", 0, "reason"), KeyError, "'reason'"),
        (("families", 0, "reason"), "two\nlines", "single-line"),
        (("families", 0, "patterns"), [], "is empty"),
        (("families", 0, "patterns"), "libgpu.so*", "list of non-empty strings"),
        (("families", 0, "patterns"), [""], "list of non-empty strings"),
        (("families", 0, "examples"), ["libother.so.1"], "matches no pattern"),
        (("not_listed", 0, "examples"), ["libgpu.so.2"], "matches family gpu"),
    ],
)
def test_parse_refuses_bad_data(path: tuple[Any, ...], value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_never_graft(_broken(path, value))


def test_parse_refuses_repeated_names() -> None:
    document = _document()
    document["families"].append(dict(document["families"][0]))
    with pytest.raises(ValueError, match="family names repeat"):
        parse_never_graft(json.dumps(document))


def test_markdown_table() -> None:
    data = NeverGraftData(
        (Family("gpu", "GPU | display", ("libgpu.so*", "libgpu_*"), "Drivers."),),
    )
    assert markdown_table(data) == (
        "| family | sonames | why it must come from the user's machine |\n"
        "|---|---|---|\n"
        "| `gpu`: GPU \\| display | `libgpu.so*`, `libgpu_*` | Drivers. |\n"
    )
    shipped = markdown_table(load_never_graft())
    assert shipped.count("\n| `") == 8
    assert "| not listed |" in shipped


# --------------------------------------------------------------------------------------------
# This machine's libraries: readelf gives the soname, dpkg -S the package

_MULTIARCH = sysconfig.get_config_var("MULTIARCH") or ""
_DRIVER_PACKAGES = re.compile(
    r"^(libgl1|libglx|libegl|libgles|libopengl|libglvnd|libgbm|libglapi|libdrm|libvulkan"
    r"|ocl-icd-libopencl|libva|libvdpau|libnvidia|libcuda|nvidia)"
)
"""Debian's package names for the GPU driver stack (libglu1-mesa and libglut are not in it)."""


def _sonames(paths: list[Path]) -> dict[Path, str]:
    run = subprocess.run(
        ["readelf", "-dW", *map(str, paths)], capture_output=True, text=True, check=False
    )
    found: dict[Path, str] = {}
    current: Path | None = None
    for line in run.stdout.splitlines():
        if line.startswith("File: "):
            current = Path(line[len("File: ") :])
        match = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", line)
        if match and current is not None:
            found[current] = match.group(1)
    if len(paths) == 1 and paths[0] not in found:  # readelf omits "File:" for one file
        match = re.search(r"Library soname: \[(.*)\]", run.stdout)
        if match:
            found[paths[0]] = match.group(1)
    return found


def _dpkg_packages(paths: list[Path]) -> dict[str, str]:
    run = subprocess.run(
        ["dpkg", "-S", *map(str, paths)], capture_output=True, text=True, check=False
    )
    owners: dict[str, str] = {}
    for line in run.stdout.splitlines():
        packages, _, listed = line.rpartition(": ")
        if packages and not line.startswith("diversion by"):
            owners[listed] = packages.split(", ")[0].split(":")[0]
    return owners


def test_host_gpu_stack_is_matched_and_nothing_else(never_graft: NeverGraft) -> None:
    libdir = Path("/usr/lib", _MULTIARCH)
    if not _MULTIARCH or shutil.which("readelf") is None or shutil.which("dpkg") is None:
        pytest.skip("needs a Debian multiarch host with readelf and dpkg")
    files = sorted(p for p in libdir.glob("lib*.so.*") if p.is_file() and not p.is_symlink())
    sonames = _sonames(files)
    owners = _dpkg_packages(list(sonames))
    matched: dict[str, str] = {}
    for path, soname in sorted(sonames.items()):
        package = owners.get(str(path))
        if package is None:
            continue
        family = never_graft.match(soname)
        is_driver = bool(_DRIVER_PACKAGES.match(package))
        assert (family is not None) == is_driver, (soname, package, family)
        if family is not None:
            matched[soname] = family.name
    if not matched:
        pytest.skip("no GPU driver libraries installed on this host")
    # this CI image has Mesa, libglvnd and libdrm (libgl1-mesa-dev, freeglut3-dev)
    if "libGL.so.1" in matched:
        assert matched["libGL.so.1"] == "opengl-dispatch"
        assert matched.get("libdrm.so.2") == "drm"
