"""``wheelfix show``/``check``/``lddtree`` against the oracles: auditwheel 6.8.2, its JSON schema,
the real loader (importing the extension) and ``ldd``.

Every call runs outside the pytest process, once, in a module fixture; the tests read the
results. auditwheel, ``ldd`` and the real-loader imports each get their own process (run
concurrently). wheelfix calls share one process (:func:`runtools.run_wheelfix_batch`): LIEF is imported
once and each call gets its own environment through click's runner, so a call costs
milliseconds instead of ~0.5 s of start-up. :func:`test_batch_runner_matches_a_real_process`
proves the batch output is byte for byte what a standalone ``python -m wheelfix`` prints.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runtools import run_wheelfix_batch, wheelfix_env
from wheelbuild import (
    SCENARIOS,
    Scenario,
    build_scenario,
    check_env,
    python_ext_suffix,
    unpack_wheel,
)
from wheelfix.options import AuditOptions, RepairOptions
from wheelfix.pipeline import repair

EXT = python_ext_suffix()
#: Scenarios auditwheel refuses (no ELF of the wheel's architecture).
REFUSED = {"pure", "foreign_arch"}
PLATFORM_SCENARIOS = sorted(set(SCENARIOS) - REFUSED)
PREC_VARIANTS = ("_plain", "_rpath", "_runpath")
PICK_DIR = {1: "A", 2: "B", 3: "C"}


def _env(ld_library_path: Sequence[Path] = ()) -> dict[str, str]:
    """A clean environment (``runtools.SCRUBBED_ENV`` removed) importing the in-tree wheelfix."""
    return wheelfix_env(ld_library_path)


@dataclass(frozen=True)
class Job:
    """One command line. ``tool``: ``wheelfix`` (run in the batch), ``python-m-wheelfix``
    (its own process), ``auditwheel`` or ``ldd``."""

    tool: str
    args: tuple[str, ...]
    ld_library_path: tuple[Path, ...] = ()

    def run(self) -> subprocess.CompletedProcess[str]:
        if self.tool == "ldd":
            command = ["ldd", *self.args]
        else:  # "python-m-wheelfix": wheelfix as its own process, like "auditwheel"
            module = self.tool.removeprefix("python-m-")
            command = [sys.executable, "-m", module, *self.args]
        return subprocess.run(
            command,
            env=_env(self.ld_library_path),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )


class Runs:
    """Results of every job, by key."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        self._results = results

    def __getitem__(self, key: str) -> Any:
        return self._results[key]

    def json(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self[key].stdout)
        return document


@dataclass
class World:
    scenarios: dict[str, Scenario]
    runs: Runs
    repaired: Path
    prec_site: Path


def _run_all(
    jobs: Mapping[str, Job], python_jobs: Mapping[str, tuple[Path, str, Path | None]]
) -> Runs:
    def python(site: Path, code: str, c_dir: Path | None) -> subprocess.CompletedProcess[str]:
        env = check_env([c_dir] if c_dir else None)
        env["PYTHONPATH"] = str(site)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )

    mine = {k: job for k, job in jobs.items() if job.tool == "wheelfix"}
    tasks: dict[str, Callable[[], Any]] = {
        k: job.run for k, job in jobs.items() if job.tool != "wheelfix"
    }
    for key, (site, code, c_dir) in python_jobs.items():
        tasks[key] = functools.partial(python, site, code, c_dir)
    batch = [
        (job.args, {"LD_LIBRARY_PATH": os.pathsep.join(map(str, job.ld_library_path)) or None})
        for job in mine.values()
    ]
    tasks["wheelfix-batch"] = functools.partial(run_wheelfix_batch, batch)
    with ThreadPoolExecutor(max_workers=max(4, (os.cpu_count() or 1) * 2)) as pool:
        # the batch is the longest task: start it first
        futures = {
            k: pool.submit(tasks[k]) for k in sorted(tasks, key=lambda k: k != "wheelfix-batch")
        }
        results: dict[str, Any] = {k: f.result() for k, f in futures.items()}
    for key, result in zip(mine, results.pop("wheelfix-batch")):
        assert result.exception is None, f"{key}: {result.exception}"
        results[key] = result
    return Runs(results)


