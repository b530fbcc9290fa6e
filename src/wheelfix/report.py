"""Output stage: audit and repair results rendered as text or JSON (pure; returns strings).

``show --json`` follows auditwheel's ``show`` schema, version 1, so scripts written for
auditwheel work unchanged. Text output carries the same facts, sorted and stable.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wheelfix.elf import ElfHeader, Soname
from wheelfix.errors import WheelfixError
from wheelfix.policy import Policy
from wheelfix.policy.evaluate import Verdict
from wheelfix.resolve import ElfTree
from wheelfix.results import Audit, CheckResult
from wheelfix.target import tags_to_write

SCHEMA_VERSION = 1


def _paragraph(text: str) -> str:
    return "\n" + "\n".join(textwrap.wrap(text, break_long_words=False, break_on_hyphens=False))


def policy_upgrades(verdict: Verdict) -> dict[str, dict[str, Any]]:
    """For every policy better than the current one: what must be eliminated to reach it."""
    overall = verdict.show_overall
    upgrades: dict[str, dict[str, Any]] = {}
    for policy in verdict.policies.policies:
        if not policy > overall:
            continue
        refs = verdict.external[policy.name]
        entry: dict[str, Any] = {}
        if refs.libs:
            entry["libs_to_eliminate"] = sorted(refs.libs)
        if refs.blacklist:
            entry["blacklisted_symbols"] = {k: list(v) for k, v in sorted(refs.blacklist.items())}
        if entry:
            upgrades[policy.name] = entry
    return upgrades


def show_json(wheel: str, verdict: Verdict) -> str:
    """The ``show --json`` document for a platform wheel."""
    linux = verdict.policies.linux
    libs = verdict.external[verdict.policies.highest.name].libs
    document = {
        "version": SCHEMA_VERSION,
        "wheel": wheel,
        "pure": False,
        "overall_tag": verdict.show_overall.name,
        "sym_tag": verdict.sym.name,
        "pyfpe": verdict.pyfpe == linux,
        "ucs2": verdict.ucs == linux,
        "unsupported_isa": verdict.machine == linux,
        "versioned_symbols": {k: sorted(v) for k, v in sorted(verdict.versioned_symbols.items())},
        "external_libs": {k: str(v) if v else None for k, v in sorted(libs.items())},
        "policy_upgrades": policy_upgrades(verdict),
    }
    return json.dumps(document, indent=4)


def pure_json(wheel: str) -> str:
    """The ``show --json`` document for a pure wheel."""
    return json.dumps({"version": SCHEMA_VERSION, "wheel": wheel, "pure": True}, indent=4)


def error_json(wheel: str, message: str) -> str:
    """The ``show --json`` document for an error."""
    return json.dumps({"version": SCHEMA_VERSION, "wheel": wheel, "error": message}, indent=4)


def drivers_text(drivers: Mapping[str, str]) -> str:
    """``show``'s paragraph on never-grafted driver libraries ("" when there are none)."""
    if not drivers:
        return ""
    listed = ", ".join(f"{name} ({family})" for name, family in sorted(drivers.items()))
    return (
        _paragraph(
            "The wheel depends on driver libraries, which repair never grafts: they must come"
            f" from the user's machine: {listed}."
        )
        + "\n"
    )


