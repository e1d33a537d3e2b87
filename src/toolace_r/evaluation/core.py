"""Items, generation in refinement modes, scored rows and summaries (see the package docstring
for the row and summary formats)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from toolace_r import bfcl
from toolace_r.calls import parse_calls
from toolace_r.data.io import DataError, read_samples
from toolace_r.data.schema import CATEGORIES, Sample
from toolace_r.models.prompting import PromptConfig
from toolace_r.progress import progress
from toolace_r.refine import RefineResult, parse_mode, refine_modes
from toolace_r.scoring import score_rows, summarize

if TYPE_CHECKING:
    from toolace_r.models.generation import Generator

DEFAULT_MODES = ("none", "adaptive")
# The per-mode keys `toolace-r run` records in state.json (eval/<arm>.summary), in this order.
RUN_SUMMARY_KEYS = ("n", "accuracy", "well_formed", "mean_rounds", "mean_tokens")

Log = Callable[[str], Any]
Row = dict[str, Any]


class EvalError(ValueError):
    """A bad argument or input; the message says which and what is wrong."""


@dataclass
class Item:
    """One entry: the prompt sample, the scoring row (without the output) and report groups."""

    id: str
    sample: Sample
    row: dict[str, Any]  # functions, possible_answer, category (the checker category)
    category: str  # the category it is reported under
    extra: dict[str, Any] = field(default_factory=dict)  # carried into every output row


# --------------------------------------------------------------------------------------
# What to evaluate


def parse_modes(values: Iterable[str] | None, max_rounds: int) -> list[str]:
    """Refinement modes from repeated and/or comma-separated values, validated, in order."""
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


def sample_items(samples: Iterable[Sample]) -> list[Item]:
    """Items for samples in our format: scored against their own tools and answer with their
    checker category, reported under their sample category, with seen/unseen flags."""
    items = []
    for s in samples:
        row = {"functions": [t.model_dump() for t in s.tools], "possible_answer": s.answer,
               "category": s.checker_category()}
        extra = {"sample_category": s.category, "unseen_tool": bool(s.meta.get("unseen_tool")),
                 "unseen_template": bool(s.meta.get("unseen_template"))}
        items.append(Item(s.id, s, row, s.category, extra))
    return items


def jsonl_items(path: Path, categories: str | None, limit: int | None) -> list[Item]:
    """Items from a JSONL of our samples; ``limit`` takes the first N (after the category filter)."""
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
    return sample_items(samples)


def bfcl_items(source: bfcl.BfclSource, categories: list[str], limit: int | None) -> list[Item]:
    """Items for BFCL v4 entries, scored against BFCL's own function docs and possible answers."""
    items = []
    for e in bfcl.load(source, categories, limit):
        row = e.score_row("")
        del row["output"], row["id"]
        items.append(Item(e.id, bfcl.entry_sample(e), row, e.category))
    return items


# --------------------------------------------------------------------------------------
# Generation, scoring, summaries


def run_modes(generator: "Generator", samples: Sequence[Sample], modes: Sequence[str], *, max_rounds: int,
              max_new_tokens: int, prompt_cfg: PromptConfig | None = None, confirm: str = "token",
              confirm_bias: float = 0.0, log: Log | None = None) -> tuple[dict[str, list[RefineResult]], dict[str, Any]]:
    """Final answers per mode and timings. The greedy first pass is generated once and shared by
    every mode; ``none`` stops there, the others refine it (:func:`toolace_r.refine.refine_modes`,
    chunk by chunk; ``confirm``: how the model keeps an answer, ``confirm_bias``: how much readier it is to)."""
    prompt_cfg = prompt_cfg or generator.prompt_config
    with progress(f"evaluating ({', '.join(modes)})", total=len(samples)) as tick:
        outputs, seconds = refine_modes(generator, samples, modes, max_rounds=max_rounds, prompt_cfg=prompt_cfg,
                                        max_new_tokens=max_new_tokens, confirm=confirm, confirm_bias=confirm_bias,
                                        on_done=tick)
    t_first = seconds["first"]
    if log:
        log(f"first pass: {len(samples)} entries in {t_first:.1f} s")
    timing: dict[str, Any] = {"first_pass_s": t_first, "modes": {}}
    for mode in modes:
        extra = seconds[mode]
        total = t_first + extra
        # A mode's cost is the shared first pass plus its own refinement rounds.
        timing["modes"][mode] = {"refine_s": extra, "total_s": total,
                                 "entries_per_s": len(samples) / total if total > 0 else None}
        if log and mode != "none":
            log(f"{mode}: refinement rounds in {extra:.1f} s")
    return outputs, timing


