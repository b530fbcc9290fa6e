"""Build real wheels from the C fixtures in ``fixtures/`` for tests.

Everything here is plain functions over paths so that any test module can use it:

* :func:`compile_cached` runs the compiler once per unique (inputs, compiler version,
  arguments) key and keeps the result under ``<cache_dir>/<key>/<output_name>``.
* :func:`make_wheel` writes a deterministic wheel with a correct ``RECORD``.
* :func:`build_scenario` builds one scenario of :data:`SCENARIOS` into a temporary dir and
  returns a :class:`Scenario`.
* :data:`EXPECTED_SHOW` is the table of what ``auditwheel show --json`` reports for each
  scenario (observed with auditwheel 6.8.2 on x86_64 / glibc 2.36), for oracle tests and
  for comparing ``wheelfix show --json`` against the same numbers later.

ELFs that need an absolute DT_RPATH/DT_RUNPATH into the per-test temporary dir are linked
(and cached) with :data:`RPATH_PLACEHOLDER` as their rpath; :func:`fill_rpath_placeholder`
then writes the real value over the placeholder bytes in a copy. The copy is a normal ELF
whose ``.dynstr`` entry is simply NUL-padded, so caching survives per-test paths.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_DIR = REPO_ROOT / "fixtures"

#: Fixed-length stand-in for an absolute rpath that is only known at scenario build time.
RPATH_PLACEHOLDER = "/wheelfix-rpath-placeholder-".ljust(400, "X")

#: A DT_RPATH entry that must never exist on the machine (``stale_rpath``).
STALE_RPATH = "/nonexistent-wheelfix-rpath/lib"

EM_386 = 3
EM_X86_64 = 62
EM_AARCH64 = 183

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

_COMMON_CFLAGS = ("-O1", "-Wall", "-fPIC")
#: Some gcc builds default to --as-needed (this one does); pin the classic behaviour so every
#: ELF lists libc.so.6 in DT_NEEDED like typical extension builds, whatever the toolchain.
_COMMON_LDFLAGS = ("-Wl,--no-as-needed",)


# --------------------------------------------------------------------------- compiling


def default_cache_dir() -> Path:
    """``$WHEELFIX_TEST_CACHE`` or ``~/.cache/wheelfix-tests``."""
    env = os.environ.get("WHEELFIX_TEST_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "wheelfix-tests"


@functools.cache
def compiler_version(compiler: str = "gcc") -> str:
    """The full ``<compiler> --version`` text (part of every cache key)."""
    proc = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True)
    return proc.stdout


def _cache_key(
    compiler: str, sources: Sequence[Path], extra_inputs: Sequence[Path], args: Sequence[str]
) -> str:
    h = hashlib.sha256()

    def feed(tag: str, data: bytes) -> None:
        h.update(tag.encode())
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    feed("compiler", compiler.encode())
    feed("version", compiler_version(compiler).encode())
    for kind, paths in (("source", sources), ("input", extra_inputs)):
        for path in paths:
            feed(kind, path.name.encode())
            feed("bytes", path.read_bytes())
    for arg in args:
        feed("arg", arg.encode())
    return h.hexdigest()[:32]


CachedCompiler = Callable[..., Path]
"""``cc(source, output, args, inputs=())``: one source file of a fixture directory compiled
(cached) into ``output``, ``inputs`` (version scripts...) copied beside it."""


def cached_compiler(cache_dir: Path, src_dir: Path, compiler: str) -> CachedCompiler:
    """A :data:`CachedCompiler` for the fixture sources in ``src_dir`` and ``compiler``."""

    def cc(source: str, output: str, args: list[str], inputs: tuple[str, ...] = ()) -> Path:
        extra = [src_dir / name for name in inputs]
        return compile_cached(
            cache_dir, [src_dir / source], output, args, compiler=compiler, extra_inputs=extra
        )

    return cc


def compile_cached(
    cache_dir: Path,
    sources: Sequence[Path],
    output_name: str,
    args: Sequence[str],
    *,
    compiler: str = "gcc",
    extra_inputs: Sequence[Path] = (),
) -> Path:
    """Compile ``sources`` into ``<cache_dir>/<key>/<output_name>`` unless already there.

    The inputs (``sources`` and ``extra_inputs`` such as linker version scripts) are copied
    by base name into a scratch dir that is the compiler's working directory, so ``args``
    can name them relatively (``-Wl,--version-script=foo.map``) and the key does not depend
    on where the repository is checked out. The command is
    ``<compiler> <sources...> <args...> -o ../<output_name>``. The key is the sha256 of the
    input names and bytes, the compiler's ``--version`` text and ``args``. Concurrent
    builders are safe: each builds in its own scratch dir and renames it into place.
    """
    names = [p.name for p in (*sources, *extra_inputs)]
    if len(set(names)) != len(names):
        msg = f"input base names must be unique: {names}"
        raise ValueError(msg)
    key = _cache_key(compiler, sources, extra_inputs, args)
    final_dir = cache_dir / key
    output = final_dir / output_name
    if output.is_file():
        return output

    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = cache_dir / f".tmp-{key}-{uuid.uuid4().hex}"
    inputs_dir = scratch / "_inputs"
    inputs_dir.mkdir(parents=True)
    try:
        for path in (*sources, *extra_inputs):
            shutil.copyfile(path, inputs_dir / path.name)
        cmd = [compiler, *(p.name for p in sources), *args, "-o", f"../{output_name}"]
        proc = subprocess.run(cmd, cwd=inputs_dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            msg = f"compile failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}"
            raise RuntimeError(msg)
        (scratch / "command.txt").write_text(" ".join(cmd) + "\n")
        try:
            scratch.rename(final_dir)
        except OSError:
            # Another process won the race (or a broken leftover is in the way).
            if not output.is_file():
                shutil.rmtree(final_dir, ignore_errors=True)
                scratch.rename(final_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return output


# --------------------------------------------------------------------------- python facts


def python_ext_suffix() -> str:
    """EXT_SUFFIX of the running interpreter, e.g. ``.cpython-311-x86_64-linux-gnu.so``."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert isinstance(suffix, str)
    return suffix