@pytest.fixture(scope="module")
def world(fixture_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    scenarios = {
        n: build_scenario(n, fixture_cache, tmp_path_factory.mktemp(f"show-{n}")) for n in SCENARIOS
    }
    jobs: dict[str, Job] = {}
    for name, s in scenarios.items():
        for tool in ("wheelfix", "auditwheel"):
            jobs[f"{tool}:{name}"] = Job(tool, ("show", "--json", str(s.wheel)), tuple(s.lib_dirs))
    prec = scenarios["precedence"]
    c_dir = prec.dirs["C"]
    for variant in PREC_VARIANTS:
        wheel = str(prec.extra_wheels[variant])
        jobs[f"wheelfix:prec{variant}:C"] = Job("wheelfix", ("show", "--json", wheel), (c_dir,))
        jobs[f"wheelfix:prec{variant}:none"] = Job("wheelfix", ("show", "--json", wheel))
        jobs[f"auditwheel:prec{variant}:C"] = Job("auditwheel", ("show", "--json", wheel), (c_dir,))
    pure = str(scenarios["pure"].wheel)
    jobs["wheelfix:pure:allowed"] = Job(
        "wheelfix", ("show", "--json", "--allow-pure-python-wheel", pure)
    )
    jobs["wheelfix:pure:text-allowed"] = Job(
        "wheelfix", ("show", "--allow-pure-python-wheel", pure)
    )
    example = scenarios["example"]
    for i in (1, 2):
        jobs[f"text:example:{i}"] = Job(
            "wheelfix", ("show", str(example.wheel)), tuple(example.lib_dirs)
        )
    jobs["auditwheel-text:example"] = Job(
        "auditwheel", ("show", str(example.wheel)), tuple(example.lib_dirs)
    )
    jobs["text:new_glibc"] = Job("wheelfix", ("show", str(scenarios["new_glibc"].wheel)))
    # check
    repaired = repair(
        example.wheel,
        AuditOptions(environ={"LD_LIBRARY_PATH": str(example.lib_dirs[0])}),
        RepairOptions(wheel_dir=tmp_path_factory.mktemp("show-repaired")),
    ).output
    jobs["check:repaired"] = Job("wheelfix", ("check", str(repaired)))
    jobs["auditwheel:repaired"] = Job("auditwheel", ("show", "--json", str(repaired)))
    jobs["check:example"] = Job("wheelfix", ("check", str(example.wheel)), tuple(example.lib_dirs))
    jobs["check:example:2_17"] = Job(
        "wheelfix",
        ("check", "--plat", "manylinux_2_17_x86_64", str(example.wheel)),
        tuple(example.lib_dirs),
    )
    new_glibc = str(scenarios["new_glibc"].wheel)
    for plat in ("manylinux_2_17_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64"):
        jobs[f"check:new_glibc:{plat}"] = Job("wheelfix", ("check", "--plat", plat, new_glibc))
    jobs["check:new_glibc:aarch64"] = Job(
        "wheelfix", ("check", "--plat", "manylinux_2_17_aarch64", new_glibc)
    )
    jobs["check:inwheel:2_5"] = Job(
        "wheelfix", ("check", "--plat", "manylinux1", str(scenarios["inwheel_rpath"].wheel))
    )
    jobs["check:zlib:2_17"] = Job(
        "wheelfix", ("check", "--plat", "manylinux2014", str(scenarios["zlib_blacklist"].wheel))
    )
    jobs["check:pure"] = Job("wheelfix", ("check", pure))
    # lddtree
    ext = example.files[f"demo/_demo{EXT}"]
    jobs["lddtree:example"] = Job(
        "wheelfix", ("lddtree", "--json", str(ext)), tuple(example.lib_dirs)
    )
    jobs["lddtree-text:example"] = Job(
        "wheelfix", ("lddtree", "--text", str(ext)), tuple(example.lib_dirs)
    )
    jobs["lddtree-default:example"] = Job(
        "wheelfix", ("lddtree", str(ext)), tuple(example.lib_dirs)
    )
    jobs["auditwheel-lddtree:example"] = Job(
        "auditwheel", ("lddtree", str(ext)), tuple(example.lib_dirs)
    )
    jobs["ldd:example"] = Job("ldd", (str(ext),), tuple(example.lib_dirs))
    # the same calls as standalone processes (see test_batch_runner_matches_a_real_process)
    for key in ("wheelfix:example", "wheelfix:pure", "check:new_glibc:manylinux_2_17_x86_64"):
        jobs[f"process:{key}"] = dataclasses.replace(jobs[key], tool="python-m-wheelfix")
    # the real loader, one process per variant (ld.so reuses a loaded soname)
    prec_site = unpack_wheel(prec.wheel, tmp_path_factory.mktemp("show-prec-site") / "site")
    python_jobs = {
        f"loader:prec{v}:{'C' if ldlp else 'none'}": (
            prec_site,
            f"import prec.{v} as m; print(m.pick())",
            c_dir if ldlp else None,
        )
        for v in PREC_VARIANTS
        for ldlp in (True, False)
    }
    return World(scenarios, _run_all(jobs, python_jobs), repaired, prec_site)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    import auditwheel

    path = Path(auditwheel.__file__).parent / "show-schema.json"
    document: dict[str, Any] = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def _validate(document: dict[str, Any], schema: dict[str, Any], branch: str) -> None:
    """Validate against the whole schema and against the one branch it must match."""
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    only = {**schema, "oneOf": [{"$ref": f"#/$defs/{branch}"}]}
    jsonschema.validate(document, only, cls=jsonschema.Draft202012Validator)


def _loader_pick(world: World, variant: str, ldlp: bool) -> str | None:
    """Which dir (A/B/C) the real loader took libpick.so.1 from, None if the import failed."""
    proc = world.runs[f"loader:prec{variant}:{'C' if ldlp else 'none'}"]
    if proc.returncode != 0:
        assert "libpick.so.1: cannot open shared object file" in proc.stderr, proc.stderr
        return None
    return PICK_DIR[int(proc.stdout)]


def _dir_of(scn: Scenario, path: str | None) -> str | None:
    if path is None:
        return None
    (key,) = (k for k, d in scn.dirs.items() if Path(path).parent == d.resolve())
    return key


# --------------------------------------------------------------------------- show vs auditwheel


@pytest.mark.oracle
@pytest.mark.parametrize("name", PLATFORM_SCENARIOS)
def test_show_json_matches_auditwheel(world: World, name: str) -> None:
    mine_proc = world.runs[f"wheelfix:{name}"]
    theirs_proc = world.runs[f"auditwheel:{name}"]
    assert mine_proc.returncode == 0, mine_proc.stderr
    assert theirs_proc.returncode == 0, theirs_proc.stderr
    assert mine_proc.stderr == ""
    mine, theirs = world.runs.json(f"wheelfix:{name}"), world.runs.json(f"auditwheel:{name}")
    assert mine["overall_tag"] == theirs["overall_tag"]
    assert mine["sym_tag"] == theirs["sym_tag"]
    assert set(mine["external_libs"]) == set(theirs["external_libs"])
    if name == "precedence":
        # Deliberate difference (pypa/auditwheel#737): auditwheel searches DT_RUNPATH before
        # LD_LIBRARY_PATH, the real ld.so the other way round. The merged JSON path comes from
        # prec/_runpath (the last ELF): auditwheel says B, wheelfix C - what ld.so loads.
        assert _dir_of(world.scenarios[name], theirs["external_libs"]["libpick.so.1"]) == "B"
        assert _dir_of(world.scenarios[name], mine["external_libs"]["libpick.so.1"]) == "C"
        assert _loader_pick(world, "_runpath", ldlp=True) == "C"
        mine = {**mine, "external_libs": theirs["external_libs"]}
    else:
        assert mine["external_libs"] == theirs["external_libs"]
    # everything else in the document is identical too
    assert mine == theirs


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_show_refuses_like_auditwheel(world: World, schema: dict[str, Any], name: str) -> None:
    mine_proc = world.runs[f"wheelfix:{name}"]
    theirs_proc = world.runs[f"auditwheel:{name}"]
    assert theirs_proc.returncode == 1
    assert mine_proc.returncode == 8  # NonPlatformWheelError
    wheel = world.scenarios[name].wheel
    lines = mine_proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"wheelfix: error: {wheel}: ")
    mine = world.runs.json(f"wheelfix:{name}")
    theirs = world.runs.json(f"auditwheel:{name}")
    assert set(mine) == set(theirs) == {"version", "wheel", "error"}
    assert mine["wheel"] == theirs["wheel"] == wheel.name
    assert lines[0].endswith(mine["error"])
    _validate(mine, schema, "error")
    if name == "foreign_arch":
        assert "'x86_64' architecture" in mine["error"]
        assert "aarch64" in mine["error"]
    else:
        assert mine["error"].startswith("This does not look like a platform wheel")


