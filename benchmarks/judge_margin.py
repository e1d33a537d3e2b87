"""Can the model tell its wrong first answers from its right ones? Take a finished run's arm models
(the round each seed's run evaluated) and, on the run's dev split:

1. evaluate modes ``none``, ``rewrite`` and ``fixed:1`` through the run's evaluation path (greedy
   first pass; one refinement round with the confirmation banned; one round where it is allowed);
2. for every first answer, build the refinement prompt (the first conversation continued by the
   answer and the request to check it) and read the model's margin for confirming at the round's
   first token: the confirmation's logit minus the largest other logit;
3. print one JSON line per seed: the AUC of that margin (the chance that a right first answer gets
   a larger margin than a wrong one: 0.5 is no judgement at all), and what a one-round stop rule
   "rewrite where the margin is below t" would gain for the best t on this split;
4. with ``--samples K``: also K rewrites sampled at ``--temperature`` from the refinement prompt
   (confirmation banned), and K fresh answers sampled from the first prompt: how many wrong first
   answers each fixes (one draw on average, and any of K), how many right ones it keeps, and the
   same best one-round rule with the first draw as the rewrite. Refinement rounds are greedy in the
   method; this asks whether sampling them would help.

Why this bounds every ``refine.confirm_bias``: with bias b the model rewrites exactly where its
margin is below -b, and its rewrite is then the greedy continuation without the confirmation, the
answer mode ``rewrite`` wrote. So one round of adaptive refinement at any bias (negative ones too)
scores a point of the curve below; ``fixed:1`` checks the curve at b = 0.

    python benchmarks/judge_margin.py --run RUN [--arm mait_refine] [--split dev] [--samples 4 --temperature 0.7]

Tune on dev only: the test split is for the run's report. Results in benchmarks/README.md.
"""

from __future__ import annotations

import json

from _run_models import evaluated_models, run_parser, split_items
from toolace_r.evaluation import evaluate, refinement_flips, summarize_modes
from toolace_r.evaluation.core import score_outputs
from toolace_r.models.generation import HFGenerator
from toolace_r.models.prompting import build_messages, refine_messages
from toolace_r.refine import REWRITE_BAN, RefineResult

MODES = ["none", "rewrite", "fixed:1"]


def confirm_margins(gen: HFGenerator, samples: list, answers: list[str]) -> list[float]:
    """Per sample: the confirmation's first-token logit minus the largest other logit, at the first
    step of a refinement round that checks ``answers`` (one forward pass each, no cache)."""
    import torch

    cid = gen.confirm_first_id
    out = []
    with torch.inference_mode():
        for sample, answer in zip(samples, answers):
            ids = gen.encode(refine_messages(sample, answer, gen.prompt_config))
            logits = gen.model(input_ids=torch.tensor([ids], device=gen.device)).logits[0, -1].float()
            confirm = logits[cid].item()
            logits[cid] = float("-inf")
            out.append(confirm - logits.max().item())
    return out


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a random ``pos`` value > a random ``neg`` value), ties counted half (Mann-Whitney)."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def threshold_curve(margins: list[float], first: list[bool], rewritten: list[bool]) -> list[tuple[float, int]]:
    """(t, net fixed) for the rule "rewrite where margin < t", t at every distinct margin and above
    the largest: net fixed = first answers fixed minus first answers broken."""
    order = sorted(range(len(margins)), key=lambda i: margins[i])
    curve, net = [(float("-inf"), 0)], 0
    for k, i in enumerate(order):
        net += int(rewritten[i] and not first[i]) - int(first[i] and not rewritten[i])
        nxt = margins[order[k + 1]] if k + 1 < len(order) else float("inf")
        if nxt > margins[i]:  # ties move together
            curve.append((nxt, net))
    return curve


def best_rule(margins: list[float], first: list[bool], rewritten: list[bool]) -> tuple[float, int]:
    """The threshold t of :func:`threshold_curve` with the most net fixes (the lowest such t), and that number."""
    return max(threshold_curve(margins, first, rewritten), key=lambda c: c[1])


