"""`toolace-r run`: the whole method on a config (see :mod:`toolace_r.pipeline`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import Progress

from toolace_r import progress as bars
from toolace_r.cli._common import die


def run(
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. mait.rounds=3 mait.policy=progressive"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (default: the embedded default, configs/default.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: runs/run-<date>-<time>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder from its last finished stage."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
    seeds: Optional[int] = typer.Option(
        None, "--seeds", help="Train and evaluate every arm with N training seeds (shared data and warm-up); the "
                              "report gives means over seeds with bootstrap intervals (= seeds=N)."),
    launcher: Optional[str] = typer.Option(
        None, "--launcher", help="Where the SFT, probe and eval stages run: none (this process, the default), process "
                                 "(a child process each), or multi-process jobs through accelerate or torchrun "
                                 "(= launch.launcher)."),
    num_processes: Optional[int] = typer.Option(None, "--num-processes", help="Processes per job (= launch.num_processes)."),
    jobs: Optional[int] = typer.Option(
        None, "--jobs", help="Stages run at once, side by side in worker processes (arms and seeds; launcher none); "
                             "0: auto, 2 on a CPU-only machine with 2+ cores (= launch.jobs)."),
    accelerate_config: Optional[Path] = typer.Option(
        None, "--accelerate-config", help="accelerate config file, e.g. configs/accelerate/fsdp.yaml (= launch.accelerate_config)."),
) -> None:
    """Run ToolACE-R end to end: data, warm-up SFT, MAIT rounds with the refinement corpus, the
    ablation arms, evaluation with and without adaptive refinement, and the report."""
    # the run's own modules load with the command (they are the whole method)
    from toolace_r.config import ConfigError, load_config
    from toolace_r.data.io import DataError
    from toolace_r.pipeline import RunError, default_run_dir, open_run, planned_stages, run_pipeline, start_model
    from toolace_r.report import best_model_lines, summary_text

    console = Console(stderr=True)
    overrides = list(overrides or [])
    if seeds is not None:
        overrides.append(f"seeds={seeds}")
    for key, value in (("launcher", launcher), ("num_processes", num_processes), ("jobs", jobs),
                       ("accelerate_config", accelerate_config)):
        if value is not None:
            overrides.append(f"launch.{key}={value}")
    try:
        if resume is not None:
            if config is not None or overrides or out is not None:
                raise RunError("--resume continues a run with its saved config: pass no --config, --out, --seeds, "
                               "launch options or overrides")
            cfg = None
            run_dir = resume
        else:
            cfg = load_config(config, overrides)
            start_model(cfg)  # a bad model.init is one line here, before a run folder is made
            run_dir = out or default_run_dir()
        run_obj = open_run(run_dir, cfg, resume=resume is not None, force=force, log=console.log)
    except (ConfigError, RunError) as e:
        die(str(e), 2)

    # one progress display: the libraries' own bars (dataset preparation, weight loading) would tear it
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    total = planned_stages(run_obj.cfg)
    # the stage bar; the probe's and evaluation's bars are tasks of it (bars.shared); none off a terminal
    with Progress(*bars.columns(), console=console, transient=False, disable=not bars.enabled()) as progress, \
            bars.shared(progress):
        task = progress.add_task("toolace-r run", total=total, completed=len(run_obj.state["stages"]))

        def log(msg: str) -> None:
            progress.console.log(msg)
            progress.update(task, completed=min(total, len(run_obj.state["stages"])))

        run_obj.log = log
        try:
            result = run_pipeline(run_obj)
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted[/yellow]: continue with  toolace-r run --resume {run_dir}")
            raise typer.Exit(130)
        except (RunError, DataError) as e:  # e.g. a data.source file with a bad line
            progress.stop()
            die(str(e), 2)
        progress.update(task, completed=total)
    console.rule("toolace-r run: summary")
    console.print(summary_text(run_obj), markup=False, highlight=False)
    console.print("best model per arm (the round with the best dev accuracy; evaluated on test):")
    for line in best_model_lines(result):
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"report: {run_dir / 'report.md'}  (results.json and plots beside it; "
                  f"{result['seconds']:.0f}s this invocation)", markup=False, highlight=False, soft_wrap=True)