def show_text(wheel: str, verdict: Verdict, *, verbose: bool = False) -> str:
    """The human-readable audit, in auditwheel's order, every list sorted."""
    linux = verdict.policies.linux
    out = [
        _paragraph(
            f'{wheel} is consistent with the following platform tag: "{verdict.show_overall.name}".'
        )
    ]
    stops = [
        (
            verdict.pyfpe == linux,
            "This wheel uses the PyFPE_jbuf function, which is not compatible"
            " with the manylinux/musllinux tags. (see https://www.python.org/dev/peps/pep-0513/"
            "#fpectl-builds-vs-no-fpectl-builds)",
        ),
        (
            verdict.ucs == linux,
            "This wheel is compiled against a narrow unicode (UCS2) version of"
            " Python, which is not compatible with the manylinux/musllinux tags.",
        ),
        (
            verdict.machine == linux,
            "This wheel depends on unsupported ISA extensions. Files: "
            + ", ".join(verdict.isa_offenders)
            + ".",
        ),
    ]
    for applies, message in stops:
        if applies:
            out.append(_paragraph(message))
            if not verbose:
                return "\n".join(out) + "\n"
    if verdict.versioned_symbols:
        listed = ", ".join(
            f"{lib} with versions {', '.join(sorted(v))}"
            for lib, v in sorted(verdict.versioned_symbols.items())
        )
        out.append(
            _paragraph(
                "The wheel references external versioned symbols in these"
                f" system-provided shared libraries: {listed}"
            )
        )
    else:
        out.append(
            _paragraph(
                "The wheel references no external versioned symbols from"
                " system-provided shared libraries."
            )
        )
    if verdict.sym < verdict.policies.highest:
        out.append(
            _paragraph(
                f'This constrains the platform tag to "{verdict.sym.name}". In order'
                " to achieve a more compatible tag, you would need to recompile a"
                " new wheel from source on a system with earlier versions of these"
                " libraries, such as a recent manylinux image."
            )
        )
        if not verbose:
            return "\n".join(out) + "\n"
    libs = verdict.external[verdict.policies.newest.name].libs
    if libs:
        out.append(_paragraph("The following external shared libraries are required by the wheel:"))
        out.append(
            json.dumps({k: str(v) if v else None for k, v in sorted(libs.items())}, indent=4)
        )
    else:
        out.append(_paragraph("The wheel requires no external shared libraries! :)"))
    out.extend(_upgrades_text(verdict))
    return "\n".join(out) + "\n"


def _upgrades_text(verdict: Verdict) -> list[str]:
    """``show``'s last sections: per better policy, the libraries and the black-listed symbols
    that stand in its way (auditwheel's layout: one heading, then one ``From`` line per library)."""
    out: list[str] = []
    for name, entry in policy_upgrades(verdict).items():
        if "libs_to_eliminate" in entry:
            out.append(
                _paragraph(
                    f"In order to achieve the tag platform tag {name!r} the following"
                    " shared library dependencies will need to be eliminated:"
                )
            )
            out.append(_paragraph(", ".join(entry["libs_to_eliminate"])))
        blacklisted = entry.get("blacklisted_symbols", {})
        if blacklisted:
            out.append(
                _paragraph(
                    f"In order to achieve the tag platform tag {name!r} the following"
                    " black-listed symbol dependencies will need to be eliminated:"
                )
            )
        for lib, symbols in blacklisted.items():
            out.append(_paragraph(f"From {lib}: " + ", ".join(symbols)))
    return out


def eligible_line(audit: Audit, target: Policy, plat: str, *, only_plat: bool) -> str | None:
    """auditwheel's note when an explicit ``--plat`` is below what the repaired wheel meets
    (repair then writes the better tag too); None otherwise."""
    if plat == "auto" or only_plat:
        return None
    best = tags_to_write(audit, target, only_plat=False)[0]
    if best == target.name:
        return None
    return (
        "Wheel is eligible for a higher priority tag. You requested"
        f" {target.name} but I have found this wheel is eligible for {best}."
    )


def excluded_lines(trees: Iterable[ElfTree]) -> list[str]:
    """``repair``'s stderr lines for ``--exclude``: ``Excluding <soname>`` (auditwheel's
    words) once per library a pattern kept out, sorted; driver libraries have their own."""
    names = {name for tree in trees for name in tree.excluded if name not in tree.drivers}
    return [f"Excluding {name}" for name in sorted(names)]


def check_text(result: CheckResult) -> str:
    """``check``'s one line of success."""
    if result.pure:
        return f"{result.wheel}: pure Python wheel, OK"
    return f"{result.wheel}: OK (consistent with {result.consistent_with})"


