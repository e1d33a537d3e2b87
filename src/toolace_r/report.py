"""The run report: ``report.md``, PNG plots, and a one-screen summary, built from the stage
records in ``state.json`` and the evaluation stages' files (``summary.json``: the summary by mode,
``outputs.jsonl``: the output rows; formats in :mod:`toolace_r.evaluation`). Everything here is
read back from the run folder, so a report can be rebuilt at any time (``toolace-r run --resume``
does it last). matplotlib is imported only to draw the plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolace_r.data.io import atomic_write_text
from toolace_r.evaluation import read_rows, refinement_flips
from toolace_r.mait import ARMS

if TYPE_CHECKING:
    from toolace_r.pipeline import Run

# the titles live with the arms themselves (mait.Arm)
ARM_TITLES = {name: arm.title for name, arm in ARMS.items()}


def _eval_summaries(run: "Run") -> dict[str, dict[str, Any]]:
    out = {}
    for arm in run.cfg.arms:
        f = run.stage_dir(f"eval/{arm}") / "summary.json"
        if f.is_file():
            out[arm] = json.loads(f.read_text(encoding="utf-8"))
    return out


def _dev_curves(run: "Run") -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = {}
    for name, m in run.state["stages"].items():
        if name.endswith("/dev"):
            curves.setdefault(m["arm"], []).append((m["round"], m["dev_accuracy"]))
    return curves


def goals(summaries: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's goals for the embedded default, checked against the measured numbers."""
    lines = []
    a, c = summaries.get("plain"), summaries.get("mait_refine")
    if a and c and "none" in a and "adaptive" in c:
        delta = 100 * (c["adaptive"]["accuracy"] - a["none"]["accuracy"])
        lines.append(f"- (c) + adaptive vs (a) single pass: {delta:+.1f} points (goal: >= +5) "
                     f"-> {'met' if delta >= 5 else 'NOT met'}")
    for arm, s in summaries.items():
        if {"none", "adaptive", "fixed:3"} <= s.keys():
            gain_fixed = s["fixed:3"]["accuracy"] - s["none"]["accuracy"]
            gain_ad = s["adaptive"]["accuracy"] - s["none"]["accuracy"]
            tok_ratio = s["adaptive"]["mean_tokens"] / max(1e-9, s["none"]["mean_tokens"])
            if gain_fixed > 0:
                kept = gain_ad / gain_fixed
                ok = kept >= 0.9 and tok_ratio <= 1.5
                lines.append(f"- {ARM_TITLES[arm]}: adaptive keeps {100 * kept:.0f}% of the fixed-3 gain "
                             f"({100 * gain_ad:+.1f} vs {100 * gain_fixed:+.1f} points) at {tok_ratio:.2f}x the "
                             f"single-pass tokens (goal: >= 90% at <= 1.5x) -> {'met' if ok else 'NOT met'}")
            else:
                lines.append(f"- {ARM_TITLES[arm]}: fixed-3 refinement gains nothing over one pass "
                             f"({100 * gain_fixed:+.1f} points; adaptive {100 * gain_ad:+.1f}) at "
                             f"{tok_ratio:.2f}x tokens for adaptive: no gain to keep")
    if any("adaptive" in s for s in summaries.values()):
        lines.append("- Note on the token goal: adaptive refinement stops only when the model repeats its answer, so "
                     "every sample pays at least one refinement pass as long as the first; measured in generated "
                     "tokens it costs about 2x a single pass at the least, and the 1.5x bound cannot be met by "
                     "this stopping rule (method.md 1.3). What it saves is the rounds after the repeat.")
    return lines