@pytest.mark.parametrize(
    ("variant", "ldlp"), [(v, b) for v in PREC_VARIANTS for b in (True, False)]
)
def test_precedence_matches_the_real_loader(world: World, variant: str, ldlp: bool) -> None:
    """Single-variant wheels: wheelfix reports the copy the real loader loads."""
    scn = world.scenarios["precedence"]
    mine = world.runs.json(f"wheelfix:prec{variant}:{'C' if ldlp else 'none'}")
    picked = _loader_pick(world, variant, ldlp)
    assert set(mine["external_libs"]) == {"libpick.so.1"}
    assert _dir_of(scn, mine["external_libs"]["libpick.so.1"]) == picked
    expected = {
        ("_rpath", True): "A",
        ("_rpath", False): "A",
        ("_runpath", True): "C",
        ("_runpath", False): "B",
        ("_plain", True): "C",
        ("_plain", False): None,
    }
    assert picked == expected[(variant, ldlp)]


@pytest.mark.oracle
@pytest.mark.parametrize("variant", PREC_VARIANTS)
def test_precedence_auditwheel_agrees_but_for_runpath(world: World, variant: str) -> None:
    """auditwheel agrees with the real loader except for DT_RUNPATH vs LD_LIBRARY_PATH
    (pypa/auditwheel#737)."""
    scn = world.scenarios["precedence"]
    theirs = world.runs.json(f"auditwheel:prec{variant}:C")
    theirs_dir = _dir_of(scn, theirs["external_libs"]["libpick.so.1"])
    picked = _loader_pick(world, variant, True)
    assert theirs_dir == ("B" if variant == "_runpath" else picked)


