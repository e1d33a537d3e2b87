"""Differential test of toolace_r.multiturn against BFCL's official multi-turn checker.

Builds trajectories (per turn, a list of steps) for the entries of the four BFCL v4 multi-turn
categories, from the ground truth and from perturbations of it, judges each with
:func:`toolace_r.multiturn.checker.check_entry` in this process and with the official checker in a
separate interpreter (``benchmarks/_bfcl_multiturn_official_worker.py``), and compares the
verdicts (valid and error label).

Trajectory kinds (each applied where the entry allows it; one random choice per entry and kind):
  gt            the ground truth, one step per turn
  gt_steps      the ground truth, one call per step
  gt_text       the ground truth as model text, one step per turn (decoded by each side's decoder;
                positional arguments are dropped there, as BFCL does)
  positional    every argument passed by position (parameter order from inspect.signature)
  drop_call     one ground-truth call removed
  drop_turn     one non-empty turn left without steps
  extra_dup     one ground-truth call of the entry repeated at the end of a turn
  extra_bad     an unknown function and a private method ("_load_scenario") added to a turn
  reorder       the calls of one turn shuffled
  wrong_arg     one argument value changed
  move_early    the first call of a turn moved to the end of the turn before
  truncated     the last turn missing (force_terminated)

With ``--results DIR`` the trajectories are instead read from the multi-turn result files under DIR
(BFCL's layout, ``<model>/multi_turn/BFCL_v4_<category>_result.json``, as ``bfcl generate`` and
``toolace-r eval --export-bfcl`` write them; found by :func:`toolace_r.bfcl_results.find_result_files`),
one trajectory per result line, its kind being ``<model>/<category>``.

Usage:
  python benchmarks/multiturn_differential.py --bfcl-data /tmp/us2_bfcl/un \
      --bfcl-python /tmp/bfcl-env/bin/python [--bfcl-root /tmp/us2_bfcl/un] [--limit N] [--out DIR]
  python benchmarks/multiturn_differential.py --bfcl-data /tmp/us2_bfcl/un --results /tmp/mtexp [--out DIR]
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_bfcl_multiturn_official_worker.py"
KINDS = ("gt", "gt_steps", "gt_text", "positional", "drop_call", "drop_turn", "extra_dup", "extra_bad",
         "reorder", "wrong_arg", "move_early", "truncated")


def render(name: str, args: tuple, kwargs: dict) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def wrong_value(v, rng: random.Random):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + rng.choice([1, -1, 7])
    if isinstance(v, float):
        return v + 1.5
    if isinstance(v, str):
        return v + "_x" if v else "x"
    if isinstance(v, list):
        return v + ["x"] if not v else v[:-1]
    if isinstance(v, dict):
        return {**v, "x": 1}
    return "x"


def entry_methods(entry: dict, classes: dict) -> dict:
    """{method name: function} of an entry's involved classes: a later class wins, as in BFCL."""
    methods = {}
    for name in entry["involved_classes"]:
        cls = classes[name]
        methods.update({n: getattr(cls, n) for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))})
    return methods


def bind_call(call: str, classes_methods: dict) -> tuple[str, dict] | None:
    """(name, {parameter: value}) of a call string, positional arguments named from the method's
    signature; None when it does not parse or names no method of the entry."""
    from toolace_r.multiturn.envs import parse_call_string

    spec = parse_call_string(call)
    method = classes_methods.get(spec.name)
    if spec.error or method is None:
        return None
    bound = inspect.signature(method).bind(None, *spec.args, **spec.kwargs)  # None: self
    return spec.name, dict(list(bound.arguments.items())[1:])


def positional(call: str, classes_methods: dict) -> str:
    bound = bind_call(call, classes_methods)
    return call if bound is None else render(bound[0], tuple(bound[1].values()), {})


