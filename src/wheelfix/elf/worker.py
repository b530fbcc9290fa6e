"""Graft stage guard: rewrite untrusted ELF bytes in a worker process.

Most edits are made by the pure-Python byte editor (``elf.editing``); LIEF, imported only
when a file needs it, is C++, and on some corrupt inputs its writer segfaults or aborts
(found by fuzzing, see ``tests/test_fuzz.py``), which would kill wheelfix with no message.
:class:`ElfWorker` runs ``elf.parse_info``, ``elf.apply_edit`` and whole rewrites
(:func:`run_rewrite`: read a grafted library by path, edit, verify, hash, compress, cache;
only the compressed member goes back) in long-lived child processes, one per core
(``multiprocessing``, not an external program). If a child dies, the call raises
:class:`ElfWriteError` or :class:`InvalidElfError` naming the file (after a crash, rewrites
run one at a time so the culprit is known), and the next call starts fresh children.

Other LIEF failure modes on mutated-but-parseable input are contained too:

* Memory: on some inputs LIEF's writer tries to build a multi-gigabyte file (a 16 KB
  extension once took 25 s and 11 GB of RAM to come back as a 3.7 GB "ELF" that passed the
  verifier). Each call runs under an address-space limit (``RLIMIT_AS``) of the worker's
  current size plus :func:`memory_budget` of the input, so such an allocation fails at once
  and becomes an error for that file.
* Size: a rewrite that grows a file by more than :func:`size_limit` allows is refused
  (DT_NEEDED/SONAME/RPATH edits add at most a few pages).
* Signals: the terminal sends SIGINT (and a closing terminal SIGHUP, a CI runner SIGTERM) to
  the whole process group. The worker ignores them: the parent reports the interruption and
  stops the worker; otherwise the idle worker would die with a multiprocessing traceback.
* A dead parent: a forked worker inherits both ends of its own task pipe, so it would never
  see end-of-file if the parent were killed (SIGKILL, OOM killer) and would block forever,
  re-parented to init, holding the caller's stdout/stderr. A watchdog thread in the worker
  exits as soon as its parent process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Callable, TypeVar

from wheelfix.cache import RewriteJob, Rewritten, entry_key
from wheelfix.deflate import CHUNK_SIZE, compress_member, submit_member, usable_cores
from wheelfix.elf.editing import rewrite_elf
from wheelfix.elf.model import ElfEdit, ElfInfo
from wheelfix.elf.pagesize import verify_page_size
from wheelfix.elf.structs import read_header
from wheelfix.elf.verify import describe, verify_elf
from wheelfix.errors import ElfWriteError, InvalidElfError, VerificationError, WheelfixError
from wheelfix.hostfile import read_regular

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]

T = TypeVar("T")

_MEMORY_FLOOR = 1 << 30
"""Address space a call may add on top of the worker's own, at least (1 GiB)."""
_MEMORY_PER_INPUT_BYTE = 16
"""...plus this many bytes per input byte (LIEF needs about 4x the file size to rewrite it)."""
_GROWTH_SLACK = 16 << 20
"""A rewritten file may be this much (16 MiB) larger than twice its input."""


def memory_budget(size: int) -> int:
    """How much address space one LIEF call on a ``size``-byte file may add to the worker."""
    return _MEMORY_FLOOR + _MEMORY_PER_INPUT_BYTE * size


def size_limit(size: int) -> int:
    """The largest output :meth:`ElfWorker.apply_edit` accepts for a ``size``-byte input."""
    return 2 * size + _GROWTH_SLACK


_PARENT_POLL_SECONDS = 0.2
"""How often the worker's watchdog checks that its parent is alive."""

_PARENT_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
"""Signals sent to the whole process group that the parent handles (the worker ignores them)."""


