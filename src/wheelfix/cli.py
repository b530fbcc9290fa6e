"""Command line: click commands over the pipeline; the only module that prints or exits.

Every :class:`~wheelfix.errors.WheelfixError` becomes one stderr line
``wheelfix: error: <file>: <reason>`` and its exit code; anything else is a bug (exit 1, the
traceback only with ``-v``). Results go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from wheelfix import __version__
from wheelfix.cli_options import (
    audit_options,
    audit_options_from,
    include_option,
    setup_logging,
    validate_level,
    validate_lib_sdir,
    validate_plat,
    zip_epoch,
)
from wheelfix.errors import (
    InvalidElfError,
    NonPlatformWheelError,
    WheelfixError,
)
from wheelfix.exits import errors_reported, lddtree_hint
from wheelfix.writer import ZipSettings

if TYPE_CHECKING:
    from wheelfix.results import CheckResult

# The pipeline (and with it LIEF, ~0.4 s to import) is imported inside the commands, so
# `wheelfix --help` and `--version` stay fast.

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="wheelfix")
@click.option(
    "-v", "--verbose", count=True, help="Give more output (repeatable; also after the command)."
)
def main(verbose: int) -> None:
    """Audit and repair Linux wheels for manylinux/musllinux, without patchelf."""
    del verbose  # read by each command through the root context


@main.command()
@click.argument("wheel", type=click.Path(path_type=Path, readable=False))
@click.option("--json", "as_json", is_flag=True, help="Print auditwheel's show --json document.")
@audit_options
def show(
    wheel: Path,
    as_json: bool,
    ldpaths: str | None,
    sysroot: Path | None,
    disable_isa_ext_check: bool,
    allow_pure_python_wheel: bool,
    verbose: int,
) -> None:
    """Audit WHEEL: its platform tag, versioned symbols and external libraries."""
    from wheelfix.pipeline import audit
    from wheelfix.report import drivers_text, error_json, pure_json, show_json, show_text
    from wheelfix.wheel import is_pure_wheel_name

    verbose = setup_logging(verbose)
    options = audit_options_from(ldpaths, sysroot, disable_isa_ext_check)
    with errors_reported(verbose):
        try:
            result = audit(wheel, options)
        except NonPlatformWheelError as error:
            if allow_pure_python_wheel and is_pure_wheel_name(wheel):
                click.echo(
                    pure_json(wheel.name)
                    if as_json
                    else f"{wheel.name} is a pure Python wheel: nothing to audit."
                )
                return
            if as_json:
                click.echo(error_json(wheel.name, error.reason))
            raise
        if as_json:
            click.echo(show_json(wheel.name, result.verdict))
        else:
            click.echo(show_text(wheel.name, result.verdict, verbose=verbose), nl=False)
            drivers = {str(n): f for tree in result.trees.values() for n, f in tree.drivers.items()}
            click.echo(drivers_text(drivers), nl=False)


@main.command()
@click.argument("wheels", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option(
    "--plat",
    default=None,
    metavar="PLATFORM",
    help="Check against this tag instead of the wheels' own tags.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for all wheels.")
@audit_options
def check(
    wheels: tuple[Path, ...],
    plat: str | None,
    as_json: bool,
    ldpaths: str | None,
    sysroot: Path | None,
    disable_isa_ext_check: bool,
    allow_pure_python_wheel: bool,
    verbose: int,
) -> None:
    """Exit 0 if every WHEEL satisfies its own platform tags (or --plat); else say why. With
    several WHEELS, one that fails does not stop the others: each is still checked and
    reported, and the exit code is the first failure's."""
    from wheelfix.pipeline import check as run_check
    from wheelfix.report import check_json, check_text

    verbose = setup_logging(verbose)
    options = audit_options_from(
        ldpaths, sysroot, disable_isa_ext_check, allow_pure=allow_pure_python_wheel
    )
    failures: list[int] = []
    rows: list[tuple[str, CheckResult | WheelfixError]] = []
    for wheel in wheels:
        record = partial(_record, rows, wheel.name)
        try:
            with errors_reported(verbose, record):
                result = run_check(wheel, options, plat)
                rows.append((wheel.name, result))
                if not as_json:
                    click.echo(check_text(result))
        except SystemExit as exit_:
            code = int(exit_.code or 1)
            if code > 128:
                raise
            failures.append(code)
    if as_json:
        click.echo(check_json(rows))
    if failures:
        sys.exit(failures[0])


