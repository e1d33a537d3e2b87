"""The run report: ``report.md``, ``results.json``, PNG plots, and a one-screen summary, built
from the stage records in ``state.json`` and the evaluation stages' files of every training seed
(``summary.json``: the summary by mode, ``outputs.jsonl``: the output rows; formats in
:mod:`toolace_r.evaluation`). Accuracies, differences with their intervals and the goals come from
:mod:`toolace_r.results`. Everything here is read back from the run folder, so a report can be
rebuilt at any time (``toolace-r run --resume`` does it last). matplotlib is imported only to draw
the plots."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolace_r import results as results_mod
from toolace_r.data.io import atomic_write_text, write_json
from toolace_r.evaluation import read_rows, refinement_flips
from toolace_r.results import ARM_TITLES

if TYPE_CHECKING:
    from toolace_r.pipeline import Run

RESULTS_FILE = "results.json"


def _eval_summaries(run: "Run", seeds: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Per arm, the evaluation summary (by mode) of each of ``seeds``."""
    out = {}
    for arm in run.cfg.arms:
        files = [run.stage_dir(run.seed_stage(i, f"eval/{arm}")) / "summary.json" for i in seeds]
        if files and all(f.is_file() for f in files):
            out[arm] = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    return out


def goals(res: dict[str, Any] | None) -> list[str]:
    """The goals of the embedded default with their measured values and intervals, as report lines."""
    return [f"- {g['text']}" for g in (res or {}).get("goals", [])]