# --------------------------------------------------------------------------- schema


@pytest.mark.oracle
@pytest.mark.parametrize("name", PLATFORM_SCENARIOS)
def test_platform_json_follows_auditwheel_schema(
    world: World, schema: dict[str, Any], name: str
) -> None:
    document = world.runs.json(f"wheelfix:{name}")
    _validate(document, schema, "result_platform")
    assert document["version"] == 1
    assert document["wheel"] == world.scenarios[name].wheel.name
    assert document["pure"] is False


@pytest.mark.oracle
def test_pure_json_follows_auditwheel_schema(world: World, schema: dict[str, Any]) -> None:
    proc = world.runs["wheelfix:pure:allowed"]
    assert proc.returncode == 0, proc.stderr
    document = world.runs.json("wheelfix:pure:allowed")
    _validate(document, schema, "result_pure")
    assert document == {
        "version": 1,
        "wheel": world.scenarios["pure"].wheel.name,
        "pure": True,
    }
    text = world.runs["wheelfix:pure:text-allowed"]
    assert text.returncode == 0
    assert (
        text.stdout
        == f"{world.scenarios['pure'].wheel.name} is a pure Python wheel: nothing to audit.\n"
    )


# --------------------------------------------------------------------------- text output


def _words(text: str) -> str:
    return " ".join(text.split())


def test_text_output_is_stable_and_has_the_tag_sentence(world: World) -> None:
    first, second = world.runs["text:example:1"], world.runs["text:example:2"]
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert first.stderr == ""
    wheel = world.scenarios["example"].wheel.name
    sentence = f'{wheel} is consistent with the following platform tag: "linux_x86_64".'
    assert sentence in _words(first.stdout)
    words = _words(first.stdout)
    assert "libc.so.6 with versions GLIBC_2.2.5" in words
    assert "libdemo.so.1 with versions DEMO_1.0, DEMO_1.1" in words
    libs = world.scenarios["example"].dirs["libs"]
    assert f'"libdemo.so.1": "{libs / "libdemo.so.1"}"' in first.stdout
    assert "'manylinux_2_5_x86_64' the following shared library dependencies" in words


