"""Choose refine.confirm_bias on dev: evaluate a finished run's arm models (the round each seed's
run evaluated) on the run's dev split, once per bias, single pass and adaptive refinement, and print
one JSON line per (seed, bias): accuracies, first answers fixed / broken, the adaptive / one-pass
ratio of generated tokens and the wall seconds of the first pass and of the rounds.

    python benchmarks/confirm_bias_sweep.py --run RUN --biases 0,1,1.5,2,3,5 [--arm mait_refine] [--split dev]

Tune on dev only: the test split is for the run's report. Results of 2026-12-03 in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from toolace_r.data.io import read_samples
from toolace_r.models.generation import HFGenerator
from toolace_r.pipeline import seed_prefix
from toolace_r.refine import refine_modes
from toolace_r.scoring import score_answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished toolace-r run folder")
    ap.add_argument("--biases", default="0,1.5,2,3", help="comma list of confirm_bias values (nats)")
    ap.add_argument("--arm", default="mait_refine", help="plain | mait | mait_refine")
    ap.add_argument("--split", default="dev", help="dev (never tune on test)")
    ap.add_argument("--max-rounds", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    args = ap.parse_args()
    results = json.loads((args.run / "results.json").read_text(encoding="utf-8"))
    samples = read_samples(args.run / "stages" / "data" / f"{args.split}.jsonl")
    biases = [float(b) for b in args.biases.split(",")]
    for i, t in enumerate(results["evaluated_round"][args.arm]):
        model = args.run / "stages" / f"{seed_prefix(i)}{args.arm}" / f"r{t}" / "train" / "model"
        gen = HFGenerator(model)
        for b in biases:
            t0 = time.perf_counter()
            outs, secs = refine_modes(gen, samples, ["none", "adaptive"], max_rounds=args.max_rounds,
                                      max_new_tokens=args.max_new_tokens, confirm="token", confirm_bias=b)
            ok = {m: [score_answer(s, r.final) for s, r in zip(samples, rs)] for m, rs in outs.items()}
            tokens = {m: sum(r.tokens for r in rs) for m, rs in outs.items()}
            n = len(samples)
            print(json.dumps({
                "seed": i, "round": t, "bias": b, "n": n,
                "none": round(100 * sum(ok["none"]) / n, 2), "adaptive": round(100 * sum(ok["adaptive"]) / n, 2),
                "fixed": sum(c and not a for a, c in zip(ok["none"], ok["adaptive"])),
                "broken": sum(a and not c for a, c in zip(ok["none"], ok["adaptive"])),
                "rounds": round(sum(r.rounds for r in outs["adaptive"]) / n, 3),
                "tokens_vs_none": round(tokens["adaptive"] / tokens["none"], 3),
                "first_s": round(secs["first"], 1), "rounds_s": round(secs["adaptive"], 1),
                "total_s": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