def _refinement_flips(run: "Run", seeds: list[int]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per arm and refinement mode: how many test samples refinement fixed and broke against the
    first pass, summed over ``seeds``, from the evaluations' output rows."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for arm in run.cfg.arms:
        files = [run.stage_dir(run.seed_stage(i, f"eval/{arm}")) / "outputs.jsonl" for i in seeds]
        for f in files:
            if not f.is_file():
                continue
            for mode, fl in refinement_flips(read_rows(f)).items():
                d = out.setdefault(arm, {}).setdefault(mode, {"fixed": 0, "broken": 0, "broken_by_category": Counter()})
                d["fixed"] += fl["fixed"]
                d["broken"] += fl["broken"]
                d["broken_by_category"].update(fl["broken_by_category"])
    return out


def refinement_cost(run: "Run", per_seed: dict[str, list[dict[str, Any]]], seeds: list[int]) -> list[str]:
    """The table "Refinement cost and effect (test split)": per arm and mode, the mean refinement
    rounds, generated and prefilled tokens per sample, wall seconds (the shared first pass plus
    the mode's rounds), first answers fixed / broken, and tokens and wall time as multiples of
    mode none. "-" where a number was not recorded (older runs; backends that do not count prefill).
    Means over the seeds; fixed / broken / confirmed summed over them."""
    if not per_seed:
        return []
    flips = _refinement_flips(run, seeds)
    keys = ("mean_rounds", "mean_tokens", "mean_prefill_tokens", "wall_s")
    summaries = {arm: {mode: {**{k: sum(s[mode].get(k) or 0 for s in runs) / len(runs) for k in keys},
                              "confirmations": sum(s[mode].get("confirmations") or 0 for s in runs)}
                       for mode in runs[0]} for arm, runs in per_seed.items()}
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


def _mean_groups(per_seed: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """By mode and group, the accuracy averaged over the seeds (each seed has the same test samples)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for mode in per_seed[0]:
        groups = [_groups(s[mode]) for s in per_seed]
        out[mode] = {g: {"n": v["n"], "accuracy": sum(x[g]["accuracy"] for x in groups) / len(groups)}
                     for g, v in groups[0].items()}
    return out


def _round_label(rounds: list[Any]) -> str:
    """The round an arm evaluated in every seed: `` (round 1)``, `` (warm-up model)``, or per seed
    `` (round by seed: 0, 1)`` (-1: the warm-up model)."""
    if not rounds or any(not isinstance(r, int) for r in rounds):
        return ""
    if len(set(rounds)) > 1:
        return " (round by seed: " + ", ".join(map(str, rounds)) + ")"
    return " (warm-up model)" if rounds[0] == -1 else f" (round {rounds[0]})"


_SHARED_STAGES = ("data", "init", "warmup", "eval/base", "dev/base")


def run_order(stages: dict[str, Any], arm_names: list[str]) -> dict[str, Any]:
    """The stage records in one fixed order, whatever order they finished in (stages side by side
    finish in any): the shared stages as they came, then per seed M_0's probe and, per arm, its
    rounds (probe, train, dev) and its evaluation."""
    rank = {a: i for i, a in enumerate(arm_names)}
    last = len(arm_names)

    def key(item: tuple[int, str]) -> tuple[int, ...]:
        at, name = item
        if name in _SHARED_STAGES:
            return (-1, 0, 0, 0, at)
        m = re.fullmatch(r"(?:s(\d+)/)?(.*)", name)
        seed, parts = int(m.group(1) or 0), m.group(2).split("/")  # type: ignore[union-attr]
        if parts[0] == "probe" and len(parts) == 2:
            arm, _, t = parts[1].rpartition("_r")
            if arm in rank and t.isdigit():  # the probe of round t's model opens round t + 1
                return (seed, rank[arm], int(t) + 1, 0, at)
            return (seed, -1, 0, 0, at)  # M_0's, before every arm
        if parts[0] == "eval" and len(parts) == 2 and parts[1] in rank:
            return (seed, rank[parts[1]], 1 << 30, 0, at)
        if len(parts) == 3 and parts[0] in rank and parts[1][1:].isdigit():
            return (seed, rank[parts[0]], int(parts[1][1:]), 1 if parts[2] == "train" else 2, at)
        return (seed, last, 0, 0, at)

    return {name: stages[name] for _, name in sorted(enumerate(stages), key=key)}


def write_report(run: "Run") -> dict[str, Any] | None:
    """``report.md``, ``results.json`` and the plots into the run folder; returns the results
    (:func:`toolace_r.results.compute`; None before any evaluation)."""
    cfg = run.cfg
    res = results_mod.compute(run)
    if res is not None:
        write_json(run.dir / RESULTS_FILE, res)
    seeds = res["seeds"] if res else [0]
    summaries = _eval_summaries(run, seeds)
    dev = results_mod.dev_accuracy(run)
    stages = run_order(run.state["stages"], cfg.arms)
    lines = ["# toolace-r run report", ""]
    lines += [f"Run folder: `{run.dir}`. Seed {cfg.seed}, {cfg.seeds} training seed(s); policy `{cfg.mait.policy}`, "
              f"{cfg.mait.rounds} round(s), k = {cfg.mait.k}, {cfg.train.steps_per_round} optimizer steps per round "
              f"(batch {cfg.train.batch_size}) for every arm; model `{cfg.model.init}`. Test accuracy is scored by the "
              "checker in strict mode (a malformed output is never a correct abstention).", ""]

    if res and summaries:
        modes = res["modes"]
        # accuracy first, as a one-seed report has always shown it, then its interval, then the cost
        lines += ["## Ablation (test split)", "",
                  "| arm | " + " | ".join(f"{m} acc" for m in modes) + " | " + " | ".join(f"{m} 95% interval" for m in modes)
                  + " | " + " | ".join(f"{m} rounds / tokens" for m in modes) + " |",
                  "|---|" + "---:|" * (3 * len(modes))]
        for arm in res["arms"]:
            acc = res["accuracy"][arm]
            accs = " | ".join(f"{100 * acc[m]['value']:.1f}%" if m in acc else "-" for m in modes)
            cis = " | ".join(f"[{100 * acc[m]['low']:.1f}, {100 * acc[m]['high']:.1f}]" if m in acc else "-"
                             for m in modes)
            cost = " | ".join(f"{res['mean_rounds'][arm][m]:.2f} / {res['mean_tokens'][arm][m]:.1f}" if m in acc
                              else "-" for m in modes)
            lines.append(f"| {ARM_TITLES.get(arm, arm)}{_round_label(res['evaluated_round'][arm])} | {accs} | {cis} | {cost} |")
        lines += ["", "Each arm is evaluated with its best round on dev. " + results_mod.covers_text(res) +
                  " Rounds: refinement calls after the first pass, per sample; tokens: generated tokens per sample, "
                  "all passes" + (" (means over seeds)." if len(seeds) > 1 else ".") +
                  (" -: not evaluated in that mode (eval.refine_arms)." if any(
                      len(v) < len(modes) for v in res.get("arm_modes", {}).values()) else ""), ""]
        lines += ["### Goals", ""] + (goals(res) or ["- (not enough arms or modes to check)"])
        lines += ["", "Wall time per refinement mode against one pass: the table \"Refinement cost and effect\" "
                  "below.", ""]
        lines += results_mod.differences_lines(res)
        if len(res["seeds"]) > 1:
            lines += results_mod.per_seed_lines(res)

        by_group = {arm: _mean_groups(s) for arm, s in summaries.items()}
        groups = sorted({g for s in by_group.values() for g in s[modes[0]]})
        lines += [f"## Test accuracy by group (mode `{modes[0]}`" + (", and `adaptive`" if "adaptive" in modes else "") + ")"
                  + (f", mean over {len(seeds)} seeds" if len(seeds) > 1 else ""), "",
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

    flips = _refinement_flips(run, seeds)
    if flips:
        over = f", summed over {len(seeds)} seeds" if len(seeds) > 1 else ""
        lines += [f"## What refinement changed (test split, against the first pass{over})", "",
                  "| arm | mode | fixed (wrong -> right) | broken (right -> wrong) | net | broken by category |",
                  "|---|---|---:|---:|---:|---|"]
        for arm, by_mode in flips.items():
            for mode, f in by_mode.items():
                cats = ", ".join(f"{c} {n}" for c, n in sorted(f["broken_by_category"].items())) or "-"
                lines.append(f"| {ARM_TITLES.get(arm, arm)} | {mode} | {f['fixed']} | {f['broken']} | "
                             f"{f['fixed'] - f['broken']:+d} | {cats} |")
        lines += ["", "Refinement gains only where the model fixes more first answers than it breaks: a model "
                  "that cannot yet judge its own answer changes right ones too.", ""]

    lines += refinement_cost(run, summaries, seeds)
    if dev:
        lines += results_mod.dev_lines(dev, cfg.mait.rounds, (run.done("dev/base") or {}).get("dev_accuracy"))

    rounds = [(k, v) for k, v in stages.items() if k.endswith("/train") and k != "warmup"]
    if rounds:
        lines += ["## Rounds", "", "| stage | policy | selected | refinement | by category | final train loss |", "|---|---|---:|---:|---|---:|"]
        for k, v in rounds:
            loss = v.get("train_loss", "")
            loss = f"{loss:.4f}" if isinstance(loss, float) else str(loss)
            cats = ", ".join(f"{c} {n}" for c, n in v.get("selected_by_category", {}).items())
            lines.append(f"| {k} | {v.get('policy', '')} | {v.get('n_selected', '')} | {v.get('n_refine', 0)} | {cats} | {loss} |")
        lines.append("")
    probes = [(k, v) for k, v in stages.items() if re.match(r"(s\d+/)?probe/", k)]
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
              "process, and what the driver keeps once the stage has given its memory back (docs/run.md). With "
              "launch.jobs > 1, stages of different arms and seeds overlap: seconds are a stage's own work (without "
              "its wait for a free worker), and the total is the work, not the run's wall time.", "",
              "| stage | seconds | peak RSS | job peak RSS | RSS after |", "|---|---:|---:|---:|---:|"]
    total = 0.0
    mib = lambda x: "-" if x is None else f"{x:.0f}"  # noqa: E731
    for k, v in stages.items():
        lines.append(f"| {k} | {v.get('seconds', 0):.1f} | {mib(v.get('peak_rss_mb'))} | "
                     f"{mib(v.get('job_peak_rss_mb'))} | {mib(v.get('rss_after_mb'))} |")
        total += v.get("seconds", 0)
    peaks = [x for v in stages.values() for x in (v.get("peak_rss_mb"), v.get("job_peak_rss_mb")) if x is not None]
    lines += [f"| **total** | {total:.1f} | {mib(max(peaks, default=None))} | | |", ""]

    plots = _plots(run, res, summaries, dev)
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]

    atomic_write_text(run.dir / "report.md", ["\n".join(lines)])
    return res


def _plots(run: "Run", res: dict[str, Any] | None, summaries: dict[str, list[dict[str, Any]]],
           dev: dict[str, list[list[float]]]) -> list[Path]:
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
    if dev:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for k, (arm, per_seed) in enumerate(dev.items()):
            for i, accs in enumerate(per_seed):  # one colour per arm, a line per seed
                if accs:
                    ax.plot(range(len(accs)), [100 * y for y in accs], marker="o", color=f"C{k}", alpha=1 if i == 0 else 0.5,
                            label=ARM_TITLES.get(arm, arm) if i == 0 else None)
        ax.set_xlabel("round")
        ax.set_ylabel("dev accuracy (%)")
        ax.legend(fontsize=7)
        paths.append(save(fig, "dev_accuracy.png"))
    if res and summaries:
        modes, arms = res["modes"], res["arms"]
        short = [ARM_TITLES.get(a, a).split(" ", 1)[0] for a in arms]
        nan = {"value": float("nan"), "low": float("nan"), "high": float("nan")}  # a mode the arm skipped
        acc = {m: [res["accuracy"][a].get(m, nan) for a in arms] for m in modes}
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
        # error bars: the 95% bootstrap intervals
        _grouped_bars(ax1, short, {m: [100 * e["value"] for e in v] for m, v in acc.items()},
                      errors={m: [[100 * (e["value"] - e["low"]) for e in v], [100 * (e["high"] - e["value"]) for e in v]]
                              for m, v in acc.items()})
        _grouped_bars(ax2, short, {m: [res["mean_tokens"][a].get(m, float("nan")) for a in arms] for m in modes})
        ax1.set_title("test accuracy (%), 95% intervals", fontsize=9)
        ax2.set_title("generated tokens / sample", fontsize=9)
        ax1.legend(fontsize=7)
        paths.append(save(fig, "ablation.png"))

        mode = modes[0]
        groups = {a: _mean_groups(summaries[a])[mode] for a in arms}
        cats = sorted({g.split("/", 1)[1] for v in groups.values() for g in v if g.startswith("category/")})
        fig, ax = plt.subplots(figsize=(7, 3.2))
        _grouped_bars(ax, cats, {ARM_TITLES.get(a, a): [100 * groups[a].get(f"category/{c}", {"accuracy": 0})["accuracy"]
                                                        for c in cats] for a in arms}, fontsize=7)
        ax.set_ylabel(f"test accuracy (%), {mode}")
        ax.legend(fontsize=7)
        paths.append(save(fig, "categories.png"))
    return paths


def _grouped_bars(ax: Any, groups: list[str], series: dict[str, list[float]], fontsize: int | None = None,
                  errors: dict[str, list[list[float]]] | None = None) -> None:
    """One bar per series inside each group, groups side by side; ``errors``: per series, the
    distances [below, above] of each bar's interval ends."""
    width = 0.8 / max(1, len(series))
    for j, (label, values) in enumerate(series.items()):
        ax.bar([i + j * width for i in range(len(groups))], values, width, label=label,
               yerr=errors[label] if errors else None, capsize=2 if errors else 0)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels(groups, fontsize=fontsize)


def summary_text(run: "Run") -> str:
    """A short plain-text summary for the end of `toolace-r run`: accuracy per arm and mode with
    its interval, generated tokens, and the goals (from results.json, or computed)."""
    f = run.dir / RESULTS_FILE
    res = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else results_mod.compute(run)
    if not res:
        return "(no arm evaluated yet)"
    lines = [results_mod.covers_text(res)]
    for arm in res["arms"]:
        parts = [f"{m} {results_mod.acc_cell(res, arm, m)} ({res['mean_tokens'][arm][m]:.0f} tok)"
                 for m in res["modes"] if m in res["accuracy"][arm]]
        lines.append(f"{ARM_TITLES.get(arm, arm):32s} " + ", ".join(parts))
    lines += goals(res)
    return "\n".join(lines)


def best_model_lines(result: dict[str, Any]) -> list[str]:
    """One line per seed and arm from :func:`toolace_r.pipeline.run_pipeline`'s result: the folder
    of the arm's best model on dev, its round and its dev accuracy."""
    lines = []
    several = len(result.get("seeds", [])) > 1
    for seed in result.get("seeds", []):
        for arm, best in seed["arms"].items():
            dev = best.get("dev_accuracy")
            rnd = best.get("round")
            where = f"round {rnd}" if rnd is not None and rnd >= 0 else "the warm-up model"
            tag = f"seed {seed['seed']} " if several else ""
            dev_text = f", dev {100 * dev:.1f}%" if dev is not None and dev >= 0 else ""
            lines.append(f"{tag}{arm}: {best['model']} ({where}{dev_text})")
    return lines
