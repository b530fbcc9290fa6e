#!/usr/bin/env python3
"""Compare ``wheelfix`` with ``auditwheel`` on real wheels, in one run.

For every wheel given (default: the wheels built by ``build_real_wheels.sh`` in
``benchmarks/.cache/wheels``):

* ``show``: time ``wheelfix show`` and ``auditwheel show`` (fresh interpreter each
  time, median of N) and compare their ``show --json`` documents;
* ``repair`` (only wheels still tagged ``linux_*``): time ``wheelfix repair`` and
  ``auditwheel repair`` (fresh interpreter each time, own output directory each time,
  median of N), then report the platform tag, the grafted set (``<dist>.libs/``)
  and the size of each tool's output, and audit each output with the *other* tool;
* import check: install each repaired wheel with ``pip install --no-deps --target``
  into a fresh directory and import + exercise it in a subprocess run with
  ``LD_DEBUG=libs,files``.  The check passes when every library the wheel's ELF
  files asked for under a grafted name was loaded from ``<dist>.libs/``, no system
  copy of a grafted library was loaded on behalf of the wheel's code, and every
  remaining system dependency is on the output tag's manylinux whitelist, i.e. the
  wheel would still load on a host without the Debian ``-dev`` libraries.  The
  host libraries stay installed (hiding them would need root changes to the
  system or a mount namespace); ``/proc/self/maps`` of the child confirms which
  copies were mapped.

Prints markdown tables on stdout; progress goes to stderr.

    python benchmarks/compare.py                 # default wheels, N=5
    python benchmarks/compare.py -n 3 some.whl   # other wheels
    python benchmarks/compare.py --markdown benchmarks/.cache/results.md
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import lzma
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
WHEELS = CACHE / "wheels"
TOOLS = ("wheelfix", "auditwheel")
DEFAULT_GLOBS = (
    "[Pp]y[Yy][Aa][Mm][Ll]-*-linux_x86_64.whl",
    "lxml-*-linux_x86_64.whl",
    "[Pp]illow-*-linux_x86_64.whl",
    "numpy-*manylinux*.whl",
)


def log(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- timing


class ToolError(RuntimeError):
    pass


def measure(argv: list[str]) -> tuple[tuple[float, float], subprocess.CompletedProcess[str]]:
    """Run ARGV; return ((wall s, user+sys CPU s of the child), result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (wall, cpu), proc


def run_tool(
    tool: str, args: list[str]
) -> tuple[tuple[float, float], subprocess.CompletedProcess[str]]:
    """Run ``python -m TOOL ARGS`` in a fresh interpreter; return ((wall, cpu), result)."""
    argv = [sys.executable, "-m", tool, *args]
    elapsed, proc = measure(argv)
    if proc.returncode != 0:
        raise ToolError(
            f"{' '.join(argv)} exited {proc.returncode}\n--- stdout\n{proc.stdout}"
            f"--- stderr\n{proc.stderr}"
        )
    return elapsed, proc


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, sample: tuple[float, float]) -> None:
        self.samples.append(sample[0])
        self.cpu.append(sample[1])

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def cell(self) -> str:
        return f"{self.median:.2f} ({min(self.samples):.2f}-{max(self.samples):.2f})"


def ratio(timings: dict[str, Timing]) -> str:
    return f"{timings['auditwheel'].median / timings['wheelfix'].median:.2f}x"


def cpu_cell(timings: dict[str, Timing]) -> str:
    wf, aw = timings["wheelfix"].cpu_median, timings["auditwheel"].cpu_median
    return f"{wf:.2f} / {aw:.2f} ({aw / wf:.2f}x)"


