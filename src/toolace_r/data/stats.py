"""Statistics of a sample file: counts by category, source and split, calls, tools, and
prompt lengths.

The prompt length of a sample is measured in characters of what a prompt must carry: the
text of every message before the target plus the tool list as compact JSON. It is the size
a chat template starts from (templates add their own framing, and some render tools more
compactly), so it is for comparing corpora and spotting outliers, not for exact budgets.
With a tokenizer (a ``tokenizer.json`` file or a Hugging Face tokenizer folder) the same
text is also counted in tokens.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from toolace_r.data.schema import Sample

PERCENTILES = (50, 90, 99, 100)


def prompt_text(s: Sample) -> str:
    """What the length statistics measure: message texts and the tools as compact JSON."""
    parts = [m.content for m in s.messages]
    for m in s.messages:
        if m.tool_calls:
            parts.append(json.dumps([c.model_dump() for c in m.tool_calls], separators=(",", ":")))
    parts.append(json.dumps([t.model_dump() for t in s.tools], separators=(",", ":"), ensure_ascii=False))
    return "\n".join(parts)


def percentiles(values: list[int], ps: Iterable[int] = PERCENTILES) -> dict[str, float]:
    """Nearest-rank percentiles (p100 is the maximum); empty input gives {}."""
    if not values:
        return {}
    xs = sorted(values)
    out: dict[str, float] = {}
    for p in ps:
        k = max(1, math.ceil(p / 100 * len(xs)))
        out[f"p{p}"] = xs[k - 1]
    out["mean"] = round(sum(xs) / len(xs), 1)
    return out


def load_tokenizer(path: str) -> Callable[[str], int]:
    """A callable text -> number of tokens, from a tokenizer.json or a tokenizer folder."""
    p = Path(path)
    if p.is_file():
        from tokenizers import Tokenizer  # light, but still only when asked for

        tok = Tokenizer.from_file(str(p))
        return lambda text: len(tok.encode(text).ids)
    from transformers import AutoTokenizer  # heavy: only when asked for

    from toolace_r.models.refs import resolve_model

    # a folder or a hub id (ModelRefError, a ValueError, says what is wrong in one line)
    hf = AutoTokenizer.from_pretrained(str(resolve_model(path, what="--tokenizer", tokenizer_only=True)))
    return lambda text: len(hf(text, add_special_tokens=False)["input_ids"])


def compute_stats(samples: list[Sample], *, tokenizer: str | None = None) -> dict[str, Any]:
    """The statistics as one JSON-ready object."""
    count_tokens = load_tokenizer(tokenizer) if tokenizer else None
    by_cat: Counter = Counter()
    by_src: Counter = Counter()
    by_split: Counter = Counter()
    by_checker: Counter = Counter()
    tool_names: Counter = Counter()
    calls = 0
    text_targets = 0
    tools_per_sample = []
    chars = []
    tokens = []
    calls_per_sample: Counter = Counter()
    for s in samples:
        by_cat[s.category] += 1
        by_src[s.source or "(none)"] += 1
        if "split" in s.meta:
            by_split[str(s.meta["split"])] += 1
        by_checker[s.checker_category()] += 1
        n_calls = len(s.answer or [])
        calls += n_calls
        calls_per_sample[n_calls] += 1
        if s.text is not None:
            text_targets += 1
        for t in s.tools:
            tool_names[t.name] += 1
        tools_per_sample.append(len(s.tools))
        text = prompt_text(s)
        chars.append(len(text))
        if count_tokens is not None:
            tokens.append(count_tokens(text))
    out: dict[str, Any] = {
        "samples": len(samples),
        "calls": calls,
        "by_category": dict(sorted(by_cat.items())),
        "by_source": dict(sorted(by_src.items())),
        "by_checker_category": dict(sorted(by_checker.items())),
        "calls_per_sample": {str(k): v for k, v in sorted(calls_per_sample.items())},
        "text_targets": text_targets,
        "tools": len(tool_names),
        "tools_per_sample": percentiles(tools_per_sample),
        "prompt_chars": percentiles(chars),
    }
    if by_split:
        out["by_split"] = dict(sorted(by_split.items()))
    if count_tokens is not None:
        out["prompt_tokens"] = percentiles(tokens)
    return out


def format_stats(st: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows for a human-readable table."""

    def counts(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"

    def pct(d: dict) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in d.items()) or "-"

    rows = [("samples", str(st["samples"])), ("calls", str(st["calls"])),
            ("by category", counts(st["by_category"])), ("by source", counts(st["by_source"]))]
    if "by_split" in st:
        rows.append(("by split", counts(st["by_split"])))
    rows += [("checker category", counts(st["by_checker_category"])),
             ("calls per sample", counts(st["calls_per_sample"])),
             ("text targets", str(st["text_targets"])),
             ("distinct tools", str(st["tools"])),
             ("tools per sample", pct(st["tools_per_sample"])),
             ("prompt chars", pct(st["prompt_chars"]))]
    if "prompt_tokens" in st:
        rows.append(("prompt tokens", pct(st["prompt_tokens"])))
    return rows
