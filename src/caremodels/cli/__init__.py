"""The ``caremodels`` command line.

Exit codes: 0 success, 1 failure (bad data, missing files, failed checks), 2 usage (bad flags or
arguments). Errors print as one line on standard error, without a traceback unless ``--debug``.
"""

from __future__ import annotations

import sys

import click

from caremodels.cli.commands import cli
from caremodels.errors import CaremodelsError

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> int:
    arguments = _global_flags_first(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    try:
        result = cli.main(args=arguments, prog_name="caremodels", standalone_mode=False)
    except click.UsageError as error:
        message = error.format_message().replace("\n", " ")
        click.echo(f"caremodels: usage error: {message} (see caremodels --help)", err=True)
        return 2
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except click.Abort:
        click.echo("caremodels: aborted", err=True)
        return 1
    except CaremodelsError as error:
        if debug:
            raise
        click.echo(f"caremodels: error: {error}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("caremodels: interrupted", err=True)
        return 130
    except Exception as error:
        if debug:
            raise
        # The message of an unexpected error may quote data, so only its type is shown.
        click.echo(
            f"caremodels: internal error ({type(error).__name__}); run again with --debug for details",
            err=True,
        )
        return 1
    return result if isinstance(result, int) else 0


_GLOBAL_FLAGS = ("--quiet", "-q", "--debug")


def _global_flags_first(arguments: list[str]) -> list[str]:
    """``caremodels spc FILE --quiet`` means ``caremodels --quiet spc FILE``: the root group's flags
    are accepted after the subcommand too (no subcommand has options of those names)."""
    cut = arguments.index("--") if "--" in arguments else len(arguments)
    flags = [a for a in arguments[:cut] if a in _GLOBAL_FLAGS]
    rest = [a for a in arguments[:cut] if a not in _GLOBAL_FLAGS]
    return [*flags, *rest, *arguments[cut:]]


def entry_point() -> None:
    sys.exit(main())