_MACHINES = {
    3: "EM_386",
    21: "EM_PPC64",
    22: "EM_S390",
    40: "EM_ARM",
    62: "EM_X86_64",
    183: "EM_AARCH64",
    243: "EM_RISCV",
    258: "EM_LOONGARCH",
}
_OSABIS = {0: "ELFOSABI_SYSV", 3: "ELFOSABI_LINUX"}


def _platform(header: ElfHeader) -> dict[str, Any]:
    """auditwheel's per-file ``platform`` object, with plain values instead of reprs."""
    return {
        "_elf_osabi": _OSABIS.get(header.osabi, f"ELFOSABI_{header.osabi}"),
        "_elf_class": header.elf_class,
        "_elf_little_endian": header.little_endian,
        "_elf_machine": _MACHINES.get(header.machine, f"EM_{header.machine}"),
        "_base_arch": header.arch,
        "_ext_arch": None,
        "_error_msg": None,
    }


def check_json(rows: Sequence[tuple[str, CheckResult | WheelfixError]]) -> str:
    """``check --json``: one document for every wheel checked, in the order given."""
    wheels: list[dict[str, Any]] = []
    for name, outcome in rows:
        if isinstance(outcome, CheckResult):
            wheels.append(
                {
                    "wheel": name,
                    "ok": True,
                    "pure": outcome.pure,
                    "checked": list(outcome.checked),
                    "consistent_with": outcome.consistent_with,
                }
            )
        else:
            wheels.append(
                {
                    "wheel": name,
                    "ok": False,
                    "exit_code": outcome.exit_code,
                    "error": f"{outcome.subject}: {outcome.reason}",
                }
            )
    return json.dumps({"version": SCHEMA_VERSION, "wheels": wheels}, indent=4)


def tree_document(tree: ElfTree, libc: str | None = None) -> dict[str, Any]:
    """One resolved tree as a JSON-ready dict (``lddtree``): auditwheel 6.8's keys, plus
    wheelfix's (``arch``, ``machine``, ``soname``, ``excluded``; per library ``in_wheel`` and
    ``found_via``, the search step that found it)."""
    info = tree.root.info
    header = info.header
    path = tree.root.path
    return {
        "interpreter": info.interpreter,
        "libc": libc,
        "path": path,
        "realpath": os.path.realpath(path),
        "platform": _platform(header),
        "needed": list(info.needed),
        "rpath": list(info.rpath),
        "runpath": list(info.runpath),
        "libraries": {
            name: {
                "soname": name,
                "path": str(lib.realpath) if lib.realpath else lib.member,
                "realpath": os.path.realpath(lib.realpath) if lib.realpath else None,
                "platform": _platform(lib.info.header) if lib.info is not None else None,
                "needed": list(lib.needed),
                "in_wheel": lib.member is not None,
                "found_via": lib.found_via,
            }
            for name, lib in tree.libraries.items()
        },
        "arch": header.arch,
        "elf_class": header.elf_class,
        "little_endian": header.little_endian,
        "machine": header.machine,
        "soname": info.soname,
        "excluded": sorted(tree.excluded),
    }


def tree_json(tree: ElfTree, libc: str | None = None) -> str:
    """``lddtree`` output (the default; ``--json``)."""
    return json.dumps(tree_document(tree, libc), indent=4)


def tree_text(tree: ElfTree) -> str:
    """``lddtree`` text output: the tree, indented by depth, like the classic lddtree."""
    lines = [f"{tree.root.path} (interpreter => {tree.root.info.interpreter or 'none'})"]
    libraries = tree.libraries
    shown: set[str] = set()

    def walk(names: tuple[Soname, ...], depth: int) -> None:
        for name in names:
            lib = libraries.get(name)
            if lib is None:
                continue
            where = str(lib.realpath) if lib.realpath else (lib.member or lib.found_via)
            lines.append(f"{'    ' * depth}{name} => {where}")
            if name not in shown:
                shown.add(name)
                walk(lib.needed, depth + 1)

    walk(tree.root.info.needed, 1)
    return "\n".join(lines) + "\n"