def _record(
    rows: list[tuple[str, CheckResult | WheelfixError]], name: str, error: WheelfixError
) -> None:
    rows.append((name, error))


@main.command("lddtree")
@click.argument("file", type=click.Path(path_type=Path, readable=False))
@click.option(
    "--json",
    "output",
    flag_value="json",
    default=True,
    help="Print auditwheel's lddtree JSON document (the default).",
)
@click.option("--text", "output", flag_value="text", help="Print an indented tree instead.")
@click.option(
    "--ldpaths",
    metavar="DIRS",
    default=None,
    help="Colon-separated directories replacing ld.so.conf and the defaults.",
)
@click.option(
    "--sysroot",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Look up every system path under this directory.",
)
@click.option("-v", "--verbose", count=True, help="Tracebacks of bugs; repeatable.")
def lddtree_command(
    file: Path, output: str, ldpaths: str | None, sysroot: Path | None, verbose: int
) -> None:
    """Print the resolved dependency tree of one ELF FILE (to look inside a wheel, use
    ``wheelfix show WHEEL``)."""
    from wheelfix.libc import detect_elf_libc
    from wheelfix.pipeline import lddtree
    from wheelfix.report import tree_json, tree_text

    verbose = setup_logging(verbose)
    options = audit_options_from(ldpaths, sysroot, disable_isa=False)
    with errors_reported(verbose):
        try:
            tree = lddtree(file, options)
        except InvalidElfError as error:
            raise lddtree_hint(file, error) from None
        if output == "text":
            click.echo(tree_text(tree), nl=False)
            return
        libc = detect_elf_libc(tree.root.info, file.name)
        click.echo(tree_json(tree, libc.value if libc is not None else None))


