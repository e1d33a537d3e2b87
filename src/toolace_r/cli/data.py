"""`toolace-r data ...` subcommands: convert, export, synth, split, stats.

Kept light at import (no torch, transformers or datasets; the synthetic corpus generator is
imported when `synth` runs). Bad input ends the command with one line on stderr saying which file,
which line and what is wrong, and a non-zero exit code; never a traceback.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from toolace_r.cli._common import die
from toolace_r.data.convert import READ_FORMATS, convert_records, load_bfcl_answers
from toolace_r.data.export import WRITE_FORMATS, export, write_dataset_info
from toolace_r.data.io import (
    ConversionReport,
    RecordError,
    read_records,
    read_samples,
    summarize_validation_error,
    write_json,
    write_jsonl,
    check_output_name,
    write_samples,
)
from toolace_r.data.sniff import peek, wrong_format_message
from toolace_r.data.stats import compute_stats, format_stats

data_app = typer.Typer(no_args_is_help=True)


_FIX = "fix or remove that record"
_FIX_OR_SKIP = "fix or remove that record, or pass --skip-invalid to skip and count such records"


@contextmanager
def _errors(fix: str = _FIX) -> Iterator[None]:
    """Turn expected failures (bad data, bad arguments, unreadable files) into one line; a bad
    record's line ends with ``fix``, what to do about it."""
    try:
        yield
    except typer.Exit:
        raise
    except RecordError as e:
        die(f"{e} ({fix})")
    except ValidationError as e:
        die(summarize_validation_error(e))
    except (ValueError, OSError, RuntimeError) as e:
        die(str(e) or type(e).__name__)


@contextmanager
def _progress(description: str, total: int | None = None) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr; yields a function to call once per item."""
    console = Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


@data_app.command("convert")
def convert_cmd(
    input: str = typer.Argument(..., help="A .json/.jsonl file, or a Hugging Face data set name (org/name[:split])."),
    output: Path = typer.Argument(..., help="Where to write the samples (JSONL)."),
    from_: str = typer.Option(..., "--from", help="Input format: toolace, xlam, openai, sharegpt or bfcl."),
    answers: Optional[str] = typer.Option(None, "--answers", help="bfcl only: the possible_answer file of the same category."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip records that cannot be read or converted "
                                      "(bad JSON or UTF-8, NaN, too deep, wrong shape): counted, with reasons, instead of stopping."),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Also write the conversion report as JSON here."),
) -> None:
    """Convert a public tool-use data set into unified samples (one per assistant turn)."""
    with _errors(_FIX_OR_SKIP):
        if from_ not in READ_FORMATS:
            die(f"--from must be one of {', '.join(READ_FORMATS)}, not {from_!r}")
        if answers and from_ != "bfcl":
            die("--answers is only for --from bfcl")
        check_output_name(output, ".jsonl")
        ans = load_bfcl_answers(answers) if answers else None
        report = ConversionReport()
        with _progress(f"converting {input}") as tick:
            first, records = peek(read_records(input, skip_invalid=skip_invalid))
            hint = wrong_format_message(first, from_) if first is not None else None
            if hint is not None:
                die(hint)
            samples = convert_records(from_, records, answers=ans, skip_invalid=skip_invalid,
                                      report=report, on_record=tick)
        write_samples(output, samples)
        if report_path is not None:
            write_json(report_path, report.to_dict())
    typer.echo(f"{output}: {report.summary()}", err=True)  # records = converted + skipped
    for loc, reason in report.skipped[:10]:
        typer.echo(f"  skipped {loc}: {reason}", err=True)
    if report.n_skipped > 10:
        typer.echo(f"  ... and {report.n_skipped - 10} more (see --report)", err=True)


@data_app.command("export")
def export_cmd(
    input: Path = typer.Argument(..., help="A JSONL file of unified samples."),
    output: Path = typer.Argument(..., help="Where to write the records (.jsonl, or .json for one array)."),
    to: str = typer.Option(..., "--to", "--format", help="Output format: openai (TRL messages) or sharegpt (LLaMA-Factory)."),
    dataset_name: Optional[str] = typer.Option(None, "--dataset-name", help="sharegpt: the data set's name in "
                                               "dataset_info.json (default: the output file's stem)."),
) -> None:
    """Write unified samples as training records for TRL (openai) or LLaMA-Factory (sharegpt); sharegpt
    also writes LLaMA-Factory's dataset_info.json beside the records (merged into one already there)."""
    info_path = None
    with _errors():
        if to not in WRITE_FORMATS:
            die(f"--to must be one of {', '.join(WRITE_FORMATS)}, not {to!r}")
        check_output_name(output, ".jsonl", ".json")
        samples = read_samples(input)
        records = export(to, samples)
        if output.suffix.lower() == ".json":
            write_json(output, records, indent=None)
        else:
            write_jsonl(output, records)
        if to == "sharegpt":
            info_path = write_dataset_info(output, dataset_name or output.stem)
    typer.echo(f"{output}: {len(records)} {to} records from {len(samples)} samples", err=True)
    if info_path is not None:
        typer.echo(f"{info_path}: entry {dataset_name or output.stem!r} (LLaMA-Factory: dataset_dir="
                   f"{info_path.parent}, dataset={dataset_name or output.stem})", err=True)


