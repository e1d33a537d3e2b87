"""`toolace-r eval`: a model on BFCL v4 (or on a JSONL of our samples), with refinement modes.

::

    toolace-r eval --model models/tiny-sft --bench bfcl --limit 20 --out evals/tiny
    toolace-r eval --model models/tiny-sft --bench corpus/test.jsonl --refine none,adaptive,fixed:3
    toolace-r eval compare evals/base evals/tiny          # side by side, with deltas

For each entry the first pass (greedy, prompted as the model was trained: ``--prompt-style auto``)
is generated once and shared by every refinement mode; ``adaptive`` and ``fixed:N`` then refine it
(:func:`toolace_r.refine.refine`). Every final output is scored by :func:`toolace_r.checker.check`:
for BFCL against BFCL's own function docs and possible answers, in ``bfcl`` mode by default (the
official verdicts). Written under ``--out``:

* ``outputs.jsonl``: one line per entry and mode, a valid ``toolace-r score`` input row
  (``functions``, ``output``, ``possible_answer``, ``category``) plus ``id``, ``mode``, the verdict
  (``valid``, ``error_type``, ``errors``), ``well_formed``, ``rounds`` and ``tokens``;
* ``results.json``: per mode, accuracy by category (exactly what ``toolace-r score`` gives for that
  mode's rows of ``outputs.jsonl``), BFCL v4 aggregates (:func:`toolace_r.bfcl.aggregates`), the
  share of well-formed outputs (overall and on the irrelevance entries, where BFCL credits broken
  output as a correct abstention), mean refinement rounds and generated tokens per entry, counts by
  error type, seen/unseen groups (our samples) and throughput;
* ``results.md`` (Markdown tables), ``accuracy_by_category.png`` and ``refinement.png``;
* with ``--export-bfcl DIR``: the outputs in ``bfcl generate``'s result layout
  (``DIR/<name>/<non_live|live>/BFCL_v4_<category>_result.json``, one ``{"id", "result"}`` line per
  entry; with several modes one folder per mode, ``<name>-<mode>``).

Heavy modules (torch, transformers, matplotlib) are imported only when a command runs.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import typer

DEFAULT_MODES = ("none", "adaptive")
RESULTS_FILE = "results.json"


class EvalError(ValueError):
    """A bad argument or input; the message says which and what is wrong."""


# --------------------------------------------------------------------------------------
# What to evaluate


@dataclass
class Item:
    """One entry: the prompt sample, the scoring row (without the output) and report groups."""

    id: str
    sample: Any
    row: dict[str, Any]  # functions, possible_answer, category (the checker category)
    category: str  # the category it is reported under
    extra: dict[str, Any] = field(default_factory=dict)  # carried into outputs.jsonl


def parse_modes(values: Optional[List[str]], max_rounds: int) -> list[str]:
    """Refinement modes from repeated and/or comma-separated values, validated, in order."""
    from toolace_r.refine import parse_mode

    modes: list[str] = []
    for v in values or DEFAULT_MODES:
        for m in v.split(","):
            m = m.strip()
            if m and m not in modes:
                try:
                    parse_mode(m, max_rounds)
                except ValueError as e:
                    raise EvalError(f"--refine: {e}") from None
                modes.append(m)
    if not modes:
        raise EvalError("--refine: no refinement mode given (use none, adaptive or fixed:N)")
    return modes


def bfcl_items(source: Any, categories: list[str], limit: int | None) -> list[Item]:
    from toolace_r import bfcl

    items = []
    for e in bfcl.load(source, categories, limit):
        row = e.score_row("")
        del row["output"], row["id"]
        items.append(Item(e.id, bfcl.entry_sample(e), row, e.category))
    return items


def jsonl_items(path: Path, categories: str | None, limit: int | None) -> list[Item]:
    """Items from a JSONL of our samples; ``limit`` takes the first N (after the category filter)."""
    from toolace_r.data.io import DataError, read_samples
    from toolace_r.data.schema import CATEGORIES

    want = None
    if categories:
        want = [c.strip() for c in categories.split(",") if c.strip()]
        bad = [c for c in want if c not in CATEGORIES]
        if bad:
            raise EvalError(f"--categories: unknown sample category {bad[0]!r}; choose from {', '.join(CATEGORIES)}")
    try:
        samples = read_samples(path)
    except DataError as e:
        raise EvalError(str(e)) from None
    if want is not None:
        samples = [s for s in samples if s.category in want]
    if limit is not None:
        samples = samples[: max(0, limit)]
    items = []
    for s in samples:
        row = {"functions": [t.model_dump() for t in s.tools], "possible_answer": s.answer,
               "category": s.checker_category()}
        extra = {"sample_category": s.category, "unseen_tool": bool(s.meta.get("unseen_tool")),
                 "unseen_template": bool(s.meta.get("unseen_template"))}
        items.append(Item(s.id, s, row, s.category, extra))
    return items


# --------------------------------------------------------------------------------------
# Generation, scoring, summaries


def generate(generator: Any, items: list[Item], modes: list[str], *, max_rounds: int, max_new_tokens: int,
             prompt_cfg: Any, log: Any = None) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Final outputs per mode (``RefineResult`` lists) and timings. The first pass is shared."""
    from toolace_r.models.prompting import build_messages
    from toolace_r.refine import refine

    samples = [it.sample for it in items]
    t0 = time.perf_counter()
    prompts = [build_messages(s, prompt_cfg) for s in samples]
    first = [c[0] for c in generator.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens)]
    t_first = time.perf_counter() - t0
    if log:
        log(f"first pass: {len(items)} entries in {t_first:.1f} s")
    outputs: dict[str, list[Any]] = {}
    timing: dict[str, Any] = {"first_pass_s": t_first, "modes": {}}
    for mode in modes:
        t1 = time.perf_counter()
        outputs[mode] = refine(generator, samples, mode, max_rounds=max_rounds, prompt_cfg=prompt_cfg,
                               max_new_tokens=max_new_tokens, first=first)
        extra = time.perf_counter() - t1
        total = t_first + extra
        # A mode's cost is the shared first pass plus its own refinement rounds.
        timing["modes"][mode] = {"refine_s": extra, "total_s": total,
                                 "entries_per_s": len(items) / total if total > 0 else None}
        if log and mode != "none":
            log(f"{mode}: refinement rounds in {extra:.1f} s")
    return outputs, timing


