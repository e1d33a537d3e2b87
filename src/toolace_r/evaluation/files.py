"""The files of an evaluation: ``outputs.jsonl``, ``results.json``, ``results.md``, the plots,
the BFCL result-file export, and reading results back for ``toolace-r eval compare``.

matplotlib is imported only when plots are drawn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from toolace_r import bfcl
from toolace_r.data.io import atomic_write_text, write_json, write_jsonl
from toolace_r.evaluation.core import EvalError, Row

RESULTS_FILE = "results.json"
OUTPUTS_FILE = "outputs.jsonl"
MULTI_TURN_FILE = "multi_turn.jsonl"  # rows of toolace_r.evaluation.multiturn
_GENERIC_DIRS = {"model", "models", "train", "final", "output", "out", "merged"}


def pct(x: float | None) -> str:
    """A share as a percentage with two decimals; ``–`` for none."""
    return "–" if x is None else f"{100 * x:.2f}"


def read_rows(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_results(out: Path, results: dict[str, Any], rows: Sequence[Row], multi_turn_rows: Sequence[Row] = ()) -> None:
    """``outputs.jsonl``, ``results.json``, ``results.md`` and the two plots, under ``out``; with
    multi-turn rows also ``multi_turn.jsonl`` (:mod:`toolace_r.evaluation.multiturn`)."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / OUTPUTS_FILE, rows)
    if multi_turn_rows:
        write_jsonl(out / MULTI_TURN_FILE, multi_turn_rows)
    write_json(out / RESULTS_FILE, results)
    atomic_write_text(out / "results.md", [results_markdown(results)])
    write_plots(results, out)


def default_name(model: str) -> str:
    """A folder-safe label for a model: the last two telling parts of a local path
    (``runs/x/mait/r1/train/model`` -> ``mait_r1``), else the name with ``/`` replaced by ``_``
    (as BFCL names its result folders)."""
    p = Path(model)
    if p.exists():
        parts = [x for x in p.resolve().parts if x not in ("", "/")]
        # Generic trailing folder names ("train/model") say nothing about which model it is.
        while len(parts) > 2 and parts[-1] in _GENERIC_DIRS:
            parts.pop()
        return "_".join(parts[-2:])
    return model.replace("/", "_")


