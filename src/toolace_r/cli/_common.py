"""What every command shares: one way to stop with a one-line error and an exit code."""

from __future__ import annotations

from typing import NoReturn, Optional

import typer


def die(msg: str, code: int = 1, color: Optional[str] = None) -> NoReturn:
    """Print ``error: msg`` on stderr (in ``color`` on a terminal) and exit with ``code``."""
    if color is None:
        typer.echo(f"error: {msg}", err=True)
    else:
        typer.secho(f"error: {msg}", fg=color, err=True)
    raise typer.Exit(code)