def trajectories(entry: dict, gt: list[list[str]], rng: random.Random, methods: dict) -> list[tuple[str, list]]:
    """(kind, turns) pairs for one entry."""
    from toolace_r.multiturn.envs import parse_call_string

    out = []
    one = lambda turns: [[list(t)] if t else [] for t in turns]  # noqa: E731 - one step per turn
    nonempty = [i for i, t in enumerate(gt) if t]
    out.append(("gt", one(gt)))
    out.append(("gt_steps", [[[c] for c in t] for t in gt]))
    out.append(("gt_text", [[f"[{', '.join(t)}]"] if t else [] for t in gt]))
    out.append(("positional", one([[positional(c, methods) for c in t] for t in gt])))
    if nonempty:
        t = rng.choice(nonempty)
        turns = [list(x) for x in gt]
        del turns[t][rng.randrange(len(turns[t]))]
        out.append(("drop_call", one(turns)))
        t = rng.choice(nonempty)
        turns = one(gt)
        turns[t] = []
        out.append(("drop_turn", turns))
        all_calls = [c for x in gt for c in x]
        turns = [list(x) for x in gt]
        turns[rng.choice(nonempty)].append(rng.choice(all_calls))
        out.append(("extra_dup", one(turns)))
        turns = [list(x) for x in gt]
        turns[rng.choice(nonempty)][:0] = ["no_such_tool(x=1)", "_load_scenario(scenario={})"]
        out.append(("extra_bad", one(turns)))
        multi = [i for i in nonempty if len(set(gt[i])) > 1]
        if multi:
            t = rng.choice(multi)
            turns = [list(x) for x in gt]
            while turns[t] == gt[t]:
                rng.shuffle(turns[t])
            out.append(("reorder", one(turns)))
        cands = [(i, j) for i in nonempty for j, c in enumerate(gt[i])
                 if not parse_call_string(c).error and (parse_call_string(c).args or parse_call_string(c).kwargs)]
        if cands:
            i, j = rng.choice(cands)
            spec = parse_call_string(gt[i][j])
            args, kwargs = list(spec.args), dict(spec.kwargs)
            if kwargs and (not args or rng.random() < 0.5):
                k = rng.choice(sorted(kwargs))
                kwargs[k] = wrong_value(kwargs[k], rng)
            else:
                a = rng.randrange(len(args))
                args[a] = wrong_value(args[a], rng)
            turns = [list(x) for x in gt]
            turns[i][j] = render(spec.name, tuple(args), kwargs)
            out.append(("wrong_arg", one(turns)))
        later = [i for i in nonempty if i > 0]
        if later:
            t = rng.choice(later)
            turns = [list(x) for x in gt]
            turns[t - 1].append(turns[t].pop(0))
            out.append(("move_early", one(turns)))
    out.append(("truncated", one(gt[:-1])))
    return out


def result_rows(root: Path, src) -> tuple[list[dict], dict]:
    """Worker rows (kind ``<model>/<category>``) from the multi-turn result files under ``root``, and
    ``{id: (entry, ground truth)}`` of their entries."""
    from toolace_r import bfcl
    from toolace_r.bfcl_results import find_result_files, read_multi_turn_file
    from toolace_r.multiturn.checker import load_category

    rows, data = [], {}
    for rf in find_result_files(root):
        if rf.category not in bfcl.MULTI_TURN:
            continue
        pairs = {e["id"]: (e, gt) for e, gt in load_category(src, rf.category)}
        for eid, turns in read_multi_turn_file(rf.path):
            data[eid] = pairs[eid]
            rows.append({"row": len(rows), "id": eid, "kind": f"{rf.model}/{rf.category}", "turns": turns})
    if not rows:
        raise SystemExit(f"--results {root}: no multi-turn result file")
    return rows, data


def bfcl_arguments(ap: argparse.ArgumentParser, out: str) -> None:
    """The options every multi-turn differential takes: BFCL's data, the worker's interpreter, --out."""
    ap.add_argument("--bfcl-data", required=True, help="bfcl-eval wheel or unpacked folder (toolace_r.bfcl.locate)")
    ap.add_argument("--bfcl-python", default="/tmp/bfcl-env/bin/python")
    ap.add_argument("--bfcl-root", default=None, help="passed to the worker: folder holding an unpacked bfcl_eval")
    ap.add_argument("--out", default=out)