def python_include_dir() -> Path:
    """Directory holding ``Python.h`` for the running interpreter."""
    return Path(sysconfig.get_paths()["include"])


def python_wheel_tag() -> str:
    """``cpXY-cpXY-linux_<machine>`` for the running interpreter."""
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    return f"{py}-{py}-linux_{platform.machine()}"


# --------------------------------------------------------------------------- wheels


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _expand_tags(tag: str) -> list[str]:
    py, abi, plat = tag.split("-")
    return [f"{a}-{b}-{c}" for a in py.split(".") for b in abi.split(".") for c in plat.split(".")]


def dist_name_escape(name: str) -> str:
    """Wheel-filename escaping of a distribution name (runs of ``-_.`` become ``_``)."""
    return re.sub(r"[-_.]+", "_", name)


def make_wheel(
    out_dir: Path,
    name: str,
    version: str,
    files: Mapping[str, bytes | Path],
    tag: str = "cp311-cp311-linux_x86_64",
    modes: Mapping[str, int] | None = None,
    root_is_purelib: bool = False,
    extra_dist_info: Mapping[str, bytes | str] | None = None,
    record: bool = True,
    record_exclude: Sequence[str] = (),
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``out_dir`` and return its path.

    ``files`` maps archive paths to contents (bytes or a file to read). The dist-info
    gets METADATA, WHEEL and RECORD (sha256, urlsafe base64 without padding, and size);
    ``extra_dist_info`` adds or overrides dist-info files by base name. File modes go into
    the zip external_attr: ``modes[path]`` if given, else 0o755 for ELF files and 0o644
    otherwise. ``record=False`` omits RECORD entirely; ``record_exclude`` leaves the named
    paths out of RECORD. The archive is deterministic (sorted entries, fixed timestamps).
    """
    modes = dict(modes or {})
    dist = dist_name_escape(name)
    dist_info = f"{dist}-{version}.dist-info"
    contents: dict[str, bytes] = {}
    for arcname, value in files.items():
        contents[arcname] = value.read_bytes() if isinstance(value, Path) else value

    meta: dict[str, bytes] = {
        "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        "WHEEL": (
            "Wheel-Version: 1.0\n"
            "Generator: wheelfix-tests\n"
            f"Root-Is-Purelib: {'true' if root_is_purelib else 'false'}\n"
            + "".join(f"Tag: {t}\n" for t in _expand_tags(tag))
        ).encode(),
    }
    for fname, extra in (extra_dist_info or {}).items():
        meta[fname] = extra.encode() if isinstance(extra, str) else extra
    record_name = f"{dist_info}/RECORD"
    meta.pop("RECORD", None)

    ordered = sorted(contents.items()) + [(f"{dist_info}/{k}", v) for k, v in sorted(meta.items())]

    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_path = out_dir / f"{dist}-{version}-{tag}.whl"
    excluded = set(record_exclude)
    rows: list[list[str]] = []
    with zipfile.ZipFile(wheel_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in ordered:
            default = 0o755 if data[:4] == b"\x7fELF" else 0o644
            _write_member(zf, arcname, data, modes.get(arcname, default))
            if arcname not in excluded:
                rows.append([arcname, _record_hash(data), str(len(data))])
        if record:
            rows.append([record_name, "", ""])
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(rows)
            _write_member(zf, record_name, buf.getvalue().encode(), 0o644)
    return wheel_path


def _write_member(zf: zipfile.ZipFile, arcname: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
    info.create_system = 3  # unix, so external_attr carries st_mode
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def unpack_wheel(wheel: Path, dest: Path) -> Path:
    """Extract ``wheel`` into ``dest`` keeping the unix modes; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)
    return dest


# --------------------------------------------------------------------------- ELF patching


def set_e_machine(src: Path, dst: Path, machine: int) -> Path:
    """Copy ``src`` to ``dst`` with the ELF header's e_machine replaced."""
    data = bytearray(src.read_bytes())
    if data[:4] != b"\x7fELF":
        msg = f"{src} is not an ELF file"
        raise ValueError(msg)
    data[18:20] = machine.to_bytes(2, "little" if data[5] == 1 else "big")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(data))
    dst.chmod(0o755)
    return dst