def score_outputs(items: list[Item], outputs: dict[str, list[Any]], checker_mode: str) -> list[dict[str, Any]]:
    """The ``outputs.jsonl`` rows: a ``toolace-r score`` row per entry and mode, with its verdict."""
    from toolace_r.calls import parse_calls
    from toolace_r.scoring import score_rows

    rows = []
    for mode, results in outputs.items():
        for it, r in zip(items, results):
            row = {"id": it.id, "mode": mode, **it.row, "output": r.final}
            verdict = score_rows([row], checker_mode)[0]
            rows.append({**row, "valid": verdict["valid"], "error_type": verdict["error_type"],
                         "errors": verdict["errors"], "well_formed": parse_calls(r.final).status != "malformed",
                         "rounds": r.rounds, "tokens": r.tokens, **it.extra})
    return rows


def summarize_mode(rows: list[dict[str, Any]], *, bench: str) -> dict[str, Any]:
    """Scores of one mode's rows (see the module docstring)."""
    from toolace_r import bfcl
    from toolace_r.scoring import summarize

    n = len(rows) or 1
    verdicts = [{"valid": r["valid"]} for r in rows]
    # Our samples are reported under their own category (the row's is the checker's).
    keyed = rows if bench == "bfcl" else [{**r, "category": r["sample_category"]} for r in rows]
    table = summarize(keyed, verdicts)
    overall = table.pop("overall")
    table = dict(sorted(table.items(), key=lambda kv: (_order(kv[0]), kv[0])))
    if bench == "bfcl":
        irr = [r for r in rows if r["category"] in bfcl.HALLUCINATION]
    else:
        irr = [r for r in rows if r["category"] == "irrelevance"]
    out: dict[str, Any] = {
        "n": len(rows),
        "accuracy": overall["accuracy"],
        "overall": overall,
        "categories": table,
        "well_formed": sum(r["well_formed"] for r in rows) / n,
        "well_formed_irrelevance": (sum(r["well_formed"] for r in irr) / len(irr)) if irr else None,
        "mean_rounds": sum(r["rounds"] for r in rows) / n,
        "mean_tokens": sum(r["tokens"] for r in rows) / n,
        "errors": dict(Counter(r["error_type"] for r in rows if not r["valid"]).most_common()),
    }
    if bench == "bfcl":
        out["aggregates"] = bfcl.aggregates(table)
    else:
        groups: dict[str, list[bool]] = {}
        for r in rows:
            groups.setdefault("tools/" + ("unseen" if r["unseen_tool"] else "seen"), []).append(r["valid"])
            groups.setdefault("template/" + ("unseen" if r["unseen_template"] else "seen"), []).append(r["valid"])
        out["groups"] = {k: {"correct": sum(v), "total": len(v), "accuracy": sum(v) / len(v)}
                         for k, v in sorted(groups.items())}
    return out