def open_bfcl(args) -> tuple[Path, object, dict]:
    """(the output folder, made; BFCL's data source; its backend classes)."""
    from toolace_r import bfcl
    from toolace_r.multiturn.envs import load_classes

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = bfcl.locate(args.bfcl_data, download=False)
    return out_dir, src, load_classes(src)


def run_worker(args, worker: Path, *cli: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run a BFCL-side worker under --bfcl-python (with --bfcl-root when given); exits if it fails."""
    cmd = [args.bfcl_python, str(worker), *cli] + (["--bfcl-root", args.bfcl_root] if args.bfcl_root else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{worker.name} failed (rc={proc.returncode})")
    return proc, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bfcl_arguments(ap, "/tmp/multiturn_differential")
    ap.add_argument("--limit", type=int, default=0, help="entries per category (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=None, help="judge the multi-turn result files under this folder "
                    "(BFCL's result layout) instead of generated trajectories")
    args = ap.parse_args(argv)

    from toolace_r.multiturn.checker import CATEGORIES, check_entry, load_category

    out_dir, src, classes = open_bfcl(args)
    rng = random.Random(args.seed)
    rows, data = [], {}
    for cat in CATEGORIES if not args.results else ():
        pairs = load_category(src, cat)
        if args.limit:
            pairs = pairs[: args.limit]
        for entry, gt in pairs:
            data[entry["id"]] = (entry, gt)
            for kind, turns in trajectories(entry, gt, rng, entry_methods(entry, classes)):
                rows.append({"row": len(rows), "id": entry["id"], "kind": kind, "turns": turns})
    if args.results:
        rows, data = result_rows(Path(args.results), src)
    rows_path, off_path = out_dir / "rows.jsonl", out_dir / "official.jsonl"
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(data)} entries, {len(rows)} trajectories", flush=True)

    t0 = time.perf_counter()
    ours = []
    for r in rows:
        entry, gt = data[r["id"]]
        v = check_entry(entry, gt, r["turns"], classes=classes)
        ours.append({"valid": v.valid, "error_type": v.error_type})
    t_ours = time.perf_counter() - t0

    proc, t_off = run_worker(args, WORKER, str(rows_path), str(off_path))
    mode = [ln for ln in proc.stderr.splitlines() if "mode=" in ln]
    official = [json.loads(x) for x in off_path.read_text().splitlines() if x.strip()]
    assert len(official) == len(rows)

    by_kind: Counter = Counter()
    agree_kind: Counter = Counter()
    labels: Counter = Counter()
    disagreements, crashes = [], 0
    for r, o, m in zip(rows, official, ours):
        by_kind[r["kind"]] += 1
        if o["crash"]:
            crashes += 1
        same = o["valid"] == m["valid"] and o["error_type"] == m["error_type"]
        if same:
            agree_kind[r["kind"]] += 1
        else:
            disagreements.append({**r, "official": o, "ours": m})
        labels[(o["error_type"] or "valid") if not o["crash"] else "crash"] += 1
    (out_dir / "disagreements.jsonl").write_text("".join(json.dumps(d) + "\n" for d in disagreements))
    n = len(rows)
    summary = {
        "entries": len(data), "trajectories": n, "agree": n - len(disagreements),
        "agreement_pct": round(100 * (n - len(disagreements)) / n, 3), "official_crashes": crashes,
        "seconds_ours": round(t_ours, 1), "seconds_official": round(t_off, 1), "worker": mode[-1:] or [""],
        "per_kind": {k: f"{agree_kind[k]}/{by_kind[k]}" for k in [*KINDS, *sorted(set(by_kind) - set(KINDS))]
                     if by_kind[k]},
        "official_labels": dict(labels.most_common()),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
