"""progress: a driver script run on a real pseudo-terminal (its stderr is the pty's slave, 60
columns wide; the master side is read back, exactly and as a terminal would show it), on a
pipe and quiet; NO_COLOR and TERM=dumb; redraw throttling with an injected clock; sizes and
summary wording."""

from __future__ import annotations

import errno
import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap

import pytest

from wheelfix.progress import (
    LARGE_MEMBER,
    StatusRenderer,
    WheelSummary,
    human_size,
    summary_line,
)

DEMO = "demo-1.0-cp311-cp311-linux_x86_64.whl"
BAD = "bad-1.0-cp311-cp311-linux_x86_64.whl"
SUMMARY = WheelSummary(DEMO, "manylinux_2_17_x86_64", 2, 1_468_006, 0.84)

DRIVER = textwrap.dedent(
    f"""
    import sys
    from wheelfix.progress import StatusRenderer, WheelSummary

    now = [0.0]
    quiet = sys.argv[1] == "quiet"
    with StatusRenderer(quiet=quiet, clock=lambda: now[0]) as status:
        status.wheel_started({DEMO!r}, 1, 2)
        now[0] = 0.05
        status("rewriting demo/_ext.so")  # too soon after the last draw: not drawn
        now[0] = 0.2
        status.member_progress("demo.libs/libbig.so", 3 << 20, 4 << 20)
        status.member_progress("demo/small.so", 10, 100)  # small: never drawn
        now[0] = 0.25
        status("warning: libcuda.so.1 is a driver library: not grafted")
        status.wheel_done(WheelSummary({DEMO!r}, "manylinux_2_17_x86_64", 2, 1468006, 0.84))
        now[0] = 1.0
        status.wheel_started({BAD!r}, 2, 2)
        now[0] = 1.3
        status("target manylinux_2_17_x86_64")
        status.error({BAD!r} + ": not a zip archive")
        status.wheel_started({BAD!r}, 2, 2)  # left on screen for close() to wipe
    """
)


_PASSED = {
    name: os.environ[name]
    for name in ("PATH", "PYTHONPATH", "WHEELFIX_CACHE_DIR")
    if name in os.environ
}
"""The driver's environment: nothing of the caller's but where to find Python and wheelfix."""


