"""The results of a run over its training seeds, with intervals: every arm's test accuracy per
refinement mode (mean over seeds, 95% bootstrap interval), the paired differences between arms and
between modes, the goals checked against them, and the per-seed numbers. :func:`compute` builds
``results.json``; the ``*_lines`` functions are its tables in ``report.md`` (:mod:`toolace_r.report`).

Everything is read back from the run folder: the evaluation rows of every seed
(``stages/[s<i>/]eval/<arm>/outputs.jsonl``, one row per test sample and mode, scored) and the dev
stages in ``state.json``. Every seed is evaluated on the same test samples, so a comparison is
paired by sample id (and seed). Intervals: :mod:`toolace_r.stats` (test samples and seeds
resampled; a paired comparison applies one draw to both sides); ``bootstrap`` in the file says how.

``results.json``::

    seeds, n_test, arms, modes               the seeds and arms evaluated, test samples, modes
    arm_modes[arm]                           the modes the arm was evaluated in (eval.refine_arms);
                                             the per-mode entries below hold these only
    bootstrap                                {resamples, level, resample_seeds, seed}
    accuracy[arm][mode]                      {value, low, high, level, n_seeds, n_samples, resamples,
                                              per_seed: [accuracy of each seed]}
    mean_tokens[arm][mode], mean_rounds[arm][mode]      means over seeds and samples
    token_ratio[arm][mode]                   the mode's generated tokens over mode none's (estimate)
    evaluated_round[arm]                     per seed, the round evaluated (best on dev; -1: warm-up)
    dev_accuracy[arm]                        per seed, dev accuracy of each round run
    dev_base                                 dev accuracy of the starting model M_0 (None: not measured)
    differences                              [{label, a, mode_a, b, mode_b, value, low, high, ...}]
    flips[arm][mode]                         {fixed, broken}: first answers refinement fixed / broke,
                                             summed over seeds
    goals                                    [{goal, value, low, high, met, text}]
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolace_r import stats
from toolace_r.evaluation import read_rows, refinement_flips
from toolace_r.mait import ARMS

if TYPE_CHECKING:
    import numpy as np

    from toolace_r.pipeline import Run

ARM_TITLES = {name: arm.title for name, arm in ARMS.items()}
# arm comparisons of the ablation: (c) - (a), (b) - (a), (c) - (b)
ARM_PAIRS = (("mait_refine", "plain"), ("mait", "plain"), ("mait_refine", "mait"))
SHORT = {"plain": "(a)", "mait": "(b)", "mait_refine": "(c)"}

# The goals of the embedded default (shares: 0.10 = 10 points)
GOAL_C_ADAPTIVE_OVER_A = 0.10   # (c) + adaptive minus (a) single pass, interval above zero
GOAL_B_OVER_A = 0.03            # (b) minus (a), single pass
GOAL_ADAPTIVE_GAIN = 0.02       # adaptive minus none on (c), interval above zero
GOAL_FIXED_PER_BROKEN = 3       # first answers fixed >= 3x first answers broken, (c) adaptive
GOAL_TOKEN_RATIO = 1.3          # adaptive tokens over single-pass tokens, every arm


@dataclass
class SeedRows:
    """The evaluation rows of the seeds every evaluated arm has, aligned on the test sample ids."""

    seeds: list[int]
    ids: list[str]
    modes: list[str]  # every mode any arm was evaluated in, in the config's order
    rows: dict[str, list[list[dict[str, Any]]]]  # arm -> per seed, that seed's rows
    arm_modes: dict[str, list[str]]  # arm -> the modes it was evaluated in (eval.refine_arms)

    def has(self, arm: str, mode: str) -> bool:
        return arm in self.rows and mode in self.arm_modes[arm]

    def matrix(self, arm: str, mode: str, key: str = "valid") -> "np.ndarray":
        """seeds x samples of one row field (``valid``: 0/1 verdicts, ``tokens``, ``rounds``)."""
        return stats.stack_seeds([{r["id"]: r[key] for r in seed_rows if r["mode"] == mode}
                                  for seed_rows in self.rows[arm]], self.ids)


def load(run: "Run") -> SeedRows | None:
    """The evaluation rows of the run (None before any arm is evaluated). A seed counts once every
    arm evaluated in any seed is evaluated in it, so arms are compared on the same seeds."""
    cfg = run.cfg

    def outputs(i: int, arm: str) -> Path:
        return run.stage_dir(run.seed_stage(i, f"eval/{arm}")) / "outputs.jsonl"

    evaluated = {arm: [i for i in range(cfg.seeds) if outputs(i, arm).is_file()] for arm in cfg.arms}
    arms = [a for a in cfg.arms if evaluated[a]]
    seeds = [i for i in range(cfg.seeds) if all(i in evaluated[a] for a in arms)]
    if not arms or not seeds:
        return None
    rows = {a: [read_rows(outputs(i, a)) for i in seeds] for a in arms}
    order = ["none"] + [m for m in cfg.eval.modes if m != "none"]  # arms outside eval.refine_arms: none only
    arm_modes = {a: [m for m in order if any(r["mode"] == m for r in rows[a][0])] for a in arms}
    modes = [m for m in order if any(m in v for v in arm_modes.values())]
    first = rows[arms[0]][0]
    ids = [r["id"] for r in first if r["mode"] == arm_modes[arms[0]][0]]
    return SeedRows(seeds, ids, modes, rows, arm_modes)


def compute(run: "Run", *, resamples: int = stats.RESAMPLES, level: float = stats.LEVEL,
            resample_seeds: bool = True) -> dict[str, Any] | None:
    """The run's ``results.json`` content (see the module docstring); None before any evaluation."""
    data = load(run)
    if data is None:
        return None
    # one bootstrap seed for every comparison: deterministic, and the run seed changes it
    kw = {"resamples": resamples, "level": level, "seed": run.cfg.seed, "resample_seeds": resample_seeds}
    arms = list(data.rows)
    res: dict[str, Any] = {
        "seeds": data.seeds, "n_test": len(data.ids), "arms": arms, "modes": data.modes, "arm_modes": data.arm_modes,
        "bootstrap": {"resamples": resamples, "level": level, "resample_seeds": resample_seeds, "seed": run.cfg.seed},
        "accuracy": {}, "mean_tokens": {}, "mean_rounds": {}, "token_ratio": {}, "flips": {},
    }
    for arm in arms:
        acc = {}
        modes = data.arm_modes[arm]
        for mode in modes:
            x = data.matrix(arm, mode)
            acc[mode] = {**stats.mean_ci(x, **kw).to_dict(), "per_seed": [float(v) for v in x.mean(axis=1)]}
        res["accuracy"][arm] = acc
        res["mean_tokens"][arm] = {m: float(data.matrix(arm, m, "tokens").mean()) for m in modes}
        res["mean_rounds"][arm] = {m: float(data.matrix(arm, m, "rounds").mean()) for m in modes}
        if "none" in modes and res["mean_tokens"][arm]["none"] > 0:
            res["token_ratio"][arm] = {m: stats.paired_ratio(data.matrix(arm, m, "tokens"),
                                                             data.matrix(arm, "none", "tokens"), **kw).to_dict()
                                       for m in modes if m != "none"}
        flips: dict[str, dict[str, int]] = {}
        for seed_rows in data.rows[arm]:
            for mode, f in refinement_flips(seed_rows).items():
                d = flips.setdefault(mode, {"fixed": 0, "broken": 0})
                d["fixed"] += f["fixed"]
                d["broken"] += f["broken"]
        res["flips"][arm] = flips
    res["evaluated_round"] = {a: [(run.done(run.seed_stage(i, f"eval/{a}")) or {}).get("round") for i in data.seeds]
                              for a in arms}
    res["dev_accuracy"] = dev_accuracy(run)
    res["dev_base"] = (run.done("dev/base") or {}).get("dev_accuracy")
    res["differences"] = _differences(data, kw)
    res["goals"] = goals(res)
    return res


