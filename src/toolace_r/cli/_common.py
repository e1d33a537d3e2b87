"""What every command shares: one way to stop with a one-line error and an exit code, and the
``--debug`` switch that shows the traceback behind it.

Bad input never reaches a user as a traceback: each command turns the errors it expects into one
line (:func:`die`), and :class:`OneLineErrors`, the root command group, turns anything else into one
line too (exit 1), with a hint to rerun with ``--debug``. ``toolace-r --debug CMD ...`` (or
``TOOLACE_R_DEBUG=1``) prints the traceback of the error before that line instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, NoReturn, Optional

import click
import typer
from typer.core import TyperGroup

_DEBUG_ENV = "TOOLACE_R_DEBUG"


def set_debug(value: bool) -> None:
    """Show tracebacks from now on (``--debug``); inherited by the processes a command starts."""
    if value:
        os.environ[_DEBUG_ENV] = "1"


def debug() -> bool:
    return os.environ.get(_DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _print_traceback() -> None:
    """With ``--debug``, the traceback of the exception being handled (if any), on stderr."""
    if debug() and sys.exc_info()[0] is not None:
        typer.echo(traceback.format_exc().rstrip(), err=True)


def one_line(e: BaseException) -> str:
    """An exception as one line: its first non-empty line, else its type's name."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()
    return type(e).__name__


def die(msg: str, code: int = 1, color: Optional[str] = None) -> NoReturn:
    """Print ``error: msg`` on stderr (in ``color`` on a terminal) and exit with ``code``; with
    ``--debug``, the traceback of the exception being handled first."""
    _print_traceback()
    msg = " ".join(msg.split("\n"))  # one line, whatever the message held
    if color is None:
        typer.echo(f"error: {msg}", err=True)
    else:
        typer.secho(f"error: {msg}", fg=color, err=True)
    raise typer.Exit(code)


class OneLineErrors(TyperGroup):
    """The root group: an exception a command did not turn into a message becomes one line on
    stderr and exit 1 (with ``--debug``: its traceback first). Exits, usage errors, aborts and
    Ctrl-C go through as they are."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException, click.exceptions.Abort,
                KeyboardInterrupt):
            raise
        except SystemExit:
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence, on purpose
            where = "" if isinstance(e, (ValueError, OSError)) else f"{type(e).__name__}: "
            hint = "" if debug() else " (rerun with `toolace-r --debug ...` for the traceback)"
            die(f"{where}{one_line(e)}{hint}", 1)
