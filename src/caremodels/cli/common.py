"""Helpers shared by the command modules: option definitions, output and the root group."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from caremodels import __version__
from caremodels.cli.console import Reporter
from caremodels.periods import parse_financial_year, parse_month

__all__ = [
    "CONTEXT_SETTINGS",
    "WAREHOUSE_OPTION",
    "SiteMembership",
    "cli",
    "financial_year",
    "print_json",
    "reporter_of",
    "site_membership_option",
    "site_membership_options",
    "warn_membership",
]

# token_normalize_func makes every choice (and option and command name) case-insensitive: --care-model
# mcp and --improvement Increase work. Click still hands the command the choice as it is spelled there.
CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "max_content_width": 100,
    "token_normalize_func": str.lower,
}
WAREHOUSE_OPTION = click.option(
    "--warehouse",
    "warehouse_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The DuckDB warehouse file.",
)


def _checked_membership(
    context: click.Context, parameter: click.Parameter, value: Path | None
) -> Path | None:
    """Read the membership file as soon as it is given, so a bad file fails before any work, in one
    line naming the file, row and field (or the columns found)."""
    del context, parameter
    if value is not None:
        from caremodels.reference import site_memberships

        site_memberships(value)
    return value


def site_membership_option(name: str = "site_membership_file", *aliases: str) -> Any:
    """``--site-membership FILE`` (and ``aliases``), the one membership option of every command that
    takes a site, passed to the command as ``name``. The file is read by
    ``caremodels.reference.site_memberships``."""
    return click.option(
        "--site-membership",
        *aliases,
        name,
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        callback=_checked_membership,
        help="CSV of the practices of each vanguard site (columns site, practice_code and optionally "
        "start_date, end_date for a practice that joined or left; any case), replacing the built-in "
        "membership of the sites it lists.",
    )


def warn_membership(reporter: Reporter, warnings: Iterable[str]) -> None:
    """Print the membership's warnings (practices counted though not in the January 2021 list)."""
    for warning in dict.fromkeys(warnings):
        reporter.info(f"warning: {warning}")


@dataclass(frozen=True)
class SiteMembership:
    """Which practices make up the sites a command reads: the built-in membership, or a CSV that
    replaces it for the sites it lists, less any practices left out on request."""

    file: Path | None = None
    exclude_practices: tuple[str, ...] = ()


def _practice_codes(
    _context: click.Context, _parameter: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    codes = []
    for value in values:
        code = value.strip().upper()
        # An organisation code of a GP practice: a letter and five digits (A81001).
        if len(code) != 6 or not code[0].isalpha() or not code[1:].isdigit():
            raise click.BadParameter(f"{value!r} is not a GP practice code (a letter and five digits)")
        codes.append(code)
    return tuple(dict.fromkeys(codes))


def site_membership_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that takes a site shares: ``--site-membership FILE`` and
    ``--exclude-practice CODE`` (repeatable). The command receives them as one ``membership``
    argument (a ``SiteMembership``)."""

    @functools.wraps(command)
    def with_membership(
        *args: Any, site_membership: Path | None, exclude_practices: tuple[str, ...], **kwargs: Any
    ) -> Any:
        return command(*args, membership=SiteMembership(site_membership, exclude_practices), **kwargs)

    options = [
        site_membership_option("site_membership"),
        click.option(
            "--exclude-practice",
            "exclude_practices",
            multiple=True,
            callback=_practice_codes,
            help="A GP practice to leave out (for example one that closed, or whose list fell to zero); "
            "repeatable.",
        ),
    ]
    decorated: Callable[..., Any] = with_membership
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def reporter_of(context: click.Context) -> Reporter:
    reporter = context.find_object(Reporter)
    return reporter if reporter is not None else Reporter()


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def month(value: str | None) -> dt.date | None:
    """A --from/--to/--start/--end value (YYYY-MM) as the first day of that month."""
    if value is None:
        return None
    try:
        return parse_month(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


def financial_year(value: str | None) -> int | None:
    """A --baseline/--comparison value as a financial year's starting calendar year."""
    if value is None:
        return None
    try:
        return parse_financial_year(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="caremodels", message="%(prog)s %(version)s")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages; results only.")
@click.option("--debug", is_flag=True, help="Show a traceback when something fails.")
@click.pass_context
def cli(context: click.Context, quiet: bool, debug: bool) -> None:
    """caremodels: run, measure and spread new models of integrated health and social care.

    Start with `caremodels demo`: it builds a synthetic health economy, loads it, computes the
    indicators, evaluates the care models and serves the dashboard at http://127.0.0.1:8000.
    """
    del debug  # handled in caremodels.cli.main, before any command runs
    context.obj = Reporter(quiet=quiet)
