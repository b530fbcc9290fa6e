"""A foreign-architecture Debian root for tests: arm64 ``.deb`` files fetched with the ordinary
``apt-get download`` (its own state directory under the test cache, the host's Debian sources,
``APT::Architecture=arm64``; nothing on the host is configured or installed), unpacked with
Python's own ``ar`` and ``tar`` reading, and an arm64 CPython from that root run under
``qemu-aarch64 -L <root>``; wheels for it installed by the host pip with ``--platform``.

Used by ``test_aarch64_host.py`` (wheelfix itself on an aarch64 CPython) and
``test_sysroot_pkgdb.py`` (a foreign root's dpkg database). Everything downloaded is kept under
``<test cache>/foreign-arm64`` (``debs/``, ``wheels/``, ``apt/``), so a warm cache needs no
network. A failed download returns its reason (a str) for the caller to skip with.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runtools import clean_env
from wheelbuild import REPO_ROOT, default_cache_dir

DEB_ARCH = "arm64"
QEMU = "qemu-aarch64"
MULTIARCH = "aarch64-linux-gnu"
PY = "python3.11"

#: What ``usr/bin/python3.11`` and its stdlib need (zlib, hashlib, ctypes; libsqlite3-0 is a
#: Depends of libpython3.11-stdlib) and LIEF's ``_lief.so`` (libstdc++6, libgcc-s1).
PYTHON_DEBS = (
    "base-files",
    "libc6",
    "libgcc-s1",
    "libstdc++6",
    "zlib1g",
    "libexpat1",
    "libffi8",
    "libssl3",
    "libbz2-1.0",
    "liblzma5",
    "libuuid1",
    "libcrypt1",
    "libsqlite3-0",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11-minimal",
)
#: ``libpython3.11-dev``: only its ``usr/include`` is unpacked (:func:`python_headers`).
HEADERS_DEB = "libpython3.11-dev"
INCLUDE_PREFIX = "usr/include/"

#: LIEF 1.0 publishes manylinux_2_28 (and musllinux_1_2) wheels for x86_64 and aarch64 only.
LIEF_PLATFORM = "manylinux_2_28_aarch64"
RUNTIME_REQUIREMENTS = ("lief>=1.0,<1.1", "click>=8.1", "packaging>=23.0", "deflate>=0.8.1")


def cache_dir() -> Path:
    """``<test cache>/foreign-arm64`` (created)."""
    (path := default_cache_dir() / f"foreign-{DEB_ARCH}").mkdir(parents=True, exist_ok=True)
    return path


def _run(
    argv: Sequence[str | os.PathLike[str]], **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [os.fspath(a) for a in argv],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def unavailable(reason: str) -> str:
    """The skip reason for a failed download (under ``CI=true``, saying what it suggests)."""
    if os.environ.get("CI") == "true":
        return f"CI=true, but a download failed (are the package registries reachable?): {reason}"
    return reason


def _last_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(("E:", "ERROR", "W:"))]
    return (lines or proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]


# --------------------------------------------------------------------------- apt-get download


def _is_debian_uri(uri: str) -> bool:
    return uri.rstrip("/").endswith(("/debian", "/debian-security"))


def debian_sources(etc_apt: Path = Path("/etc/apt")) -> str:
    """The host's apt sources for the Debian archive (``/debian``, ``/debian-security``), as
    one-line ``deb`` entries; other repositories and ``deb-src`` are dropped."""
    entries: list[str] = []
    for path in [etc_apt / "sources.list", *sorted(etc_apt.glob("sources.list.d/*.list"))]:
        for line in path.read_text(errors="replace").splitlines() if path.is_file() else ():
            words = line.split("#", 1)[0].split()
            if words[:1] == ["deb"] and any(map(_is_debian_uri, words)):
                entries.append(" ".join(words))
    for path in sorted(etc_apt.glob("sources.list.d/*.sources")):
        for fields in map(deb822_fields, path.read_text(errors="replace").split("\n\n")):
            if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
                continue
            key = fields.get("signed-by", "")
            options = f"[signed-by={key}] " if key.startswith("/") else ""
            for uri in filter(_is_debian_uri, fields.get("uris", "").split()):
                for suite in fields.get("suites", "").split():
                    entries.append(f"deb {options}{uri} {suite} {fields.get('components', 'main')}")
    return "".join(f"{entry}\n" for entry in dict.fromkeys(entries))


def deb822_fields(stanza: str) -> dict[str, str]:
    """One deb822 paragraph's single-line fields, by lower-case name."""
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1] in " \t":
            continue
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return fields