STARTUP = {
    "`python -m wheelfix --version`": [sys.executable, "-m", "wheelfix", "--version"],
    "`python -c 'import lief'`": [sys.executable, "-c", "import lief"],
    "`python -c 'import wheelfix.cli, wheelfix.pipeline'`": [
        sys.executable,
        "-c",
        "import wheelfix.cli, wheelfix.pipeline",
    ],
    "`python -m auditwheel --version`": [sys.executable, "-m", "auditwheel", "--version"],
    "`python -c 'import auditwheel.main_repair, auditwheel.repair'`": [
        sys.executable,
        "-c",
        "import auditwheel.main_repair, auditwheel.repair",
    ],
}


def time_startup(repeat: int, warmup: int) -> dict[str, Timing]:
    timings = {label: Timing() for label in STARTUP}
    for i in range(warmup + repeat):
        for label, argv in STARTUP.items():
            sample, proc = measure(argv)
            if proc.returncode != 0:
                raise ToolError(f"{argv} exited {proc.returncode}: {proc.stderr}")
            if i >= warmup:
                timings[label].add(sample)
    return timings


def time_show(wheel: Path, repeat: int, warmup: int) -> dict[str, Timing]:
    timings = {tool: Timing() for tool in TOOLS}
    for i in range(warmup + repeat):
        for tool in TOOLS:  # interleaved, so drift hits both tools alike
            elapsed, _ = run_tool(tool, ["show", str(wheel)])
            if i >= warmup:
                timings[tool].add(elapsed)
    return timings


def time_repair(
    wheel: Path, repeat: int, warmup: int, workdir: Path
) -> tuple[dict[str, Timing], dict[str, Path]]:
    """Time both repairs; return the timings and each tool's last output wheel."""
    timings = {tool: Timing() for tool in TOOLS}
    outputs: dict[str, Path] = {}
    for i in range(warmup + repeat):
        for tool in TOOLS:
            out = workdir / f"{tool}-{i}"
            elapsed, _ = run_tool(tool, ["repair", "-w", str(out), str(wheel)])
            if i >= warmup:
                timings[tool].add(elapsed)
            produced = sorted(out.glob("*.whl"))
            if len(produced) != 1:
                raise ToolError(f"{tool} repair of {wheel.name} wrote {produced}")
            outputs[tool] = produced[0]
    return timings, outputs


# ------------------------------------------------------------------ wheel contents


def platform_tag(wheel: Path) -> str:
    return wheel.name[: -len(".whl")].split("-")[-1]


def grafted_libs(wheel: Path) -> list[str]:
    """Names of the files in the wheel's ``<dist>.libs/`` directories."""
    with zipfile.ZipFile(wheel) as zf:
        names = [
            n.split("/", 1)[1]
            for n in zf.namelist()
            if "/" in n and n.split("/", 1)[0].endswith(".libs") and not n.endswith("/")
        ]
    return sorted(names)


_HASHED = re.compile(r"^(?P<stem>.+)-[0-9a-f]{8}(?P<suffix>\.so.*)$")


def lib_stem(name: str) -> str:
    """``libjpeg-dad87949.so.62.3.0`` and ``libjpeg.so.62`` both give ``libjpeg``."""
    match = _HASHED.match(name)
    if match:
        return match["stem"]
    return name.split(".so", 1)[0]


def libs_unpacked_size(wheel: Path) -> int:
    with zipfile.ZipFile(wheel) as zf:
        return sum(
            i.file_size for i in zf.infolist() if i.filename.split("/", 1)[0].endswith(".libs")
        )


def record_problems(wheel: Path) -> list[str]:
    """Members whose RECORD hash or size is wrong, and files RECORD does not list."""
    problems = []
    with zipfile.ZipFile(wheel) as zf:
        files = {n for n in zf.namelist() if not n.endswith("/")}
        record = next(n for n in files if n.endswith(".dist-info/RECORD"))
        listed = set()
        for row in csv.reader(io.StringIO(zf.read(record).decode())):
            if not row or row[0] == record:
                listed.update(row[:1])
                continue
            path, digest, size = row[0], row[1], row[2]
            listed.add(path)
            if path not in files:
                problems.append(f"{path} listed but missing")
                continue
            data = zf.read(path)
            algo, _, want = digest.partition("=")
            got = base64.urlsafe_b64encode(hashlib.new(algo, data).digest()).rstrip(b"=")
            if got.decode() != want or int(size) != len(data):
                problems.append(f"{path} hash/size mismatch")
        problems += [f"{n} not in RECORD" for n in sorted(files - listed)]
    return problems