@main.command()
@click.argument("wheels", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option(
    "-w",
    "--wheel-dir",
    type=click.Path(path_type=Path),
    default=Path("wheelhouse"),
    show_default=True,
    help="Directory to write the repaired wheels to.",
)
@click.option(
    "--plat",
    envvar="AUDITWHEEL_PLAT",
    default="auto",
    show_default=True,
    callback=validate_plat,
    metavar="PLATFORM",
    help="Target tag (any manylinux/musllinux tag or alias, any architecture) or"
    " 'auto' for the best reachable one; `wheelfix policies` lists them all."
    " Env: AUDITWHEEL_PLAT.",
)
@click.option(
    "-L",
    "--lib-sdir",
    default=".libs",
    show_default=True,
    callback=validate_lib_sdir,
    help="Suffix of the directory for grafted libraries: <dist><SUFFIX>.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Do not graft libraries whose soname or resolved path matches GLOB"
    " (repeatable); their own dependencies are not followed.",
)
@click.option("--only-plat", is_flag=True, help="Write only the requested tag, not a better one.")
@click.option(
    "--no-update-tags",
    "no_update_tags",
    is_flag=True,
    help="Keep the file name and WHEEL tags unchanged.",
)
@click.option(
    "-z",
    "--zip-compression-level",
    default=None,
    callback=validate_level,
    metavar="LEVEL",
    envvar="AUDITWHEEL_ZIP_COMPRESSION_LEVEL",
    help="zlib level for every member of the output (0 stores, -1 is 6). Without it, new and"
    " changed members use level 6 and unchanged ones keep their compressed bytes."
    " Env: AUDITWHEEL_ZIP_COMPRESSION_LEVEL.",
)
@click.option(
    "--strip",
    is_flag=True,
    help="Drop symbol tables and debug sections from grafted libraries and wheel ELFs.",
)
@click.option(
    "--patcher",
    metavar="PATCHER",
    default=None,
    help="Accepted for auditwheel compatibility; it has no effect (wheelfix edits ELF files"
    " in-process, with no patchelf).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON report of the run on stdout (instead of the output paths).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON report of the run to this file.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option(
    "--no-licenses",
    is_flag=True,
    help="Do not copy the grafted libraries' license files (from their distro packages)"
    " into .dist-info/licenses/.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="LIEF worker processes (default: one per usable core); the output is the same.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Do not use the cache of rewritten grafted libraries ($WHEELFIX_CACHE_DIR, else"
    " $XDG_CACHE_HOME/wheelfix or ~/.cache/wheelfix; WHEELFIX_CACHE_MAX_BYTES bounds it,"
    " default 2 GiB).",
)
@include_option
@audit_options
def repair(
    wheels: tuple[Path, ...],
    wheel_dir: Path,
    plat: str,
    lib_sdir: str,
    exclude: tuple[str, ...],
    only_plat: bool,
    no_update_tags: bool,
    zip_compression_level: int | None,
    strip: bool,
    no_licenses: bool,
    jobs: int | None,
    no_cache: bool,
    patcher: str | None,
    as_json: bool,
    report: Path | None,
    quiet: bool,
    ldpaths: str | None,
    sysroot: Path | None,
    disable_isa_ext_check: bool,
    allow_pure_python_wheel: bool,
    verbose: int,
) -> None:
    """Copy external libraries into WHEELS, rewrite their ELF files and retag them. With several
    WHEELS, one that fails does not stop the others: each is still repaired, and the exit code
    is the first failure's (auditwheel stops at the first)."""
    from wheelfix.cache import cache_max_bytes, default_cache_dir
    from wheelfix.cli_repair import run_repairs
    from wheelfix.options import RepairOptions

    verbose = setup_logging(verbose)
    if patcher is not None:
        click.echo(
            f"wheelfix: --patcher {patcher} has no effect: wheelfix edits ELF files in-process",
            err=True,
        )
    environ = dict(os.environ)
    level = (
        6 if zip_compression_level is None or zip_compression_level < 0 else zip_compression_level
    )
    settings = ZipSettings(
        compression_level=level,
        epoch=zip_epoch(environ),
        recompress=zip_compression_level is not None,
    )
    audit_opts = audit_options_from(
        ldpaths, sysroot, disable_isa_ext_check, exclude=exclude, allow_pure=allow_pure_python_wheel
    )
    repair_opts = RepairOptions(
        wheel_dir=wheel_dir,
        plat=plat,
        lib_sdir=lib_sdir,
        only_plat=only_plat,
        update_tags=not no_update_tags,
        strip=strip,
        licenses=not no_licenses,
        jobs=jobs,
        cache_dir=None if no_cache else default_cache_dir(environ),
        cache_max_bytes=cache_max_bytes(environ),
        zip=settings,
    )
    run_repairs(
        wheels,
        audit_opts,
        repair_opts,
        verbose=verbose,
        quiet=quiet,
        as_json=as_json,
        report=report,
    )


@main.command(
    "patchelf",
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
@click.pass_context
def patchelf_command(ctx: click.Context) -> None:
    """Edit ELF files with patchelf 0.19's command line (in-process, no patchelf binary)."""
    from wheelfix.patchelf.main import main as patchelf_main

    sys.exit(patchelf_main(list(ctx.args), prog="patchelf"))


@main.command("policies")
@click.option("--arch", default=None, help="Only this architecture (e.g. aarch64).")
def policies_command(arch: str | None) -> None:
    """List every platform tag --plat accepts, with its aliases, per architecture."""
    from wheelfix.policy import all_platform_names

    for name in all_platform_names():
        if arch is None or name.endswith(f"_{arch}"):
            click.echo(name)
