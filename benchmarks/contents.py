"""Output comparison: what each tool's repaired wheel holds, and what each tool says of a wheel.

Platform tag, grafted set (``<dist>.libs/``), unpacked size, RECORD check, and the
``show --json`` documents of the two tools compared key by key.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path

from timing import TOOLS, run_tool


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
