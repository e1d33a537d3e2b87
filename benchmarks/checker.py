#!/usr/bin/env python
"""Throughput of decode + check, ours (``toolace_r.checker.check``) vs the official bfcl-eval.

Both sides run the same rows (``toolace-r score`` input format), in one invocation, with
their timed passes interleaved (ours, official, official, ours, ...; never concurrently, so they
do not compete for cores, and a burst of load from elsewhere hits both alike):

* ours: in-process in this interpreter (the project venv): a timed loop of
  ``check(output, functions, possible_answer, category, mode="bfcl")``;
* official: a subprocess under the bfcl-eval interpreter (``--bfcl-python``) running
  ``benchmarks/_bfcl_official_worker.py --bench``, which times its own in-process loop of
  ``default_decode_ast_prompting`` + ``is_function_calling_format_output`` / ``is_empty_output``
  + ``ast_checker`` exactly as the official eval runner applies them (a persistent
  ``--bench-server`` subprocess that times one pass per request).

JSON loading and the per-pass deep copies of the inputs are outside the timed loops; each side
reports the best of ``--repeats`` passes. The rows are seeded samples of the differential set
built by ``benchmarks/bfcl_differential.py``, one per named mix (``all``: every output kind but
the 200k-character / 513-call "huge" ones; ``core``: without the deliberately out-of-bounds
eval/limits kinds either; ``wellformed``: gold and perturbed call lists only), or any rows file
given with ``--rows``.

Usage (from the repo root):
    .venv/bin/python benchmarks/checker.py                 # 3 mixes x 30,000 rows, best of 5
    .venv/bin/python benchmarks/checker.py --kind-groups gold,perturb   # one custom mix
    .venv/bin/python benchmarks/checker.py --rows /tmp/bfcl-diff/rows.jsonl --repeats 1
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_bfcl_official_worker.py"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))


# Named row mixes, by kind group of the differential set (see bfcl_differential.py).
MIXES = {
    # everything the differential set generates except the 200k-character / 513-call rows
    "all": "",
    # no deliberately out-of-bounds rows (eval-only expressions, size / depth limits)
    "core": "gold,format,perturb,malformed,value,string,optional,list_string,rel_call,synthetic",
    # well-formed call lists only: what a decent model mostly emits
    "wellformed": "gold,perturb",
}


def build_rows_by_mix(data_dir: str, n: int, seed: int, include_huge: bool, mixes: dict[str, str]) -> dict[str, list[dict]]:
    import bfcl_differential as bd

    pairs = [(bd.kind_group(m["kind"]), r) for m, r in bd.generate(Path(data_dir), seed)
             if include_huge or bd.kind_group(m["kind"]) != "huge"]
    out = {}
    for name, groups in mixes.items():
        wanted = {g for g in groups.split(",") if g}
        sel = [r for g, r in pairs if not wanted or g in wanted]
        if n and n < len(sel):
            idx = sorted(random.Random(seed).sample(range(len(sel)), n))
            sel = [sel[i] for i in idx]
        out[name] = sel
    return out


def build_rows(data_dir: str, n: int, seed: int, include_huge: bool, groups: str = "") -> list[dict]:
    return build_rows_by_mix(data_dir, n, seed, include_huge, {"x": groups})["x"]


def load_rows(path: str, n: int, seed: int) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if n and n < len(rows):
        idx = sorted(random.Random(seed).sample(range(len(rows)), n))
        rows = [rows[i] for i in idx]
    return rows


class OursBench:
    def __init__(self, rows: list[dict]):
        from toolace_r.checker import check

        self.check = check
        self.rows = rows

    def one_pass(self) -> float:
        check = self.check
        batch = [(r["output"], copy.deepcopy(r["functions"]), copy.deepcopy(r["possible_answer"]), r["category"])
                 for r in self.rows]
        gc.collect()
        gc.disable()  # same on the official side: keeps collector pauses out of both loops
        try:
            t0 = time.perf_counter()
            for out, fn, pa, cat in batch:
                try:
                    check(out, fn, pa, cat, mode="bfcl")
                except Exception:  # counted by the differential benchmark, not here
                    pass
            return time.perf_counter() - t0
        finally:
            gc.enable()


class OfficialBench:
    """The official loop in a persistent subprocess under the bfcl-eval interpreter."""

    def __init__(self, rows_path: str, bfcl_python: str, model_name: str):
        cmd = [bfcl_python, str(WORKER), "--input", rows_path, "--bench-server", "--model-name", model_name]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()
        if not self.info.get("ready"):
            raise SystemExit(f"official worker did not start: {self.info}")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"official worker exited (rc={self.proc.wait()})")
        return json.loads(line)

    def one_pass(self) -> float:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)


def bench_mix(name: str, rows: list[dict], args) -> dict:
    cats: dict[str, int] = {}
    for r in rows:
        cats[r["category"]] = cats.get(r["category"], 0) + 1
    print(f"\n[{name}] {len(rows)} rows; by category: {cats}")
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "bench_rows.jsonl")
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        official = OfficialBench(path, args.bfcl_python, args.model_name)
        ours = OursBench(rows)
        ours_t, off_t = [], []
        try:
            # interleaved passes, so both sides see the same machine load
            for i in range(max(1, args.repeats)):
                if i % 2 == 0:
                    ours_t.append(ours.one_pass())
                    off_t.append(official.one_pass())
                else:
                    off_t.append(official.one_pass())
                    ours_t.append(ours.one_pass())
        finally:
            official.close()

    n = len(rows)
    ours_rps, off_rps = n / min(ours_t), n / min(off_t)
    ratio = ours_rps / off_rps
    pair_ratios = sorted(o / u for u, o in zip(ours_t, off_t))
    median_pair = pair_ratios[len(pair_ratios) // 2]
    res = {
        "mix": name,
        "rows": n,
        "ours_rows_per_s": round(ours_rps),
        "official_rows_per_s": round(off_rps),
        "ratio_ours_over_official": round(ratio, 2),
        "median_paired_ratio": round(median_pair, 2),
        "ours_seconds": [round(t, 3) for t in ours_t],
        "official_seconds": [round(t, 3) for t in off_t],
        "python_official": official.info.get("python"),
        "bfcl_eval_version": official.info.get("bfcl_eval_version"),
    }
    print(f"  ours:     {res['ours_rows_per_s']:>9,} rows/s  (best of {args.repeats}: {min(ours_t):.3f}s)")
    print(f"  official: {res['official_rows_per_s']:>9,} rows/s  (best of {args.repeats}: {min(off_t):.3f}s)")
    print(f"  ratio ours/official (best vs best): {ratio:.2f}x; median of paired passes: {median_pair:.2f}x  "
          f"(target >= 1.5x: {'PASS' if ratio >= 1.5 else 'FAIL'})")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="decode+check throughput: ours vs official bfcl-eval")
    ap.add_argument("--rows", help="rows JSONL (toolace-r score input); default: samples of the differential set")
    ap.add_argument("-n", "--n-rows", type=int, default=30000, help="rows to time per mix (0 = all)")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes per side; best is reported")
    ap.add_argument("--seed", type=int, default=20260323)
    ap.add_argument("--bfcl-data", default="/tmp/bfcl/unpacked/bfcl_eval/data")
    ap.add_argument("--bfcl-python", default=os.environ.get("BFCL_PYTHON", "/tmp/bfcl-env/bin/python"))
    ap.add_argument("--model-name", default="Qwen/Qwen3-8B")
    ap.add_argument("--include-huge", action="store_true")
    ap.add_argument("--mixes", default="all,core,wellformed", help=f"named mixes to time: {', '.join(MIXES)}")
    ap.add_argument("--kind-groups", default="",
                    help="time one custom mix of these kind groups instead, e.g. gold,perturb")
    ap.add_argument("--json-out", help="also write the results as JSON here")
    args = ap.parse_args(argv)

    t0 = time.time()
    if args.rows:
        mixes = {os.path.basename(args.rows): load_rows(args.rows, args.n_rows, args.seed)}
    else:
        wanted = {"custom": args.kind_groups} if args.kind_groups else {m: MIXES[m] for m in args.mixes.split(",") if m}
        mixes = build_rows_by_mix(args.bfcl_data, args.n_rows, args.seed, args.include_huge, wanted)
    print(f"rows built/loaded in {time.time() - t0:.1f}s; nproc={os.cpu_count()}, python {platform.python_version()}")

    results = [bench_mix(name, rows, args) for name, rows in mixes.items()]
    summary = {
        "repeats": args.repeats,
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "python_ours": platform.python_version(),
        "mixes": results,
    }
    print("\nmix          rows   ours rows/s  official rows/s  ratio")
    for r in results:
        print(f"{r['mix']:<10} {r['rows']:>6} {r['ours_rows_per_s']:>12,} {r['official_rows_per_s']:>16,}  "
              f"{r['ratio_ours_over_official']:.2f}x")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(summary, fh, indent=1)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
