"""How much can adaptive refinement gain at most? Take a finished run's arm models (the round each
seed's run evaluated), answer the run's dev split once (greedy), then run one refinement round with
the confirmation banned (its first token's logit lowered by 1e4), so the model must rewrite every
answer. Print one JSON line per seed: first-pass accuracy, the forced rewrite's accuracy, first
answers it fixed / broke, and how many rewrites repeat the first calls.

"fixed" bounds what any stop rule can gain: a perfect judge (rewrite exactly the wrong first answers)
would add fixed / n to single-pass accuracy in one round. If that is under the +2 points issue 13
asks of adaptive refinement, no confirm_bias or confirmation training can reach it; the model's
rewrites must get better first.

    python benchmarks/rewrite_ceiling.py --run RUN [--arm mait_refine] [--split dev]

Tune on dev only: the test split is for the run's report. Results in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from toolace_r.calls import answers_equal
from toolace_r.data.io import read_samples
from toolace_r.models.generation import HFGenerator
from toolace_r.models.prompting import build_messages, refine_messages
from toolace_r.pipeline import seed_prefix
from toolace_r.scoring import score_answer

BAN = -1e4  # lowered, not -inf: the generator adds it to a float logit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished toolace-r run folder")
    ap.add_argument("--arm", default="mait_refine", help="plain | mait | mait_refine")
    ap.add_argument("--split", default="dev", help="dev (never tune on test)")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    args = ap.parse_args()
    results = json.loads((args.run / "results.json").read_text(encoding="utf-8"))
    samples = read_samples(args.run / "stages" / "data" / f"{args.split}.jsonl")
    for i, t in enumerate(results["evaluated_round"][args.arm]):
        model = args.run / "stages" / f"{seed_prefix(i)}{args.arm}" / f"r{t}" / "train" / "model"
        gen = HFGenerator(model)
        cfg = gen.prompt_config
        first = [c[0].text for c in gen.generate([build_messages(s, cfg) for s in samples], n=1, temperature=0.0,
                                                  max_new_tokens=args.max_new_tokens)]
        prompts = [refine_messages(s, [a], cfg) for s, a in zip(samples, first)]
        second = [c[0].text for c in gen.generate(prompts, n=1, temperature=0.0, max_new_tokens=args.max_new_tokens,
                                                   confirm_bias=BAN)]
        ok1 = [score_answer(s, a) for s, a in zip(samples, first)]
        ok2 = [score_answer(s, a) for s, a in zip(samples, second)]
        fixed = Counter(s.category for s, a, b in zip(samples, ok1, ok2) if b and not a)
        broken = Counter(s.category for s, a, b in zip(samples, ok1, ok2) if a and not b)
        print(json.dumps({
            "seed": i, "round": t, "n": len(samples),
            "first": round(100 * sum(ok1) / len(samples), 2), "rewrite": round(100 * sum(ok2) / len(samples), 2),
            "fixed": sum(fixed.values()), "broken": sum(broken.values()),
            "ceiling_points": round(100 * sum(fixed.values()) / len(samples), 2),
            "same_calls": sum(answers_equal(a, b) for a, b in zip(first, second)),
            "fixed_by_category": dict(fixed)}), flush=True)


if __name__ == "__main__":
    main()