def _watch_parent(parent: int) -> None:
    """Worker thread: end the worker once ``parent`` is no longer its parent process."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)


def _worker_setup(parent: int | None) -> None:
    """Worker initializer: leave group signals to the parent and die with it (``None``: the
    process that started this worker, a forkserver that ends with the parent)."""
    if parent is None:
        parent = os.getppid()
    for name in _PARENT_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_IGN)
    if os.getppid() != parent:  # the parent died while this worker was starting
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="wheelfix-parent-watch", daemon=True
    ).start()


def _address_space() -> int | None:
    """This process's current virtual size in bytes (``VmSize``), or None if unknown."""
    try:
        with Path("/proc/self/status").open(encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _capped(
    error: type[WheelfixError], name: str, budget: int, func: Callable[..., T], *args: object
) -> T:
    """Run ``func(*args)`` in the worker with at most ``budget`` more bytes of address space."""
    current = _address_space()
    previous = None
    if resource is not None and current is not None:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + budget
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        if soft == resource.RLIM_INFINITY or limit < soft:
            try:
                resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
                previous = (soft, hard)
            except (OSError, ValueError):
                previous = None
    try:
        return func(*args)
    except MemoryError:
        raise error(
            name, f"LIEF needed more than {budget >> 20} MiB of memory for this file"
        ) from None
    finally:
        if previous is not None and resource is not None:
            resource.setrlimit(resource.RLIMIT_AS, previous)


def _bounded(out: bytes, size: int, name: str) -> bytes:
    """``out``, unless it is far larger than the edits of a ``size``-byte file can explain."""
    if len(out) > size_limit(size):
        raise ElfWriteError(
            name, f"LIEF wrote {len(out)} bytes for a {size}-byte file (refusing it)"
        )
    return out


def _lief_write(data: bytes, edit: ElfEdit, name: str) -> bytes:
    """The LIEF fallback of ``rewrite_elf``: LIEF is imported only when a file needs it."""
    from wheelfix.elf.lief_io import lief_write

    return lief_write(data, edit, name)


def _parse_info(data: bytes, name: str) -> ElfInfo:
    """``elf.lief_io.parse_info`` (LIEF imported on first use)."""
    from wheelfix.elf.lief_io import parse_info

    return parse_info(data, name)


def apply_edit(data: bytes, edit: ElfEdit, name: str) -> bytes:
    """``elf.lief_io.apply_edit``, without importing LIEF unless a file needs it. Every
    rewrite goes through here; ``data`` is handed on, not kept (held once more at most)."""
    source = [data]
    del data
    return rewrite_elf(source, edit, name, _lief_write)


def _apply_edit_bounded(data: bytes, edit: ElfEdit, name: str) -> bytes:
    """:func:`apply_edit`, refusing an output far larger than the edits can explain."""
    return _bounded(apply_edit(data, edit, name), len(data), name)


def _lief_version() -> str:
    """LIEF's version, read from its metadata (without importing it, ~0.4 s)."""
    try:
        return importlib.metadata.version("lief")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def run_rewrite(job: RewriteJob) -> Rewritten:
    """One whole rewrite (in the worker, or in-process): cached result, else read, edit,
    verify against the loader's rules, hash, compress and store it in the cache."""
    key = None
    if job.cache is not None and job.source_sha256 is not None and job.level is not None:
        key = entry_key(job.source_sha256, job.edit, job.level, _lief_version())
        found = job.cache.load(key)
        if found is not None:
            return found
    if job.data is not None:
        out = _apply_edit_bounded(job.data, job.edit, job.name)
    else:
        assert job.source is not None
        # Read into a temporary that only apply_edit holds: at most twice in memory.
        out = apply_edit(
            read_regular(job.source, job.limit, "a shared library"), job.edit, job.name
        )
        out = _bounded(out, job.size, job.name)
    problems = verify_elf(out, verify_page_size(out, read_header(out, job.name).machine))
    if problems:
        raise VerificationError(
            job.name, f"rewritten file breaks a loader rule: {describe(problems)}"
        )
    if job.level is None:  # a wheel member: the writer compresses it
        return Rewritten(out, hashlib.sha256(out).hexdigest())
    # A grafted library goes back compressed only: what crosses the pipe, is cached and is
    # written is a third of the file, and the parent never holds the whole file.
    threads = min(usable_cores(), 1 + len(out) // CHUNK_SIZE)
    if threads > 1:
        with ThreadPoolExecutor(threads, thread_name_prefix="wheelfix-deflate") as pool:
            pending = submit_member(out, job.level, pool)
            digest = hashlib.sha256(out).hexdigest()  # here, while the pool deflates
            stored = pending.result()
    else:
        digest = hashlib.sha256(out).hexdigest()
        stored = compress_member(out, job.level)
    del out
    result = Rewritten(None, digest, stored)
    if key is not None and job.cache is not None:
        job.cache.store(key, result)
    return result


def rewrite_in_process(job: RewriteJob) -> Callable[[], Rewritten]:
    """No isolation: the rewrite runs when its result is asked for (``--no-isolate``)."""
    return partial(run_rewrite, job)


_KILL_WAIT_SECONDS = 5.0
"""How long :func:`_kill_workers` waits for killed workers to be gone."""


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """End ``pool``'s running calls now: kill its processes, and once they are gone close
    the parent's end of the pipe they answer through.

    A worker killed while it sends a result leaves half a message in that pipe; the pool's
    manager thread then waits for the rest forever, and so would ``shutdown`` and the
    interpreter's exit. With every writer gone the read sees end-of-file instead, the pool
    counts itself broken and stops. The executor has no public way to do this: its process
    table and result queue are attributes every Python version since 3.9 keeps.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.kill()
    sentinels = []
    for process in processes:
        with contextlib.suppress(ValueError):  # a process object already closed
            sentinels.append(process.sentinel)
    deadline = time.monotonic() + _KILL_WAIT_SECONDS
    while sentinels and time.monotonic() < deadline:
        gone = multiprocessing.connection.wait(sentinels, deadline - time.monotonic())
        sentinels = [s for s in sentinels if s not in gone]
    results = getattr(pool, "_result_queue", None)
    writer = getattr(results, "_writer", None)
    if writer is not None and not sentinels:
        with contextlib.suppress(OSError):
            writer.close()


class ElfWorker:
    """Worker processes that parse and rewrite ELF files; use as a context manager.

    ``jobs`` processes at most (default: the usable cores). ``start`` of them (at most
    ``jobs``) are forked in ``__enter__``, before the caller starts threads (forking a
    threaded process is unsafe); with ``start=0`` one starts on first use. :meth:`submit`
    queues a rewrite and returns a function that waits for its result. If a worker dies,
    every rewrite still pending is run again alone, one at a time in a fresh process, so the
    crash is reported for the file that caused it.
    """

    def __init__(self, jobs: int | None = None, *, start: int = 0) -> None:
        self.jobs = max(1, jobs if jobs is not None else usable_cores())
        self._start = max(0, min(start, self.jobs))
        self._pool: ProcessPoolExecutor | None = None
        self._serial = False
        """True after a crash: one rewrite at a time, so a crash names its file."""

    def _executor(self, workers: int = 1) -> ProcessPoolExecutor:
        if self._pool is None:
            # Forking a process with threads can deadlock (3.12+ warns): a forkserver then
            # (a fresh interpreter that imports LIEF again; only after a crash, or for a
            # caller that made threads itself).
            threaded = threading.active_count() > 1 and sys.version_info >= (3, 12)
            context = multiprocessing.get_context("forkserver" if threaded else "fork")
            parent = None if threaded else os.getpid()
            self._pool = ProcessPoolExecutor(
                max_workers=1 if self._serial else max(1, workers),
                mp_context=context,
                initializer=_worker_setup,
                initargs=(parent,),
            )
            self._pool.submit(int)  # fork every worker now, before any other thread exists
        return self._pool

    def _call(
        self, error: type[WheelfixError], name: str, func: Callable[..., T], *args: object
    ) -> T:
        try:
            return self._executor(self.jobs).submit(func, *args).result()
        except BrokenProcessPool:
            self.close()
            raise error(name, "LIEF crashed on this file (the worker process died)") from None

    def submit(self, job: RewriteJob) -> Callable[[], Rewritten]:
        """Start ``job`` (memory-capped) in a worker; the returned function waits for it."""
        args = (ElfWriteError, job.name, memory_budget(job.size), run_rewrite, job)
        if self._serial:
            return partial(self._call, ElfWriteError, job.name, _capped, *args)
        capped: Callable[..., Rewritten] = _capped
        future: Future[Rewritten] = self._executor(self.jobs).submit(capped, *args)
        return partial(self._wait, future, job)

    def _wait(self, future: Future[Rewritten], job: RewriteJob) -> Rewritten:
        try:
            return future.result()
        except BrokenProcessPool:
            # Some worker died; which file killed it is unknown: retry each alone.
            self.close(kill=True)
            self._serial = True
            args = (ElfWriteError, job.name, memory_budget(job.size), run_rewrite, job)
            result: Rewritten = self._call(ElfWriteError, job.name, _capped, *args)
            return result

    def parse_info(self, data: bytes, name: str) -> ElfInfo:
        """``elf.parse_info`` in the worker (memory-capped)."""
        budget = memory_budget(len(data))
        info: ElfInfo = self._call(
            InvalidElfError, name, _capped, InvalidElfError, name, budget, _parse_info, data, name
        )
        return info

    def apply_edit(self, data: bytes, edit: ElfEdit, name: str) -> bytes:
        """``elf.apply_edit`` in the worker (memory-capped, output size checked)."""
        budget = memory_budget(len(data))
        out: bytes = self._call(
            ElfWriteError,
            name,
            _capped,
            ElfWriteError,
            name,
            budget,
            _apply_edit_bounded,
            data,
            edit,
            name,
        )
        return out

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers; ``kill`` ends calls in progress instead of waiting for them."""
        if self._pool is None:
            return
        if kill:
            _kill_workers(self._pool)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def __enter__(self) -> ElfWorker:
        if self._start:
            self._executor(self._start)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Interrupted (Ctrl-C, SIGTERM): do not wait for a long LIEF call to finish.
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        self.close(kill=interrupted)
