"""`toolace-r score`: BFCL verdicts for a JSONL file of raw model outputs.

Each input line: ``{"functions": [...], "output": "<raw model text>", "possible_answer":
<BFCL ground_truth list, or null for irrelevance/relevance>, "category": "<BFCL category>"}``
(an ``id`` is carried over when present). Each output line, in the same order:
``{"valid": bool, "error_type": str, "errors": [...]}``. A summary goes to stderr, with the
counts (records = scored + skipped). A malformed line (bad JSON or UTF-8, ``NaN``, a nesting
bomb, wrong types) stops the command with one line naming it (exit 2), or with
``--skip-invalid`` is skipped and listed.

Kept free of heavy imports so that it starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from toolace_r.cli._common import die
from toolace_r.scoring import RowError, read_rows, score_rows, summarize


def score(
    input: Optional[Path] = typer.Argument(None, help="JSONL file: one {functions, output, possible_answer, category} per line."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write one verdict per line here (default: stdout)."),
    mode: str = typer.Option("bfcl", help="bfcl: the official verdicts. strict: all call formats, and malformed output is not a correct abstention."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Report and skip malformed input lines instead of stopping."),
    bfcl_result: Optional[Path] = typer.Option(
        None, "--bfcl-result", help="Instead of INPUT: a folder of `bfcl generate` result files (result/<model>/"
                                   "<live|non_live|multi_turn>/BFCL_v4_<category>_result.json), scored against BFCL's "
                                   "possible answers (multi-turn: by executing the calls on BFCL's backends)."),
    bfcl_data: Optional[str] = typer.Option(None, "--bfcl-data", help="--bfcl-result: the bfcl-eval wheel, unpacked "
                                            "wheel, data folder or gorilla checkout (default: cached download)."),
    categories: Optional[str] = typer.Option(None, "--categories", "--test-category",
                                             help="--bfcl-result: only these BFCL categories (comma list; all, live, non_live, "
                                                  "multi_turn; multi-turn ones are not in all)."),
) -> None:
    """Score raw model outputs with the BFCL-compatible checker: a JSONL of rows, or (--bfcl-result)
    the result files `bfcl generate` writes."""
    if mode not in ("bfcl", "strict"):
        die(f"--mode must be 'bfcl' or 'strict', not {mode!r}", 2)
    if bfcl_result is not None:
        if input is not None or skip_invalid:
            die("--bfcl-result scores a result folder: give no INPUT file and no --skip-invalid", 2)
        _score_bfcl_results(bfcl_result, bfcl_data, categories, mode, output)
        return
    if input is None:
        die("give an INPUT file of rows, or --bfcl-result DIR (see --help)", 2)
    if bfcl_data is not None or categories is not None:
        die("--bfcl-data and --categories are for --bfcl-result", 2)
    if not input.is_file():
        die(f"input file not found: {input}", 2)
    try:
        rows, skipped = read_rows(input, skip_invalid)
    except RowError as e:
        die(str(e), 2)
    except OSError as e:
        die(f"cannot read {input}: {e.strerror or e}", 2)
    results = score_rows(rows, mode)
    _write_lines(results, output)
    _print_summary(input, summarize(rows, results), skipped)


def _write_lines(results: list[dict[str, Any]], output: Optional[Path]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as e:
        die(f"cannot write {output}: {e.strerror or e}", 2)


def _score_bfcl_results(root: Path, bfcl_data: Optional[str], categories: Optional[str], mode: str,
                        output: Optional[Path]) -> None:
    from toolace_r import bfcl
    from toolace_r.bfcl_results import score_result_dir

    console = Console(stderr=True)
    try:
        cats = bfcl.parse_categories(categories, multi_turn=True) if categories is not None else None
        if not root.is_dir():
            die(f"--bfcl-result {root}: no such folder", 2)
        source = bfcl.locate(bfcl_data, log=lambda m: console.print(m, markup=False, highlight=False))
        scored = score_result_dir(root, source, cats, mode)
    except bfcl.BfclError as e:
        die(str(e), 2)
    if output is not None:
        _write_lines(scored["rows"], output)
    for model, res in scored["models"].items():
        table = Table(title=Text(f"{model}: accuracy by category ({mode} checker)"))
        for col in ("category", "correct", "total", "accuracy", "no result"):
            table.add_column(col, justify="left" if col == "category" else "right")
        for cat, s in res["categories"].items():
            table.add_row(Text(cat), str(s["correct"]), str(s["total"]), f"{100 * s['accuracy']:.2f}%", str(s["missing"]))
        for name, agg in res["aggregates"].items():
            table.add_row(Text(f"{name}{'' if agg['complete'] else ' (partial)'}"), "", str(agg["total"]),
                          f"{100 * agg['accuracy']:.2f}%", "")
        o = res["overall"]
        table.add_row(Text("overall"), str(o["correct"]), str(o["total"]), f"{100 * o['accuracy']:.2f}%", "")
        Console().print(table)
    if not scored["models"]:
        die(f"--bfcl-result {root}: no result file of the categories asked for", 2)
    for path, why in scored["skipped"]:
        console.print(f"skipped {path}: {why}", markup=False, highlight=False, soft_wrap=True)


def _print_summary(input: Path, summary: dict[str, dict[str, float]], skipped: list[str]) -> None:
    console = Console(stderr=True)
    table = Table(title="Accuracy by category")
    table.add_column("category")
    table.add_column("correct", justify="right")
    table.add_column("total", justify="right")
    table.add_column("accuracy", justify="right")
    for cat, s in summary.items():  # a category is data, never rich markup: Text
        table.add_row(Text(cat), str(s["correct"]), str(s["total"]), f"{100 * s['accuracy']:.2f}%")
    console.print(table)
    scored = summary["overall"]["total"]
    console.print(f"{input}: {scored + len(skipped)} records, {scored} scored, {len(skipped)} skipped",
                  markup=False, highlight=False, soft_wrap=True)
    if skipped:
        console.print(f"[yellow]skipped {len(skipped)} invalid line(s):[/yellow]")
        for msg in skipped[:20]:
            console.print(f"  {msg}", markup=False, highlight=False, soft_wrap=True)
        if len(skipped) > 20:
            console.print(f"  ... and {len(skipped) - 20} more")