def _refinement_flips(run: "Run") -> dict[str, dict[str, dict[str, Any]]]:
    """Per arm and refinement mode: how many test samples refinement fixed and broke against the
    first pass, from the evaluation's output rows."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for arm in run.cfg.arms:
        f = run.stage_dir(f"eval/{arm}") / "outputs.jsonl"
        if f.is_file():
            flips = refinement_flips(read_rows(f))
            if flips:
                out[arm] = flips
    return out


def refinement_cost(run: "Run", summaries: dict[str, dict[str, Any]]) -> list[str]:
    """The table "Refinement cost and effect (test split)": per arm and mode, the mean refinement
    rounds, generated and prefilled tokens per sample, wall seconds (the shared first pass plus
    the mode's rounds), first answers fixed / broken, and tokens and wall time as multiples of
    mode none. "-" where a number was not recorded (older runs; backends that do not count prefill)."""
    if not summaries:
        return []
    flips = _refinement_flips(run)
    num = lambda x, fmt: "-" if not x else format(x, fmt)  # noqa: E731 (0: not recorded)
    ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"  # noqa: E731
    lines = ["## Refinement cost and effect (test split)", "",
             "| arm | mode | rounds | generated tokens | prefill tokens | wall s | fixed | broken | confirmed "
             "| tokens vs none | wall vs none |", "|---|---|" + "---:|" * 9]
    for arm, by_mode in summaries.items():
        base = by_mode.get("none", {})
        for mode, s in by_mode.items():
            f = flips.get(arm, {}).get(mode, {})
            lines.append(f"| {ARM_TITLES.get(arm, arm)} | {mode} | {s['mean_rounds']:.2f} | {s['mean_tokens']:.1f} | "
                         f"{num(s.get('mean_prefill_tokens'), '.1f')} | {num(s.get('wall_s'), '.1f')} | "
                         f"{f.get('fixed', '-')} | {f.get('broken', '-')} | {s.get('confirmations', '-')} | "
                         f"{ratio(s['mean_tokens'], base.get('mean_tokens'))} | "
                         f"{ratio(s.get('wall_s'), base.get('wall_s'))} |")
    lines += ["", "Per test sample: rounds after the first pass, tokens over all passes; fixed / broken: first answers "
              "refinement made right / wrong; confirmed: answers kept by the model's confirmation (refine.confirm="
              f"{run.cfg.refine.confirm}).", ""]
    return lines


def _groups(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One mode's accuracy by group: ``category/<sample category>``, ``tools/...``, ``template/...``."""
    out = {f"category/{c}": {"n": v["total"], "accuracy": v["accuracy"]} for c, v in summary["categories"].items()}
    out.update({g: {"n": v["total"], "accuracy": v["accuracy"]} for g, v in summary.get("groups", {}).items()})
    return out


def write_report(run: "Run") -> Path:
    cfg = run.cfg
    summaries = _eval_summaries(run)
    curves = _dev_curves(run)
    stages = run.state["stages"]
    lines = ["# toolace-r run report", ""]
    lines += [f"Run folder: `{run.dir}`. Seed {cfg.seed}; policy `{cfg.mait.policy}`, {cfg.mait.rounds} round(s), "
              f"k = {cfg.mait.k}, {cfg.train.steps_per_round} optimizer steps per round (batch {cfg.train.batch_size}) "
              f"for every arm; model `{cfg.model.init}`. Test accuracy is scored by the checker in strict mode "
              "(a malformed output is never a correct abstention).", ""]

    if summaries:
        modes = cfg.eval.modes
        lines += ["## Ablation (test split)", "",
                  "| arm | " + " | ".join(f"{m} acc" for m in modes) + " | " + " | ".join(f"{m} rounds / tokens" for m in modes) + " |",
                  "|---|" + "---:|" * (2 * len(modes))]
        for arm, s in summaries.items():
            accs = " | ".join(f"{100 * s[m]['accuracy']:.1f}%" for m in modes)
            cost = " | ".join(f"{s[m]['mean_rounds']:.2f} / {s[m]['mean_tokens']:.1f}" for m in modes)
            r = stages.get(f"eval/{arm}", {}).get("round")
            at = f" (round {r})" if isinstance(r, int) and r >= 0 else (" (warm-up model)" if r == -1 else "")
            lines.append(f"| {ARM_TITLES.get(arm, arm)}{at} | {accs} | {cost} |")
        lines += ["", "Each arm is evaluated with its best round on dev. Rounds: refinement calls after the first pass, "
                  "per sample; tokens: generated tokens per sample, all passes.", ""]
        lines += ["### Goals", ""] + (goals(summaries) or ["- (not enough arms or modes to check)"]) + [""]

        by_group = {arm: {m: _groups(v) for m, v in s.items()} for arm, s in summaries.items()}
        groups = sorted({g for s in by_group.values() for g in s[modes[0]]})
        lines += [f"## Test accuracy by group (mode `{modes[0]}`" + (", and `adaptive`" if "adaptive" in modes else "") + ")", "",
                  "| group | n | " + " | ".join(ARM_TITLES.get(a, a) for a in summaries) + " |",
                  "|---|---:|" + "---:|" * len(summaries)]
        for g in groups:
            n = next(s[modes[0]][g]["n"] for s in by_group.values() if g in s[modes[0]])
            cells = []
            for s in by_group.values():
                v = s[modes[0]].get(g)
                cell = f"{100 * v['accuracy']:.1f}%" if v else "-"
                if v and "adaptive" in s:
                    cell += f" / {100 * s['adaptive'][g]['accuracy']:.1f}%"
                cells.append(cell)
            lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
        lines.append("")

    flips = _refinement_flips(run)
    if flips:
        lines += ["## What refinement changed (test split, against the first pass)", "",
                  "| arm | mode | fixed (wrong -> right) | broken (right -> wrong) | net | broken by category |",
                  "|---|---|---:|---:|---:|---|"]
        for arm, by_mode in flips.items():
            for mode, f in by_mode.items():
                cats = ", ".join(f"{c} {n}" for c, n in sorted(f["broken_by_category"].items())) or "-"
                lines.append(f"| {ARM_TITLES.get(arm, arm)} | {mode} | {f['fixed']} | {f['broken']} | "
                             f"{f['fixed'] - f['broken']:+d} | {cats} |")
        lines += ["", "Refinement gains only where the model fixes more first answers than it breaks: a model "
                  "that cannot yet judge its own answer changes right ones too.", ""]

    lines += refinement_cost(run, summaries)
    if curves:
        lines += ["## Dev accuracy per round (greedy, no refinement)", "", "| arm | " + " | ".join(f"r{t}" for t in range(cfg.mait.rounds)) + " |",
                  "|---|" + "---:|" * cfg.mait.rounds]
        for arm, pts in curves.items():
            d = dict(pts)
            lines.append(f"| {ARM_TITLES.get(arm, arm)} | " + " | ".join(f"{100 * d[t]:.1f}%" if t in d else "-" for t in range(cfg.mait.rounds)) + " |")
        lines.append("")

    rounds = [(k, v) for k, v in stages.items() if k.endswith("/train") and k != "warmup"]
    if rounds:
        lines += ["## Rounds", "", "| stage | policy | selected | refinement | by category | final train loss |", "|---|---|---:|---:|---|---:|"]
        for k, v in rounds:
            loss = v.get("train_loss", "")
            loss = f"{loss:.4f}" if isinstance(loss, float) else str(loss)
            cats = ", ".join(f"{c} {n}" for c, n in v.get("selected_by_category", {}).items())
            lines.append(f"| {k} | {v.get('policy', '')} | {v.get('n_selected', '')} | {v.get('n_refine', 0)} | {cats} | {loss} |")
        lines.append("")
    probes = [(k, v) for k, v in stages.items() if k.startswith("probe/")]
    if probes:
        lines += ["## Probes: distribution of c(x) = correct answers out of k", "",
                  "| probe | " + " | ".join(f"c={c}" for c in range(cfg.mait.k + 1)) + " | pass@k | mean p |",
                  "|---|" + "---:|" * (cfg.mait.k + 3)]
        for k, v in probes:
            h = v["p_histogram"]
            lines.append(f"| {k} | " + " | ".join(str(h.get(str(c), 0)) for c in range(cfg.mait.k + 1)) +
                         f" | {100 * v['pass_at_k']:.1f}% | {v['mean_p']:.3f} |")
        lines.append("")

    lines += ["## Time and memory per stage", "",
              "Peak resident memory (MiB) of the driver process during the stage, of a launched job's largest "
              "process, and what the driver keeps once the stage has given its memory back (docs/run.md).", "",
              "| stage | seconds | peak RSS | job peak RSS | RSS after |", "|---|---:|---:|---:|---:|"]
    total = 0.0
    mib = lambda x: "-" if x is None else f"{x:.0f}"  # noqa: E731
    for k, v in stages.items():
        lines.append(f"| {k} | {v.get('seconds', 0):.1f} | {mib(v.get('peak_rss_mb'))} | "
                     f"{mib(v.get('job_peak_rss_mb'))} | {mib(v.get('rss_after_mb'))} |")
        total += v.get("seconds", 0)
    peaks = [x for v in stages.values() for x in (v.get("peak_rss_mb"), v.get("job_peak_rss_mb")) if x is not None]
    lines += [f"| **total** | {total:.1f} | {mib(max(peaks, default=None))} | | |", ""]

    plots = _plots(run, summaries, curves)
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]

    out = run.dir / "report.md"
    atomic_write_text(out, ["\n".join(lines)])
    return out


