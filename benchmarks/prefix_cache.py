"""A refinement round with and without the hf backend's prefix KV cache.

Workload: ``--prompts`` test prompts (default 200) answered greedily (the first pass), then one
refinement round on them: each refinement prompt continues the first pass's conversation (the
answer as an assistant turn, then the short check request), so the first pass's prompt and answer
are its prefix. The round runs twice: without a cache (every prompt prefilled in full) and with the
:class:`~toolace_r.models.prefix_cache.PrefixCache` the first pass filled (only what follows the
stored prefix is prefilled). Both must give the same token ids (checked). The first pass is timed
too, with and without the cache, to show what storing the states costs.

Passes interleave the two settings (``--repeats``) and each keeps its best time, so that other load
on a shared machine does not land on one setting only.

The model is ``--model DIR`` (an embedded model directory), or by default a tiny embedded model
initialised on a procedural corpus (``toolace_r.data.synth``, ``--corpus`` samples) and trained
``--train-steps`` steps so that its answers end at the end-of-turn token as a trained model's do.
The prompts come from ``--data`` (a JSONL of samples) or that corpus's test split.

Run::

    .venv/bin/python benchmarks/prefix_cache.py
    .venv/bin/python benchmarks/prefix_cache.py --model models/tiny --data corpus/test.jsonl
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampling import machine  # noqa: E402  (the same machine line as the other benchmarks)


def build_model(a: argparse.Namespace, tmp: Path) -> tuple[Path, list, str]:
    """A briefly trained tiny embedded model and the test split of its corpus."""
    from toolace_r.data.synth import synthesize
    from toolace_r.models.embedded import init_model
    from toolace_r.models.sft import SFTSettings, train_sft

    data = synthesize(a.corpus, a.seed)
    init_model(data["train"], tmp / "init", size="tiny", seed=a.seed)
    t0 = time.perf_counter()
    m = train_sft(tmp / "init", data["train"], tmp / "model",
                  SFTSettings(max_steps=a.train_steps, batch_size=16, progress=False, plot=False, logging_steps=50,
                              seed=a.seed))
    setup = (f"embedded tiny model ({m['n_params'] / 1e6:.1f}M parameters), initialised on a synth corpus of "
             f"{a.corpus} samples (seed {a.seed}) and trained {a.train_steps} steps of 16 "
             f"({time.perf_counter() - t0:.0f} s)")
    return tmp / "model", data["test"], setup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="embedded model directory (default: build and briefly train one)")
    ap.add_argument("--data", help="JSONL of samples to prompt with (default: the built corpus's test split)")
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--rows", type=int, default=64, help="batch rows (HFGenerator.max_batch_rows)")
    ap.add_argument("--max-mb", type=float, default=256, help="the cache's memory budget (MiB)")
    ap.add_argument("--corpus", type=int, default=3000, help="samples of the built corpus")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved passes; each setting keeps its best")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    from toolace_r.data.io import read_samples
    from toolace_r.models import prompting
    from toolace_r.models.generation import HFGenerator
    from toolace_r.models.prefix_cache import PrefixCache

    if a.model:
        model_dir, pool, setup = Path(a.model), None, f"`{a.model}`"
    else:
        model_dir, pool, setup = build_model(a, Path(tempfile.mkdtemp(prefix="toolace_kv_")))
    if a.data:
        pool = read_samples(a.data)
    if pool is None:
        ap.error("--model needs --data (the samples to prompt with)")
    pool = pool[: a.prompts]
    gen = HFGenerator(model_dir, max_batch_rows=a.rows)
    if not gen.prefix_reuse:
        sys.exit(f"{model_dir}: this model's cache layers do not support prefix reuse")
    kw = dict(n=1, temperature=0.0, max_new_tokens=a.max_new_tokens)
    first = [prompting.build_messages(s, gen.prompt_config) for s in pool]
    gen.generate(first[:2], max_new_tokens=4)  # warm-up (allocations, kernels)

    def run(prompts, cache):
        t = time.perf_counter()
        out = gen.generate(prompts, cache=cache, **kw)
        return out, time.perf_counter() - t

    def ids(outs):
        return [c.token_ids for (c,) in outs]

    y0, _ = run(first, None)
    refine = [prompting.refine_messages(s, c.text, gen.prompt_config) for s, (c,) in zip(pool, y0)]
    best: dict[str, float] = {}
    load0 = os.getloadavg()[0]
    for _ in range(a.repeats):
        plain0, t_plain0 = run(first, None)
        plain1, t_plain1 = run(refine, None)
        cache = PrefixCache(max_bytes=int(a.max_mb * 2**20))
        cached0, t_cached0 = run(first, cache)
        stored_mb = cache.n_bytes / 2**20
        cached1, t_cached1 = run(refine, cache)
        if ids(plain0) != ids(cached0) or ids(plain1) != ids(cached1):
            sys.exit("the cache changed the answers")
        for name, t in (("first, plain", t_plain0), ("first, cached", t_cached0),
                        ("refine, plain", t_plain1), ("refine, cached", t_cached1)):
            best[name] = min(best.get(name, t), t)
    load1 = os.getloadavg()[0]

    def mean(xs):
        return sum(xs) / len(xs)

    prefill = {name: sum(c.prefill_tokens for (c,) in outs) for name, outs in
               (("refine, plain", plain1), ("refine, cached", cached1))}
    lines = [
        "## Prefix KV cache (refinement round)",
        "",
        f"- Machine: {machine()}",
        f"- Model: {setup}",
        f"- Workload: {len(pool)} prompts, greedy, at most {a.max_new_tokens} new tokens, batches of {a.rows} rows; "
        f"first-pass prompts {mean([c.prompt_tokens for (c,) in plain0]):.0f} tokens on average, answers "
        f"{mean([c.n_tokens for (c,) in plain0]):.1f}; refinement prompts "
        f"{mean([c.prompt_tokens for (c,) in plain1]):.0f} tokens, answers {mean([c.n_tokens for (c,) in plain1]):.1f}",
        f"- Cache after the first pass: {stored_mb:.1f} MiB (budget {a.max_mb:g} MiB); best of {a.repeats} "
        f"interleaved passes (load average {load0:.1f} before, {load1:.1f} after)",
        "",
        "| pass | cache | seconds | prompt tokens prefilled |",
        "|---|---|---:|---:|",
        f"| first pass | no | {best['first, plain']:.2f} | {sum(c.prefill_tokens for (c,) in plain0)} |",
        f"| first pass | yes (filled) | {best['first, cached']:.2f} | {sum(c.prefill_tokens for (c,) in cached0)} |",
        f"| refinement round | no | {best['refine, plain']:.2f} | {prefill['refine, plain']} |",
        f"| refinement round | yes (reused) | {best['refine, cached']:.2f} | {prefill['refine, cached']} |",
        "",
        f"Refinement round without / with the cache: **{best['refine, plain'] / best['refine, cached']:.2f}x** "
        f"time, {prefill['refine, plain'] / max(1, prefill['refine, cached']):.1f}x prefill tokens; "
        "same token ids.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