_APT_DIRS = (("Dir::State", "."), ("Dir::State::Lists", "lists"), ("Dir::State::status", "status"),
             ("Dir::Cache", "cache"), ("Dir::Etc::sourcelist", "sources.list"),
             ("Dir::Etc::sourceparts", "sources.list.d"),
             ("Dir::Etc::preferencesparts", "preferences.d"))  # fmt: skip


def _apt_options(state: Path) -> list[str]:
    """apt's state, cache and sources all under ``state``; arm64 the only architecture."""
    options = [f"-o{key}={state / sub}" for key, sub in _APT_DIRS]
    options += [f"-oAPT::Architecture={DEB_ARCH}", f"-oAPT::Architectures={DEB_ARCH}"]
    options.append("-oAcquire::Languages=none")
    if os.geteuid() == 0:  # root: no privilege drop to _apt for a cache dir it cannot write
        options.append("-oAPT::Sandbox::User=root")
    return options


def _cached_deb(directory: Path, package: str) -> Path | None:
    found = sorted(directory.glob(f"{package}_*_{DEB_ARCH}.deb"))
    return found[-1] if found else None


def fetch_debs(packages: Iterable[str]) -> dict[str, Path] | str:
    """Package name -> its cached arm64 ``.deb``, downloading what is missing (or why not)."""
    wanted = list(dict.fromkeys(packages))
    debs = cache_dir() / "debs"
    debs.mkdir(exist_ok=True)
    missing = [p for p in wanted if _cached_deb(debs, p) is None]
    if missing and (reason := _download(missing, debs)) is not None:
        return reason
    found = {p: path for p in wanted if (path := _cached_deb(debs, p)) is not None}
    absent = [p for p in wanted if p not in found]
    return f"apt-get download gave no .deb for {', '.join(absent)}" if absent else found


def _download(packages: Sequence[str], debs: Path) -> str | None:
    sources = debian_sources()
    if shutil.which("apt-get") is None or not sources:
        return "needs apt-get and the host's apt sources for Debian's archive"
    state = cache_dir() / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "sources.list").write_text(sources)
    (state / "status").touch()
    options = _apt_options(state)
    update = _run(["apt-get", *options, "-q", "update"], timeout=600)
    if update.returncode != 0:
        return f"apt-get update (arm64 lists) failed: {_last_error(update)}"
    scratch = debs / f".download-{os.getpid()}"
    scratch.mkdir(exist_ok=True)
    try:
        got = _run(["apt-get", *options, "-q", "download", *packages], cwd=scratch, timeout=600)
        if got.returncode != 0:
            why = f" (after apt-get update: {_last_error(update)})" if "W:" in update.stderr else ""
            return f"apt-get download {' '.join(packages)} failed: {_last_error(got)}{why}"
        for deb in scratch.glob("*.deb"):
            deb.replace(debs / deb.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(state / "lists", ignore_errors=True)  # 19 MB, fetched again before use
    return None


# --------------------------------------------------------------------------- .deb reading


def ar_members(data: bytes) -> dict[str, bytes]:
    """The members of an ``ar`` archive (a ``.deb``), by name."""
    assert data.startswith(b"!<arch>\n"), "not an ar archive"
    members: dict[str, bytes] = {}
    offset = 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size & 1)
    return members


