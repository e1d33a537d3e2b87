"""Acceptance: `toolace-r eval` on a run's model and test split gives exactly the run's numbers.

A micro `toolace-r run` (one arm, one round) trains a model and evaluates it on its test split;
`toolace-r eval` with the run's settings (checker mode strict, its max_new_tokens and max_rounds,
its modes) must then give the same accuracy per mode as the run's state.json, summary.json and
report, and the very same output rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolace_r.cli import app

ROOT = Path(__file__).resolve().parents[2]
MODES = ["none", "adaptive", "fixed:2"]
MAX_NEW_TOKENS, MAX_ROUNDS = 16, 2
# configs/quick.yaml shrunk to one arm and one round: the cheapest run with a trained model
MICRO = ["model.init=scratch", "model.size=micro", "data.synth_n=400", "data.warmup_size=200", "data.pool_size=40", "data.dev_size=12",
         "data.test_size=16", "train.warmup_steps=8", "train.steps_per_round=3", "train.batch_size=8",
         "arms=[plain]", "mait.rounds=1", f"eval.max_new_tokens={MAX_NEW_TOKENS}", f"eval.max_rounds={MAX_ROUNDS}",
         f"eval.modes=[{','.join(MODES)}]", "eval.refine_arms=[plain]"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("agree") / "run"
    res = subprocess.run([sys.executable, "-m", "toolace_r", "run", "--config", "configs/quick.yaml", "--out", str(out),
                          *MICRO], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    return out


@pytest.mark.slow
def test_eval_on_the_runs_model_gives_the_runs_accuracy(run_dir, tmp_path):
    stage = json.loads((run_dir / "state.json").read_text())["stages"]["eval/plain"]
    # the model the run evaluated: its best round on dev (-1: the warm-up model)
    r = stage["round"]
    model = run_dir / "stages" / ("warmup/model" if r == -1 else f"plain/r{r}/train/model")
    res = CliRunner().invoke(app, ["eval", "--model", str(model), "--bench", str(run_dir / "stages/data/test.jsonl"),
                                   "--mode", "strict", "--max-new-tokens", str(MAX_NEW_TOKENS),
                                   "--max-rounds", str(MAX_ROUNDS), "--refine", ",".join(MODES),
                                   "--out", str(tmp_path / "eval")])
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    summary = json.loads((run_dir / "stages/eval/plain/summary.json").read_text())
    report = (run_dir / "report.md").read_text()
    assert results["modes"] == MODES and results["n_entries"] == 16
    for m in MODES:
        acc = results["by_mode"][m]["accuracy"]
        assert acc == stage["summary"][m]["accuracy"] == summary[m]["accuracy"], m
        for k in ("n", "well_formed", "mean_rounds", "mean_tokens"):
            assert results["by_mode"][m][k] == stage["summary"][m][k], (m, k)
        assert results["by_mode"][m]["categories"] == summary[m]["categories"]
    accs = " | ".join(f"{100 * results['by_mode'][m]['accuracy']:.1f}%" for m in MODES)
    assert f"| (a) plain SFT (round {r}) | {accs} |" in report or f"| (a) plain SFT (warm-up model) | {accs} |" in report
    # the same rows, one per sample and mode, in the same order
    assert _rows(tmp_path / "eval" / "outputs.jsonl") == _rows(run_dir / "stages/eval/plain/outputs.jsonl")
