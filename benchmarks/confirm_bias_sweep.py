"""Choose refine.confirm_bias on dev: evaluate a finished run's arm models (the round each seed's
run evaluated) on the run's dev split, once per bias, single pass and adaptive refinement, and print
one JSON line per (seed, bias): accuracies, first answers fixed / broken, the adaptive / one-pass
ratio of generated tokens and the wall seconds of the first pass and of the rounds.

    python benchmarks/confirm_bias_sweep.py --run RUN --biases 0,1,1.5,2,3,5 [--arm mait_refine] [--split dev]

Tune on dev only: the test split is for the run's report. Results of 2026-12-03 in benchmarks/README.md.
"""

from __future__ import annotations

import json
import time

from _run_models import evaluated_models, run_parser, split_items
from toolace_r.evaluation import evaluate, refinement_flips, summarize_modes
from toolace_r.models.generation import HFGenerator

MODES = ["none", "adaptive"]


def main() -> None:
    ap = run_parser(__doc__)
    ap.add_argument("--biases", default="0,1.5,2,3", help="comma list of confirm_bias values (nats)")
    ap.add_argument("--max-rounds", type=int, default=3)
    args = ap.parse_args()
    items = split_items(args.run, args.split)
    biases = [float(b) for b in args.biases.split(",")]
    for i, t, model in evaluated_models(args.run, args.arm):
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
