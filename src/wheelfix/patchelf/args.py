"""patchelf 0.19's command line: argv (with ``@file`` arguments) -> :class:`Options`.

Pure: reading an ``@file`` or a ``--rename-dynamic-symbols`` map goes through the
``read_text`` callable the caller passes, so tests can parse without files. Option
semantics follow patchelf: flags may come in any order and anywhere among the file names;
``--help`` and ``--version`` act as soon as they are reached; the checks after the loop
(missing file name, ``--output`` with several inputs, ``--set-rpath`` with ``--add-rpath``)
come last, in patchelf's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from wheelfix.patchelf import PatchelfError

ReadText = Callable[[str], str]
"""Reads a whole file as text; raises PatchelfError with patchelf's message."""

HELP = """\
syntax: {prog}
  [--set-interpreter FILENAME]
  [--page-size SIZE]
  [--print-interpreter]
  [--print-os-abi]\t\tPrints 'EI_OSABI' field of ELF header
  [--set-os-abi ABI]\t\tSets 'EI_OSABI' field of ELF header to ABI.
  [--print-soname]\t\tPrints 'DT_SONAME' entry of .dynamic section. Raises an error if DT_SONAME doesn't exist
  [--set-soname SONAME]\t\tSets 'DT_SONAME' entry to SONAME.
  [--set-rpath RPATH]
  [--add-rpath RPATH]
  [--remove-rpath]
  [--shrink-rpath]
  [--allowed-rpath-prefixes PREFIXES]\t\tWith '--shrink-rpath', reject rpath entries not starting with the allowed prefix
  [--print-rpath]
  [--force-rpath]
  [--add-needed LIBRARY]
  [--remove-needed LIBRARY]
  [--replace-needed LIBRARY NEW_LIBRARY]
  [--print-needed]
  [--no-default-lib]
  [--no-sort]\t\tDo not sort program+section headers; useful for debugging patchelf.
  [--clear-symbol-version SYMBOL]
  [--add-debug-tag]
  [--build-resolution-cache]
  [--print-execstack]\t\tPrints whether the object requests an executable stack
  [--clear-execstack]
  [--set-execstack]
  [--rename-dynamic-symbols NAME_MAP_FILE]\tRenames dynamic symbols. The map file should contain two symbols (old_name new_name) per line
  [--no-clobber-old-sections]\t\tDo not clobber old section values - only use when the binary expects to find section info at the old location.
  [--output FILE]
  [--debug]
  [--version]
  FILENAME...
"""
VERSION = "patchelf 0.19.3"

_FLAGS = {
    "--print-interpreter": "print_interpreter",
    "--print-os-abi": "print_os_abi",
    "--print-soname": "print_soname",
    "--remove-rpath": "remove_rpath",
    "--shrink-rpath": "shrink_rpath",
    "--print-rpath": "print_rpath",
    "--force-rpath": "force_rpath",
    "--print-needed": "print_needed",
    "--no-sort": "no_sort",
    "--print-execstack": "print_execstack",
    "--clear-execstack": "clear_execstack",
    "--set-execstack": "set_execstack",
    "--debug": "debug",
    "--no-default-lib": "no_default_lib",
    "--add-debug-tag": "add_debug_tag",
    "--build-resolution-cache": "build_resolution_cache",
    "--no-clobber-old-sections": "no_clobber_old_sections",
}

_SET_OPTIONS = {
    "--add-needed": "add_needed",
    "--remove-needed": "remove_needed",
    "--clear-symbol-version": "clear_symbol_version",
}


@dataclass
class Options:
    """One patchelf invocation, as parsed."""

    action: str = "run"
    """``run``, ``help`` (print the syntax, exit 0) or ``version``."""
    files: list[str] = field(default_factory=list)
    new_interpreter: str = ""
    page_size: int | None = None
    print_interpreter: bool = False
    print_os_abi: bool = False
    new_os_abi: str | None = None
    print_soname: bool = False
    new_soname: str | None = None
    remove_rpath: bool = False
    shrink_rpath: bool = False
    allowed_prefixes: list[str] = field(default_factory=list)
    set_rpath: bool = False
    add_rpath: bool = False
    new_rpath: str = ""
    print_rpath: bool = False
    force_rpath: bool = False
    print_needed: bool = False
    no_sort: bool = False
    add_needed: set[str] = field(default_factory=set)
    remove_needed: set[str] = field(default_factory=set)
    replace_needed: dict[str, str] = field(default_factory=dict)
    clear_symbol_version: set[str] = field(default_factory=set)
    print_execstack: bool = False
    clear_execstack: bool = False
    set_execstack: bool = False
    output: str = ""
    debug: bool = False
    no_default_lib: bool = False
    add_debug_tag: bool = False
    build_resolution_cache: bool = False
    no_clobber_old_sections: bool = False
    rename_symbols: dict[str, str] | None = None

    @property
    def sorted_add_needed(self) -> list[str]:
        """``--add-needed`` names in patchelf's (byte-wise sorted set) order."""
        return sorted(self.add_needed, key=lambda s: s.encode("utf-8", "surrogateescape"))