def show_json(tool: str, wheel: Path) -> dict[str, object]:
    _, proc = run_tool(tool, ["show", "--json", str(wheel)])
    return json.loads(proc.stdout)


def compare_show_json(wheel: Path) -> str:
    docs = {tool: show_json(tool, wheel) for tool in TOOLS}
    if docs["wheelfix"] == docs["auditwheel"]:
        return "identical"
    keys = sorted(
        k
        for k in set(docs["wheelfix"]) | set(docs["auditwheel"])
        if docs["wheelfix"].get(k) != docs["auditwheel"].get(k)
    )
    notes = []
    for key in keys:
        left, right = docs["wheelfix"].get(key), docs["auditwheel"].get(key)
        if (
            key == "external_libs"
            and isinstance(left, dict)
            and isinstance(right, dict)
            and {k: v and os.path.realpath(v) for k, v in left.items()}
            == {k: v and os.path.realpath(v) for k, v in right.items()}
        ):
            notes.append("`external_libs` paths differ only by symlinked dirs (same realpath)")
        else:
            notes.append(f"`{key}` differs")
    return "; ".join(notes)


# ------------------------------------------------------------------ import check

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

def exercise_generic():
    import importlib
    names = [n for n in os.listdir(target) if n.isidentifier()]
    mods = [importlib.import_module(n) for n in names]
    return mods[0].__file__, {"imported": names}

EXERCISES = {"pyyaml": exercise_yaml, "lxml": exercise_lxml, "pillow": exercise_pillow}
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


# ------------------------------------------------------------------ report


@dataclass
class WheelReport:
    wheel: Path
    show: dict[str, Timing] | None = None
    show_json: str = ""
    errors: list[str] = field(default_factory=list)
    repair: dict[str, Timing] | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    cross_audit: dict[str, str] = field(default_factory=dict)
    imports: dict[str, ImportResult] = field(default_factory=dict)


def fmt_size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def environment() -> list[str]:
    def version(argv: list[str]) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return "?"
        return (proc.stdout or proc.stderr).strip().splitlines()[0].split(" installed at")[0]

    import lief  # wheelfix's dependency, only for its version here

    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import wheelfix

    checkout = Path(wheelfix.__file__).resolve().parents[2]
    revision = version(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"- {version([sys.executable, '-m', 'wheelfix', '--version'])} (git {revision}"
        f"{', src/ modified' if dirty else ''}), LIEF {lief.__version__}",
        f"- {version([sys.executable, '-m', 'auditwheel', '--version'])}, "
        f"{version(['patchelf', '--version'])}",
        f"- Python {platform.python_version()}, glibc {platform.libc_ver()[1]}, "
        f"{os.cpu_count()} x {cpu}, load average at the end "
        + "/".join(f"{x:.2f}" for x in os.getloadavg()),
    ]