def results_markdown(results: dict[str, Any]) -> str:
    modes = results["modes"]
    by = results["by_mode"]
    head = "| | n | " + " | ".join(modes) + " |\n|---|---:|" + "---:|" * len(modes) + "\n"
    lines = [f"# Evaluation: {results['name']}", "",
             f"model `{results['model']}` ({results['backend']}, prompt style {results['prompt_style']}) · "
             f"bench `{results['bench']}` · checker mode `{results['checker_mode']}` · "
             f"{results['n_entries']} entries · max {results['max_rounds']} refinement rounds · {results['date']}",
             "", "## Accuracy (%)", "", head.rstrip("\n")]
    first = by[modes[0]]
    for cat, s in first["categories"].items():
        lines.append(f"| {cat} | {s['total']} | " + " | ".join(pct(by[m]["categories"][cat]["accuracy"]) for m in modes) + " |")
    for name, agg in first.get("aggregates", {}).items():
        label = f"**{name.replace('_', '-')}**" + ("" if agg["complete"] else " (partial)")
        lines.append(f"| {label} | {agg['total']} | " + " | ".join(pct(by[m]["aggregates"][name]["accuracy"]) for m in modes) + " |")
    for name, g in first.get("groups", {}).items():
        lines.append(f"| {name} | {g['total']} | " + " | ".join(pct(by[m]["groups"][name]["accuracy"]) for m in modes) + " |")
    lines.append(f"| **overall** | {first['n']} | " + " | ".join(pct(by[m]["accuracy"]) for m in modes) + " |")
    lines.append("| well-formed outputs | | " + " | ".join(pct(by[m]["well_formed"]) for m in modes) + " |")
    if first.get("well_formed_irrelevance") is not None:
        lines.append("| well-formed on irrelevance | | " + " | ".join(pct(by[m]["well_formed_irrelevance"]) for m in modes) + " |")
    lines += ["", "## Cost", "", f"Confirm rule: `{results.get('confirm', 'repeat')}`. Prefill tokens: – where the "
              "backend does not count them. Wall seconds: the shared first pass plus the mode's own rounds.", "",
              "| mode | mean refinement rounds | mean generated tokens | mean prefill tokens | confirmations "
              "| wall s | entries/s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for m in modes:
        t, s = results["timing"]["modes"][m], by[m]
        eps, prefill = t["entries_per_s"], s.get("mean_prefill_tokens")
        lines.append(f"| {m} | {s['mean_rounds']:.2f} | {s['mean_tokens']:.1f} | "
                     f"{f'{prefill:.1f}' if prefill else '–'} | {s.get('confirmations', 0)} | {t['total_s']:.1f} | "
                     f"{f'{eps:.2f}' if eps else '–'} |")
    mt = results.get("multi_turn")
    if mt and mt.get("by_mode"):
        lines += ["", "## Multi-turn", "", f"`{mt['file']}` has every turn and step; at most {mt['max_steps']} "
                  "executed steps per turn.", "",
                  "| mode | entries | mean turns run | mean steps | force-quit | turns valid / invalid / unchecked / not run |",
                  "|---|---:|---:|---:|---:|---|"]
        for m in modes:
            s = mt["by_mode"][m]
            t = s["turns"]
            lines.append(f"| {m} | {s['entries']} | {s['mean_turns_run']:.2f} | {s['mean_steps']:.2f} | {s['force_quit']} "
                         f"| {t['valid']} / {t['invalid']} / {t['unchecked']} / {t['not_run']} |")
    errs = sorted({e for m in modes for e in by[m]["errors"]}, key=lambda e: -sum(by[m]["errors"].get(e, 0) for m in modes))
    if errs:
        lines += ["", "## Errors (count by type)", "", "| error type | " + " | ".join(modes) + " |",
                  "|---|" + "---:|" * len(modes)]
        for e in errs:
            lines.append(f"| `{e}` | " + " | ".join(str(by[m]["errors"].get(e, 0)) for m in modes) + " |")
    return "\n".join(lines) + "\n"


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """``accuracy_by_category.png`` and ``refinement.png`` (accuracy and tokens by mode)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes, by = results["modes"], results["by_mode"]
    cats = list(by[modes[0]]["categories"])
    paths = []
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(cats) + 2), 4))
    width = 0.8 / len(modes)
    for i, m in enumerate(modes):
        ax.bar([k + i * width - 0.4 + width / 2 for k in range(len(cats))],
               [100 * by[m]["categories"][c]["accuracy"] for c in cats], width, label=m)
    ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{results['name']}: accuracy by category")
    ax.legend(title="refinement")
    fig.tight_layout()
    paths.append(out / "accuracy_by_category.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    # Two panels of bars rather than twin axes: with two or three modes, twin lines overlap.
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(max(7.0, 1.6 * len(modes) + 4), 3.8))
    acc = [100 * by[m]["accuracy"] for m in modes]
    tok = [by[m]["mean_tokens"] for m in modes]
    for axis, vals, label, colour, fmt in ((ax, acc, "accuracy (%)", "tab:blue", "{:.1f}"),
                                           (ax2, tok, "generated tokens per entry", "tab:orange", "{:.0f}")):
        bars = axis.bar(modes, vals, color=colour)
        axis.bar_label(bars, [fmt.format(v) for v in vals])
        axis.set_ylabel(label)
        axis.set_xlabel("refinement mode")
        axis.margins(y=0.15)
    ax.set_ylim(0, max(100.0, max(acc) * 1.15))
    fig.suptitle(f"{results['name']}: accuracy and cost by refinement mode")
    fig.tight_layout()
    paths.append(out / "refinement.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def export_bfcl(dest: Path, name: str, rows: Sequence[Row], mode: str, mt_rows: Sequence[Row] = ()) -> list[Path]:
    """One refinement mode's outputs as ``bfcl generate`` result files:
    ``dest/<name>/<non_live|live|multi_turn>/BFCL_v4_<category>_result.json`` (``/`` in ``name`` as
    ``_``, as BFCL names its result folders), one ``{"id", "result", "output_token_count"}`` line per
    entry. A single-turn ``result`` is the model's text; a multi-turn one (from ``mt_rows``,
    :mod:`toolace_r.evaluation.multiturn`) is, per turn run, the list of the model's step texts: a
    force-quit trajectory has fewer turns than the entry, which BFCL's checker reads as force-terminated."""
    written = []
    folder = dest / name.replace("/", "_")
    by_cat: dict[str, list[str]] = {}

    def put(r: Row, result: Any) -> None:
        line = {"id": r["id"], "result": result, "output_token_count": r["tokens"]}
        by_cat.setdefault(r["category"], []).append(json.dumps(line, ensure_ascii=False) + "\n")

    for r in rows:
        if r["mode"] == mode:
            put(r, r["output"])
    for r in mt_rows:
        if r["mode"] == mode:
            put(r, [[s["output"] for s in t["steps"]] for t in r["turns"][: r["n_turns"]]])
    for cat, lines in by_cat.items():
        path = folder / bfcl.group_dir(cat) / bfcl.result_file(cat)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, lines)
        written.append(path)
    return written


