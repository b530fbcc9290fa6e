"""Command line, input side: the options the commands share, read and checked.

Turns click's values (and the environment variables auditwheel reads) into
:class:`~wheelfix.options.AuditOptions` and friends; a bad value is click's usage error
(exit 2) naming the option or the variable it came from.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from wheelfix.libc import android_api_level
from wheelfix.options import lib_sdir_problem
from wheelfix.policy import all_platform_names

if TYPE_CHECKING:
    from wheelfix.options import AuditOptions

F = TypeVar("F", bound=Callable[..., Any])


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Keep an option the command function does not take in the context's meta."""
    if param.name:
        ctx.meta[f"wheelfix.{param.name}"] = value


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
        click.option(
            "--graft-anyway",
            metavar="PATTERN",
            multiple=True,
            expose_value=False,
            callback=_remember,
            help="Graft libraries on the never-graft list (GPU and display drivers) whose"
            " soname matches this glob all the same (repeatable).",
        ),
        click.option(
            "-v", "--verbose", count=True, help="Print more (and tracebacks of bugs); repeatable."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def include_option(func: F) -> F:
    """``repair --include LIB`` (repeatable), kept in the context for ``cli_repair.py``."""
    return click.option(
        "--include",
        metavar="LIB",
        multiple=True,
        expose_value=False,
        callback=_remember,
        help="Also graft this library, which no DT_NEEDED names (a plugin opened with dlopen),"
        " keeping its file name and SONAME; a soname is searched like a DT_NEEDED name, a"
        " value with a '/' is a path (repeatable).",
    )(func)


def included_libraries() -> tuple[str, ...]:
    """The ``--include`` values of the running command (empty outside ``repair``)."""
    context = click.get_current_context(silent=True)
    values = context.meta.get("wheelfix.include", ()) if context is not None else ()
    return tuple(values or ())


def audit_options_from(
    ldpaths: str | None, sysroot: Path | None, disable_isa: bool, **extra: Any
) -> AuditOptions:
    from wheelfix.options import AuditOptions
    from wheelfix.wheel import DEFAULT_MAX_UNCOMPRESSED

    limit = os.environ.get("WHEELFIX_MAX_UNCOMPRESSED", "")
    try:
        max_uncompressed = int(limit) if limit else DEFAULT_MAX_UNCOMPRESSED
    except ValueError:
        max_uncompressed = 0
    if max_uncompressed <= 0:
        raise click.BadParameter(
            f"WHEELFIX_MAX_UNCOMPRESSED={limit!r} is not a positive number of bytes"
        )
    context = click.get_current_context(silent=True)
    graft_anyway = context.meta.get("wheelfix.graft_anyway", ()) if context else ()
    return AuditOptions(
        ldpaths=ldpaths,
        sysroot=sysroot,
        environ=dict(os.environ),
        disable_isa_ext_check=disable_isa,
        max_uncompressed=max_uncompressed,
        graft_anyway=tuple(graft_anyway),
        **extra,
    )


def setup_logging(verbose: int) -> bool:
    """Combine ``-v`` given before the command (``wheelfix -v show``) and after it; set up
    logging; return whether to be verbose."""
    context = click.get_current_context(silent=True)
    before = context.find_root().params.get("verbose", 0) if context is not None else 0
    level = verbose + (before or 0)
    logging.basicConfig(
        level=logging.DEBUG if level else logging.WARNING,
        format="wheelfix: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    return level > 0


def _source(ctx: click.Context, param: click.Parameter, envvar: str) -> str:
    """``--plat`` or ``AUDITWHEEL_PLAT=``: where a bad value came from, for the message."""
    if (
        param.name
        and ctx.get_parameter_source(param.name) is click.core.ParameterSource.ENVIRONMENT
    ):
        return f"{envvar}="
    return ""


def validate_plat(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value == "auto" or value in all_platform_names() or android_api_level(value) is not None:
        return value
    names = all_platform_names()
    near = difflib.get_close_matches(value, names, n=1, cutoff=0.8)
    hint = f"; did you mean {near[0]}?" if near else " (see `wheelfix policies` for the list)"
    raise click.BadParameter(
        f"{_source(ctx, param, 'AUDITWHEEL_PLAT')}{value!r} is not a known manylinux/musllinux"
        f" tag or 'auto'{hint}"
    )


def validate_level(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``-z``/``AUDITWHEEL_ZIP_COMPRESSION_LEVEL``: an integer from -1 to 9, or unset."""
    if value is None:
        return None
    try:
        level = int(value)
    except ValueError:
        level = 99
    if not -1 <= level <= 9:
        source = _source(ctx, param, "AUDITWHEEL_ZIP_COMPRESSION_LEVEL")
        raise click.BadParameter(f"{source}{value!r} is not a zlib level from -1 to 9")
    return level


def validate_lib_sdir(ctx: click.Context, param: click.Parameter, value: str) -> str:
    problem = lib_sdir_problem(value)
    if problem is not None:
        raise click.BadParameter(f"{value!r}: {problem}")
    return value


def zip_epoch(environ: Mapping[str, str]) -> int | None:
    value = environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"SOURCE_DATE_EPOCH={value!r} is not an integer") from None