@data_app.command("synth")
def synth_cmd(
    out: Path = typer.Option(..., "--out", help="Output folder (train/dev/test.jsonl, tools.json, manifest.json)."),
    n: int = typer.Option(20000, "--n", help="Number of samples over all splits."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed and arguments give the same bytes."),
    shares: Optional[str] = typer.Option(None, "--shares", help="Category shares, e.g. simple=0.3,irrelevance=0.2; unnamed categories share the rest in their default proportions (multi_step has none: name it to have it, e.g. multi_step=0.15)."),
) -> None:
    """Generate the procedural tool-use corpus (no model, no network)."""
    from toolace_r.data.synth import parse_shares, write_corpus

    with _errors():
        if n <= 0:
            die("--n must be positive")
        share_map = parse_shares(shares) if shares else None
        with _progress("synthesising", total=n) as tick:
            manifest = write_corpus(out, n, seed, share_map, on_sample=tick)
    splits = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
    typer.echo(f"{out}: {n} samples ({splits}), {len(manifest['domains'])} domains", err=True)


@data_app.command("split")
def split_cmd(
    input: Path = typer.Argument(..., help="A JSONL file of unified samples (what `data convert` writes)."),
    out: Path = typer.Option(..., "--out", help="Folder to write train.jsonl, dev.jsonl and test.jsonl to."),
    dev: str = typer.Option("0.1", "--dev", metavar="N|F",
                            help="Dev size: a count of samples (200) or a fraction of the file (0.1)."),
    test: str = typer.Option("0.1", "--test", metavar="N|F",
                             help="Test size: a count of samples (200) or a fraction of the file (0.1)."),
    seed: int = typer.Option(0, "--seed", help="Shuffle seed: the same file, sizes and seed give the same split."),
    force: bool = typer.Option(False, "--force", help="Overwrite train/dev/test.jsonl already in --out."),
) -> None:
    """Split a sample file into train / dev / test: seeded, stratified by category, dialogues kept whole."""
    from toolace_r.data.split import parse_size, split_file

    with _errors():
        result = split_file(input, out, dev=parse_size(dev, "--dev"), test=parse_size(test, "--test"),
                            seed=seed, force=force)
    typer.echo(f"{out}: {result.summary()}", err=True)


@data_app.command("stats")
def stats_cmd(
    input: Path = typer.Argument(..., help="A JSONL file of unified samples."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="A tokenizer.json file or tokenizer folder: also count prompt tokens."),
) -> None:
    """Counts by category, source and split; calls; tools; prompt length percentiles."""
    with _errors():
        samples = read_samples(input)
        st = compute_stats(samples, tokenizer=tokenizer)
    if as_json:
        typer.echo(json.dumps(st))
        return
    table = Table(title=Text(str(input)), show_header=False)
    table.add_column("what")
    table.add_column("value")
    for label, value in format_stats(st):
        table.add_row(Text(label), Text(value))  # category and source names are data, not markup
    Console().print(table)