# --------------------------------------------------------------------------------------
# Files


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def results_markdown(results: dict[str, Any]) -> str:
    modes = results["modes"]
    by = results["by_mode"]
    head = "| | n | " + " | ".join(modes) + " |\n|---|---:|" + "---:|" * len(modes) + "\n"
    lines = [f"# Evaluation: {results['name']}", "",
             f"model `{results['model']}` ({results['backend']}, prompt style {results['prompt_style']}) · "
             f"bench `{results['bench']}` · checker mode `{results['checker_mode']}` · "
             f"{results['n_entries']} entries · max {results['max_rounds']} refinement rounds · {results['date']}",
             "", "## Accuracy (%)", "", head.rstrip("\n")]
    first = by[modes[0]]
    for cat, s in first["categories"].items():
        lines.append(f"| {cat} | {s['total']} | " + " | ".join(_pct(by[m]["categories"][cat]["accuracy"]) for m in modes) + " |")
    for name, agg in first.get("aggregates", {}).items():
        label = f"**{name.replace('_', '-')}**" + ("" if agg["complete"] else " (partial)")
        lines.append(f"| {label} | {agg['total']} | " + " | ".join(_pct(by[m]["aggregates"][name]["accuracy"]) for m in modes) + " |")
    for name, g in first.get("groups", {}).items():
        lines.append(f"| {name} | {g['total']} | " + " | ".join(_pct(by[m]["groups"][name]["accuracy"]) for m in modes) + " |")
    lines.append(f"| **overall** | {first['n']} | " + " | ".join(_pct(by[m]["accuracy"]) for m in modes) + " |")
    lines.append("| well-formed outputs | | " + " | ".join(_pct(by[m]["well_formed"]) for m in modes) + " |")
    if first.get("well_formed_irrelevance") is not None:
        lines.append("| well-formed on irrelevance | | " + " | ".join(_pct(by[m]["well_formed_irrelevance"]) for m in modes) + " |")
    lines += ["", "## Cost", "", "| mode | mean refinement rounds | mean generated tokens | entries/s |", "|---|---:|---:|---:|"]
    for m in modes:
        eps = results["timing"]["modes"][m]["entries_per_s"]
        lines.append(f"| {m} | {by[m]['mean_rounds']:.2f} | {by[m]['mean_tokens']:.1f} | {eps:.2f} |" if eps
                     else f"| {m} | {by[m]['mean_rounds']:.2f} | {by[m]['mean_tokens']:.1f} | – |")
    errs = sorted({e for m in modes for e in by[m]["errors"]}, key=lambda e: -sum(by[m]["errors"].get(e, 0) for m in modes))
    if errs:
        lines += ["", "## Errors (count by type)", "", "| error type | " + " | ".join(modes) + " |",
                  "|---|" + "---:|" * len(modes)]
        for e in errs:
            lines.append(f"| `{e}` | " + " | ".join(str(by[m]["errors"].get(e, 0)) for m in modes) + " |")
    return "\n".join(lines) + "\n"


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes, by = results["modes"], results["by_mode"]
    cats = list(by[modes[0]]["categories"])
    paths = []
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(cats) + 2), 4))
    width = 0.8 / len(modes)
    for i, m in enumerate(modes):
        ax.bar([k + i * width - 0.4 + width / 2 for k in range(len(cats))],
               [100 * by[m]["categories"][c]["accuracy"] for c in cats], width, label=m)
    ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{results['name']}: accuracy by category")
    ax.legend(title="refinement")
    fig.tight_layout()
    paths.append(out / "accuracy_by_category.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    # Two panels of bars rather than twin axes: with two or three modes, twin lines overlap.
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(max(7.0, 1.6 * len(modes) + 4), 3.8))
    acc = [100 * by[m]["accuracy"] for m in modes]
    tok = [by[m]["mean_tokens"] for m in modes]
    for axis, vals, label, colour, fmt in ((ax, acc, "accuracy (%)", "tab:blue", "{:.1f}"),
                                           (ax2, tok, "generated tokens per entry", "tab:orange", "{:.0f}")):
        bars = axis.bar(modes, vals, color=colour)
        axis.bar_label(bars, [fmt.format(v) for v in vals])
        axis.set_ylabel(label)
        axis.set_xlabel("refinement mode")
        axis.margins(y=0.15)
    ax.set_ylim(0, max(100.0, max(acc) * 1.15))
    fig.suptitle(f"{results['name']}: accuracy and cost by refinement mode")
    fig.tight_layout()
    paths.append(out / "refinement.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def _mode_slug(mode: str) -> str:
    return mode.replace(":", "")


def export_bfcl(dest: Path, name: str, rows: list[dict[str, Any]], modes: list[str]) -> list[Path]:
    """The outputs as ``bfcl generate`` result files (see the module docstring)."""
    from toolace_r import bfcl
    from toolace_r.data.io import atomic_write_text

    written = []
    for mode in modes:
        folder = dest / (name if len(modes) == 1 else f"{name}-{_mode_slug(mode)}")
        by_cat: dict[str, list[str]] = {}
        for r in rows:
            if r["mode"] == mode:
                line = {"id": r["id"], "result": r["output"], "output_token_count": r["tokens"]}
                by_cat.setdefault(r["category"], []).append(json.dumps(line, ensure_ascii=False) + "\n")
        for cat, lines in by_cat.items():
            path = folder / bfcl.group_dir(cat) / bfcl.result_file(cat)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, lines)
            written.append(path)
    return written


