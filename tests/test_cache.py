"""The content-addressed cache of rewritten, compressed grafted libraries."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from wheelbuild import Scenario
from wheelfix import AuditOptions, RepairOptions, repair
from wheelfix.cache import (
    DEFAULT_CACHE_MAX_BYTES,
    GraftCache,
    RewriteJob,
    Rewritten,
    cache_max_bytes,
    default_cache_dir,
    entry_key,
)
from wheelfix.deflate import compress_member
from wheelfix.elf import ElfEdit, Soname
from wheelfix.elf.worker import run_rewrite
from wheelfix.rewrite import sha256_file


def _repair(scenario: Scenario, out: Path, cache: Path | None) -> bytes:
    audit = AuditOptions(environ={"LD_LIBRARY_PATH": os.pathsep.join(map(str, scenario.lib_dirs))})
    options = RepairOptions(wheel_dir=out, cache_dir=cache)
    return repair(scenario.wheel, audit, options).output.read_bytes()


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.entry"))


def test_cold_warm_and_no_cache_write_the_same_wheel(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = scenario("two_ext_shared")
    cache = tmp_path / "cache"
    cold = _repair(built, tmp_path / "cold", cache)
    entries = _entries(cache)
    assert len(entries) == 2  # libshared and libleaf, the wheel's own ELFs are not cached
    warm = _repair(built, tmp_path / "warm", cache)
    assert warm == cold
    assert _repair(built, tmp_path / "none", None) == cold
    # The SBOM (which takes the hashes from the cache on a hit) is part of the bytes compared.
    with zipfile.ZipFile(
        tmp_path / "warm" / next(p.name for p in (tmp_path / "warm").iterdir())
    ) as zf:
        assert any(n.endswith("wheelfix.cdx.json") for n in zf.namelist())


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_damaged_entry_is_never_used_and_is_replaced(
    scenario, tmp_path: Path, damage: str
) -> None:  # type: ignore[no-untyped-def]
    built = scenario("two_ext_shared")
    cache = tmp_path / "cache"
    good = _repair(built, tmp_path / "cold", cache)
    for entry in _entries(cache):
        raw = bytearray(entry.read_bytes())
        if damage == "flip":
            raw[len(raw) // 2] ^= 0xFF
        elif damage == "truncate":
            raw = raw[: len(raw) - 10]
        else:
            raw = bytearray()
        entry.write_bytes(bytes(raw))
    assert _repair(built, tmp_path / "again", cache) == good
    store = GraftCache(cache)
    for entry in _entries(cache):
        assert store.load(entry.stem) is not None  # rewritten, whole again


def _value(payload: bytes) -> Rewritten:
    import hashlib

    return Rewritten(payload, hashlib.sha256(payload).hexdigest(), compress_member(payload, 6))


def test_round_trip_and_checks(tmp_path: Path) -> None:
    store = GraftCache(tmp_path)
    value = _value(b"\x7fELF" + bytes(range(256)) * 100)
    store.store("ab" * 32, value)
    loaded = store.load("ab" * 32)
    assert loaded is not None
    assert (loaded.data, loaded.sha256) == (value.data, value.sha256)
    assert loaded.stored is not None and value.stored is not None
    assert loaded.stored.data == value.stored.data
    assert loaded.stored.crc == value.stored.crc
    assert store.load("cd" * 32) is None
    # An entry renamed to another key is refused (the key is inside the checked entry).
    (tmp_path / "cd").mkdir()
    (tmp_path / "ab" / f"{'ab' * 32}.entry").rename(tmp_path / "cd" / f"{'cd' * 32}.entry")
    assert store.load("cd" * 32) is None


def test_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    value = _value(os.urandom(50_000))
    size = len(value.stored.data) if value.stored else 0
    store = GraftCache(tmp_path, max_bytes=int(2.5 * size) + 1000)
    keys = [f"{i:02x}" * 32 for i in range(3)]
    for age, key in enumerate(keys[:2]):
        store.store(key, value)
        path = tmp_path / key[:2] / f"{key}.entry"
        os.utime(path, (1000 + age, 1000 + age))
    assert store.load(keys[0]) is not None  # used: now the newest
    store.store(keys[2], value)
    assert store.load(keys[1]) is None
    assert store.load(keys[0]) is not None
    assert store.load(keys[2]) is not None


def test_a_hit_does_not_read_the_library(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = scenario("two_ext_shared")
    library = next(p for d in built.lib_dirs for p in sorted(d.iterdir()) if ".so" in p.name)
    edit = ElfEdit(soname=Soname("libx.so.1"), rpath="$ORIGIN")
    store = GraftCache(tmp_path / "cache")
    job = RewriteJob(
        name="lib",
        edit=edit,
        source=library,
        limit=1 << 30,
        level=6,
        source_sha256=sha256_file(library),
        cache=store,
    )
    first = run_rewrite(job)
    gone = RewriteJob(
        name="lib",
        edit=edit,
        source=tmp_path / "missing.so",
        limit=1 << 30,
        level=6,
        source_sha256=job.source_sha256,
        cache=store,
    )
    hit = run_rewrite(gone)  # the source is gone: only the cache can answer
    assert (hit.data, hit.sha256) == (first.data, first.sha256)
    assert hit.stored is not None and first.stored is not None
    assert hit.stored.data == first.stored.data
    other = RewriteJob(
        name="lib",
        edit=ElfEdit(rpath="$ORIGIN"),
        source=library,
        limit=1 << 30,
        level=6,
        source_sha256=job.source_sha256,
        cache=store,
    )
    assert run_rewrite(other).data != first.data  # another edit, another key


def test_keys_cover_every_input() -> None:
    edit = ElfEdit(rpath="$ORIGIN")
    base = entry_key("0" * 64, edit, 6, "1.0.0")
    assert base == entry_key("0" * 64, ElfEdit(rpath="$ORIGIN"), 6, "1.0.0")
    assert (
        len(
            {
                base,
                entry_key("1" * 64, edit, 6, "1.0.0"),
                entry_key("0" * 64, ElfEdit(rpath="$ORIGIN/x"), 6, "1.0.0"),
                entry_key("0" * 64, edit, 9, "1.0.0"),
                entry_key("0" * 64, edit, 6, "1.0.1"),
            }
        )
        == 5
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WHEELFIX_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}, Path("/c")),
        ({"XDG_CACHE_HOME": "/x"}, Path("/x/wheelfix")),
        ({"XDG_CACHE_HOME": "relative"}, Path.home() / ".cache" / "wheelfix"),
        ({}, Path.home() / ".cache" / "wheelfix"),
    ],
)
def test_default_cache_dir(environ: dict[str, str], expected: Path) -> None:
    assert default_cache_dir(environ) == expected


def test_cache_max_bytes() -> None:
    assert cache_max_bytes({}) == DEFAULT_CACHE_MAX_BYTES == 2 << 30
    assert cache_max_bytes({"WHEELFIX_CACHE_MAX_BYTES": "1000"}) == 1000
    assert cache_max_bytes({"WHEELFIX_CACHE_MAX_BYTES": "lots"}) == DEFAULT_CACHE_MAX_BYTES


def test_cli_fills_the_cache_dir_it_is_given(scenario, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = scenario("two_ext_shared")
    cache = tmp_path / "cli-cache"
    outputs = []
    for flags in ([], [], ["--no-cache"]):
        out = tmp_path / f"out{len(outputs)}"
        proc = run_cli(
            ["wheelfix", "repair", "-w", out, *flags, built.wheel],
            ld_library_path=built.lib_dirs,
            env={"WHEELFIX_CACHE_DIR": str(cache)},
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(Path(proc.stdout.splitlines()[0]).read_bytes())
    assert len(_entries(cache)) == 2
    assert outputs[0] == outputs[1] == outputs[2]
