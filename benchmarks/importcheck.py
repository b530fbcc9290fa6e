"""Import check: install a repaired wheel into a fresh directory and exercise it under LD_DEBUG.

The check passes when the module came from the target directory, the exercise worked, every
library the wheel's ELF files asked for under a grafted name was loaded from ``<dist>.libs/``,
no system copy of a grafted library was loaded on behalf of the wheel's code, and every
remaining DT_NEEDED is on the output tag's manylinux whitelist (``readelf``).
"""

from __future__ import annotations

import json
import lzma
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contents import grafted_libs, lib_stem, platform_tag

CHILD = r'''
import io, json, os, sys
kind, target, xz_path = sys.argv[1:4]
out = {"kind": kind}

def under_target(path):
    return os.path.realpath(path).startswith(os.path.realpath(target) + os.sep)

def exercise_yaml():
    import yaml
    from yaml import _yaml
    assert yaml.__with_libyaml__, "yaml.__with_libyaml__ is False"
    text = "a: [1, 2, {b: c}]\nd: !!float 3\ne: caf\u00e9\n"
    data = yaml.load(text, Loader=yaml.CLoader)
    assert data == {"a": [1, 2, {"b": "c"}], "d": 3.0, "e": "caf\u00e9"}, data
    again = yaml.load(yaml.dump(data, Dumper=yaml.CDumper), Loader=yaml.CLoader)
    assert again == data, again
    return _yaml.__file__, {"with_libyaml": yaml.__with_libyaml__, "loaded": data}

XSL = b"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:math="http://exslt.org/math" extension-element-prefixes="math">
  <xsl:template match="/root">
    <out max="{math:max(item/@n)}"><xsl:for-each select="item">
      <v><xsl:value-of select="translate(., 'abc', 'ABC')"/></v></xsl:for-each></out>
  </xsl:template>
</xsl:stylesheet>"""

def exercise_lxml():
    from lxml import etree
    doc = etree.fromstring(b"<root><item n='1'>a</item><item n='7'>b</item><item n='3'>c</item></root>")
    transform = etree.XSLT(etree.fromstring(XSL))
    result = etree.tostring(transform(doc).getroot()).decode()
    expected = '<out max="7"><v>A</v><v>B</v><v>C</v></out>'
    assert result == expected, result
    xz_root = etree.parse(xz_path).getroot()  # libxml2 reads .xz through liblzma
    assert xz_root.tag == "compressed" and len(xz_root) == 100, (xz_root.tag, len(xz_root))
    return etree.__file__, {
        "xslt": result,
        "libxml2": etree.LIBXML_VERSION,
        "libxslt": etree.LIBXSLT_VERSION,
        "xz_items": len(xz_root),
    }

def exercise_pillow():
    from PIL import Image, ImageCms, ImageDraw, ImageFont, features, _imaging
    im = Image.new("RGB", (96, 64))
    im.putdata([(x * 2, y * 3, (x + y) % 256) for y in range(64) for x in range(96)])
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=14)  # FreeType font when freetype is available
    draw.text((4, 4), "wheelfix", font=font, fill=(255, 255, 255))
    sizes = {}
    for fmt, opts in [("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"quality": 80}),
                      ("TIFF", {"compression": "tiff_adobe_deflate"})]:
        buf = io.BytesIO()
        im.save(buf, fmt, **opts)
        sizes[fmt] = buf.tell()
        buf.seek(0)
        back = Image.open(buf)
        back.load()
        assert back.format == fmt and back.size == im.size, (fmt, back.format, back.size)
    lab = ImageCms.profileToProfile(im, ImageCms.createProfile("sRGB"),
                                    ImageCms.createProfile("LAB"), outputMode="LAB")
    assert lab.mode == "LAB"
    feats = {f: features.check(f) for f in ("jpg", "zlib", "libtiff", "webp", "freetype2", "littlecms2")}
    assert all(feats.values()), feats
    return _imaging.__file__, {"bytes": sizes, "features": feats,
                               "freetype": type(font).__name__}

def exercise_llvmext():
    from llvmext import _native
    clang, ir, pyver, _ = _native.versions()
    assert clang.startswith(("clang version 14", "Debian clang version 14")), clang
    assert "ModuleID = 'wheelfix'" in ir, ir
    return _native.__file__, {"clang": clang, "pyver": pyver}

def exercise_generic():
    import importlib
    names = [n for n in os.listdir(target) if n.isidentifier()]
    mods = [importlib.import_module(n) for n in names]
    return mods[0].__file__, {"imported": names}

EXERCISES = {"pyyaml": exercise_yaml, "lxml": exercise_lxml, "pillow": exercise_pillow,
             "llvmext": exercise_llvmext}
try:
    module_file, out["details"] = EXERCISES.get(kind, exercise_generic)()
    out["module_file"] = module_file
    out["from_target"] = under_target(module_file)
    out["ok"] = True
except Exception as exc:  # report, do not crash: the parent prints the table
    out["ok"] = False
    out["error"] = f"{type(exc).__name__}: {exc}"
with open("/proc/self/maps") as maps:
    paths = {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}
out["maps"] = sorted(p for p in paths if p.startswith("/") and ".so" in os.path.basename(p))
print(json.dumps(out))
'''

