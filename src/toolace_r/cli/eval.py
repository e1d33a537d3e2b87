"""`toolace-r eval`: a model on BFCL v4 (or on a JSONL of our samples), with refinement modes.

::

    toolace-r eval --model models/tiny-sft --bench bfcl --limit 20 --out evals/tiny
    toolace-r eval --model models/tiny-sft --bench corpus/test.jsonl --refine none,adaptive,fixed:3
    toolace-r eval --model Qwen/Qwen2.5-7B-Instruct --backend vllm --tensor-parallel-size 2 --bench bfcl
    toolace-r eval compare evals/base evals/tiny          # side by side, with deltas

For each entry the first pass (greedy, prompted as the model was trained: ``--prompt-style auto``)
is generated once and shared by every refinement mode; ``adaptive`` and ``fixed:N`` then refine it
(:func:`toolace_r.refine.refine`); ``rewrite`` is one round in which the model may not confirm, a
diagnostic of how many wrong first answers its rewrites fix at all. Every final output is scored by
:func:`toolace_r.checker.check`: for BFCL against BFCL's own function docs and possible answers, in
``bfcl`` mode by default (the official verdicts). Written under ``--out``:

* ``outputs.jsonl``: one line per entry and mode, a valid ``toolace-r score`` input row
  (``functions``, ``output``, ``possible_answer``, ``category``) plus ``id``, ``mode``, the verdict
  (``valid``, ``error_type``, ``errors``), ``well_formed``, ``rounds`` and ``tokens``;
* ``results.json``: per mode, accuracy by category (exactly what ``toolace-r score`` gives for that
  mode's rows of ``outputs.jsonl``), BFCL v4 aggregates (:func:`toolace_r.bfcl.aggregates`), the
  share of well-formed outputs (overall and on the irrelevance entries, where BFCL credits broken
  output as a correct abstention), mean refinement rounds and generated tokens per entry, counts by
  error type, seen/unseen groups (our samples) and throughput;
* ``results.md`` (Markdown tables), ``accuracy_by_category.png`` and ``refinement.png``;
* with ``--export-bfcl DIR``: one mode's outputs (``--export-mode``) in ``bfcl generate``'s result
  layout (``DIR/<name>/<non_live|live|multi_turn>/BFCL_v4_<category>_result.json``, one
  ``{"id", "result", "output_token_count"}`` line per entry; a multi-turn ``result`` is, per turn
  run, the list of the model's step texts, so a force-quit entry has fewer turns, as BFCL's own
  runs do). ``toolace-r score --bfcl-result DIR`` scores them again, multi-turn included.

The work is done by :mod:`toolace_r.evaluation` (:class:`~toolace_r.evaluation.EvalOptions`,
:func:`~toolace_r.evaluation.run_eval`); this module parses the flags and prints. Heavy modules
(torch, transformers, matplotlib) are imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, NoReturn, Optional

import typer

from toolace_r.bfcl import BfclError
from toolace_r.cli._common import die
from toolace_r.evaluation import EvalError, EvalOptions, common_modes, compare_rows, load_results, run_eval
from toolace_r.evaluation.files import pct
from toolace_r.refine import DEFAULT_CONFIRM_BIAS

if TYPE_CHECKING:
    from rich.console import Console


def _h(name: str) -> str:
    return EvalOptions.help(name)


def _die(msg: str) -> NoReturn:
    die(msg, 2)


def eval_command(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", help=_h("model")),
    bench: Optional[str] = typer.Option(None, "--bench", help=_h("bench")),
    categories: Optional[str] = typer.Option(None, "--categories", "--test-category", help=_h("categories")),
    limit: Optional[int] = typer.Option(None, "--limit", help=_h("limit")),
    refine: Optional[List[str]] = typer.Option(None, "--refine", help=_h("refine_modes")),
    max_rounds: int = typer.Option(3, "--max-rounds", help=_h("max_rounds")),
    confirm: str = typer.Option("token", "--confirm", help=_h("confirm")),
    confirm_bias: float = typer.Option(DEFAULT_CONFIRM_BIAS, "--confirm-bias", help=_h("confirm_bias")),
    backend: str = typer.Option("hf", "--backend", help=_h("backend")),
    base_url: Optional[str] = typer.Option(None, "--base-url", help=_h("base_url")),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help=_h("api_key_env")),
    tensor_parallel_size: Optional[int] = typer.Option(None, "--tensor-parallel-size", help=_h("tensor_parallel_size")),
    gpu_memory_utilization: Optional[float] = typer.Option(None, "--gpu-memory-utilization",
                                                           help=_h("gpu_memory_utilization")),
    max_model_len: Optional[int] = typer.Option(None, "--max-model-len", help=_h("max_model_len")),
    bfcl_data: Optional[str] = typer.Option(None, "--bfcl-data", help=_h("bfcl_data")),
    prompt_style: str = typer.Option("auto", "--prompt-style", help=_h("prompt_style")),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help=_h("max_new_tokens")),
    max_steps: int = typer.Option(20, "--max-steps", help=_h("max_steps")),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help=_h("out")),
    export_bfcl_dir: Optional[Path] = typer.Option(None, "--export-bfcl", help=_h("export_bfcl_dir")),
    export_mode: Optional[str] = typer.Option(None, "--export-mode", help=_h("export_mode")),
    mode: str = typer.Option("bfcl", "--mode", help=_h("checker_mode")),
    name: Optional[str] = typer.Option(None, "--name", help=_h("name")),
) -> None:
    """Evaluate a model on BFCL v4 or on a JSONL of samples, with and without refinement."""
    if ctx.invoked_subcommand is not None:
        return  # `toolace-r eval compare ...`
    from rich.console import Console

    console = Console(stderr=True)
    if model is None or bench is None:
        _die("--model and --bench are required (see --help)")
    try:
        opts = EvalOptions(model=model, bench=bench, categories=categories, limit=limit,  # type: ignore[arg-type]
                           refine_modes=refine, max_rounds=max_rounds, confirm=confirm,
                           confirm_bias=confirm_bias, backend=backend,
                           base_url=base_url, api_key_env=api_key_env, tensor_parallel_size=tensor_parallel_size,
                           gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                           bfcl_data=bfcl_data, prompt_style=prompt_style,
                           max_new_tokens=max_new_tokens, max_steps=max_steps, out=out, export_bfcl_dir=export_bfcl_dir,
                           export_mode=export_mode,
                           checker_mode=mode, name=name)
        results = run_eval(opts, log=console.log)
    except (EvalError, BfclError) as e:
        _die(str(e))
    print_results(results, console)
    exported = results.get("export_bfcl")
    mt_file = f", {results['multi_turn']['file']}" if results.get("multi_turn") else ""
    console.print(f"written: {results['out_dir']}/ (results.json, results.md, outputs.jsonl{mt_file}, plots)"
                  + (f"; BFCL result files of mode {exported['mode']} under {exported['dir']}/"
                     f"{exported['model'].replace('/', '_')}/ (score them: bfcl evaluate --model {exported['model']} "
                     f"--result-dir {exported['dir']}{' --partial-eval' if limit else ''}, or toolace-r score "
                     f"--bfcl-result {exported['dir']})"
                     if exported else ""), markup=False, highlight=False, soft_wrap=True)


def print_results(results: dict[str, Any], console: "Console") -> None:
    """The results as a table on ``console``."""
    from rich.table import Table

    modes, by = results["modes"], results["by_mode"]
    t = Table(title=f"{results['name']}: accuracy (%)")
    t.add_column("")
    t.add_column("n", justify="right")
    for m in modes:
        t.add_column(m, justify="right")
    first = by[modes[0]]
    for cat, s in first["categories"].items():
        t.add_row(cat, str(s["total"]), *(pct(by[m]["categories"][cat]["accuracy"]) for m in modes))
    for k, agg in first.get("aggregates", {}).items():
        t.add_row(f"[bold]{k}[/bold]", str(agg["total"]), *(pct(by[m]["aggregates"][k]["accuracy"]) for m in modes))
    for k, g in first.get("groups", {}).items():
        t.add_row(k, str(g["total"]), *(pct(by[m]["groups"][k]["accuracy"]) for m in modes))
    t.add_row("[bold]overall[/bold]", str(first["n"]), *(pct(by[m]["accuracy"]) for m in modes))
    t.add_row("well-formed", "", *(pct(by[m]["well_formed"]) for m in modes))
    t.add_row("mean rounds", "", *(f"{by[m]['mean_rounds']:.2f}" for m in modes))
    t.add_row("mean tokens", "", *(f"{by[m]['mean_tokens']:.1f}" for m in modes))
    t.add_row("confirmations", "", *(str(by[m].get("confirmations", 0)) for m in modes))
    t.add_row("entries/s", "", *(f"{results['timing']['modes'][m]['entries_per_s'] or 0:.2f}" for m in modes))
    console.print(t)


def compare_command(
    dir_a: Path = typer.Argument(..., help="An eval --out folder (or its results.json): the baseline."),
    dir_b: Path = typer.Argument(..., help="Another one: compared against A (delta = B - A)."),
    refine: Optional[str] = typer.Option(None, "--refine", help="Compare only this refinement mode (default: every mode both have)."),
) -> None:
    """Print two evaluations' scores side by side, with deltas (B - A, in points for accuracies)."""
    from rich.console import Console
    from rich.table import Table

    try:
        a, b = load_results(dir_a), load_results(dir_b)
        common = common_modes(a, b, refine)
    except EvalError as e:
        _die(str(e))
    console = Console()
    if a.get("bench") != b.get("bench") or a.get("checker_mode") != b.get("checker_mode"):
        console.print(f"[yellow]note:[/yellow] A ({a.get('bench')}, checker {a.get('checker_mode')}) and "
                      f"B ({b.get('bench')}, checker {b.get('checker_mode')}) differ: the deltas compare different things")
    na, nb = a.get("name", str(dir_a)), b.get("name", str(dir_b))
    if na == nb:
        na, nb = f"A: {dir_a}", f"B: {dir_b}"
    for m in common:
        t = Table(title=f"refinement {m}: {na} vs {nb}")
        t.add_column("")
        t.add_column(str(na), justify="right")
        t.add_column(str(nb), justify="right")
        t.add_column("Δ", justify="right")
        for label, va, vb, is_acc in compare_rows(a["by_mode"][m], b["by_mode"][m]):
            fmt = pct if is_acc else (lambda x: "–" if x is None else f"{x:.2f}")
            if va is None or vb is None:
                delta = "–"
            else:
                d = (vb - va) * (100 if is_acc else 1)
                colour = "" if not is_acc or abs(d) < 1e-9 else ("green" if d > 0 else "red")
                delta = f"{d:+.2f}" if not colour else f"[{colour}]{d:+.2f}[/{colour}]"
            t.add_row(label, fmt(va), fmt(vb), delta)
        console.print(t)


eval_app = typer.Typer(invoke_without_command=True, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                       help="Evaluate a model on BFCL v4 or on a JSONL of samples; 'compare' two evaluations.")
eval_app.callback()(eval_command)
eval_app.command("compare", help="Print two evaluations side by side with deltas (B - A).")(compare_command)