def _order(category: str) -> int:
    from toolace_r import bfcl
    from toolace_r.data.schema import CATEGORIES

    for names in (bfcl.CATEGORIES, CATEGORIES):
        if category in names:
            return names.index(category)
    return len(bfcl.CATEGORIES)


def default_name(model: str) -> str:
    """A folder-safe label for a model: the last two telling parts of a local path
    (``runs/x/mait/r1/train/model`` -> ``mait_r1``), else the name with ``/`` replaced by ``_``
    (as BFCL names its result folders)."""
    p = Path(model)
    if p.exists():
        parts = [x for x in p.resolve().parts if x not in ("", "/")]
        # Generic trailing folder names ("train/model") say nothing about which model it is.
        while len(parts) > 2 and parts[-1] in _GENERIC_DIRS:
            parts.pop()
        return "_".join(parts[-2:])
    return model.replace("/", "_")


_GENERIC_DIRS = {"model", "models", "train", "final", "output", "out", "merged"}


# --------------------------------------------------------------------------------------
# Commands


def _die(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _make_generator(backend: str, model: str, base_url: str | None, api_key_env: str | None) -> Any:
    from toolace_r.models.generation import BACKENDS, make_generator

    if backend not in BACKENDS:
        raise EvalError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    kw: dict[str, Any] = {}
    if backend == "openai":
        if base_url:
            kw["base_url"] = base_url
        if api_key_env:
            if not os.environ.get(api_key_env):
                raise EvalError(f"--api-key-env {api_key_env}: that environment variable is not set")
            kw["api_key"] = os.environ[api_key_env]
    elif base_url or api_key_env:
        raise EvalError("--base-url and --api-key-env are for --backend openai")
    elif not Path(model).exists() and model.count("/") != 1:
        raise EvalError(f"--model {model}: no such directory (and not a hub id like org/name)")
    try:
        return make_generator(backend, model, **kw)
    except (OSError, ValueError, ImportError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EvalError(f"cannot load model {model!r} with the {backend} backend: {first}") from None


def run_eval(
    *, model: str, bench: str, categories: str | None = None, limit: int | None = None,
    refine_modes: Optional[List[str]] = None, max_rounds: int = 3, backend: str = "hf",
    base_url: str | None = None, api_key_env: str | None = None, bfcl_data: str | None = None,
    prompt_style: str = "auto", max_new_tokens: int = 128, out: Path | None = None,
    export_bfcl_dir: Path | None = None, checker_mode: str = "bfcl", name: str | None = None, log: Any = None,
) -> dict[str, Any]:
    """The whole evaluation (also usable from Python); returns the results dict. Raises
    :class:`EvalError` (or :class:`toolace_r.bfcl.BfclError`) on bad arguments or data."""
    from toolace_r import bfcl
    from toolace_r.data.io import atomic_write_text, write_json
    from toolace_r.models.prompting import PromptConfig

    # Cheap checks first, before any model is loaded.
    if checker_mode not in ("bfcl", "strict"):
        raise EvalError(f"--mode must be 'bfcl' or 'strict', not {checker_mode!r}")
    if prompt_style not in ("auto", "system", "template"):
        raise EvalError(f"--prompt-style must be auto, system or template, not {prompt_style!r}")
    if limit is not None and limit < 1:
        raise EvalError(f"--limit must be >= 1, got {limit}")
    if max_new_tokens < 1:
        raise EvalError(f"--max-new-tokens must be >= 1, got {max_new_tokens}")
    modes = parse_modes(refine_modes, max_rounds)
    if bench == "bfcl":
        cats = bfcl.parse_categories(categories)
        source = bfcl.locate(bfcl_data, log=log)
        items = bfcl_items(source, cats, limit)
        bench_label = f"bfcl ({source.describe()})"
    else:
        if bfcl_data is not None or export_bfcl_dir is not None:
            raise EvalError("--bfcl-data and --export-bfcl are for --bench bfcl")
        path = Path(bench)
        if not path.is_file():
            raise EvalError(f"--bench must be 'bfcl' or a JSONL file of samples; {bench} is neither")
        items = jsonl_items(path, categories, limit)
        bench_label = str(path)
    if not items:
        raise EvalError("nothing to evaluate: no entry matches --categories / --limit")
    ids = Counter(it.id for it in items)
    dup = next((i for i, k in ids.items() if k > 1), None)
    if dup is not None:
        raise EvalError(f"duplicate entry id {dup!r} in --bench")
    out = out or Path("runs") / time.strftime("eval-%Y%m%d-%H%M%S")
    for flag, folder in (("--out", out), ("--export-bfcl", export_bfcl_dir)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise EvalError(f"{flag} {folder} is a file, not a folder")  # found now, not after generating
    name = name or default_name(model)
    if log:
        log(f"{len(items)} entries, refinement modes {', '.join(modes)}; loading {model} ({backend})")

    t0 = time.perf_counter()
    gen = _make_generator(backend, model, base_url, api_key_env)
    load_s = time.perf_counter() - t0
    try:
        cfg = gen.prompt_config if prompt_style == "auto" else PromptConfig(tools_in=prompt_style)  # type: ignore[arg-type]
        try:
            outputs, timing = generate(gen, items, modes, max_rounds=max_rounds, max_new_tokens=max_new_tokens,
                                       prompt_cfg=cfg, log=log)
        except (ValueError, RuntimeError) as e:
            raise EvalError(f"generation failed: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None
    finally:
        gen.close()
    timing["load_s"] = load_s

    rows = score_outputs(items, outputs, checker_mode)
    kind = "bfcl" if bench == "bfcl" else "samples"
    results: dict[str, Any] = {
        "name": name, "model": model, "backend": backend, "bench": bench_label, "bench_kind": kind,
        "checker_mode": checker_mode, "prompt_style": f"{prompt_style} -> {cfg.tools_in}",
        "modes": modes, "max_rounds": max_rounds, "max_new_tokens": max_new_tokens, "limit": limit,
        "categories": sorted({it.category for it in items}, key=lambda c: (c not in bfcl.CATEGORIES, _order(c), c)),
        "n_entries": len(items), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "out_dir": str(out),
        "by_mode": {m: summarize_mode([r for r in rows if r["mode"] == m], bench=kind) for m in modes},
        "timing": timing,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "outputs.jsonl", (json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_json(out / RESULTS_FILE, results)
    atomic_write_text(out / "results.md", [results_markdown(results)])
    write_plots(results, out)
    if export_bfcl_dir is not None:
        export_bfcl(export_bfcl_dir, name, rows, modes)
    return results


def eval_command(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", help="Model directory or hub id (served model name for --backend openai)."),
    bench: Optional[str] = typer.Option(None, "--bench", help="'bfcl' (BFCL v4) or a JSONL file of samples in our format."),
    categories: Optional[str] = typer.Option(None, "--categories", help="Comma list. BFCL: simple_python, multiple, parallel, parallel_multiple, irrelevance, live_simple, live_multiple, live_parallel, live_parallel_multiple, live_irrelevance, live_relevance, or all / live / non_live (default all). Samples: simple, multiple, ... (default all)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="BFCL: first N entries per category. Samples: first N samples."),
    refine: Optional[List[str]] = typer.Option(None, "--refine", help="Refinement modes: none, adaptive, fixed:N; repeat or comma-separate (default none,adaptive)."),
    max_rounds: int = typer.Option(3, "--max-rounds", help="Most refinement rounds for adaptive."),
    backend: str = typer.Option("hf", "--backend", help="hf, vllm or openai."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="openai backend: the endpoint (else OPENAI_BASE_URL)."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="openai backend: the environment variable holding the API key."),
    bfcl_data: Optional[str] = typer.Option(None, "--bfcl-data", help="bfcl-eval wheel, unpacked wheel, its data folder, or a gorilla checkout (default: cached download)."),
    prompt_style: str = typer.Option("auto", "--prompt-style", help="auto (what the model directory records), system or template."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help="Most tokens generated per pass."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default runs/eval-<date>-<time>)."),
    export_bfcl_dir: Optional[Path] = typer.Option(None, "--export-bfcl", help="Also write the outputs as bfcl generate result files under this folder."),
    mode: str = typer.Option("bfcl", "--mode", help="Checker mode: bfcl (official verdicts) or strict."),
    name: Optional[str] = typer.Option(None, "--name", help="Label for the model in reports and export folders (default from --model)."),
) -> None:
    """Evaluate a model on BFCL v4 or on a JSONL of samples, with and without refinement."""
    if ctx.invoked_subcommand is not None:
        return  # `toolace-r eval compare ...`
    from rich.console import Console

    from toolace_r.bfcl import BfclError

    console = Console(stderr=True)
    if model is None or bench is None:
        _die("--model and --bench are required (see --help)")
    try:
        results = run_eval(model=model, bench=bench, categories=categories, limit=limit,  # type: ignore[arg-type]
                           refine_modes=refine, max_rounds=max_rounds, backend=backend, base_url=base_url,
                           api_key_env=api_key_env, bfcl_data=bfcl_data, prompt_style=prompt_style,
                           max_new_tokens=max_new_tokens, out=out, export_bfcl_dir=export_bfcl_dir,
                           checker_mode=mode, name=name, log=console.log)
    except (EvalError, BfclError) as e:
        _die(str(e))
    print_results(results, console)
    console.print(f"written: {results['out_dir']}/ (results.json, results.md, outputs.jsonl, plots)"
                  + (f"; BFCL result files under {export_bfcl_dir}/" if export_bfcl_dir else ""))


def print_results(results: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    modes, by = results["modes"], results["by_mode"]
    t = Table(title=f"{results['name']}: accuracy (%)")
    t.add_column("")
    t.add_column("n", justify="right")
    for m in modes:
        t.add_column(m, justify="right")
    first = by[modes[0]]
    for cat, s in first["categories"].items():
        t.add_row(cat, str(s["total"]), *(_pct(by[m]["categories"][cat]["accuracy"]) for m in modes))
    for k, agg in first.get("aggregates", {}).items():
        t.add_row(f"[bold]{k}[/bold]", str(agg["total"]), *(_pct(by[m]["aggregates"][k]["accuracy"]) for m in modes))
    for k, g in first.get("groups", {}).items():
        t.add_row(k, str(g["total"]), *(_pct(by[m]["groups"][k]["accuracy"]) for m in modes))
    t.add_row("[bold]overall[/bold]", str(first["n"]), *(_pct(by[m]["accuracy"]) for m in modes))
    t.add_row("well-formed", "", *(_pct(by[m]["well_formed"]) for m in modes))
    t.add_row("mean rounds", "", *(f"{by[m]['mean_rounds']:.2f}" for m in modes))
    t.add_row("mean tokens", "", *(f"{by[m]['mean_tokens']:.1f}" for m in modes))
    t.add_row("entries/s", "", *(f"{results['timing']['modes'][m]['entries_per_s'] or 0:.2f}" for m in modes))
    console.print(t)


# --------------------------------------------------------------------------------------
# compare


def load_results(path: Path) -> dict[str, Any]:
    f = path / RESULTS_FILE if path.is_dir() else path
    if not f.is_file():
        raise EvalError(f"{path}: no {RESULTS_FILE} there (give an eval --out folder or its results.json)")
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EvalError(f"{f}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("by_mode"), dict):
        raise EvalError(f"{f}: not a toolace-r eval results file (no 'by_mode')")
    return data


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any, bool]]:
    """``(label, value A, value B, is_accuracy)`` for one mode's summaries, A's order first."""
    rows: list[tuple[str, Any, Any, bool]] = []
    for cat in list(a["categories"]) + [c for c in b["categories"] if c not in a["categories"]]:
        rows.append((cat, a["categories"].get(cat, {}).get("accuracy"), b["categories"].get(cat, {}).get("accuracy"), True))
    for key in ("aggregates", "groups"):
        ka, kb = a.get(key, {}), b.get(key, {})
        for k in list(ka) + [x for x in kb if x not in ka]:
            rows.append((k, ka.get(k, {}).get("accuracy"), kb.get(k, {}).get("accuracy"), True))
    rows.append(("overall", a.get("accuracy"), b.get("accuracy"), True))
    rows.append(("well-formed", a.get("well_formed"), b.get("well_formed"), True))
    rows.append(("mean rounds", a.get("mean_rounds"), b.get("mean_rounds"), False))
    rows.append(("mean tokens", a.get("mean_tokens"), b.get("mean_tokens"), False))
    return rows


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
    except EvalError as e:
        _die(str(e))
    common = [m for m in a["by_mode"] if m in b["by_mode"]]
    if refine is not None:
        if refine not in common:
            _die(f"--refine {refine}: not in both results (A has {', '.join(a['by_mode'])}; B has {', '.join(b['by_mode'])})")
        common = [refine]
    if not common:
        _die(f"no refinement mode in common (A has {', '.join(a['by_mode'])}; B has {', '.join(b['by_mode'])})")
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
            fmt = _pct if is_acc else (lambda x: "–" if x is None else f"{x:.2f}")
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