@pytest.mark.oracle
def test_auditwheel_text_has_the_same_tag_sentence(world: World) -> None:
    wheel = world.scenarios["example"].wheel.name
    sentence = f'{wheel} is consistent with the following platform tag: "linux_x86_64".'
    assert sentence in _words(world.runs["auditwheel-text:example"].stdout)


def test_text_output_symbol_constraint(world: World) -> None:
    proc = world.runs["text:new_glibc"]
    assert proc.returncode == 0
    words = _words(proc.stdout)
    wheel = world.scenarios["new_glibc"].wheel.name
    assert (
        f'{wheel} is consistent with the following platform tag: "manylinux_2_34_x86_64".' in words
    )
    assert 'This constrains the platform tag to "manylinux_2_34_x86_64".' in words


# --------------------------------------------------------------------------- check


def _one_error_line(proc: subprocess.CompletedProcess[str], wheel: Path, reason: str) -> None:
    assert proc.stderr == f"wheelfix: error: {wheel}: {reason}\n"
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_check_repaired_fixture_is_ok(world: World) -> None:
    proc = world.runs["check:repaired"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{world.repaired.name}: OK (consistent with manylinux_2_5_x86_64)\n"


@pytest.mark.oracle
def test_auditwheel_agrees_the_repaired_fixture_is_ok(world: World) -> None:
    theirs = world.runs.json("auditwheel:repaired")
    assert theirs["overall_tag"] == "manylinux_2_5_x86_64"
    assert theirs["external_libs"] == {}


def test_check_linux_wheel_needing_grafts_fails(world: World) -> None:
    wheel = world.scenarios["example"].wheel
    proc = world.runs["check:example"]
    assert proc.returncode == 14
    _one_error_line(
        proc,
        wheel,
        "has no manylinux/musllinux platform tag (PyPI refuses linux_* wheels); as built it is"
        " consistent with linux_x86_64 (manylinux_2_41_x86_64 is blocked by: external libraries"
        " libdemo.so.1, libdemodep.so.1)",
    )
    proc = world.runs["check:example:2_17"]
    assert proc.returncode == 14
    _one_error_line(
        proc,
        wheel,
        "does not satisfy manylinux_2_17_x86_64: external libraries libdemo.so.1, libdemodep.so.1"
        f" (`wheelfix repair {wheel}` grafts them)",
    )


def test_check_plat_older_than_symbols_fails(world: World) -> None:
    wheel = world.scenarios["new_glibc"].wheel
    proc = world.runs["check:new_glibc:manylinux_2_17_x86_64"]
    assert proc.returncode == 14
    _one_error_line(
        proc,
        wheel,
        "does not satisfy manylinux_2_17_x86_64: symbol versions need manylinux_2_34_x86_64",
    )
    for plat in ("manylinux_2_34_x86_64", "manylinux_2_35_x86_64"):
        ok = world.runs[f"check:new_glibc:{plat}"]
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout == f"{wheel.name}: OK (consistent with manylinux_2_34_x86_64)\n"


def test_check_other_failures(world: World) -> None:
    new_glibc = world.scenarios["new_glibc"].wheel
    proc = world.runs["check:new_glibc:aarch64"]
    assert proc.returncode == 10
    _one_error_line(
        proc,
        new_glibc,
        "'manylinux_2_17_aarch64' is not a policy for this wheel's architecture and libc"
        " (x86_64, glibc)",
    )
    zlib = world.scenarios["zlib_blacklist"].wheel
    proc = world.runs["check:zlib:2_17"]
    assert proc.returncode == 14
    _one_error_line(
        proc, zlib, "does not satisfy manylinux2014: blacklisted symbols zcalloc, zcfree"
    )
    inwheel = world.runs["check:inwheel:2_5"]
    assert inwheel.returncode == 0, inwheel.stderr
    pure = world.runs["check:pure"]
    assert pure.returncode == 8
    assert len(pure.stderr.splitlines()) == 1


# --------------------------------------------------------------------------- lddtree


def _parse_ldd(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = re.match(r"\s*(\S+) => (\S+) \(0x[0-9a-f]+\)$", line)
        if match:
            found[match.group(1)] = os.path.realpath(match.group(2))
    return found


def test_lddtree_json_matches_ldd(world: World) -> None:
    example = world.scenarios["example"]
    ext = example.files[f"demo/_demo{EXT}"]
    proc = world.runs["lddtree:example"]
    assert proc.returncode == 0, proc.stderr
    tree = world.runs.json("lddtree:example")
    ldd = world.runs["ldd:example"]
    assert ldd.returncode == 0, ldd.stderr
    oracle = _parse_ldd(ldd.stdout)
    assert set(oracle) == {"libdemo.so.1", "libdemodep.so.1", "libc.so.6"}
    libraries = tree["libraries"]
    # ldd prints the interpreter without "=>"; the tree has it as libc's DT_NEEDED
    assert set(libraries) == {*oracle, "ld-linux-x86-64.so.2"}
    for soname, path in oracle.items():
        # ld.so.cache may name /usr/lib/... where the search found /lib/... (merged /usr):
        # the same file either way.
        assert os.path.realpath(libraries[soname]["path"]) == os.path.realpath(path), soname
        assert libraries[soname]["in_wheel"] is False
    assert libraries["libdemo.so.1"]["found_via"] == "env"
    assert libraries["libc.so.6"]["found_via"] == "system"
    assert libraries["libdemo.so.1"]["needed"] == ["libdemodep.so.1", "libc.so.6"]
    assert tree["path"] == str(ext)
    assert tree["needed"] == ["libdemo.so.1", "libc.so.6"]
    assert (tree["arch"], tree["elf_class"], tree["machine"]) == ("x86_64", 64, 62)
    assert tree["rpath"] == tree["runpath"] == []
    assert tree["interpreter"] is None
    assert tree["excluded"] == []
    text = world.runs["lddtree-text:example"]
    assert text.returncode == 0
    libs = example.dirs["libs"]
    assert text.stdout.splitlines()[:3] == [
        f"{ext} (interpreter => none)",
        f"    libdemo.so.1 => {(libs / 'libdemo.so.1').resolve()}",
        f"        libdemodep.so.1 => {(libs / 'libdemodep.so.1').resolve()}",
    ]


def test_lddtree_prints_json_by_default(world: World) -> None:
    assert world.runs.json("lddtree-default:example") == world.runs.json("lddtree:example")


@pytest.mark.oracle
def test_lddtree_prints_auditwheels_document_by_default(world: World) -> None:
    """``lddtree FILE`` prints JSON with every key auditwheel 6.8's document has."""
    mine = world.runs.json("lddtree-default:example")
    theirs_proc = world.runs["auditwheel-lddtree:example"]
    assert theirs_proc.returncode == 0, theirs_proc.stderr
    # auditwheel logs the document on stderr behind "INFO:auditwheel.main_lddtree:"
    text = theirs_proc.stderr + theirs_proc.stdout
    theirs = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert set(theirs) <= set(mine)
    for key in ("interpreter", "path", "realpath", "needed", "rpath", "runpath"):
        assert mine[key] == theirs[key], key
    assert mine["libc"] == "glibc"
    assert set(mine["libraries"]) == set(theirs["libraries"])
    for name, lib in theirs["libraries"].items():
        assert set(lib) <= set(mine["libraries"][name]), name
        assert mine["libraries"][name]["needed"] == lib["needed"], name
        if lib["realpath"] is not None:
            assert os.path.realpath(mine["libraries"][name]["realpath"]) == os.path.realpath(
                lib["realpath"]
            ), name
        platform = lib["platform"]
        if platform is not None:
            ours = mine["libraries"][name]["platform"]
            assert ours["_elf_class"] == platform["_elf_class"]
            assert ours["_elf_machine"] == platform["_elf_machine"]
            assert ours["_elf_osabi"] == platform["_elf_osabi"]
            assert ours["_base_arch"] == "x86_64"


def test_batch_runner_matches_a_real_process(world: World) -> None:
    for key in ("wheelfix:example", "wheelfix:pure", "check:new_glibc:manylinux_2_17_x86_64"):
        batch, process = world.runs[key], world.runs[f"process:{key}"]
        assert (process.returncode, process.stdout, process.stderr) == (
            batch.returncode,
            batch.stdout,
            batch.stderr,
        ), key
        assert "Traceback" not in process.stderr