def fill_rpath_placeholder(src: Path, dst: Path, value: str) -> Path:
    """Copy ``src`` to ``dst`` with its :data:`RPATH_PLACEHOLDER` string set to ``value``."""
    data = src.read_bytes()
    needle = RPATH_PLACEHOLDER.encode() + b"\0"
    if data.count(needle) != 1:
        msg = f"{src}: expected exactly one rpath placeholder"
        raise ValueError(msg)
    raw = value.encode()
    if len(raw) > len(RPATH_PLACEHOLDER) or b"\0" in raw:
        msg = f"rpath value too long or invalid: {value!r}"
        raise ValueError(msg)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data.replace(needle, raw.ljust(len(needle), b"\0")))
    dst.chmod(0o755)
    return dst


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    """A built scenario.

    ``wheel`` is the wheel under test; ``lib_dirs`` are the dirs holding the external libs
    it needs (put them on LD_LIBRARY_PATH, or delete them); ``import_name`` is the main
    module; ``check_code`` is Python source that imports the extension(s) and calls through
    every library, asserting results (run it with :func:`run_check_code`). ``dirs`` names
    every directory the scenario created (e.g. ``A``/``B``/``C`` for ``precedence``);
    ``files`` maps a label (wheel archive path, or ``<dir key>/<file>`` for external libs)
    to the on-disk copy of exactly the bytes used; ``extra_wheels`` holds variant wheels.
    """

    name: str
    wheel: Path
    lib_dirs: list[Path]
    import_name: str
    check_code: str
    dirs: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    extra_wheels: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Builder:
    """Per-scenario build context: compiles from ``fixtures/<name>`` and stages files."""

    def __init__(self, name: str, cache_dir: Path, tmp_dir: Path) -> None:
        self.name = name
        self.src = FIXTURES_DIR / name
        self.cache_dir = cache_dir
        self.tmp = tmp_dir
        self.ext_suffix = python_ext_suffix()
        self.tag = python_wheel_tag()
        self.scenario_dirs: dict[str, Path] = {}
        self.files: dict[str, Path] = {}
        self.stage = tmp_dir / "stage"

    def dir(self, key: str) -> Path:
        path = self.tmp / key
        path.mkdir(parents=True, exist_ok=True)
        self.scenario_dirs[key] = path
        return path

    @staticmethod
    def _link_args(
        needs: Sequence[Path],
        rpath_link: Sequence[Path],
        rpath: str | None,
        runpath: str | None,
    ) -> list[str]:
        args: list[str] = list(_COMMON_LDFLAGS)
        for lib in needs:
            args += [f"-L{lib.parent}", f"-l:{lib.name}"]
        args += [f"-Wl,-rpath-link,{d}" for d in rpath_link]
        if rpath is not None and runpath is not None:
            msg = "ld writes either DT_RPATH or DT_RUNPATH, not both"
            raise ValueError(msg)
        if rpath is not None:
            args += ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{rpath}"]
        elif runpath is not None:
            args += ["-Wl,--enable-new-dtags", f"-Wl,-rpath,{runpath}"]
        return args

    def lib(
        self,
        source: str,
        soname: str,
        *,
        defines: Sequence[str] = (),
        version_script: str | None = None,
        needs: Sequence[Path] = (),
        rpath_link: Sequence[Path] = (),
        rpath: str | None = None,
        runpath: str | None = None,
        extra: Sequence[str] = (),
        compiler: str = "gcc",
    ) -> Path:
        """Build ``fixtures/<scenario>/<source>`` as shared library ``soname`` (cached)."""
        args = ["-shared", *_COMMON_CFLAGS, *(f"-D{d}" for d in defines)]
        args.append(f"-Wl,-soname,{soname}")
        inputs: list[Path] = []
        if version_script is not None:
            args.append(f"-Wl,--version-script={version_script}")
            inputs.append(self.src / version_script)
        args += self._link_args(needs, rpath_link, rpath, runpath)
        args += list(extra)
        return compile_cached(
            self.cache_dir,
            [self.src / source],
            soname,
            args,
            compiler=compiler,
            extra_inputs=inputs,
        )

    def ext(
        self,
        source: str,
        modname: str,
        *,
        defines: Sequence[str] = (),
        needs: Sequence[Path] = (),
        rpath_link: Sequence[Path] = (),
        rpath: str | None = None,
        runpath: str | None = None,
        extra: Sequence[str] = (),
    ) -> Path:
        """Build a CPython extension (``PyInit_<modname>``) named with EXT_SUFFIX (cached)."""
        args = [
            "-shared",
            *_COMMON_CFLAGS,
            f"-I{python_include_dir()}",
            f"-DWHEELFIX_PY_HEXVERSION={sys.hexversion:#x}",
            *(f"-D{d}" for d in defines),
        ]
        args += self._link_args(needs, rpath_link, rpath, runpath)
        args += list(extra)
        return compile_cached(self.cache_dir, [self.src / source], modname + self.ext_suffix, args)

    def exe(self, source: str, output: str, *, needs: Sequence[Path] = ()) -> Path:
        """Build an executable (cached)."""
        args = ["-O1", "-Wall", *self._link_args(needs, (), None, None)]
        return compile_cached(self.cache_dir, [self.src / source], output, args)

    def place(self, label_dir: str, built: Path, name: str | None = None) -> Path:
        """Copy a built lib into the scenario dir ``label_dir``."""
        dest = self.dir(label_dir) / (name or built.name)
        shutil.copyfile(built, dest)
        dest.chmod(0o755)
        self.files[f"{label_dir}/{dest.name}"] = dest
        return dest

    def staged(self, arcname: str, data: bytes | Path) -> Path:
        """Put a wheel member on disk under ``stage/`` (so tests can inspect the bytes)."""
        dest = self.stage / arcname
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            shutil.copyfile(data, dest)
        else:
            dest.write_bytes(data)
        self.files[arcname] = dest
        return dest

    def wheel(
        self,
        dist: str,
        version: str,
        members: Mapping[str, bytes | Path],
        *,
        out: str = "wheel",
        tag: str | None = None,
        root_is_purelib: bool = False,
    ) -> Path:
        files: dict[str, bytes | Path] = {}
        for arcname, data in members.items():
            files[arcname] = self.staged(arcname, data)
        return make_wheel(
            self.tmp / out,
            dist,
            version,
            files,
            tag=tag or self.tag,
            root_is_purelib=root_is_purelib,
        )

    def scenario(
        self,
        wheel: Path,
        lib_dirs: Sequence[Path],
        import_name: str,
        check_code: str,
        *,
        extra_wheels: Mapping[str, Path] | None = None,
        notes: Sequence[str] = (),
    ) -> Scenario:
        return Scenario(
            name=self.name,
            wheel=wheel,
            lib_dirs=list(lib_dirs),
            import_name=import_name,
            check_code=check_code,
            dirs=dict(self.scenario_dirs),
            files=dict(self.files),
            extra_wheels=dict(extra_wheels or {}),
            notes=list(notes),
        )


