"""Command line, input side: the options the commands share, read and checked.

Turns click's values (and the environment variables auditwheel reads) into
:class:`~wheelfix.options.AuditOptions` and friends; a bad value is click's usage error
(exit 2) naming the option or the variable it came from.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from wheelfix.options import lib_sdir_problem
from wheelfix.policy import all_platform_names

if TYPE_CHECKING:
    from wheelfix.options import AuditOptions

F = TypeVar("F", bound=Callable[..., Any])


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
            "-v", "--verbose", count=True, help="Print more (and tracebacks of bugs); repeatable."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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
    return AuditOptions(
        ldpaths=ldpaths,
        sysroot=sysroot,
        environ=dict(os.environ),
        disable_isa_ext_check=disable_isa,
        max_uncompressed=max_uncompressed,
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


def validate_plat(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value != "auto" and value not in all_platform_names():
        raise click.BadParameter(
            f"{value!r} is not a known manylinux/musllinux tag (e.g. manylinux_2_17_x86_64,"
            " manylinux2014_aarch64, musllinux_1_2_x86_64) or 'auto'"
        )
    return value


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
