"""Helpers for the end-to-end tests of `toolace-r run` (tests/test_pipeline*.py, one file per long run so
that parallel workers (`pytest -n`, one file each) can take them side by side)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# configs/quick.yaml shrunk further so that the suite stays fast; the same stages all run, one after
# another (launch.jobs=1: the tests name stages in the order they finish, and pytest's own workers share
# the cores; tests/test_pipeline_parallel.py runs them side by side).
MICRO = ["model.init=scratch", "model.size=micro", "data.synth_n=400", "data.warmup_size=200", "data.pool_size=40", "data.dev_size=12",
         "data.test_size=16", "train.warmup_steps=8", "train.steps_per_round=3", "train.batch_size=8",
         "mait.k=2", "mait.max_new_tokens=16", "eval.max_new_tokens=16", "launch.jobs=1"]


def run(args, **kw):
    return subprocess.run([sys.executable, "-m", "toolace_r", "run", *args], capture_output=True, text=True,
                          cwd=ROOT, **kw)


def final_metrics(run_dir: Path) -> dict:
    state = json.loads((run_dir / "state.json").read_text())
    out = {}
    for name, m in state["stages"].items():
        # wall times and memory figures differ from run to run; everything else must not
        out[name] = {k: v for k, v in m.items() if not any(x in k for x in ("seconds", "per_s", "rss"))}
    return out
