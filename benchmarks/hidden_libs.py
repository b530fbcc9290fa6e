"""Run the repaired real wheels with the host's copies of the grafted libraries really hidden.

For each wheel built by ``build_real_wheels.sh``: repair it with wheelfix, install it into a
fresh target dir, then, inside a private mount namespace (``unshare -m``, needs root), bind
``/dev/null`` over every host library that was grafted and run ``compare.py``'s exercise for
the package. As a control, the *unrepaired* wheel is run the same way and must fail to import.

    python benchmarks/hidden_libs.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from importcheck import CHILD, make_xz_xml  # noqa: E402

WHEELS = HERE / ".cache" / "wheels"
GRAFTED = re.compile(r"^wheelfix: grafted \S+ \((.+)\) as \S+$")
KINDS = {"pyyaml": "pyyaml", "lxml": "lxml", "pillow": "pillow"}


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def hidden_run(target: Path, kind: str, hidden: list[str], xz: Path) -> dict[str, object]:
    binds = " && ".join(f"mount --bind /dev/null {h}" for h in hidden) or "true"
    script = f'{binds} && exec {sys.executable} -s -c "$CHILD" {kind} {target} {xz}'
    proc = run(
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        env={"CHILD": CHILD, "PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"ok": False, "error": proc.stderr.strip().splitlines()[-1:]}
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        xz = make_xz_xml(work)
        for wheel in sorted(WHEELS.glob("*linux_x86_64.whl")):
            kind = KINDS[wheel.name.split("-")[0]]
            out = work / f"out-{kind}"
            proc = run(sys.executable, "-m", "wheelfix", "repair", "-w", str(out), str(wheel))
            if proc.returncode != 0:
                print(f"{wheel.name}: repair failed: {proc.stderr}")
                failures += 1
                continue
            sources = [m.group(1) for m in map(GRAFTED.match, proc.stderr.splitlines()) if m]
            hidden = sorted({str(Path(s).resolve()) for s in sources})
            rows = {}
            for label, candidate in (("repaired", Path(proc.stdout.strip())), ("original", wheel)):
                target = work / f"site-{kind}-{label}"
                run(
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-deps",
                    "--no-index",
                    "--target",
                    str(target),
                    str(candidate),
                )
                rows[label] = hidden_run(target, kind, hidden, xz)
            ok = rows["repaired"].get("ok") is True and rows["original"].get("ok") is False
            failures += not ok
            print(
                f"{wheel.name}: {len(hidden)} host libraries hidden; repaired wheel "
                f"{'works' if rows['repaired'].get('ok') else 'FAILS: ' + str(rows['repaired'])};"
                f" unrepaired wheel {'fails as expected' if not rows['original'].get('ok') else 'still works?!'}"
                f" ({rows['original'].get('error')})"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
