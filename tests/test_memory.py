"""wheelfix.memory: with glibc's mmap threshold fixed, freed large blocks leave the process
(measured in fresh interpreters: VmRSS after freeing, against a control without the call)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from runtools import REPO_ROOT

PROBE = """
import sys
from pathlib import Path
sys.path.insert(0, {src!r})
from wheelfix.memory import return_large_blocks

def rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

fixed = return_large_blocks() if sys.argv[1] == "fixed" else False
big = bytearray(16 << 20)  # freeing it raises glibc's dynamic threshold to 16 MiB
del big
before = rss_mib()
kept, blocks = [], []
for i in range(120):  # 1 MiB blocks with small live objects between them (no heap trim)
    blocks.append(bytearray(b"x" * (1 << 20)))
    kept.append(bytes(64 + i))
del blocks
print(fixed, rss_mib() - before)
"""


def _retained(mode: str) -> tuple[bool, int]:
    code = PROBE.format(src=str(REPO_ROOT / "src"))
    out = subprocess.run(
        [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_freed_large_blocks_leave_the_process() -> None:
    fixed, retained = _retained("fixed")
    assert fixed
    assert retained < 16, f"{retained} MiB kept after freeing 120 MiB"
    control_fixed, control = _retained("control")
    assert not control_fixed
    assert control >= retained + 16, f"the control kept only {control} MiB"