def _code(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _init(doc: str) -> bytes:
    return f'"""{doc}"""\n'.encode()


def _versioned_chain(b: _Builder) -> Scenario:
    foo = b.lib("foo.c", "libfoo.so.1", version_script="foo.map")
    bar = b.lib("bar.c", "libbar.so.1", version_script="bar.map", needs=[foo], runpath="$ORIGIN")
    ext = b.ext("ext.c", "_ext", needs=[bar], rpath_link=[foo.parent], rpath=RPATH_PLACEHOLDER)
    libs = b.dir("libs")
    b.place("libs", foo)
    b.place("libs", bar)
    ext_final = fill_rpath_placeholder(ext, b.tmp / "build" / ext.name, str(libs))
    wheel = b.wheel(
        "chain",
        "1.0",
        {"chain/__init__.py": _init("versioned_chain"), f"chain/{ext.name}": ext_final},
    )
    check = _code(
        "import chain._ext as m",
        "assert m.tls_count() == 0, m.tls_count()",
        "assert m.bar(20) == 41, 'bar(20) -> foo(20) * ... -> 2*20 + 1'",
        "assert m.bar(1) == 3",
        "assert m.tls_count() == 2, 'foo() bumped the libfoo TLS counter twice'",
    )
    return b.scenario(wheel, [libs], "chain._ext", check)


def _stale_rpath(b: _Builder) -> Scenario:
    stale = b.lib("stale.c", "libstale.so.1")
    ext = b.ext("ext.c", "_ext", needs=[stale], rpath=STALE_RPATH)
    libs = b.dir("libs")
    b.place("libs", stale)
    wheel = b.wheel(
        "stale", "1.0", {"stale/__init__.py": _init("stale_rpath"), f"stale/{ext.name}": ext}
    )
    check = _code("import stale._ext as m", "assert m.answer() == 42")
    return b.scenario(wheel, [libs], "stale._ext", check)


#: ``precedence``: what the real loader's ``pick()`` returns per module, with
#: LD_LIBRARY_PATH=C (``lib_dirs``) and with no LD_LIBRARY_PATH (None: import fails).
PRECEDENCE_LOADER_WITH_LDLP: dict[str, int | None] = {"_rpath": 1, "_runpath": 3, "_plain": 3}
PRECEDENCE_LOADER_NO_LDLP: dict[str, int | None] = {"_rpath": 1, "_runpath": 2, "_plain": None}


def _precedence(b: _Builder) -> Scenario:
    picks = {
        key: b.lib("pick.c", "libpick.so.1", defines=[f"PICK_VALUE={value}"])
        for key, value in (("A", 1), ("B", 2), ("C", 3))
    }
    for key, built in picks.items():
        b.place(key, built)
    link = [picks["A"]]
    variants = {
        "_rpath": b.ext(
            "ext.c", "_rpath", defines=["MODNAME=_rpath"], needs=link, rpath=RPATH_PLACEHOLDER
        ),
        "_runpath": b.ext(
            "ext.c",
            "_runpath",
            defines=["MODNAME=_runpath"],
            needs=link,
            runpath=RPATH_PLACEHOLDER,
        ),
        "_plain": b.ext("ext.c", "_plain", defines=["MODNAME=_plain"], needs=link),
    }
    build = b.tmp / "build"
    finals = {
        "_rpath": fill_rpath_placeholder(
            variants["_rpath"], build / variants["_rpath"].name, str(b.scenario_dirs["A"])
        ),
        "_runpath": fill_rpath_placeholder(
            variants["_runpath"], build / variants["_runpath"].name, str(b.scenario_dirs["B"])
        ),
        "_plain": variants["_plain"],
    }
    init = _init("precedence")
    wheel = b.wheel(
        "prec",
        "1.0",
        {"prec/__init__.py": init, **{f"prec/{p.name}": p for p in finals.values()}},
    )
    extra_wheels = {
        mod: b.wheel(
            "prec",
            "1.0",
            {"prec/__init__.py": init, f"prec/{path.name}": path},
            out=f"wheel{mod}",
        )
        for mod, path in finals.items()
    }
    # One process per variant: ld.so reuses an already loaded libpick.so.1 (same SONAME),
    # so importing a second variant in the same process would not search again.
    check = _code(
        "import subprocess, sys",
        f"expected = {PRECEDENCE_LOADER_WITH_LDLP!r}",
        "for mod, want in expected.items():",
        "    code = f'import prec.{mod} as m; print(m.pick())'",
        "    out = subprocess.run([sys.executable, '-c', code], capture_output=True,",
        "                         text=True, check=True).stdout",
        "    assert int(out) == want, (mod, out, want)",
    )
    return b.scenario(
        wheel, [b.scenario_dirs["C"]], "prec._rpath", check, extra_wheels=extra_wheels
    )


def _wrong_class(b: _Builder) -> Scenario:
    lib64 = b.lib("wc.c", "libwc.so.1", defines=["WC_VALUE=64"])
    notes: list[str] = []
    try:
        lib32: Path = b.lib(
            "wc.c", "libwc.so.1", defines=["WC_VALUE=32"], extra=["-m32", "-nostdlib"]
        )
    except RuntimeError as exc:
        # No 32-bit toolchain: fall back to a copy claiming EM_386 (still ELFCLASS64).
        notes.append(f"gcc -m32 unavailable, using an e_machine=EM_386 copy: {exc}")
        lib32 = set_e_machine(lib64, b.tmp / "build32" / "libwc.so.1", EM_386)
    d32 = b.dir("lib32")
    d64 = b.dir("lib64")
    b.place("lib32", lib32)
    b.place("lib64", lib64)
    ext = b.ext("ext.c", "_ext", needs=[lib64], rpath=RPATH_PLACEHOLDER)
    ext_final = fill_rpath_placeholder(ext, b.tmp / "build" / ext.name, f"{d32}:{d64}")
    wheel = b.wheel(
        "wc", "1.0", {"wc/__init__.py": _init("wrong_class"), f"wc/{ext.name}": ext_final}
    )
    check = _code("import wc._ext as m", "assert m.bits() == 64, m.bits()")
    return b.scenario(wheel, [d32, d64], "wc._ext", check, notes=notes)


def _inwheel_rpath(b: _Builder) -> Scenario:
    inner = b.lib("inner.c", "libinner.so")
    ext = b.ext("ext.c", "_ext", needs=[inner], rpath="$ORIGIN/inner")
    wheel = b.wheel(
        "inwheel",
        "1.0",
        {
            "pkg/__init__.py": _init("inwheel_rpath"),
            f"pkg/{ext.name}": ext,
            "pkg/inner/libinner.so": inner,
        },
    )
    check = _code("import pkg._ext as m", "assert m.inner(1) == 1001")
    return b.scenario(wheel, [], "pkg._ext", check)


def _zlib_blacklist(b: _Builder) -> Scenario:
    # -l:libz.so.1 needs no zlib1g-dev; -z lazy keeps the zcalloc/zcfree PLT slots unbound
    # until called (never), so RTLD_LAZY imports work. Shared objects may have undefined
    # symbols by default, so no --allow-shlib-undefined is needed.
    ext = b.ext("ext.c", "_ext", extra=["-l:libz.so.1", "-Wl,-z,lazy"])
    wheel = b.wheel("zb", "1.0", {"zb/__init__.py": _init("zlib_blacklist"), f"zb/{ext.name}": ext})
    check = _code(
        "import os, sys, zlib",
        "sys.setdlopenflags(os.RTLD_LAZY)  # zcalloc/zcfree are never resolved",
        "import zb._ext as m",
        "assert m.crc32(b'wheelfix') == zlib.crc32(b'wheelfix')",
        "assert m.version().startswith('1.'), m.version()",
        "m.internal(1)",
    )
    return b.scenario(wheel, [], "zb._ext", check)


def _new_glibc(b: _Builder) -> Scenario:
    ext = b.ext("ext.c", "_ext")
    wheel = b.wheel("ng", "1.0", {"ng/__init__.py": _init("new_glibc"), f"ng/{ext.name}": ext})
    check = _code("import ng._ext as m", "assert m.closefrom_high() == 234")
    return b.scenario(wheel, [], "ng._ext", check)


def _pure(b: _Builder) -> Scenario:
    src = b.src / "purepkg" / "__init__.py"
    wheel = b.wheel(
        "purepkg",
        "1.0",
        {"purepkg/__init__.py": src},
        tag="py3-none-any",
        root_is_purelib=True,
    )
    check = _code("import purepkg", "assert purepkg.answer() == 42")
    return b.scenario(wheel, [], "purepkg", check)


def _foreign_arch(b: _Builder) -> Scenario:
    ext = b.ext("ext.c", "_ext")
    foreign = set_e_machine(ext, b.tmp / "build" / ext.name, EM_AARCH64)
    wheel = b.wheel(
        "fa", "1.0", {"fa/__init__.py": _init("foreign_arch"), f"fa/{ext.name}": foreign}
    )
    check = _code(
        "try:",
        "    import fa._ext",
        "except ImportError as exc:",
        "    print('not importable, as expected:', exc)",
        "else:",
        "    raise AssertionError('an aarch64 ELF imported on x86_64')",
    )
    return b.scenario(wheel, [], "fa._ext", check)


def _two_ext_shared(b: _Builder) -> Scenario:
    leaf = b.lib("leaf.c", "libleaf.so.1")
    shared = b.lib("shared.c", "libshared.so.1", needs=[leaf])
    a, bb = (
        b.ext(
            "ext.c",
            mod,
            defines=[f"MODNAME={mod}", f"EXT_BASE={base}"],
            needs=[shared],
            rpath_link=[leaf.parent],
        )
        for mod, base in (("a", 1), ("b", 2))
    )
    libs = b.dir("libs")
    b.place("libs", leaf)
    b.place("libs", shared)
    wheel = b.wheel(
        "twoext",
        "1.0",
        {
            "pkg/__init__.py": _init("two_ext_shared"),
            f"pkg/{a.name}": a,
            "pkg/sub/__init__.py": b"",
            "pkg/sub/deep/__init__.py": b"",
            f"pkg/sub/deep/{bb.name}": bb,
        },
    )
    check = _code(
        "import pkg.a, pkg.sub.deep.b",
        "assert pkg.a.value() == 11, 'shared(1) = leaf(1) + 1'",
        "assert pkg.sub.deep.b.value() == 21, 'shared(2) = leaf(2) + 1'",
    )
    return b.scenario(wheel, [libs], "pkg.a", check)


def _data_script(b: _Builder) -> Scenario:
    dsprog = b.lib("dsprog.c", "libdsprog.so.1")
    dsext = b.lib("dsext.c", "libdsext.so.1")
    prog = b.exe("prog.c", "prog", needs=[dsprog])
    ext = b.ext("ext.c", "_ext", needs=[dsext])
    libs = b.dir("libs")
    b.place("libs", dsprog)
    b.place("libs", dsext)
    wheel = b.wheel(
        "datascript",
        "1.0",
        {
            "ds/__init__.py": _init("data_script"),
            f"ds/{ext.name}": ext,
            "datascript-1.0.data/scripts/prog": prog,
        },
    )
    check = _code(
        "import pathlib, subprocess",
        "import ds._ext as m",
        "assert m.value() == 6",
        "root = pathlib.Path(m.__file__).parent.parent",
        "prog = root / 'datascript-1.0.data' / 'scripts' / 'prog'",
        "out = subprocess.run([str(prog)], capture_output=True, text=True, check=True).stdout",
        "assert out == 'prog 5\\n', out",
    )
    return b.scenario(wheel, [libs], "ds._ext", check)


def _example(b: _Builder) -> Scenario:
    demodep = b.lib("demodep.c", "libdemodep.so.1")
    demo = b.lib("demo.c", "libdemo.so.1", version_script="demo.map", needs=[demodep])
    ext = b.ext("ext.c", "_demo", needs=[demo], rpath_link=[demodep.parent])
    libs = b.dir("libs")
    b.place("libs", demodep)
    b.place("libs", demo)
    wheel = b.wheel(
        "demo",
        "0.1",
        {"demo/__init__.py": b.src / "demo" / "__init__.py", f"demo/{ext.name}": ext},
    )
    check = _code(
        "import demo",
        "text = demo.dump({'name': 'wheelfix', 'motto': 'fix: wheels', 'empty': ''})",
        "print(text, end='')",
        "assert text == \"name: wheelfix\\nmotto: 'fix: wheels'\\nempty: ''\\n\", text",
    )
    return b.scenario(wheel, [libs], "demo._demo", check)


#: Scenario name -> builder. Each builder reads ``fixtures/<name>/``.
SCENARIOS: dict[str, Callable[[_Builder], Scenario]] = {
    "versioned_chain": _versioned_chain,
    "stale_rpath": _stale_rpath,
    "precedence": _precedence,
    "wrong_class": _wrong_class,
    "inwheel_rpath": _inwheel_rpath,
    "zlib_blacklist": _zlib_blacklist,
    "new_glibc": _new_glibc,
    "pure": _pure,
    "foreign_arch": _foreign_arch,
    "two_ext_shared": _two_ext_shared,
    "data_script": _data_script,
    "example": _example,
}


#: ``scenario`` fixture type (conftest): ``scenario(name)`` -> a freshly built Scenario.
ScenarioFactory = Callable[[str], Scenario]
#: ``run_cli`` fixture type (conftest): ``run_cli([tool, *args], env=..., ...)``.
RunCli = Callable[..., "subprocess.CompletedProcess[str]"]


def build_scenario(name: str, cache_dir: Path, tmp_dir: Path) -> Scenario:
    """Build scenario ``name`` (a key of :data:`SCENARIOS`) under ``tmp_dir``."""
    try:
        builder = SCENARIOS[name]
    except KeyError:
        msg = f"unknown scenario {name!r}; known: {sorted(SCENARIOS)}"
        raise KeyError(msg) from None
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return builder(_Builder(name, cache_dir, tmp_dir))


def check_env(
    ld_library_path: Sequence[Path] | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with LD_LIBRARY_PATH set or removed."""
    env = dict(os.environ if base is None else base)
    env.pop("LD_LIBRARY_PATH", None)
    if ld_library_path:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(str(p) for p in ld_library_path)
    return env


def run_check_code(
    scenario: Scenario,
    site_dir: Path,
    ld_library_path: Sequence[Path] | None = None,
    *,
    code: str | None = None,
    wheel: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Unpack the wheel (default ``scenario.wheel``) into ``site_dir`` unless it exists,
    then run ``code`` (default ``scenario.check_code``) with a fresh interpreter that has
    ``site_dir`` on sys.path and LD_LIBRARY_PATH set to ``ld_library_path`` (unset when
    None/empty). Returns the CompletedProcess; the caller checks ``returncode``."""
    if not site_dir.exists():
        unpack_wheel(wheel or scenario.wheel, site_dir)
    env = check_env(ld_library_path)
    env["PYTHONPATH"] = str(site_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code if code is not None else scenario.check_code],
        cwd=site_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# --------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class ExpectedShow:
    """What ``auditwheel show --json`` says about a scenario wheel when LD_LIBRARY_PATH is the
    scenario's ``lib_dirs`` (and the AUDITWHEEL_* variables are unset).

    ``overall_tag``/``sym_tag``/``external_libs`` are the JSON fields of the same names
    (``external_libs`` as a set of sonames). ``resolved_from`` maps a soname to the
    ``Scenario.dirs`` key its JSON path must lie in. ``versioned_symbols`` is the JSON field.
    ``blacklisted`` is ``policy_upgrades[<lowest policy>]["blacklisted_symbols"]``. When
    auditwheel refuses the wheel (exit 1) the tags are None and ``error`` is a substring of
    the JSON ``error`` field.
    """

    overall_tag: str | None
    sym_tag: str | None
    external_libs: frozenset[str] = frozenset()
    resolved_from: Mapping[str, str] = field(default_factory=dict)
    versioned_symbols: Mapping[str, frozenset[str]] = field(default_factory=dict)
    blacklisted: Mapping[str, frozenset[str]] = field(default_factory=dict)
    error: str | None = None


_LINUX = "linux_x86_64"
_ML_2_5 = "manylinux_2_5_x86_64"
_ML_2_34 = "manylinux_2_34_x86_64"
_GLIBC_OLD = {"libc.so.6": frozenset({"GLIBC_2.2.5"})}
_GLIBC_234 = {"libc.so.6": frozenset({"GLIBC_2.2.5", "GLIBC_2.34"})}

#: The policy whose ``policy_upgrades`` entry carries the blacklist for ``blacklisted``.
LOWEST_POLICY = _ML_2_5

#: Observed with auditwheel 6.8.2 on x86_64 / glibc 2.36 (Debian 12, gcc 12). Every ELF links
#: libc.so.6 and the only libc symbol versions they pick up are GLIBC_2.2.5 (x86_64's base
#: version, e.g. __cxa_finalize) unless stated, so sym_tag is the lowest policy,
#: manylinux_2_5. Any external lib that is not on a manylinux whitelist drops overall_tag to
#: plain linux_x86_64. Versions from non-glibc libs (FOO_1.0, DEMO_1.1, ...) are listed in
#: versioned_symbols but never constrain a tag.
EXPECTED_SHOW: dict[str, ExpectedShow] = {
    # libbar is found through the ext's DT_RPATH, libfoo through libbar's own
    # DT_RUNPATH $ORIGIN (same dir); neither is whitelisted -> linux. The ext's verneed
    # has BAR_1.0 (libbar's version script) and libbar's has FOO_1.0. libbar/libfoo also
    # need ld-linux-x86-64.so.2 (GLIBC_2.3, __tls_get_addr for the TLS variable);
    # auditwheel skips ld-linux in versioned_symbols.
    "versioned_chain": ExpectedShow(
        _LINUX,
        _ML_2_5,
        frozenset({"libbar.so.1", "libfoo.so.1"}),
        resolved_from={"libbar.so.1": "libs", "libfoo.so.1": "libs"},
        versioned_symbols={
            **_GLIBC_OLD,
            "libbar.so.1": frozenset({"BAR_1.0"}),
            "libfoo.so.1": frozenset({"FOO_1.0"}),
        },
    ),
    # The stale DT_RPATH dir does not exist, the lib comes from LD_LIBRARY_PATH; it is
    # not whitelisted -> linux.
    "stale_rpath": ExpectedShow(
        _LINUX,
        _ML_2_5,
        frozenset({"libstale.so.1"}),
        resolved_from={"libstale.so.1": "libs"},
        versioned_symbols=_GLIBC_OLD,
    ),
    # All three variants in one wheel: auditwheel merges the per-ELF results into one
    # soname -> path dict and the last ELF in RECORD order wins; RECORD is sorted, so
    # prec/_runpath (DT_RUNPATH B) comes last and the JSON path is in B. See
    # PRECEDENCE_AUDITWHEEL for the single-variant wheels.
    "precedence": ExpectedShow(
        _LINUX,
        _ML_2_5,
        frozenset({"libpick.so.1"}),
        resolved_from={"libpick.so.1": "B"},
        versioned_symbols=_GLIBC_OLD,
    ),
    # The DT_RPATH lists lib32 (an ELFCLASS32 i386 libwc.so.1) before lib64; auditwheel
    # skips the incompatible one (class/machine check) like ld.so does -> lib64.
    "wrong_class": ExpectedShow(
        _LINUX,
        _ML_2_5,
        frozenset({"libwc.so.1"}),
        resolved_from={"libwc.so.1": "lib64"},
        versioned_symbols=_GLIBC_OLD,
    ),
    # libinner.so resolves (DT_RPATH $ORIGIN/inner) to a file inside the unpacked wheel,
    # which is not external: nothing to graft, so the wheel is already manylinux_2_5.
    "inwheel_rpath": ExpectedShow(_ML_2_5, _ML_2_5, versioned_symbols=_GLIBC_OLD),
    # libz.so.1 is whitelisted (so not in external_libs), but the ext references the
    # blacklisted zlib internals zcalloc/zcfree, which disqualifies every manylinux
    # policy -> overall linux even though sym_tag is manylinux_2_5.
    "zlib_blacklist": ExpectedShow(
        _LINUX,
        _ML_2_5,
        versioned_symbols=_GLIBC_OLD,
        blacklisted={"libz.so.1": frozenset({"zcalloc", "zcfree"})},
    ),
    # closefrom@GLIBC_2.34 lifts sym_tag (and, with no external libs, overall_tag) to
    # manylinux_2_34.
    "new_glibc": ExpectedShow(_ML_2_34, _ML_2_34, versioned_symbols=_GLIBC_234),
    # No ELF at all: "show" refuses (exit 1) unless --allow-pure-python-wheel is given.
    "pure": ExpectedShow(None, None, error="This does not look like a platform wheel"),
    # The only ELF claims aarch64 while the tag says x86_64: auditwheel ignores it and
    # then finds no ELF of the wheel's architecture (exit 1).
    "foreign_arch": ExpectedShow(
        None,
        None,
        error="no ELF executable or shared library file (including compiled Python C "
        "extension) with a 'x86_64' architecture found",
    ),
    # Both extensions need libshared; libleaf is reached only through libshared but is
    # still reported (external_libs is the transitive closure).
    "two_ext_shared": ExpectedShow(
        _LINUX,
        _ML_2_5,
        frozenset({"libleaf.so.1", "libshared.so.1"}),
        resolved_from={"libleaf.so.1": "libs", "libshared.so.1": "libs"},
        versioned_symbols=_GLIBC_OLD,
    ),
    # The .data/scripts executable is analysed too: its libdsprog.so.1 is reported next to
    # the extension's libdsext.so.1. Surprise: every executable linked on glibc >= 2.34
    # references __libc_start_main@GLIBC_2.34 (from Scrt1.o), so sym_tag is 2_34 here.
    "data_script": ExpectedShow(
        _LINUX,
        _ML_2_34,
        frozenset({"libdsext.so.1", "libdsprog.so.1"}),
        resolved_from={"libdsext.so.1": "libs", "libdsprog.so.1": "libs"},
        versioned_symbols=_GLIBC_234,
    ),
    # libdemo (DEMO_1.0/DEMO_1.1 used by the ext) needs libdemodep transitively; both
    # external and not whitelisted -> linux.
    "example": ExpectedShow(
        _LINUX,
        _ML_2_5,
        frozenset({"libdemo.so.1", "libdemodep.so.1"}),
        resolved_from={"libdemo.so.1": "libs", "libdemodep.so.1": "libs"},
        versioned_symbols={**_GLIBC_OLD, "libdemo.so.1": frozenset({"DEMO_1.0", "DEMO_1.1"})},
    ),
}

#: ``precedence`` single-variant wheels (``Scenario.extra_wheels``): the dir auditwheel
#: resolves libpick.so.1 to with LD_LIBRARY_PATH=C. auditwheel's lddtree searches
#: DT_RPATH, then DT_RUNPATH, then LD_LIBRARY_PATH, so ``_runpath`` gives B, whereas the real
#: ld.so searches LD_LIBRARY_PATH before DT_RUNPATH and loads C (see
#: PRECEDENCE_LOADER_WITH_LDLP: pick() == 3).
PRECEDENCE_AUDITWHEEL: dict[str, str] = {"_rpath": "A", "_runpath": "B", "_plain": "C"}


# --------------------------------------------------------------------------- repair scenarios
#
# Extra scenarios for the end-to-end repair tests (tests/test_repair.py). They are kept out
# of SCENARIOS (whose oracle tables cover exactly those) and built with
# build_repair_scenario(). Sources come from an existing fixtures/<dir> or are inline C.

#: ``inwheel_graft``: an in-wheel libinner.so that needs one in-wheel lib (through its own
#: DT_RUNPATH) and one external lib that must be grafted.
_INWHEEL_GRAFT_SOURCES: dict[str, str] = {
    "dep.c": "/* libdep.so.1: external, needed only by the in-wheel libinner.so. */\n"
    "int dep_value(int x) { return 3 * x; }\n",
    "helper.c": "/* libhelper.so: in the wheel (pkg/helpers/), via libinner's DT_RUNPATH. */\n"
    "int helper_value(int x) { return x + 1000; }\n",
    "inner.c": "/* pkg/inner/libinner.so: inner_value(x) = 3*x + x + 1000. */\n"
    "extern int dep_value(int x);\n"
    "extern int helper_value(int x);\n"
    "int inner_value(int x) { return dep_value(x) + helper_value(x); }\n",
}


def _use_sources(b: _Builder, fixture_dir: str, inline: Mapping[str, str] | None = None) -> None:
    """Point the builder at ``fixtures/<fixture_dir>`` plus ``inline`` sources (if any)."""
    src = FIXTURES_DIR / fixture_dir
    if inline:
        staged = b.tmp / "src"
        shutil.copytree(src, staged, dirs_exist_ok=True)
        for name, text in inline.items():
            (staged / name).write_text(text)
        src = staged
    b.src = src


def _inwheel_graft(b: _Builder) -> Scenario:
    # ext --DT_RPATH $ORIGIN/inner:<stale>--> pkg/inner/libinner.so (in the wheel)
    #   libinner --DT_RUNPATH $ORIGIN/../helpers--> pkg/helpers/libhelper.so (in the wheel)
    #   libinner --LD_LIBRARY_PATH--> libs/libdep.so.1 (external: grafted)
    _use_sources(b, "inwheel_rpath", _INWHEEL_GRAFT_SOURCES)
    dep = b.lib("dep.c", "libdep.so.1")
    helper = b.lib("helper.c", "libhelper.so")
    inner = b.lib("inner.c", "libinner.so", needs=[helper, dep], runpath="$ORIGIN/../helpers")
    ext = b.ext(
        "ext.c",
        "_ext",
        needs=[inner],
        rpath_link=[helper.parent, dep.parent],
        rpath=f"$ORIGIN/inner:{STALE_RPATH}",
    )
    libs = b.dir("libs")
    b.place("libs", dep)
    wheel = b.wheel(
        "inwg",
        "1.0",
        {
            "pkg/__init__.py": _init("inwheel_graft"),
            f"pkg/{ext.name}": ext,
            "pkg/inner/libinner.so": inner,
            "pkg/helpers/libhelper.so": helper,
        },
    )
    check = _code("import pkg._ext as m", "assert m.inner(2) == 1008, m.inner(2)")
    return b.scenario(wheel, [libs], "pkg._ext", check)


def _stale_runpath(b: _Builder) -> Scenario:
    # Like stale_rpath, but the ext and the external lib both carry a stale DT_RUNPATH.
    _use_sources(b, "stale_rpath")
    stale = b.lib("stale.c", "libstale.so.1", runpath=STALE_RPATH)
    ext = b.ext("ext.c", "_ext", needs=[stale], runpath=STALE_RPATH)
    libs = b.dir("libs")
    b.place("libs", stale)
    wheel = b.wheel(
        "stalerun",
        "1.0",
        {"stalerun/__init__.py": _init("stale_runpath"), f"stalerun/{ext.name}": ext},
    )
    check = _code("import stalerun._ext as m", "assert m.answer() == 42")
    return b.scenario(wheel, [libs], "stalerun._ext", check)


def _debug_chain(b: _Builder) -> Scenario:
    # versioned_chain built with -g (debug sections to strip); libs via LD_LIBRARY_PATH.
    _use_sources(b, "versioned_chain")
    foo = b.lib("foo.c", "libfoo.so.1", version_script="foo.map", extra=["-g"])
    bar = b.lib(
        "bar.c",
        "libbar.so.1",
        version_script="bar.map",
        needs=[foo],
        runpath="$ORIGIN",
        extra=["-g"],
    )
    ext = b.ext("ext.c", "_ext", needs=[bar], rpath_link=[foo.parent], extra=["-g"])
    libs = b.dir("libs")
    b.place("libs", foo)
    b.place("libs", bar)
    wheel = b.wheel(
        "dchain", "1.0", {"dchain/__init__.py": _init("debug_chain"), f"dchain/{ext.name}": ext}
    )
    check = _code(
        "import dchain._ext as m",
        "assert m.bar(20) == 41",
        "assert m.tls_count() == 1",
    )
    return b.scenario(wheel, [libs], "dchain._ext", check)


#: ``new_glibc_lib``: the external lib (not the extension) needs closefrom@GLIBC_2.34.
_NEW_GLIBC_LIB_SOURCES: dict[str, str] = {
    "newstale.c": "/* libstale.so.1 that references closefrom@GLIBC_2.34. */\n"
    "#define _GNU_SOURCE\n"
    "#include <unistd.h>\n"
    "int stale_answer(void) {\n"
    "    closefrom(1 << 20); /* no descriptor is that high: a no-op */\n"
    "    return 42;\n"
    "}\n",
}


def _new_glibc_lib(b: _Builder) -> Scenario:
    # The extension itself only uses GLIBC_2.2.5; its external lib lifts the wheel to 2.34.
    _use_sources(b, "stale_rpath", _NEW_GLIBC_LIB_SOURCES)
    lib = b.lib("newstale.c", "libstale.so.1")
    ext = b.ext("ext.c", "_ext", needs=[lib])
    libs = b.dir("libs")
    b.place("libs", lib)
    wheel = b.wheel(
        "ngl", "1.0", {"ngl/__init__.py": _init("new_glibc_lib"), f"ngl/{ext.name}": ext}
    )
    check = _code("import ngl._ext as m", "assert m.answer() == 42")
    return b.scenario(wheel, [libs], "ngl._ext", check)


#: Scenario name -> builder, for :func:`build_repair_scenario` (not part of SCENARIOS).
REPAIR_SCENARIOS: dict[str, Callable[[_Builder], Scenario]] = {
    "inwheel_graft": _inwheel_graft,
    "stale_runpath": _stale_runpath,
    "debug_chain": _debug_chain,
    "new_glibc_lib": _new_glibc_lib,
}


def build_repair_scenario(name: str, cache_dir: Path, tmp_dir: Path) -> Scenario:
    """Build ``name`` from :data:`SCENARIOS` or :data:`REPAIR_SCENARIOS` under ``tmp_dir``."""
    if name in SCENARIOS:
        return build_scenario(name, cache_dir, tmp_dir)
    try:
        builder = REPAIR_SCENARIOS[name]
    except KeyError:
        known = sorted({*SCENARIOS, *REPAIR_SCENARIOS})
        msg = f"unknown scenario {name!r}; known: {known}"
        raise KeyError(msg) from None
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return builder(_Builder(name, cache_dir, tmp_dir))
