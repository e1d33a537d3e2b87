"""The `toolace-r` command line: the root app and one module per command group
(:mod:`.score`, :mod:`.run`, :mod:`.eval`, :mod:`.data`, :mod:`.model`, :mod:`.serve`). Commands parse arguments and call library functions; each
imports its heavy dependencies when it runs, so `toolace-r --help` and `toolace-r score` start fast."""

from __future__ import annotations

from pathlib import Path

import typer

from toolace_r import __version__
from toolace_r.cli import data, eval, model, run, score, serve
from toolace_r.cli._common import OneLineErrors, set_debug

app = typer.Typer(
    help="ToolACE-R: model-aware iterative training and adaptive self-refinement for tool calling.",
    cls=OneLineErrors,  # bad input is one line on stderr, never a traceback (unless --debug)
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    """`--version`, eager: print the version and stop before any command runs."""
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the installed toolace-r version and exit."),
    debug: bool = typer.Option(False, "--debug", help="On an error, print its traceback before the one-line "
                               "message (also TOOLACE_R_DEBUG=1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (also TOOLACE_R_QUIET=1; they are "
                               "drawn only on a terminal anyway)."),
) -> None:
    # options of `toolace-r` itself, before any command; the app's help text is the one above
    from toolace_r.memory import limit_kernel_caches, tune_malloc
    from toolace_r.progress import set_quiet

    tune_malloc()  # TOOLACE_R_MMAP_THRESHOLD (off by default; toolace_r.memory)
    limit_kernel_caches()
    set_debug(debug)
    set_quiet(quiet)


app.command("score", help="Score raw model outputs against BFCL-style gold answers.")(score.score)
app.command("run", help="Run the ToolACE-R method end to end (embedded default with no arguments).")(run.run)
app.command("serve", help="Serve a model (or refine an upstream server) behind an OpenAI-compatible API.")(serve.serve)
app.add_typer(eval.eval_app, name="eval", help="Evaluate a model on BFCL v4 or a JSONL of samples; 'compare' two evaluations.")
app.add_typer(data.data_app, name="data", help="Convert, export, synthesise and inspect tool-use data.")
app.add_typer(model.model_app, name="model", help="Create the embedded from-scratch model.")
app.add_typer(model.train_app, name="train", help="Fine-tune a model (SFT through TRL).")


@app.command("worker", hidden=True)
def worker(task: Path = typer.Argument(..., help="task.json written by `toolace-r run`.")) -> None:
    """One process of a launched stage job (internal: `toolace-r run` starts it through the launcher)."""
    from toolace_r.launch import worker_main  # only a launched worker needs the stage code

    worker_main(task)


@app.command("version")
def version() -> None:
    """Print the installed toolace-r version."""
    typer.echo(__version__)


def main() -> None:  # pragma: no cover
    app()