def sampled(gen: HFGenerator, items: list, answers: list[str], first: list[bool], margins: list[float], k: int,
            temperature: float, max_new_tokens: int) -> dict[str, dict[str, float]]:
    """Per source ("rewrite": the refinement prompt, confirmation banned; "fresh": the first prompt),
    k sampled answers scored: wrong first answers fixed by a draw (mean) and by any of the k, right
    ones kept by a draw (mean), and the best one-round rule with the first draw as the rewrite."""
    cfg = gen.prompt_config
    sources = {"rewrite": ([refine_messages(it.sample, a, cfg) for it, a in zip(items, answers)], REWRITE_BAN),
               "fresh": ([build_messages(it.sample, cfg) for it in items], 0.0)}
    wrong = [n for n, f in enumerate(first) if not f]
    right = [n for n, f in enumerate(first) if f]
    out = {}
    for name, (prompts, bias) in sources.items():
        comps = gen.generate(prompts, n=k, temperature=temperature, top_p=1.0, max_new_tokens=max_new_tokens,
                             seed=123, confirm_bias=bias)
        valid = [[bool(r["valid"]) for r in score_outputs(items, {"s": [RefineResult(c[j].text) for c in comps]},
                                                           "strict")] for j in range(k)]
        t, net = best_rule(margins, first, valid[0])
        out[name] = {"fixed_per_draw": round(sum(v[n] for v in valid for n in wrong) / k, 1),
                     f"fixed_by_any_of_{k}": sum(any(v[n] for v in valid) for n in wrong),
                     "right_kept_per_draw": round(sum(v[n] for v in valid for n in right) / k, 1),
                     "best_gain_points": round(100 * net / len(items), 2), "best_threshold": round(t, 3)}
    return out


def main() -> None:
    ap = run_parser(__doc__)
    ap.add_argument("--samples", type=int, default=0, help="K sampled rewrites and fresh answers (0: none)")
    ap.add_argument("--temperature", type=float, default=0.7, help="temperature of the sampled answers")
    args = ap.parse_args()
    items = split_items(args.run, args.split)
    for i, t, model in evaluated_models(args.run, args.arm):
        gen = HFGenerator(model)
        rows, _ = evaluate(gen, items, MODES, checker_mode="strict", max_new_tokens=args.max_new_tokens,
                           confirm="token")
        by_mode = {m: {r["id"]: r for r in rows if r["mode"] == m} for m in MODES}
        ids = [it.id for it in items]
        first = [bool(by_mode["none"][k]["valid"]) for k in ids]
        rewritten = [bool(by_mode["rewrite"][k]["valid"]) for k in ids]
        answers = [by_mode["none"][k]["output"] for k in ids]
        margins = confirm_margins(gen, [it.sample for it in items], answers)
        curve = threshold_curve(margins, first, rewritten)
        best_t, best = best_rule(margins, first, rewritten)
        at_zero = next(net for th, net in curve if th > 0)  # the plain greedy choice: rewrite where margin < 0
        acc = summarize_modes(rows, MODES)
        n = len(items)
        extra = {} if args.samples < 1 else sampled(gen, items, answers, first, margins, args.samples,
                                                    args.temperature, args.max_new_tokens)
        print(json.dumps({
            "seed": i, "round": t, "n": n,
            "first": round(100 * sum(first) / n, 2), "rewrite": round(100 * sum(rewritten) / n, 2),
            "fixed1": round(100 * acc["fixed:1"]["accuracy"], 2),
            "fixed1_predicted": round(100 * (sum(first) + at_zero) / n, 2),
            "auc": round(auc([m for m, f in zip(margins, first) if f], [m for m, f in zip(margins, first) if not f]), 3),
            "rewrite_at_bias0": sum(m < 0 for m in margins),
            "best_gain_points": round(100 * best / n, 2), "best_threshold": best_t,
            "best_rewrites": sum(m < best_t for m in margins),
            "ceiling_points": round(100 * refinement_flips(rows)["rewrite"]["fixed"] / n, 2), **extra}),
              flush=True)


if __name__ == "__main__":
    main()