def repair_table(reports: list[WheelReport]) -> list[str]:
    lines = [
        "| wheel | wheelfix tag | auditwheel tag | wheelfix s | auditwheel s | ratio | "
        "CPU s wheelfix / auditwheel | wheelfix size (`.libs` unpacked) | "
        "auditwheel size (`.libs` unpacked) | RECORD ok |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rep in reports:
        if rep.repair is None:
            continue
        wf, aw = rep.outputs["wheelfix"], rep.outputs["auditwheel"]
        records = {tool: record_problems(rep.outputs[tool]) for tool in TOOLS}
        record_cell = " / ".join(
            "yes" if not records[t] else f"NO ({t}: {'; '.join(records[t][:3])})" for t in TOOLS
        )
        lines.append(
            f"| {rep.wheel.name} | `{platform_tag(wf)}` | `{platform_tag(aw)}` | "
            f"{rep.repair['wheelfix'].cell()} | {rep.repair['auditwheel'].cell()} | "
            f"{ratio(rep.repair)} | {cpu_cell(rep.repair)} | {fmt_size(wf.stat().st_size)} "
            f"({fmt_size(libs_unpacked_size(wf))}) | {fmt_size(aw.stat().st_size)} "
            f"({fmt_size(libs_unpacked_size(aw))}) | {record_cell} |"
        )
    return lines


def grafted_table(reports: list[WheelReport]) -> list[str]:
    lines = [
        "| wheel | same set (wheelfix / auditwheel) | grafted by both | only wheelfix "
        "| only auditwheel |",
        "|---|---|---|---|---|",
    ]
    for rep in reports:
        if rep.repair is None:
            continue
        wf = set(grafted_libs(rep.outputs["wheelfix"]))
        aw = set(grafted_libs(rep.outputs["auditwheel"]))
        lines.append(
            f"| {rep.wheel.name} | {'yes' if wf == aw else 'NO'} ({len(wf)} / {len(aw)}) | "
            f"{', '.join(sorted(wf & aw)) or '-'} | {', '.join(sorted(wf - aw)) or '-'} | "
            f"{', '.join(sorted(aw - wf)) or '-'} |"
        )
    return lines


def show_table(reports: list[WheelReport]) -> list[str]:
    return [
        "| wheel | wheelfix s | auditwheel s | ratio | CPU s wheelfix / auditwheel | "
        "`show --json` documents |",
        "|---|---|---|---|---|---|",
        *(
            f"| {rep.wheel.name} | {rep.show['wheelfix'].cell()} | "
            f"{rep.show['auditwheel'].cell()} | {ratio(rep.show)} | {cpu_cell(rep.show)} | "
            f"{rep.show_json} |"
            for rep in reports
            if rep.show is not None
        ),
    ]


def import_table(reports: list[WheelReport]) -> list[str]:
    lines = [
        "| wheel | repaired by | tag per the other tool's `show` | imported from target | "
        "exercise | grafted libs mapped from `.libs` | ld.so lookups resolved into `.libs` | "
        "system deps left (all on the whitelist) | system copies of grafted libs also mapped "
        "(loaded by) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rep in reports:
        for tool, res in rep.imports.items():
            exercise = "ok" if res.ok else f"FAILED: {res.error}"
            verdict = res.verdict + ("" if not res.problems else ": " + "; ".join(res.problems))
            lines.append(
                f"| {rep.wheel.name.split('-')[0]} | {tool} | `{rep.cross_audit[tool]}` | "
                f"{'yes' if res.from_target else 'NO'} | {exercise} | "
                f"{res.grafted_loaded}/{res.grafted_total} | {res.debug_edges_into_libs} | "
                f"{', '.join(res.system_deps)} | {', '.join(res.shadow_copies) or 'none'} | "
                f"{verdict} |"
            )
    return lines


def startup_table(startup: dict[str, Timing]) -> list[str]:
    return [
        "| command | median wall s (min-max) | median CPU s |",
        "|---|---|---|",
        *(
            f"| {label} | {timing.cell()} | {timing.cpu_median:.2f} |"
            for label, timing in startup.items()
        ),
    ]


def markdown(
    reports: list[WheelReport], startup: dict[str, Timing], repeat: int, warmup: int
) -> str:
    sections = [
        [
            f"Median wall time of N={repeat} runs (after {warmup} warm-up), each a fresh "
            "`python -m TOOL` process, the two tools interleaved; min-max in parentheses. "
            "Ratio = auditwheel / wheelfix median wall time (> 1: wheelfix is faster). "
            "CPU = median user+sys time of the process tree (auditwheel's includes its "
            "patchelf children).",
            "",
            *environment(),
        ],
        ["### repair", "", *repair_table(reports)],
        ["### grafted libraries (`<dist>.libs/`)", "", *grafted_table(reports)],
        ["### show", "", *show_table(reports)],
        ["### import check of the repaired wheels", "", *import_table(reports)],
        ["### fixed cost: interpreter start + imports", "", *startup_table(startup)],
    ]
    errors = [e for rep in reports for e in rep.errors]
    if errors:
        sections.append(["### errors", "", *(f"```\n{e.strip()}\n```" for e in errors)])
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


# ------------------------------------------------------------------ main


def default_wheels() -> list[Path]:
    found = []
    for pattern in DEFAULT_GLOBS:
        matches = sorted(WHEELS.glob(pattern))
        if not matches:
            sys.exit(f"no {pattern} in {WHEELS}: run benchmarks/build_real_wheels.sh first")
        found.append(matches[-1])
    return found


def process(wheel: Path, args: argparse.Namespace, workdir: Path, xz_path: Path) -> WheelReport:
    """Benchmark one wheel; a failing tool run is recorded, not raised."""
    report = WheelReport(wheel)
    log(f"{wheel.name}: show x{args.warmup + args.repeat} per tool")
    try:
        report.show = time_show(wheel, args.repeat, args.warmup)
        report.show_json = compare_show_json(wheel)
    except ToolError as exc:
        report.errors.append(str(exc))
    if not platform_tag(wheel).startswith("linux_"):
        return report
    log(f"{wheel.name}: repair x{args.warmup + args.repeat} per tool")
    try:
        report.repair, report.outputs = time_repair(wheel, args.repeat, args.warmup, workdir)
    except ToolError as exc:
        report.errors.append(str(exc))
        return report
    for tool in TOOLS:
        other = TOOLS[1 - TOOLS.index(tool)]
        try:
            report.cross_audit[tool] = str(show_json(other, report.outputs[tool])["overall_tag"])
        except ToolError as exc:
            report.errors.append(str(exc))
            report.cross_audit[tool] = "error"
        if not args.no_import:
            log(f"{wheel.name}: import check of the {tool} output")
            check_dir = workdir / f"import-{tool}"
            check_dir.mkdir()
            report.imports[tool] = import_check(
                report.outputs[tool], kind_of(wheel), check_dir, xz_path
            )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="*", type=Path, help="default: benchmarks/.cache/wheels")
    parser.add_argument("-n", "--repeat", type=int, default=5, help="timed runs per tool")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool first")
    parser.add_argument("--no-import", action="store_true", help="skip the import check")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--keep", type=Path, help="keep outputs here instead of a temp dir")
    args = parser.parse_args(argv)
    wheels = [w.resolve() for w in args.wheels] or default_wheels()
    for tool in ("patchelf", "readelf"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found on PATH")

    with tempfile.TemporaryDirectory(prefix="wheelfix-bench-") as tmp:
        root = args.keep.resolve() if args.keep else Path(tmp)
        if root.exists() and any(root.iterdir()) and args.keep:
            sys.exit(f"--keep {root}: directory is not empty")
        root.mkdir(parents=True, exist_ok=True)
        xz_path = make_xz_xml(root)
        reports = []
        for index, wheel in enumerate(wheels):
            workdir = root / f"{index}-{kind_of(wheel)}"
            workdir.mkdir()
            reports.append(process(wheel, args, workdir, xz_path))
        log("fixed-cost runs")
        startup = time_startup(args.repeat, args.warmup)
        text = markdown(reports, startup, args.repeat, args.warmup)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    failed = [
        f"{r.wheel.name} ({t})"
        for r in reports
        for t, i in r.imports.items()
        if i.verdict != "PASS"
    ]
    if failed:
        log("import check FAILED for " + ", ".join(failed))
    if any(r.errors for r in reports):
        log("some tool runs failed: see the errors section")
    if failed or any(r.errors for r in reports):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