def _tar(deb: Path, stem: str) -> tarfile.TarFile:
    members = ar_members(deb.read_bytes())
    for name, blob in members.items():
        if name.startswith(f"{stem}.tar"):  # .xz, .gz (Debian); tarfile cannot read .zst
            return tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")
    msg = f"{deb.name}: no {stem}.tar.* member"
    raise ValueError(msg)


def _clean(name: str) -> str | None:
    """``./usr/lib/x`` -> ``usr/lib/x``; None for the root entry or a path that escapes."""
    path = posixpath.normpath(name.lstrip("/").removeprefix("./") if name != "./" else ".")
    return None if path in (".", "") or path.startswith("..") else path


def deb_control(deb: Path) -> str:
    """The text of the ``control`` file (one deb822 paragraph)."""
    with _tar(deb, "control") as tar:
        member = next(m for m in tar.getmembers() if _clean(m.name) == "control")
        handle = tar.extractfile(member)
        assert handle is not None
        return handle.read().decode()


def deb_paths(deb: Path) -> list[str]:
    """What ``dpkg`` writes to ``info/<package>.list``: ``/.`` then every path, in tar order."""
    with _tar(deb, "data") as tar:
        names = [_clean(m.name) for m in tar.getmembers()]
    return ["/.", *(f"/{name}" for name in names if name is not None)]


def unpack_deb(deb: Path, dest: Path, prefixes: Sequence[str] = ()) -> None:
    """Unpack the data of ``deb`` into ``dest`` (only paths under ``prefixes``, if given).

    Absolute symlinks are rewritten relative to their own directory, so they resolve inside
    ``dest`` (qemu ``-L`` and a chroot would see the same file); hard links become copies.
    """
    with _tar(deb, "data") as tar:
        for member in tar.getmembers():
            name = _clean(member.name)
            if name is None or (prefixes and not name.startswith(tuple(prefixes))):
                continue
            target = dest / name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            if member.issym():
                link = member.linkname
                if link.startswith("/"):
                    link = posixpath.relpath(link.lstrip("/"), posixpath.dirname(name) or ".")
                target.symlink_to(link)
            elif member.islnk():
                source = _clean(member.linkname)
                assert source is not None, member.linkname
                shutil.copy2(dest / source, target)
            elif member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                target.write_bytes(handle.read())
                target.chmod(member.mode & 0o7777)


