"""Evaluation of a model on samples in our format, with refinement modes.

For each sample the first pass (greedy, the prompt training used) is generated once and shared
by every mode: ``none`` stops there, ``adaptive`` and ``fixed:N`` refine it
(:func:`toolace_r.refine.refine`). Each final answer is scored by the checker (strict mode: a
malformed output is never a correct abstention). Summaries: accuracy overall, by category and by
seen/unseen tools and templates (``meta.unseen_tool`` / ``meta.unseen_template``), share of
well-formed outputs, mean refinement rounds and generated tokens per sample.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from toolace_r.calls import parse_calls
from toolace_r.scoring import score_answer


def evaluate(generator: Any, samples: Sequence[Any], modes: Sequence[str], *, max_rounds: int = 3,
             max_new_tokens: int = 64, prompt_cfg: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(per-sample records, summary by mode)."""
    from toolace_r.models.prompting import build_messages
    from toolace_r.refine import refine

    prompt_cfg = prompt_cfg or getattr(generator, "prompt_config", None)
    prompts = [build_messages(s, prompt_cfg) for s in samples]
    first = [c[0] for c in generator.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens)]
    records = [{"id": s.id, "category": s.category, "unseen_tool": bool(s.meta.get("unseen_tool")),
                "unseen_template": bool(s.meta.get("unseen_template")), "modes": {}} for s in samples]
    for mode in modes:
        results = refine(generator, samples, mode, max_rounds=max_rounds, prompt_cfg=prompt_cfg,
                         max_new_tokens=max_new_tokens, first=first)
        for rec, s, r in zip(records, samples, results):
            rec["modes"][mode] = {
                "output": r.final, "valid": score_answer(s, r.final),
                "well_formed": parse_calls(r.final).status != "malformed",
                "rounds": r.rounds, "tokens": r.tokens,
            }
    return records, summarize(records, modes)


def summarize(records: Sequence[dict[str, Any]], modes: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in modes:
        rows = [(r, r["modes"][mode]) for r in records]
        n = len(rows) or 1
        groups: dict[str, list[bool]] = defaultdict(list)
        for r, m in rows:
            groups[f"category/{r['category']}"].append(m["valid"])
            groups["tools/" + ("unseen" if r["unseen_tool"] else "seen")].append(m["valid"])
            groups["template/" + ("unseen" if r["unseen_template"] else "seen")].append(m["valid"])
        out[mode] = {
            "n": len(rows),
            "accuracy": sum(m["valid"] for _, m in rows) / n,
            "well_formed": sum(m["well_formed"] for _, m in rows) / n,
            "mean_rounds": sum(m["rounds"] for _, m in rows) / n,
            "mean_tokens": sum(m["tokens"] for _, m in rows) / n,
            "groups": {k: {"n": len(v), "accuracy": sum(v) / len(v)} for k, v in sorted(groups.items())},
        }
    return out
