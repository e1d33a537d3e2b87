"""The `toolace-r` command line. Every subcommand imports its heavy dependencies lazily,
so `toolace-r --help` and `toolace-r score` start fast."""

from __future__ import annotations

from pathlib import Path

import typer

from toolace_r.data.cli import app as data_app
from toolace_r.eval_cli import eval_app
from toolace_r.models.cli import model_app, train_app
from toolace_r.run_cli import run
from toolace_r.score_cli import score
from toolace_r.serving.cli import serve

app = typer.Typer(
    help="ToolACE-R: model-aware iterative training and adaptive self-refinement for tool calling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("score", help="Score raw model outputs against BFCL-style gold answers.")(score)
app.command("run", help="Run the ToolACE-R method end to end (embedded default with no arguments).")(run)
app.command("serve", help="Serve a model (or refine an upstream server) behind an OpenAI-compatible API.")(serve)
app.add_typer(eval_app, name="eval", help="Evaluate a model on BFCL v4 or a JSONL of samples; 'compare' two evaluations.")
app.add_typer(data_app, name="data", help="Convert, export, synthesise and inspect tool-use data.")
app.add_typer(model_app, name="model", help="Create the embedded from-scratch model.")
app.add_typer(train_app, name="train", help="Fine-tune a model (SFT through TRL).")


@app.command("worker", hidden=True)
def worker(task: Path = typer.Argument(..., help="task.json written by `toolace-r run`.")) -> None:
    """One process of a launched stage job (internal: `toolace-r run` starts it through the launcher)."""
    from toolace_r.launch import worker_main

    worker_main(task)


@app.command("version")
def version() -> None:
    """Print the installed toolace-r version."""
    from toolace_r import __version__

    typer.echo(__version__)


def main() -> None:  # pragma: no cover
    app()
