"""`toolace-r data ...` subcommands (convert, export, synth, stats)."""

import typer

app = typer.Typer(no_args_is_help=True)