def dev_accuracy(run: "Run") -> dict[str, list[list[float]]]:
    """Per arm, per seed: the dev accuracy of every round run (an arm that stopped early has fewer)."""
    out: dict[str, list[list[float]]] = {}
    for arm in run.cfg.arms:
        per_seed = []
        for i in range(run.cfg.seeds):
            accs = []
            for t in range(run.cfg.mait.rounds):
                m = run.done(run.seed_stage(i, f"{arm}/r{t}/dev"))
                if m is None:
                    break
                accs.append(m["dev_accuracy"])
            per_seed.append(accs)
        if any(per_seed):
            out[arm] = per_seed
    return out


def _differences(data: SeedRows, kw: dict[str, Any]) -> list[dict[str, Any]]:
    """Paired differences: the arm pairs in every mode, then within every arm each mode minus none."""
    out = []

    def add(label: str, a: str, mode_a: str, b: str, mode_b: str) -> None:
        est = stats.paired_diff(data.matrix(a, mode_a), data.matrix(b, mode_b), **kw)
        out.append({"label": label, "a": a, "mode_a": mode_a, "b": b, "mode_b": mode_b, **est.to_dict()})

    for mode in data.modes:
        for a, b in ARM_PAIRS:
            if data.has(a, mode) and data.has(b, mode):
                add(f"{SHORT[a]} - {SHORT[b]}, {mode}", a, mode, b, mode)
    if data.has("mait_refine", "adaptive") and data.has("plain", "none"):
        add("(c) adaptive - (a) none", "mait_refine", "adaptive", "plain", "none")
    for arm in data.rows:
        if data.has(arm, "none"):
            for mode in data.arm_modes[arm]:
                if mode != "none":
                    add(f"{SHORT.get(arm, arm)}: {mode} - none", arm, mode, arm, "none")
    return out


