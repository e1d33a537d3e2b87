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
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from toolace_r.cli._common import die
from toolace_r.scoring import RowError, read_rows, score_rows, summarize


def score(
    input: Path = typer.Argument(..., help="JSONL file: one {functions, output, possible_answer, category} per line."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write one verdict per line here (default: stdout)."),
    mode: str = typer.Option("bfcl", help="bfcl: the official verdicts. strict: all call formats, and malformed output is not a correct abstention."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Report and skip malformed input lines instead of stopping."),
) -> None:
    """Score raw model outputs with the BFCL-compatible checker."""
    if mode not in ("bfcl", "strict"):
        die(f"--mode must be 'bfcl' or 'strict', not {mode!r}", 2)
    if not input.is_file():
        die(f"input file not found: {input}", 2)
    try:
        rows, skipped = read_rows(input, skip_invalid)
    except RowError as e:
        die(str(e), 2)
    except OSError as e:
        die(f"cannot read {input}: {e.strerror or e}", 2)
    results = score_rows(rows, mode)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            tmp = output.with_name(output.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(output)
        except OSError as e:
            die(f"cannot write {output}: {e.strerror or e}", 2)
    _print_summary(input, summarize(rows, results), skipped)


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