# --------------------------------------------------------------------------------------
# compare


def load_results(path: Path) -> dict[str, Any]:
    """An evaluation's ``results.json`` (``path``: the ``--out`` folder or the file)."""
    f = path / RESULTS_FILE if path.is_dir() else path
    if not f.is_file():
        raise EvalError(f"{path}: no {RESULTS_FILE} there (give an eval --out folder or its results.json)")
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EvalError(f"{f}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("by_mode"), dict):
        raise EvalError(f"{f}: not a toolace-r eval results file (no 'by_mode')")
    return data


def common_modes(a: dict[str, Any], b: dict[str, Any], only: str | None = None) -> list[str]:
    """The refinement modes both results have (A's order), or just ``only``; :class:`EvalError`
    when there is none to compare."""
    common = [m for m in a["by_mode"] if m in b["by_mode"]]
    have = f"A has {', '.join(a['by_mode'])}; B has {', '.join(b['by_mode'])}"
    if only is not None:
        if only not in common:
            raise EvalError(f"--refine {only}: not in both results ({have})")
        return [only]
    if not common:
        raise EvalError(f"no refinement mode in common ({have})")
    return common


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any, bool]]:
    """``(label, value A, value B, is_accuracy)`` for one mode's summaries, A's order first."""
    rows: list[tuple[str, Any, Any, bool]] = []
    for cat in list(a["categories"]) + [c for c in b["categories"] if c not in a["categories"]]:
        rows.append((cat, a["categories"].get(cat, {}).get("accuracy"), b["categories"].get(cat, {}).get("accuracy"), True))
    for key in ("aggregates", "groups"):
        ka, kb = a.get(key, {}), b.get(key, {})
        for k in list(ka) + [x for x in kb if x not in ka]:
            rows.append((k, ka.get(k, {}).get("accuracy"), kb.get(k, {}).get("accuracy"), True))
    rows.append(("overall", a.get("accuracy"), b.get("accuracy"), True))
    rows.append(("well-formed", a.get("well_formed"), b.get("well_formed"), True))
    rows.append(("mean rounds", a.get("mean_rounds"), b.get("mean_rounds"), False))
    rows.append(("mean tokens", a.get("mean_tokens"), b.get("mean_tokens"), False))
    return rows