def _estimate(d: dict[str, Any]) -> stats.Estimate:
    """The :class:`~toolace_r.stats.Estimate` inside a results.json entry."""
    return stats.Estimate(**{f.name: d[f.name] for f in fields(stats.Estimate)})


def _find(res: dict[str, Any], a: str, mode_a: str, b: str, mode_b: str) -> stats.Estimate | None:
    for d in res["differences"]:
        if (d["a"], d["mode_a"], d["b"], d["mode_b"]) == (a, mode_a, b, mode_b):
            return _estimate(d)
    return None


def goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals of the embedded default, each with its measured value, interval and verdict."""
    out = []

    def goal(name: str, est: stats.Estimate, met: bool, text: str) -> None:
        out.append({"goal": name, "value": est.value, "low": est.low, "high": est.high, "met": bool(met),
                    "text": f"{text} -> {'met' if met else 'NOT met'}"})

    est = _find(res, "mait_refine", "adaptive", "plain", "none")
    if est:
        goal("c_adaptive_over_a", est, est.value >= GOAL_C_ADAPTIVE_OVER_A and est.above_zero(),
             f"(c) + adaptive minus (a) single pass: {est.points()} points (goal: >= "
             f"+{100 * GOAL_C_ADAPTIVE_OVER_A:.0f}, interval above zero)")
    est = _find(res, "mait", "none", "plain", "none")
    if est:
        goal("b_over_a", est, est.value >= GOAL_B_OVER_A,
             f"(b) minus (a), single pass: {est.points()} points (goal: >= +{100 * GOAL_B_OVER_A:.0f})")
    est = _find(res, "mait_refine", "adaptive", "mait_refine", "none")
    if est:
        f = res["flips"]["mait_refine"]["adaptive"]
        ok = (est.value >= GOAL_ADAPTIVE_GAIN and est.above_zero() and f["fixed"] > 0
              and f["fixed"] >= GOAL_FIXED_PER_BROKEN * f["broken"])
        goal("c_adaptive_over_none", est, ok,
             f"(c) adaptive minus none: {est.points()} points; first answers fixed {f['fixed']}, broken "
             f"{f['broken']} (goal: >= +{100 * GOAL_ADAPTIVE_GAIN:.0f} with the interval above zero, fixed >= "
             f"{GOAL_FIXED_PER_BROKEN}x broken){_rewrite_ceiling(res)}")
    for arm, ratios in res["token_ratio"].items():
        if "adaptive" in ratios:
            est = _estimate(ratios["adaptive"])
            goal(f"tokens_{arm}", est, est.value <= GOAL_TOKEN_RATIO,
                 f"{ARM_TITLES.get(arm, arm)}: adaptive generates {est.times()} the tokens of one pass "
                 f"(goal: <= {GOAL_TOKEN_RATIO}x)")
    return out


def _rewrite_ceiling(res: dict[str, Any]) -> str:
    """What a perfect stop rule could add to (c), from mode ``rewrite`` (every answer rewritten once):
    its first answers fixed, as points of accuracy; "" when the mode was not evaluated."""
    f = res["flips"].get("mait_refine", {}).get("rewrite")
    n = res["n_test"] * len(res["seeds"])
    if not f or not n:
        return ""
    return (f"; forced to rewrite every answer (mode rewrite) the model fixes {f['fixed']} first answers: a "
            f"perfect judge would gain at most +{100 * f['fixed'] / n:.1f} points in one round")


# ------------------------------------------------------------------------------------------
# Tables for report.md


def acc_cell(res: dict[str, Any], arm: str, mode: str) -> str:
    """``18.5% [14.8, 22.3]``: the mean accuracy over seeds and its interval ("-": not evaluated)."""
    a = res["accuracy"][arm].get(mode)
    if a is None:
        return "-"
    return f"{100 * a['value']:.1f}% [{100 * a['low']:.1f}, {100 * a['high']:.1f}]"


def covers_text(res: dict[str, Any]) -> str:
    """One sentence saying what the accuracies and intervals are over."""
    b, n, s = res["bootstrap"], res["n_test"], len(res["seeds"])
    how = f"{100 * b['level']:.0f}% percentile bootstrap intervals ({b['resamples']:,} resamples)"
    if s == 1:
        return f"Intervals are {how} over the {n} test samples (one training seed: seed-to-seed variance is not in them)."
    over = (f"the {n} test samples and the {s} training seeds, both resampled" if b["resample_seeds"]
            else f"the {n} test samples, one draw for all {s} seeds (the seeds are not resampled)")
    return f"Accuracy is the mean over {s} training seeds; intervals are {how} over {over}."


def differences_lines(res: dict[str, Any]) -> list[str]:
    lines = ["## Paired differences (test split)", "",
             covers_text(res) + " Paired: each resample draws the same test samples (and seeds) for both "
             "sides. Points of accuracy.", "",
             "| comparison | difference | 95% interval | |", "|---|---:|---|---|"]
    for d in res["differences"]:
        est = _estimate(d)
        sign = "above 0" if est.low > 0 else "below 0" if est.high < 0 else "includes 0"
        lines.append(f"| {d['label']} | {100 * est.value:+.1f} | "
                     f"[{100 * est.low:+.1f}, {100 * est.high:+.1f}] | {sign} |")
    return lines + [""]


def per_seed_lines(res: dict[str, Any]) -> list[str]:
    modes = res["modes"]
    lines = ["## Test accuracy per seed", "",
             "| seed | arm | round | " + " | ".join(modes) + " |", "|---:|---|---:|" + "---:|" * len(modes)]
    for k, seed in enumerate(res["seeds"]):
        for arm in res["arms"]:
            r = res["evaluated_round"][arm][k]
            accs = " | ".join(f"{100 * res['accuracy'][arm][m]['per_seed'][k]:.1f}%" if m in res["accuracy"][arm]
                              else "-" for m in modes)
            lines.append(f"| {seed} | {ARM_TITLES.get(arm, arm)} | {r if r is not None else '-'} | {accs} |")
    return lines + [""]


def dev_lines(dev: dict[str, list[list[float]]], rounds: int, base: float | None = None) -> list[str]:
    """Dev accuracy per round, a row per arm (and seed, when there are several), after the starting
    model's ``base`` dev accuracy when it was measured."""
    several = any(len(v) > 1 for v in dev.values())
    head = "| arm | " + ("seed | " if several else "") + " | ".join(f"r{t}" for t in range(rounds)) + " |"
    lines = ["## Dev accuracy per round (greedy, no refinement)", "", head,
             "|---|" + ("---:|" if several else "") + "---:|" * rounds]
    for arm, per_seed in dev.items():
        for i, accs in enumerate(per_seed):
            if not accs:
                continue
            cells = " | ".join(f"{100 * accs[t]:.1f}%" if t < len(accs) else "-" for t in range(rounds))
            lines.append(f"| {ARM_TITLES.get(arm, arm)} | " + (f"{i} | " if several else "") + cells + " |")
    if base is not None:
        lines += ["", f"The starting model M_0 scores {100 * base:.1f}% on the same dev samples."]
    return lines + [""]