def split_colons(text: str) -> list[str]:
    """patchelf's colon split: empty components kept, a trailing empty one dropped."""
    parts = text.split(":")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def atoi(text: str) -> int:
    """C's ``atoi``: leading blanks, a sign, then as many digits as there are."""
    text = text.lstrip(" \t\n\r\f\v")
    sign = -1 if text[:1] == "-" else 1
    if text[:1] in "+-":
        text = text[1:]
    digits = ""
    for char in text:
        if not char.isdigit():
            break
        digits += char
    return sign * int(digits) if digits else 0


def _resolve(arg: str, read_text: ReadText) -> str:
    """An ``@file`` argument is replaced by the file's whole contents."""
    return read_text(arg[1:]) if arg.startswith("@") else arg


def parse_map(path: str, read_text: ReadText) -> dict[str, str]:
    """A ``--rename-dynamic-symbols`` map: ``old new`` per line; a blank line ends it."""
    try:
        text = read_text(path)
    except PatchelfError:
        raise PatchelfError(f"Cannot open map file {path}: No such file or directory") from None
    mapping: dict[str, str] = {}
    line_number = 1
    for line in text.split("\n"):
        words = line.split()
        if not words:
            break
        if len(words) < 2:
            raise PatchelfError(
                f"{path}:{line_number}: Map file line is missing the second element"
            )
        old, new = words[0], words[1]
        if old in mapping:
            raise PatchelfError(f"{path}:{line_number}: Name '{old}' appears twice in the map file")
        if "@" in old or "@" in new:
            raise PatchelfError(
                f"{path}:{line_number}: Name pair contains version tag: {old} {new}"
            )
        line_number += 1
        mapping[old] = new
    return mapping


def parse(argv: list[str], read_text: ReadText) -> Options:
    """Parse ``argv`` (without the program name) into :class:`Options`."""
    opts = Options()
    if not argv:
        opts.action = "usage"
        return opts
    args = iter(argv)

    def value() -> str:
        try:
            return next(args)
        except StopIteration:
            raise PatchelfError("missing argument") from None

    for arg in args:
        if arg in _FLAGS:
            setattr(opts, _FLAGS[arg], True)
        elif arg in ("--help", "-h"):
            opts.action = "help"
            return opts
        elif arg == "--version":
            opts.action = "version"
            return opts
        elif arg == "--replace-needed":
            old, new = next(args, None), next(args, None)
            if old is None or new is None:
                raise PatchelfError("missing argument(s)")
            opts.replace_needed[old] = new
        elif not _with_value(opts, arg, value, read_text):
            opts.files.append(arg)
    _final_checks(opts)
    return opts


def _with_value(opts: Options, arg: str, value: Callable[[], str], read_text: ReadText) -> bool:
    """Handle an option that takes an argument; False when ``arg`` is not one."""
    if arg in ("--set-interpreter", "--interpreter"):
        opts.new_interpreter = _resolve(value(), read_text)
    elif arg == "--page-size":
        size = atoi(value())
        if size <= 0:
            raise PatchelfError("invalid argument to --page-size")
        opts.page_size = size
    elif arg == "--set-os-abi":
        opts.new_os_abi = _resolve(value(), read_text)
    elif arg == "--set-soname":
        opts.new_soname = _resolve(value(), read_text)
    elif arg == "--allowed-rpath-prefixes":
        opts.allowed_prefixes = split_colons(value())
    elif arg in ("--set-rpath", "--add-rpath"):
        text = value()
        setattr(opts, "set_rpath" if arg == "--set-rpath" else "add_rpath", True)
        opts.new_rpath = _resolve(text, read_text)
    elif arg in _SET_OPTIONS:
        getattr(opts, _SET_OPTIONS[arg]).add(_resolve(value(), read_text))
    else:
        return _with_value2(opts, arg, value, read_text)
    return True


def _with_value2(opts: Options, arg: str, value: Callable[[], str], read_text: ReadText) -> bool:
    if arg == "--output":
        opts.output = _resolve(value(), read_text)
    elif arg == "--rename-dynamic-symbols":
        mapping = parse_map(value(), read_text)
        opts.rename_symbols = {**(opts.rename_symbols or {}), **mapping}
    else:
        return False
    return True


def _final_checks(opts: Options) -> None:
    if not opts.files:
        raise PatchelfError("missing filename")
    if opts.force_rpath and opts.build_resolution_cache:
        raise PatchelfError("--build-resolution-cache cannot be combined with --force-rpath")
    if opts.output and len(opts.files) != 1:
        raise PatchelfError("--output option only allowed with single input file")
    if opts.set_rpath and opts.add_rpath:
        raise PatchelfError("--set-rpath option not allowed with --add-rpath")
