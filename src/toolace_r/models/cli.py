"""`toolace-r model ...` and `toolace-r train ...` subcommands."""

import typer

model_app = typer.Typer(no_args_is_help=True)
train_app = typer.Typer(no_args_is_help=True)