def _plots(run: "Run", summaries: dict[str, Any], curves: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any, name: str) -> Path:
        fig.tight_layout()
        p = run.dir / name
        fig.savefig(p, dpi=110)
        plt.close(fig)
        return p

    paths = []
    if curves:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for arm, pts in curves.items():
            xs, ys = zip(*sorted(pts))
            ax.plot(xs, [100 * y for y in ys], marker="o", label=ARM_TITLES.get(arm, arm))
        ax.set_xlabel("round")
        ax.set_ylabel("dev accuracy (%)")
        ax.legend(fontsize=7)
        paths.append(save(fig, "dev_accuracy.png"))
    if summaries:
        modes = run.cfg.eval.modes
        arms = list(summaries)
        short = [ARM_TITLES.get(a, a).split(" ", 1)[0] for a in arms]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
        _grouped_bars(ax1, short, {m: [100 * summaries[a][m]["accuracy"] for a in arms] for m in modes})
        _grouped_bars(ax2, short, {m: [summaries[a][m]["mean_tokens"] for a in arms] for m in modes})
        ax1.set_title("test accuracy (%)", fontsize=9)
        ax2.set_title("generated tokens / sample", fontsize=9)
        ax1.legend(fontsize=7)
        paths.append(save(fig, "ablation.png"))

        mode = modes[0]
        cats = sorted({c for s in summaries.values() for c in s[mode]["categories"]})
        fig, ax = plt.subplots(figsize=(7, 3.2))
        _grouped_bars(ax, cats, {ARM_TITLES.get(a, a): [100 * summaries[a][mode]["categories"].get(c, {"accuracy": 0})["accuracy"]
                                                        for c in cats] for a in arms}, fontsize=7)
        ax.set_ylabel(f"test accuracy (%), {mode}")
        ax.legend(fontsize=7)
        paths.append(save(fig, "categories.png"))
    return paths


def _grouped_bars(ax: Any, groups: list[str], series: dict[str, list[float]], fontsize: int | None = None) -> None:
    """One bar per series inside each group, groups side by side."""
    width = 0.8 / max(1, len(series))
    for j, (label, values) in enumerate(series.items()):
        ax.bar([i + j * width for i in range(len(groups))], values, width, label=label)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels(groups, fontsize=fontsize)


def summary_text(run: "Run") -> str:
    """A short plain-text summary for the end of `toolace-r run`."""
    summaries = _eval_summaries(run)
    lines = []
    for arm, s in summaries.items():
        parts = [f"{m} {100 * v['accuracy']:.1f}% ({v['mean_tokens']:.0f} tok)" for m, v in s.items()]
        lines.append(f"{ARM_TITLES.get(arm, arm):32s} " + ", ".join(parts))
    lines += goals(summaries)
    return "\n".join(lines)