_LD_LINE = re.compile(r"^\s*\d+:\s?(.*)$")
_NEEDED = re.compile(r"^file=(\S+) \[\d+\];\s+needed by (\S+) \[\d+\]")
_TRYING = re.compile(r"^trying file=(\S+)")
_GENMAP = re.compile(r"^file=(\S+) \[\d+\];\s+generating link map")


def parse_ld_debug(text: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Return the ``needed by`` edges (requester, name) and where each new name was loaded.

    ld.so prints ``needed by`` only for names that are not loaded yet; those that were
    are covered by the static DT_NEEDED check.
    """
    edges: list[tuple[str, str]] = []
    loaded: dict[str, str] = {}
    last_try: str | None = None
    for raw in text.splitlines():
        match = _LD_LINE.match(raw)
        if not match:
            continue
        line = match[1].strip()
        if found := _NEEDED.match(line):
            edges.append((os.path.realpath(found[2]), found[1]))
            last_try = None
        elif found := _TRYING.match(line):
            last_try = found[1]
        elif found := _GENMAP.match(line):
            path = found[1] if "/" in found[1] else last_try
            if path is not None:
                loaded.setdefault(found[1], os.path.realpath(path))
            last_try = None
    return edges, loaded


def needed_of(path: Path) -> list[str] | None:
    """DT_NEEDED of an ELF file (None when it is not ELF), read with binutils' readelf."""
    with path.open("rb") as fh:
        if fh.read(4) != b"\x7fELF":
            return None
    proc = subprocess.run(
        ["readelf", "-d", "--wide", str(path)], capture_output=True, text=True, check=True
    )
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", proc.stdout)


def policy_whitelist(tag: str) -> set[str]:
    """lib_whitelist of the manylinux policy named by the first manylinux tag in TAG."""
    import auditwheel.policy

    policies = json.loads(
        (Path(auditwheel.policy.__file__).parent / "manylinux-policy.json").read_text()
    )
    for part in tag.split("."):
        base = re.sub(r"_x86_64$", "", part)
        for policy in policies:
            if base == policy["name"] or base in policy["aliases"]:
                return set(policy["lib_whitelist"])
    return set()


@dataclass
class ImportResult:
    ok: bool
    from_target: bool
    error: str | None
    grafted_total: int
    grafted_loaded: int
    debug_edges_into_libs: int
    problems: list[str]
    system_deps: list[str]
    shadow_copies: list[str]
    details: dict[str, object]

    @property
    def verdict(self) -> str:
        return "PASS" if self.ok and self.from_target and not self.problems else "FAIL"


def static_problems(
    target: Path, libs_names: set[str], whitelist: set[str]
) -> tuple[list[str], set[str]]:
    """Every DT_NEEDED of the installed ELF files must be grafted or whitelisted."""
    problems: list[str] = []
    system: set[str] = set()
    for path in sorted(p for p in target.rglob("*.so*") if p.is_file()):
        needed = needed_of(path)
        for name in needed or ():
            if name in libs_names:
                continue
            system.add(name)
            if name not in whitelist and not name.startswith("ld-linux"):
                problems.append(f"{path.relative_to(target)} needs non-whitelisted {name}")
    return problems, system


def dynamic_problems(
    target: Path, grafted: set[str], edges: list[tuple[str, str]], loaded: dict[str, str]
) -> tuple[list[str], int]:
    real_target = os.path.realpath(target) + os.sep
    stems = {lib_stem(n) for n in grafted}
    problems, into_libs = [], 0
    for requester, name in edges:
        if not requester.startswith(real_target):
            continue
        where = loaded.get(name, "?")
        in_libs = where.startswith(real_target) and ".libs" + os.sep in where
        if name in grafted:
            if in_libs:
                into_libs += 1
            else:
                problems.append(f"{name} (needed by {requester}) loaded from {where}")
        elif lib_stem(name) in stems:
            problems.append(f"{requester} loaded system copy {where} of a grafted library")
    return problems, into_libs


def import_check(wheel: Path, kind: str, workdir: Path, xz_path: Path) -> ImportResult:
    target = workdir / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    grafted = set(grafted_libs(wheel))
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "PYTHONNOUSERSITE": "1",
        "LD_DEBUG": "libs,files",
        "LD_DEBUG_OUTPUT": str(workdir / "ld"),
    }
    env.pop("LD_LIBRARY_PATH", None)
    env.pop("LD_PRELOAD", None)
    proc = subprocess.Popen(
        [sys.executable, "-s", "-c", CHILD, kind, str(target), str(xz_path)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate()
    try:
        child = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        child = {
            "ok": False,
            "error": f"child exited {proc.returncode}: {stderr[-2000:]}",
            "maps": [],
        }
    debug_file = workdir / f"ld.{proc.pid}"
    edges, loaded = parse_ld_debug(debug_file.read_text() if debug_file.exists() else "")

    problems, system = static_problems(target, grafted, policy_whitelist(platform_tag(wheel)))
    dyn_problems, into_libs = dynamic_problems(target, grafted, edges, loaded)
    problems += dyn_problems
    mapped = [Path(p) for p in child["maps"]]
    real_target = os.path.realpath(target) + os.sep
    grafted_loaded = {p.name for p in mapped if str(p).startswith(real_target)} & grafted
    stems = {lib_stem(n) for n in grafted}
    requesters = {loaded[name]: requester for requester, name in edges if name in loaded}
    shadows = sorted(
        f"{p.name} (by {Path(requesters.get(str(p), '?')).name})"
        for p in mapped
        if not str(p).startswith(real_target) and lib_stem(p.name) in stems
    )
    if not debug_file.exists():
        problems.append("no LD_DEBUG output")
    return ImportResult(
        ok=bool(child.get("ok")),
        from_target=bool(child.get("from_target")),
        error=child.get("error"),
        grafted_total=len(grafted),
        grafted_loaded=len(grafted_loaded),
        debug_edges_into_libs=into_libs,
        problems=problems,
        system_deps=sorted(system),
        shadow_copies=shadows,
        details=child.get("details") or {},
    )


def kind_of(wheel: Path) -> str:
    return wheel.name.split("-", 1)[0].lower()


def make_xz_xml(workdir: Path) -> Path:
    items = "".join(f"<i n='{i}'>{'x' * 50}</i>" for i in range(100))
    path = workdir / "doc.xml.xz"
    path.write_bytes(lzma.compress(f"<compressed>{items}</compressed>".encode()))
    return path
