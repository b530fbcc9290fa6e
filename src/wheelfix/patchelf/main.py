"""``wheelfix patchelf`` / ``wheelfix-patchelf``: one patchelf invocation, file by file.

:func:`main` parses the command line, then for each file: reads it, runs the options
(``edits``), hands what did not fit in place to LIEF (``lief_ops``), checks the result
(the new dynamic facts are there, and ``wheelfix.elf.verify`` finds no loader invariant the
input did not already break) and writes it (``files``). Like patchelf it stops at the
first failing file, printing ``patchelf: <message>`` and returning 1.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, TextIO

from wheelfix.elf.structs import page_size_for as page_size_for_machine
from wheelfix.elf.verify import describe, verify_elf
from wheelfix.patchelf import PatchelfError, args
from wheelfix.patchelf.append import page_size, relocate
from wheelfix.patchelf.edits import patch
from wheelfix.patchelf.elfview import DT_RPATH, DT_RUNPATH, DT_SONAME, ElfView
from wheelfix.patchelf.files import read_bytes, read_text, write_bytes
from wheelfix.patchelf.state import Patch


def main(
    argv: list[str],
    prog: str = "patchelf",
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run patchelf's command line ``argv`` (without the program name); the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        opts = args.parse(argv, read_text)
        if opts.action in ("usage", "help"):
            err.write(args.HELP.format(prog=prog))
            return 1 if opts.action == "usage" else 0
        if opts.action == "version":
            out.write(args.VERSION + "\n")
            return 0
        debug_on = opts.debug or os.environ.get("PATCHELF_DEBUG") is not None

        def debug(text: str) -> None:
            if debug_on:
                err.write(text)

        def warn(text: str) -> None:
            err.write(text)

        for name in opts.files:
            _patch_file(name, opts, out, debug, warn)
    except PatchelfError as exc:
        out.flush()
        err.write(f"patchelf: {exc.message}\n")
        return 1
    return 0


def _patch_file(
    name: str,
    opts: args.Options,
    out: TextIO,
    debug: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    printing = opts.print_interpreter or opts.print_rpath or opts.print_soname
    if not (printing or opts.print_needed):
        debug(f"patching ELF file '{name}'\n")
    data = read_bytes(name)

    def emit(line: str) -> None:
        out.write(line + "\n")

    state = patch(data, opts, emit, debug, warn)
    result = bytes(state.work.data)
    growth = state.work.growth()
    if not growth.is_empty:
        debug("moving the grown tables to a segment at the end of the file\n")
        _warn_unnamed_sections(state)
        result = relocate(result, growth, page_size(state.work.view.e_machine, opts.page_size))
    if not state.plan.is_empty:
        from wheelfix.patchelf.lief_ops import rewrite

        debug("rewriting the file with LIEF\n")
        result = rewrite(result, state.plan)
        _check_landed(result, state)
    target = opts.output or name
    if state.changed and result != data:
        _verify(result, data)
    if opts.output or result != data:
        debug(f"writing {target}\n")
        write_bytes(target, result)


def _verify(result: bytes, original: bytes) -> None:
    """Refuse output that breaks a loader invariant the input kept."""
    machine = ElfView(result).e_machine
    page = page_size_for_machine(machine)
    before = {v.rule for v in verify_elf(original, page)}
    new = [v for v in verify_elf(result, page) if v.rule not in before]
    if new:
        raise PatchelfError(f"the rewritten file would be unsound: {describe(tuple(new))}")


def _check_landed(result: bytes, state: Patch) -> None:
    """The edits LIEF made must be visible in its output."""
    view = ElfView(result)
    plan = state.plan
    wrong = []
    if plan.interpreter is not None and view.interpreter() != plan.interpreter:
        wrong.append("interpreter")
    string_tags = (DT_SONAME, DT_RPATH, DT_RUNPATH)
    names = {e.tag: view.string(e.value) for e in view.dynamic() if e.tag in string_tags}
    if plan.soname is not None and names.get(DT_SONAME) != plan.soname:
        wrong.append("soname")
    if plan.rpath is not None and plan.rpath not in (names.get(DT_RPATH), names.get(DT_RUNPATH)):
        wrong.append("rpath")
    needed = view.needed()
    if any(name not in needed for name in plan.add_needed):
        wrong.append("needed")
    if any(new not in needed for _, new in plan.replace_needed):
        wrong.append("needed")
    if wrong:
        raise PatchelfError(f"LIEF did not make the requested change ({', '.join(wrong)})")


def _warn_unnamed_sections(state: Patch) -> None:
    """patchelf's warning when a rewrite meets symbols in sections without a name."""
    view = state.work.view
    for section in view.sections[1:]:
        if section.sh_type not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        offset, size = view.span(section)
        entsize = 24 if view.is64 else 16
        shndx_at = 6 if view.is64 else 14
        for index in range(size // entsize):
            (shndx,) = view.unpack("H", offset + index * entsize + shndx_at)
            if 0 < shndx < 0xFF00 and shndx < len(view.sections) and not view.sections[shndx].name:
                sys.stderr.write(
                    "warning: symbol table entry refers to an unnamed section "
                    f"(index {shndx}), skipping\n"
                )


def console() -> None:
    """The ``wheelfix-patchelf`` console script."""
    prog = sys.argv[0] if sys.argv else "patchelf"
    sys.exit(main(sys.argv[1:], prog=prog))