def add_wall_seconds(summaries: dict[str, dict[str, Any]], timings: Sequence[dict[str, Any]]) -> None:
    """Each mode's wall seconds (shared first pass + its own rounds) into its summary, as
    ``wall_s``; with the timings of several processes, the slowest one's."""
    for mode, s in summaries.items():
        s["wall_s"] = max(t["modes"][mode]["total_s"] for t in timings)


def score_outputs(items: Sequence[Item], outputs: dict[str, list[RefineResult]], checker_mode: str) -> list[Row]:
    """The output rows, mode by mode (all items of the first mode, then the next): a
    ``toolace-r score`` row per item and mode, with its verdict and cost."""
    rows = []
    for mode, results in outputs.items():
        for it, r in zip(items, results):
            row = {"id": it.id, "mode": mode, **it.row, "output": r.final}
            verdict = score_rows([row], checker_mode)[0]
            rows.append({**row, "valid": verdict["valid"], "error_type": verdict["error_type"],
                         "errors": verdict["errors"], "well_formed": parse_calls(r.final).status != "malformed",
                         "rounds": r.rounds, "tokens": r.tokens, "prompt_tokens": r.prompt_tokens,
                         "prefill_tokens": r.prefill_tokens, "confirmed": r.confirmed, **it.extra})
    return rows


def evaluate(generator: "Generator", items: Sequence[Item], modes: Sequence[str], *, checker_mode: str = "strict",
             max_rounds: int = 3, max_new_tokens: int = 128, prompt_cfg: PromptConfig | None = None,
             confirm: str = "token", confirm_bias: float = 0.0, log: Log | None = None) -> tuple[list[Row], dict[str, Any]]:
    """Generate (:func:`run_modes`) and score (:func:`score_outputs`): ``(rows, timing)``."""
    outputs, timing = run_modes(generator, [it.sample for it in items], modes, max_rounds=max_rounds,
                                max_new_tokens=max_new_tokens, prompt_cfg=prompt_cfg, confirm=confirm,
                                confirm_bias=confirm_bias, log=log)
    return score_outputs(items, outputs, checker_mode), timing


def category_order(category: str) -> int:
    """Where a category stands in BFCL's (or our sample) category list."""
    for names in (bfcl.CATEGORIES + bfcl.MULTI_TURN, CATEGORIES):
        if category in names:
            return names.index(category)
    return len(bfcl.CATEGORIES)


def summarize_mode(rows: Sequence[Row], *, bench: str = "samples") -> dict[str, Any]:
    """The summary of one mode's rows (``bench``: ``"bfcl"`` or ``"samples"``; see the package
    docstring)."""
    n = len(rows) or 1
    verdicts = [{"valid": r["valid"]} for r in rows]
    # Our samples are reported under their own category (the row's is the checker's).
    keyed = list(rows) if bench == "bfcl" else [{**r, "category": r["sample_category"]} for r in rows]
    table = summarize(keyed, verdicts)
    overall = table.pop("overall")
    table = dict(sorted(table.items(), key=lambda kv: (category_order(kv[0]), kv[0])))
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
        # rows written before these were recorded count as 0
        "mean_prompt_tokens": sum(r.get("prompt_tokens", 0) for r in rows) / n,
        "mean_prefill_tokens": sum(r.get("prefill_tokens", 0) for r in rows) / n,
        "confirmations": sum(bool(r.get("confirmed")) for r in rows),
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


def summarize_modes(rows: Sequence[Row], modes: Sequence[str], *, bench: str = "samples") -> dict[str, dict[str, Any]]:
    """:func:`summarize_mode` for each mode's rows, by mode."""
    return {m: summarize_mode([r for r in rows if r["mode"] == m], bench=bench) for m in modes}


def run_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The part of one mode's summary that `toolace-r run` records in state.json."""
    return {k: summary[k] for k in RUN_SUMMARY_KEYS}


def refinement_flips(rows: Sequence[Row], base: str = "none") -> dict[str, dict[str, Any]]:
    """Per refinement mode: how many items it fixed (wrong in ``base``, right after refinement)
    and broke (right in ``base``, wrong after), and the broken ones by category (the sample
    category where the rows have one). Empty when no row is in mode ``base``."""
    first = {r["id"]: r["valid"] for r in rows if r["mode"] == base}
    if not first:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["mode"] == base:
            continue
        d = out.setdefault(r["mode"], {"fixed": 0, "broken": 0, "broken_by_category": Counter()})
        if r["valid"] and not first[r["id"]]:
            d["fixed"] += 1
        elif first[r["id"]] and not r["valid"]:
            d["broken"] += 1
            d["broken_by_category"][r.get("sample_category", r["category"])] += 1
    return out
