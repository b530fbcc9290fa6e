"""Stopping the LIEF worker processes mid-call never hangs, and an interrupted writer leaves
no ``.part`` file, wherever the interrupt lands (regressions seen under load in CI)."""

from __future__ import annotations

import os
import struct
import threading
import time
from pathlib import Path

import pytest

from wheelfix import writer as writer_module
from wheelfix.elf.worker import ElfWorker
from wheelfix.writer import WheelWriter, ZipSettings


def test_killing_workers_while_a_result_is_half_sent_does_not_hang() -> None:
    # A worker killed while it sends its result leaves half a message in the result pipe;
    # the pool's manager thread then blocks reading the rest. Build that state exactly: a
    # worker busy in a call, and a message header promising more bytes than ever come.
    worker = ElfWorker(1, start=1).__enter__()
    pool = worker._executor()
    busy = pool.submit(time.sleep, 60)
    time.sleep(0.2)  # the call has reached the worker
    results = pool._result_queue  # type: ignore[attr-defined]
    os.write(results._writer.fileno(), struct.pack("!i", 1 << 20) + b"partial")
    time.sleep(0.2)  # the manager thread is now waiting inside recv()
    closed = threading.Event()

    def close() -> None:
        worker.close(kill=True)
        closed.set()

    threading.Thread(target=close, daemon=True).start()
    if not closed.wait(30):
        results._writer.close()  # what the fix does, so that this test run can go on
        closed.wait(30)
        pytest.fail("ElfWorker.close(kill=True) hung on a half-sent result")
    assert busy.done()


def test_an_interrupt_as_the_part_file_is_created_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C landing right after open() returned, before __enter__ returns (__exit__ never
    # runs then): the file, whose name was recorded first, is removed all the same.
    real_open = os.open

    def open_then_interrupt(path: str, flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)
        os.close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module.os, "open", open_then_interrupt)
    dest = tmp_path / "demo-1.0-py3-none-any.whl"
    with pytest.raises(KeyboardInterrupt):
        WheelWriter(dest, ZipSettings(), threads=1).__enter__()
    assert list(tmp_path.iterdir()) == []


def test_a_taken_part_name_is_skipped_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "demo-1.0-py3-none-any.whl"
    names = iter(["taken", "taken", "fresh"])
    monkeypatch.setattr(writer_module, "_random_suffix", lambda: next(names))
    theirs = tmp_path / f".{dest.name}.{os.getpid()}.taken.part"
    theirs.write_bytes(b"someone else's")
    with WheelWriter(dest, ZipSettings(), threads=1) as out:
        out.add("demo/__init__.py", b"", 0o644)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [theirs.name, f".{dest.name}.{os.getpid()}.fresh.part"]
        )
        out.finish("demo-1.0.dist-info")
    assert theirs.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([theirs.name, dest.name])
