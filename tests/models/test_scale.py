"""Two CPU processes (gloo) against one: SFT under `accelerate launch`, and the probe and the
evaluation split over a `torchrun` / `accelerate` job. Each launch costs a few seconds of start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolace_r.config import LaunchConfig
from toolace_r.data.io import write_samples
from toolace_r.launch import free_port, job_peak_rss_mb, run_launched, run_task
from toolace_r.tasks import EvalTask, ProbeTask
from toolace_r.models.sft import SFTSettings, train_sft

ROOT = Path(__file__).resolve().parents[2]
# Relative tolerance on the per-step training loss of 2 processes x batch 2 vs 1 process x batch 4.
# Measured: about 1e-7 (float32 summation order); anything near 1e-4 would mean other batches.
LOSS_RTOL = 1e-5


def _env() -> dict[str, str]:
    # the children import this checkout's package, one thread each (two processes on two cores)
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def _losses(out: Path) -> list[float]:
    lines = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in lines if "loss" in r]


@pytest.mark.slow
def test_sft_with_two_processes_matches_one(tiny_model_dir, samples, tmp_path):
    from transformers import AutoModelForCausalLM

    # 23 examples, batches of 4: 5 steps an epoch (the short last batch is dropped), so the 8 steps
    # cross an epoch boundary and its reshuffle
    examples = samples * 2 + samples[:3]
    data = tmp_path / "train.jsonl"
    write_samples(data, examples)
    steps = 8
    # one process, global batch 4; fp32, since bf16 autocast rounds differently for other batch shapes
    one = tmp_path / "one"
    train_sft(tiny_model_dir, examples, one, SFTSettings(max_steps=steps, batch_size=4, lr=1e-3, warmup_ratio=0.0,
                                                            logging_steps=1, progress=False, plot=False,
                                                            precision="fp32"))
    # two processes (accelerate launch, gloo on the CPU), batch 2 each: the same global batch
    two = tmp_path / "two"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()),
           "-m", "toolace_r", "train", "sft", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(two),
           "--max-steps", str(steps), "--batch-size", "2", "--lr", "1e-3", "--warmup-ratio", "0", "--logging-steps", "1", "--precision", "fp32"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]

    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == steps
    assert b == pytest.approx(a, rel=LOSS_RTOL)
    assert a[-1] < a[0]  # it learned something, so the comparison is not of untouched weights
    summary = json.loads((two / "train_log.jsonl").read_text().splitlines()[-1])["summary"]
    assert summary["processes"] == 2 and summary["steps"] == steps
    assert summary["train_loss"] == pytest.approx(sum(a) / steps, rel=LOSS_RTOL)
    # the saved model loads, and its weights are the single-process run's
    m1 = AutoModelForCausalLM.from_pretrained(str(one))
    m2 = AutoModelForCausalLM.from_pretrained(str(two))
    diff = max((p1 - p2).abs().max().item() for p1, p2 in zip(m1.parameters(), m2.parameters()))
    assert diff < 1e-5
    assert (two / "toolace_r.json").is_file() and not (two / "checkpoints").exists()


@pytest.fixture()
def pool_file(samples, tmp_path):
    # a pool of 30 distinct items (ids differ; the prompts repeat, their random streams do not)
    pool = [s.model_copy(update={"id": f"{s.id}-{i}"}) for i in range(3) for s in samples]
    path = tmp_path / "pool.jsonl"
    write_samples(path, pool)
    return path


def _set_env(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.slow
def test_probe_with_two_processes_equals_one(trained_model_dir, pool_file, tmp_path, monkeypatch):
    _set_env(monkeypatch)
    task = dict(model=str(trained_model_dir), backend="hf", samples=pool_file, k=3, temperature=3.0, top_p=1.0,
                max_new_tokens=24, seed=123)
    run_task(ProbeTask(**task, out=tmp_path / "one.jsonl"))
    result = run_launched(ProbeTask(**task, out=tmp_path / "two.jsonl"), tmp_path / "job",
                          LaunchConfig(launcher="torchrun", num_processes=2))
    assert result["processes"] == 2
    one, two = (tmp_path / "one.jsonl").read_text(), (tmp_path / "two.jsonl").read_text()
    assert one == two
    items = [json.loads(x) for x in one.splitlines()]
    assert len(items) == 30 and [it["id"] for it in items][:3] == ["simple-0-0", "simple-1-0", "simple-2-0"]
    # sampled for real: answers vary within items, and some are right and some wrong
    assert any(len(set(it["answers"])) > 1 for it in items)
    verdicts = {c for it in items for c in it["correct"]}
    assert verdicts == {True, False}


@pytest.mark.slow
def test_evaluation_with_two_processes_equals_one(trained_model_dir, pool_file, tmp_path, monkeypatch):
    _set_env(monkeypatch)
    task = dict(model=str(trained_model_dir), backend="hf", samples=pool_file, limit=12, modes=["none", "adaptive"],
                max_rounds=2, max_new_tokens=24)
    s1 = run_task(EvalTask(**task, out=tmp_path / "one"))
    s2 = run_launched(EvalTask(**task, out=tmp_path / "two"), tmp_path / "job",
                      LaunchConfig(launcher="accelerate", num_processes=2))
    # launch.launcher=process: one child process; its peak memory is the job's own
    s3 = run_launched(EvalTask(**task, out=tmp_path / "three"), tmp_path / "job1", LaunchConfig(launcher="process"))
    # wall seconds differ from run to run (two processes: the slower one's), and so does the prefill a
    # prefix cache saves (it shares prefixes within a process's chunk of samples); nothing else may
    walls = [s.pop("wall_s") for summary in (s1, s2, s3) for s in summary.values()]
    for summary in (s1, s2, s3):
        for s in summary.values():
            s.pop("mean_prefill_tokens", None)
    assert s1 == s2 == s3 and s1["none"]["n"] == 12 and min(walls) > 0
    def rows(d):  # the rows without the prefill count (see above)
        return [{k: v for k, v in json.loads(x).items() if k != "prefill_tokens"}
                for x in (tmp_path / d / "outputs.jsonl").read_text().splitlines()]

    assert rows("one") == rows("two") == rows("three")
    assert "accelerate.commands.launch" in (tmp_path / "job" / "launch.log").read_text().splitlines()[0]
    assert " -m toolace_r worker " in (tmp_path / "job1" / "launch.log").read_text().splitlines()[0]
    assert job_peak_rss_mb(tmp_path / "job1") > 100


@pytest.mark.slow
def test_a_failing_job_reports_its_log(tmp_path, monkeypatch):
    _set_env(monkeypatch)
    from toolace_r.launch import LaunchError

    task = ProbeTask(model=str(tmp_path / "no-model"), backend="hf", samples=tmp_path / "none.jsonl", k=1,
                     temperature=0.0, top_p=1.0, max_new_tokens=4, seed=0, out=tmp_path / "x.jsonl")
    with pytest.raises(LaunchError, match="probe job .torchrun, 2 processes. failed"):
        run_launched(task, tmp_path / "job", LaunchConfig(launcher="torchrun", num_processes=2))
