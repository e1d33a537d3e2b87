"""How much can adaptive refinement gain at most? Take a finished run's arm models (the round each
seed's run evaluated) and evaluate them on the run's dev split in modes ``none`` and ``rewrite``
(the run's own evaluation path: one greedy first pass, then one refinement round with the
confirmation banned, so the model must rewrite every answer). Print one JSON line per seed:
first-pass accuracy, the forced rewrite's accuracy, first answers it fixed / broke.

"fixed" bounds what any stop rule can gain: a perfect judge (rewrite exactly the wrong first answers)
would add fixed / n to single-pass accuracy in one round. If that is under the +2 points issue 13
asks of adaptive refinement, no confirm_bias or confirmation training can reach it; the model's
rewrites must get better first.

    python benchmarks/rewrite_ceiling.py --run RUN [--arm mait_refine] [--split dev]

Tune on dev only: the test split is for the run's report. Results in benchmarks/README.md.
"""

from __future__ import annotations

import json

from _run_models import evaluated_models, run_parser, split_items
from toolace_r.evaluation import evaluate, refinement_flips, summarize_modes
from toolace_r.models.generation import HFGenerator

MODES = ["none", "rewrite"]


def main() -> None:
    args = run_parser(__doc__).parse_args()
    items = split_items(args.run, args.split)
    for i, t, model in evaluated_models(args.run, args.arm):
        rows, _ = evaluate(HFGenerator(model), items, MODES, checker_mode="strict",
                           max_new_tokens=args.max_new_tokens, confirm="token")
        by = summarize_modes(rows, MODES)
        flips = refinement_flips(rows)["rewrite"]
        print(json.dumps({
            "seed": i, "round": t, "n": len(items),
            "first": round(100 * by["none"]["accuracy"], 2), "rewrite": round(100 * by["rewrite"]["accuracy"], 2),
            "fixed": flips["fixed"], "broken": flips["broken"],
            "ceiling_points": round(100 * flips["fixed"] / len(items), 2),
            "broken_by_category": dict(flips["broken_by_category"])}), flush=True)


if __name__ == "__main__":
    main()