def make_root(debs: Mapping[str, Path], dest: Path) -> Path:
    """Unpack ``debs`` into ``dest``, an arm64 root, with what ``libc-bin`` would add.

    ``etc/ld.so.conf`` includes ``etc/ld.so.conf.d/*.conf`` (libc6's multiarch directories),
    as on a Debian system; an empty ``etc/ld.so.cache`` keeps qemu from handing the guest
    loader the host's cache. Debian's packages ship no ``.pyc`` files (they are compiled
    when installed), so when this interpreter is a 3.11 too (the same bytecode magic) the
    stdlib is compiled here: the emulated interpreter would compile it on every start.
    """
    for deb in debs.values():
        unpack_deb(deb, dest)
    if sys.version_info[:2] == (3, 11):
        compiled = _run([sys.executable, "-m", "compileall", "-q", "-j0", dest / "usr/lib" / PY])
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    (dest / "etc").mkdir(parents=True, exist_ok=True)
    (dest / "etc" / "ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (dest / "etc" / "ld.so.cache").write_bytes(b"")
    return dest


def python_headers(deb: Path) -> tuple[Path, Path]:
    """The ``-I`` directories of ``deb``'s (``libpython3.11-dev``) headers: ``Python.h``'s and
    the one above Debian's per-architecture ``pyconfig.h``. Unpacked once into the cache, at a
    path that does not change between runs (compile cache keys include it)."""
    final = cache_dir() / "headers" / deb.stem
    if not (final / INCLUDE_PREFIX / PY / "Python.h").is_file():
        scratch = final.with_name(f".{deb.stem}-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        unpack_deb(deb, scratch, prefixes=(INCLUDE_PREFIX,))
        try:
            scratch.rename(final)
        except OSError:  # another session won the race
            shutil.rmtree(scratch, ignore_errors=True)
    include = final / INCLUDE_PREFIX
    return include / PY, include


# --------------------------------------------------------------------------- the foreign Python


@dataclass(frozen=True)
class ForeignPython:
    """``usr/bin/python3.11`` of an arm64 root, run by ``qemu-aarch64 -L <root>``."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "usr" / "bin" / PY

    def run(
        self,
        args: Sequence[str | os.PathLike[str]],
        site: Path,
        guest_env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """``python3.11 -S ARGS`` with ``PYTHONPATH=site``: no site-packages of the root or
        the host (qemu falls back to host paths the root lacks). ``guest_env`` (e.g.
        ``LD_LIBRARY_PATH``) is set for the guest only (``qemu -E``), not for qemu itself."""
        sets = [arg for item in (guest_env or {}).items() for arg in ("-E", "=".join(item))]
        argv = [QEMU, "-L", self.root, *sets, self.python, "-S", *args]
        env = {k: v for k, v in clean_env().items() if not k.startswith("QEMU_")}
        env.update(LC_ALL="C", PYTHONPATH=str(site), PYTHONNOUSERSITE="1")
        return _run(argv, env=env, timeout=timeout)


# --------------------------------------------------------------------------- wheels for it


def _pip(*args: str | os.PathLike[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return _run(argv, env=clean_env(), timeout=timeout)


def _platform_args(platform: str = LIEF_PLATFORM) -> tuple[str, ...]:
    return ("--only-binary", ":all:", "--platform", platform, "--python-version", "3.11",
            "--implementation", "cp", "--abi", "cp311")  # fmt: skip


def runtime_wheels() -> Path | str:
    """A directory with LIEF's and libdeflate's aarch64 wheels, click and packaging (cached),
    or why not."""
    wheels = cache_dir() / "wheels"
    wheels.mkdir(exist_ok=True)
    if all(any(wheels.glob(f"{p}-*.whl")) for p in ("lief", "click", "packaging", "deflate")):
        return wheels
    scratch = wheels / f".download-{os.getpid()}"
    try:
        proc = _pip("download", "-q", *_platform_args(), "-d", scratch, *RUNTIME_REQUIREMENTS)
        if proc.returncode != 0:
            return f"pip download {' '.join(RUNTIME_REQUIREMENTS)} failed: {_last_error(proc)}"
        for wheel in scratch.glob("*.whl"):
            wheel.replace(wheels / wheel.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return wheels


def wheelfix_wheel(dest: Path) -> Path:
    """wheelfix's pure wheel built by ``pip wheel`` from a copy of the checkout's sources."""
    project = dest / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO_ROOT / "src", project / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO_ROOT / name, project / name)
    out = dest / "dist"
    proc = _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, project)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("wheelfix-*-py3-none-any.whl")
    return wheel


def pip_install_foreign(
    wheels: Sequence[Path], target: Path, find_links: Path | None = None, platform: str = ""
) -> None:
    """Host pip installs ``wheels`` (requirements from ``find_links``) for the aarch64 CPython
    3.11 into ``target``, offline, byte-compiled; ``platform`` is pip's ``--platform`` (LIEF's
    by default; pip does not expand ``manylinux_2_28`` to older tags)."""
    links = ["--find-links", find_links] if find_links is not None else []
    plat = _platform_args(platform or LIEF_PLATFORM)
    proc = _pip("install", "-q", "--no-index", *links, *plat, "--target", target, *wheels)
    assert proc.returncode == 0, proc.stderr
