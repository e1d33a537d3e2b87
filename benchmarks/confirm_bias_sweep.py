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
from toolace_r.evaluation import evaluate, refinement_flips, sample_items, summarize_modes
from toolace_r.models.generation import HFGenerator
from toolace_r.pipeline import seed_prefix

MODES = ["none", "adaptive"]


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
    items = sample_items(read_samples(args.run / "stages" / "data" / f"{args.split}.jsonl"))
    biases = [float(b) for b in args.biases.split(",")]
    for i, t in enumerate(results["evaluated_round"][args.arm]):
        model = args.run / "stages" / f"{seed_prefix(i)}{args.arm}" / f"r{t}" / "train" / "model"
        gen = HFGenerator(model)
        for b in biases:
            t0 = time.perf_counter()
            # the run's own evaluation path: strict checker, shared first pass, then the rounds
            rows, timing = evaluate(gen, items, MODES, checker_mode="strict", max_rounds=args.max_rounds,
                                    max_new_tokens=args.max_new_tokens, confirm="token", confirm_bias=b)
            by = summarize_modes(rows, MODES)
            flips = refinement_flips(rows)["adaptive"]
            print(json.dumps({
                "seed": i, "round": t, "bias": b, "n": len(items),
                "none": round(100 * by["none"]["accuracy"], 2), "adaptive": round(100 * by["adaptive"]["accuracy"], 2),
                "fixed": flips["fixed"], "broken": flips["broken"],
                "rounds": round(by["adaptive"]["mean_rounds"], 3),
                "tokens_vs_none": round(by["adaptive"]["mean_tokens"] / by["none"]["mean_tokens"], 3),
                "first_s": round(timing["first_pass_s"], 1), "rounds_s": round(timing["modes"]["adaptive"]["refine_s"], 1),
                "total_s": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
