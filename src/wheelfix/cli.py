"""Command line: click commands over the pipeline; the only module that prints or exits.

Every :class:`~wheelfix.errors.WheelfixError` becomes one stderr line
``wheelfix: error: <file>: <reason>`` and its exit code; anything else is a bug (exit 1, the
traceback only with ``-v``). Results go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from wheelfix import __version__
from wheelfix.errors import CheckFailedError, NonPlatformWheelError, PolicyError, WheelfixError
from wheelfix.libc import split_platform
from wheelfix.pipeline import Audit, AuditOptions, audit, lddtree
from wheelfix.report import error_json, pure_json, show_json, show_text, tree_json, tree_text

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130


def _fail(error: WheelfixError) -> None:
    click.echo(f"wheelfix: error: {error.subject}: {error.reason}", err=True)
    sys.exit(error.exit_code)


@contextmanager
def _errors_reported(verbose: bool) -> Iterator[None]:
    """Turn every failure into one stderr line and an exit code."""
    try:
        yield
    except WheelfixError as error:
        if verbose:
            traceback.print_exc()
        _fail(error)
    except KeyboardInterrupt:
        click.echo("wheelfix: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if verbose:
            traceback.print_exc()
        click.echo(
            f"wheelfix: internal error: {type(exc).__name__}: {exc} (run with -v for a traceback)",
            err=True,
        )
        sys.exit(1)


def audit_options(func: F) -> F:
    """The options ``show``, ``check`` and ``repair`` share."""
    options = [
        click.option(
            "--ldpaths",
            metavar="DIRS",
            default=None,
            help="Colon-separated library directories that replace ld.so.conf and the"
            " default directories (LD_LIBRARY_PATH is then ignored).",
        ),
        click.option(
            "--sysroot",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Look up every system path (and ld.so.conf) under this directory.",
        ),
        click.option(
            "--disable-isa-ext-check",
            is_flag=True,
            help="Do not check the ISA level (x86-64-v2 and above) of the ELF files.",
        ),
        click.option(
            "--allow-pure-python-wheel",
            is_flag=True,
            help="Accept a pure Python wheel instead of failing.",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Print more (and tracebacks of bugs)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(
    ldpaths: str | None, sysroot: Path | None, disable_isa: bool, **extra: Any
) -> AuditOptions:
    return AuditOptions(
        ldpaths=ldpaths,
        sysroot=sysroot,
        environ=dict(os.environ),
        disable_isa_ext_check=disable_isa,
        **extra,
    )


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="wheelfix: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def _is_pure_name(wheel: Path) -> bool:
    name = wheel.name
    return name.endswith(".whl") and name[:-4].rsplit("-", 1)[-1] == "any"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="wheelfix")
def main() -> None:
    """Audit and repair Linux wheels for manylinux/musllinux, without patchelf."""


@main.command()
@click.argument("wheel", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print auditwheel's show --json document.")
@audit_options
def show(
    wheel: Path,
    as_json: bool,
    ldpaths: str | None,
    sysroot: Path | None,
    disable_isa_ext_check: bool,
    allow_pure_python_wheel: bool,
    verbose: bool,
) -> None:
    """Audit WHEEL: its platform tag, versioned symbols and external libraries."""
    _setup_logging(verbose)
    options = _options(ldpaths, sysroot, disable_isa_ext_check)
    with _errors_reported(verbose):
        try:
            result = audit(wheel, options)
        except NonPlatformWheelError as error:
            if allow_pure_python_wheel and _is_pure_name(wheel):
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


def _check(wheel: Path, result: Audit, plat: str | None) -> str:
    verdict = result.verdict
    policies = verdict.policies
    if plat is not None:
        targets = [plat]
    else:
        targets = [p for p in result.scan.reader.name.platforms if not p.startswith("linux_")]
        if not targets:
            raise CheckFailedError(str(wheel), "has no manylinux/musllinux platform tag to check")
    reached = verdict.show_overall
    for target in targets:
        policy = policies.find(target)
        if policy is None:
            parts = split_platform(target)
            raise PolicyError(
                str(wheel),
                f"{target!r} is not a policy for this wheel's"
                f" architecture and libc ({policies.arch}, {policies.libc.value})"
                + ("" if parts else "; unknown platform tag"),
            )
        if policy > reached:
            raise CheckFailedError(str(wheel), f"does not satisfy {target}: {_why(result, policy)}")
    return reached.name


def _why(result: Audit, target: Any) -> str:
    verdict = result.verdict
    reasons = []
    if verdict.sym < target:
        reasons.append(f"symbol versions need {verdict.sym.name}")
    refs = verdict.external[target.name]
    if refs.libs:
        reasons.append(f"external libraries {', '.join(sorted(refs.libs))}")
    if refs.blacklist:
        syms = sorted({s for v in refs.blacklist.values() for s in v})
        reasons.append(f"blacklisted symbols {', '.join(syms)}")
    if verdict.machine < target:
        reasons.append("unsupported ISA extensions")
    if verdict.pyfpe < target:
        reasons.append("uses PyFPE_jbuf")
    if verdict.ucs < target:
        reasons.append("built for UCS2 Python")
    return "; ".join(reasons) or f"best tag is {verdict.show_overall.name}"


@main.command()
@click.argument("wheel", type=click.Path(path_type=Path))
@click.option(
    "--plat",
    default=None,
    metavar="PLATFORM",
    help="Check against this tag instead of the wheel's own tags.",
)
@audit_options
def check(
    wheel: Path,
    plat: str | None,
    ldpaths: str | None,
    sysroot: Path | None,
    disable_isa_ext_check: bool,
    allow_pure_python_wheel: bool,
    verbose: bool,
) -> None:
    """Exit 0 if WHEEL satisfies its own platform tags (or --plat), else fail with the reason."""
    _setup_logging(verbose)
    options = _options(ldpaths, sysroot, disable_isa_ext_check)
    with _errors_reported(verbose):
        try:
            result = audit(wheel, options)
        except NonPlatformWheelError:
            if allow_pure_python_wheel and _is_pure_name(wheel):
                click.echo(f"{wheel.name}: pure Python wheel, OK")
                return
            raise
        best = _check(wheel, result, plat)
        click.echo(f"{wheel.name}: OK (consistent with {best})")


@main.command("lddtree")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the tree as JSON.")
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
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks of bugs.")
def lddtree_command(
    file: Path, as_json: bool, ldpaths: str | None, sysroot: Path | None, verbose: bool
) -> None:
    """Print the resolved dependency tree of one ELF FILE."""
    _setup_logging(verbose)
    options = _options(ldpaths, sysroot, disable_isa=False)
    with _errors_reported(verbose):
        tree = lddtree(file, options)
        click.echo(tree_json(tree) if as_json else tree_text(tree), nl=bool(as_json))