def _run_on_pty(mode: str, env: dict[str, str], columns: int = 60) -> bytes:
    """Run the driver with stderr on a fresh pty slave; everything the master reads."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", DRIVER, mode],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
            env={**_PASSED, **env},
        )  # fmt: skip
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError as exc:  # EIO: every slave descriptor is closed
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert child.wait(timeout=60) == 0
    return b"".join(chunks)


def _screen(output: bytes) -> list[str]:
    """What a terminal shows after ``output``: carriage returns, newlines, SGR colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output.decode("utf-8"))
    lines: list[list[str]] = [[]]
    row = col = 0
    for char in text:
        if char == "\r":
            col = 0
        elif char == "\n":
            row += 1
            if row == len(lines):
                lines.append([])
        else:
            line = lines[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = char
            col += 1
    return ["".join(line).rstrip() for line in lines]


# 60 columns, one kept free so that the line never wraps; a long wheel name gives way first
FIRST = f"wheelfix: [1/2] {DEMO}"
BIG = "wheelfix: [1/2] demo-....whl: demo.libs/libbig.so 75% of 4."
SECOND = f"wheelfix: [2/2] {BAD}"
TARGET = "wheelfix: [2/2] bad-1...4.whl: target manylinux_2_17_x86_64"
WARNING = "warning: libcuda.so.1 is a driver library: not grafted"
REPAIRED = "repaired " + summary_line(SUMMARY)[len("repaired ") :]
ERROR = f"{BAD}: not a zip archive"


def _wipe(text: str) -> str:
    return "\r" + " " * len(text) + "\r"


def test_pty_status_line_colour() -> None:
    output = _run_on_pty("normal", {"TERM": "xterm"})
    expected = (
        f"\r{FIRST}"
        f"\r{BIG}"
        f"{_wipe(BIG)}wheelfix: \x1b[33mwarning:\x1b[0m{WARNING[8:]}\r\n"
        f"\r{BIG}"
        f"{_wipe(BIG)}wheelfix: \x1b[32mrepaired\x1b[0m{REPAIRED[8:]}\r\n"
        f"\r{SECOND}"
        f"\r{TARGET}{_wipe(TARGET)}"
        f"wheelfix: \x1b[31merror:\x1b[0m {ERROR}\r\n"
        f"\r{SECOND}{_wipe(SECOND)}"
    )
    assert output.decode() == expected
    assert len(BIG) == len(TARGET) == 59
    # what the terminal shows at the end: the three lines and an empty status line
    assert _screen(output) == [
        f"wheelfix: {WARNING}",
        f"wheelfix: {REPAIRED}",
        f"wheelfix: error: {ERROR}",
        "",
    ]


@pytest.mark.parametrize("env", [{"TERM": "xterm", "NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_pty_without_colour(env: dict[str, str]) -> None:
    output = _run_on_pty("normal", env)
    assert b"\x1b" not in output
    assert output.count(b"\r") > 6  # still a status line
    assert _screen(output)[:3] == [
        f"wheelfix: {WARNING}",
        f"wheelfix: {REPAIRED}",
        f"wheelfix: error: {ERROR}",
    ]


def test_pty_empty_no_color_still_colours() -> None:
    assert b"\x1b[32mrepaired" in _run_on_pty("normal", {"TERM": "xterm", "NO_COLOR": ""})


def test_pty_quiet_prints_only_the_error() -> None:
    output = _run_on_pty("quiet", {"TERM": "xterm"})
    assert output == f"wheelfix: \x1b[31merror:\x1b[0m {ERROR}\r\n".encode()


def test_pty_wide_terminal_keeps_the_whole_line() -> None:
    output = _run_on_pty("normal", {"TERM": "xterm", "NO_COLOR": "1"}, columns=200)
    assert f"\rwheelfix: [1/2] {DEMO}: demo.libs/libbig.so 75% of 4.0 MiB".encode() in output


@pytest.mark.parametrize("mode", ["normal", "quiet"])
def test_pipe_has_no_status_line(mode: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", DRIVER, mode],
        capture_output=True, text=True, check=True, env={**os.environ, "TERM": "xterm"},
    )  # fmt: skip
    # On a pipe: warnings and errors only (the summary line is for terminals and -v).
    lines = [f"wheelfix: {WARNING}\n"] if mode == "normal" else []
    assert run.stderr == "".join(lines) + f"wheelfix: error: {ERROR}\n"
    assert run.stdout == ""


# --------------------------------------------------------------------------------------------
# In-process: throttling and wording


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tty_renderer() -> tuple[StatusRenderer, io.StringIO, _Clock]:
    stream, clock = io.StringIO(), _Clock()
    renderer = StatusRenderer(stream, tty=True, environ={"NO_COLOR": "1"}, clock=clock, width=200)
    return renderer, stream, clock


def test_throttled_to_ten_redraws_a_second() -> None:
    renderer, stream, clock = _tty_renderer()
    renderer.wheel_started("w.whl", 1, 1)
    assert stream.getvalue() == "\rwheelfix: w.whl"
    total = 32 * LARGE_MEMBER
    for step in range(1, 33):  # 32 updates over one second, 1/32 s apart (exact in binary)
        clock.now += 1 / 32
        renderer.member_progress("big.so", step * LARGE_MEMBER, total)
    draws = stream.getvalue().count("\r")
    assert draws == 1 + 8  # the first draw, then every fourth update (0.125 s >= 0.1 s)
    assert stream.getvalue().endswith("\rwheelfix: w.whl: big.so 100% of 32.0 MiB")
    assert "big.so 9% " not in stream.getvalue()  # update 3 came 0.09375 s after the draw
    assert "big.so 12% " in stream.getvalue()
    renderer.close()
    renderer.close()
    assert stream.getvalue().endswith(
        "\r" + " " * len("wheelfix: w.whl: big.so 100% of 32.0 MiB") + "\r"
    )


def test_shorter_status_overwrites_a_longer_one() -> None:
    renderer, stream, clock = _tty_renderer()
    renderer.wheel_started("w.whl", 1, 1)
    clock.now += 1
    renderer("rewriting a-long-member-name.so")
    clock.now += 1
    renderer("writing")
    assert stream.getvalue() == (
        "\rwheelfix: w.whl"
        "\rwheelfix: w.whl: rewriting a-long-member-name.so"
        "\rwheelfix: w.whl: writing" + " " * 24
    )
    assert _screen(stream.getvalue().encode()) == ["wheelfix: w.whl: writing"]


def test_verbose_steps_are_lines_and_quiet_hides_warnings() -> None:
    stream = io.StringIO()
    renderer = StatusRenderer(stream, tty=False, verbose=True)
    renderer("target manylinux_2_17_x86_64")
    renderer.line("grafted libz.so.1 as demo.libs/libz-0a1b2c3d.so.1")
    assert stream.getvalue() == (
        "wheelfix: target manylinux_2_17_x86_64\n"
        "wheelfix: grafted libz.so.1 as demo.libs/libz-0a1b2c3d.so.1\n"
    )
    quiet = io.StringIO()
    renderer = StatusRenderer(quiet, tty=True, quiet=True, verbose=True)
    renderer.wheel_started("w.whl", 1, 1)
    renderer("warning: something")
    renderer.line("grafted")
    renderer.wheel_done(SUMMARY)
    assert quiet.getvalue() == ""
    assert not renderer.status_line


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1_468_006, "1.4 MiB"),
        (5 << 30, "5.0 GiB"),
        (3 << 40, "3072.0 GiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("grafted", "words"),
    [(0, "no libraries grafted"), (1, "1 library grafted"), (2, "2 libraries grafted")],
)
def test_summary_line(grafted: int, words: str) -> None:
    summary = WheelSummary(DEMO, "manylinux_2_17_x86_64", grafted, 1_468_006, 0.84)
    assert summary_line(summary) == (
        f"repaired {DEMO} -> manylinux_2_17_x86_64, {words}, 1.4 MiB, 0.8 s"
    )


def test_clear_line_wipes_the_status_before_stdout_output() -> None:
    renderer, stream, clock = _tty_renderer()
    renderer.wheel_started("w.whl", 1, 1)
    clock.now += 1
    renderer("rewriting lib.so")
    renderer.clear_line()
    shown = len("wheelfix: w.whl: rewriting lib.so")
    assert stream.getvalue().endswith("\r" + " " * shown + "\r")
    assert _screen(stream.getvalue().encode()) == [""]
    renderer.clear_line()  # nothing on screen: nothing written
    assert stream.getvalue().endswith("\r" + " " * shown + "\r")
