"""`toolace-r run` end to end on a micro config, resume after a kill mid-round, and a run with
two training seeds."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# configs/quick.yaml shrunk further so that the suite stays fast; the same stages all run.
MICRO = ["model.init=scratch", "model.size=micro", "data.synth_n=400", "data.warmup_size=200", "data.pool_size=40", "data.dev_size=12",
         "data.test_size=16", "train.warmup_steps=8", "train.steps_per_round=3", "train.batch_size=8",
         "mait.k=2", "mait.max_new_tokens=16", "eval.max_new_tokens=16"]


def _run(args, **kw):
    return subprocess.run([sys.executable, "-m", "toolace_r", "run", *args], capture_output=True, text=True,
                          cwd=ROOT, **kw)


def _final_metrics(run_dir: Path) -> dict:
    state = json.loads((run_dir / "state.json").read_text())
    out = {}
    for name, m in state["stages"].items():
        # wall times and memory figures differ from run to run; everything else must not
        out[name] = {k: v for k, v in m.items() if not any(x in k for x in ("seconds", "per_s", "rss"))}
    return out


@pytest.mark.slow
def test_quick_config_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    res = _run(["--config", "configs/quick.yaml", "--out", str(run_dir), *MICRO])
    assert res.returncode == 0, res.stderr[-3000:]
    report = (run_dir / "report.md").read_text()
    for heading in ("## Ablation", "## Dev accuracy per round", "## Time and memory per stage", "## Probes",
                    "## What refinement changed", "## Refinement cost and effect"):
        assert heading in report
    base_dev = json.loads((run_dir / "state.json").read_text())["stages"]["dev/base"]["dev_accuracy"]
    assert f"The starting model M_0 scores {100 * base_dev:.1f}% on the same dev samples." in report
    # the fixed / broken counts agree with the verdicts in the evaluation's outputs
    rows = [json.loads(line) for line in (run_dir / "stages/eval/mait_refine/outputs.jsonl").read_text().splitlines()]
    valid = {(r["id"], r["mode"]): r["valid"] for r in rows}  # one row per sample and mode
    fixed = sum(1 for (i, m), ok in valid.items() if m == "adaptive" and ok and not valid[i, "none"])
    broken = sum(1 for (i, m), ok in valid.items() if m == "adaptive" and not ok and valid[i, "none"])
    assert f"| (c) MAIT + refinement corpus | adaptive | {fixed} | {broken} | {fixed - broken:+d} |" in report
    for png in ("dev_accuracy.png", "ablation.png", "categories.png"):
        assert (run_dir / png).stat().st_size > 1000
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    stages = [m["stage"] for m in metrics]
    assert stages[:3] == ["data", "init", "warmup"]
    assert {"eval/plain", "eval/mait", "eval/mait_refine", "probe/m0", "eval/base", "dev/base"} <= set(stages)
    summary = json.loads((run_dir / "stages/eval/mait_refine/summary.json").read_text())
    assert set(summary) == {"none", "adaptive", "fixed:2"}
    assert 1 <= summary["adaptive"]["mean_rounds"] <= 2 and summary["fixed:2"]["wall_s"] > 0
    # fixed:2 runs both rounds unless the model confirms its answer first (refine.confirm=token)
    fixed2 = [r for r in rows if r["mode"] == "fixed:2"]
    assert all(r["rounds"] == 2 for r in fixed2 if not r["confirmed"])
    assert all(1 <= r["rounds"] <= 2 for r in fixed2 if r["confirmed"])
    assert summary["fixed:2"]["confirmations"] == sum(r["confirmed"] for r in fixed2)
    # equal optimizer steps per round for every arm
    steps = {m["stage"]: m.get("train_steps") for m in metrics if m["stage"].endswith("/train")}
    assert len(set(steps.values())) == 1, steps
    # the SFT metrics of a round under one train_ prefix: TRL's train_loss stays train_loss
    train = next(m for m in metrics if m["stage"] == "mait/r0/train")
    assert {"train_loss", "train_seconds", "train_processes"} <= set(train)
    assert not [k for m in metrics for k in m if k.startswith("train_train_")]
    # an existing run folder is never overwritten without --force
    again = _run(["--config", "configs/quick.yaml", "--out", str(run_dir), *MICRO])
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_results(tmp_path):
    """Three properties from two runs (each run costs half a minute): the reference runs every stage
    in the driver, whose resident memory must not grow from stage to stage; the other runs every
    stage as a child process (launch.launcher=process), is killed mid-round and resumed, and must give
    the reference's files byte for byte."""
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    # fp32: memory figures comparable across CPUs (bf16 autocast keeps more between stages: benchmarks/README.md)
    args = ["--config", "configs/quick.yaml", *MICRO, "arms=[mait_refine]", "train.precision=fp32"]
    assert _run([*args, "--out", str(ref)]).returncode == 0
    stages = json.loads((ref / "state.json").read_text())["stages"]
    for name, m in stages.items():
        assert m["peak_rss_mb"] >= m["rss_after_mb"] > 0, name
    # two SFT stages and a probe later the driver is within 48 MiB of where the first SFT left it
    assert stages["mait_refine/r0/train"]["rss_after_mb"] - stages["warmup"]["rss_after_mb"] < 48
    assert stages["warmup"]["peak_rss_mb"] > stages["warmup"]["rss_after_mb"]

    proc = subprocess.Popen([sys.executable, "-m", "toolace_r", "run", *args, "launch.launcher=process",
                             "--out", str(killed)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    # kill it (and its stage's child process) in the middle of the MAIT rounds
    while time.time() < deadline and proc.poll() is None:
        state = killed / "state.json"
        if state.is_file() and "mait_refine/r0/train" in json.loads(state.read_text())["stages"]:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait()
    assert proc.returncode != 0, "the run finished before it could be killed"
    assert "eval/mait_refine" not in json.loads((killed / "state.json").read_text())["stages"]
    res = _run(["--resume", str(killed)])
    assert res.returncode == 0, res.stderr[-3000:]
    done = json.loads((killed / "state.json").read_text())["stages"]
    # the driver held no model: its peak during a training stage is far below the job's
    assert done["warmup"]["job_peak_rss_mb"] > done["warmup"]["peak_rss_mb"]
    assert _final_metrics(killed) == _final_metrics(ref)
    for rel in ("stages/probe/m0/probe.jsonl", "stages/mait_refine/r0/train/selected.json",
                "stages/mait_refine/r1/train/model/model.safetensors", "stages/eval/mait_refine/outputs.jsonl"):
        assert (killed / rel).read_bytes() == (ref / rel).read_bytes(), rel
    a = (ref / "stages/eval/mait_refine/outputs.jsonl").read_text()
    b = (killed / "stages/eval/mait_refine/outputs.jsonl").read_text()
    assert a == b


def test_resume_refuses_overrides(tmp_path):
    res = _run(["--resume", str(tmp_path), "mait.k=3"])
    assert res.returncode == 2 and "--resume" in res.stderr
    res = _run(["--resume", str(tmp_path), "--seeds", "2"])
    assert res.returncode == 2 and "--seeds" in res.stderr
    res = _run(["--resume", str(tmp_path / "nothing")])
    assert res.returncode == 2 and "not a run folder" in res.stderr


@pytest.mark.slow
def test_launched_stages_with_two_processes(tmp_path):
    """`toolace-r run --launcher accelerate --num-processes 2`: every probe, SFT and evaluation stage
    runs as a 2-process job, and the evaluation equals what one process gives on the same model.
    (That a 2-process probe, SFT and evaluation equal one process's, sampling and losses included, is
    tested on the tasks themselves in tests/models/test_scale.py.)"""
    from toolace_r.launch import run_task
    from toolace_r.tasks import read_task

    run_dir = tmp_path / "run"
    # fp32: bf16 autocast (the CPU default where the CPU has bf16 instructions) rounds differently for
    # other batch shapes
    args = ["--config", "configs/quick.yaml", *MICRO, "arms=[mait]", "mait.rounds=1", "eval.modes=[none]",
            "train.precision=fp32"]
    res = _run([*args, "--out", str(run_dir), "--launcher", "accelerate", "--num-processes", "2"],
               env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    state = json.loads((run_dir / "state.json").read_text())["stages"]
    assert state["mait/r0/train"]["train_processes"] == 2
    stages = run_dir / "stages"
    for stage in ("warmup", "probe/m0", "mait/r0/train", "mait/r0/dev", "eval/mait"):
        assert "--multi_gpu" in (stages / stage / "job" / "launch.log").read_text().splitlines()[0], stage
    task = read_task(stages / "eval/mait" / "job" / "task.json")
    run_task(task.model_copy(update={"out": tmp_path / "one"}))
    assert (tmp_path / "one" / "outputs.jsonl").read_text() == (stages / "eval/mait" / "outputs.jsonl").read_text()


def test_planned_stages_count_every_seed():
    from toolace_r.config import ConfigError, load_config
    from toolace_r.pipeline import planned_stages

    # the default: data, eval/base, dev/base (the shipped base: no init, no warm-up) + per seed 3 probes (M_0
    # shared, then one per probing arm and later round) and 3 arms x (2 rounds x (train, dev) + eval)
    assert planned_stages(load_config(None, [])) == 3 + 18
    assert planned_stages(load_config(None, ["seeds=3"])) == 3 + 3 * 18
    assert planned_stages(load_config(None, ["model.init=scratch", "train.warmup_steps=5"])) == 5 + 18
    with pytest.raises(ConfigError, match="^seeds: must be >= 1"):
        load_config(None, ["seeds=0"])


def _sft_seed(stage: Path) -> int:
    """The seed the SFT of a train stage ran with (its settings, in the model's train log)."""
    last = (stage / "model" / "train_log.jsonl").read_text().splitlines()[-1]
    return json.loads(last)["summary"]["settings"]["seed"]


@pytest.mark.slow
def test_two_training_seeds(tmp_path):
    """`--seeds 2`: shared data and warm-up, each seed's arms under their own stage names and seeds,
    the report's intervals and paired differences, and resume of a second seed's stage."""
    from toolace_r.pipeline import stage_seed

    run_dir = tmp_path / "run"
    # the fewest stages that still compare two arms in two modes: (c) - (a), adaptive - none
    args = ["--config", "configs/quick.yaml", *MICRO, "arms=[plain,mait_refine]", "mait.rounds=1",
            "eval.modes=[none,adaptive]", "eval.max_rounds=1"]
    res = _run([*args, "--out", str(run_dir), "--seeds", "2"])
    assert res.returncode == 0, res.stderr[-3000:]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["config"]["seeds"] == 2
    one_seed = ["plain/r0/train", "plain/r0/dev", "eval/plain", "probe/m0", "mait_refine/r0/train",
                "mait_refine/r0/dev", "eval/mait_refine"]
    # seed 0 keeps a one-seed run's stage names; seed 1 repeats them under s1/
    assert list(state["stages"]) == ["data", "init", "warmup", "eval/base", "dev/base", *one_seed,
                                     *(f"s1/{n}" for n in one_seed)]
    stages = run_dir / "stages"
    for name in ("plain/r0/train", "mait_refine/r0/train"):
        s0, s1 = _sft_seed(stages / name), _sft_seed(stages / "s1" / name)
        assert s0 == stage_seed(0, name) and s1 == stage_seed(0, f"s1/{name}") and s0 != s1
    # seed 1 samples its own probe answers
    assert (stages / "probe/m0/probe.jsonl").read_text() != (stages / "s1/probe/m0/probe.jsonl").read_text()

    results = json.loads((run_dir / "results.json").read_text())
    assert results["seeds"] == [0, 1] and results["n_test"] == 16
    # eval.refine_arms (default: mait_refine) -- (a) is evaluated in mode none only
    assert results["arm_modes"] == {"plain": ["none"], "mait_refine": ["none", "adaptive"]}
    assert set(json.loads((stages / "eval/plain/summary.json").read_text())) == {"none"}
    for arm, mode in (("plain", "none"), ("mait_refine", "none"), ("mait_refine", "adaptive")):
        acc = results["accuracy"][arm][mode]
        per_seed = []
        for prefix in ("", "s1/"):
            rows = [json.loads(x) for x in (stages / f"{prefix}eval/{arm}/outputs.jsonl").read_text().splitlines()]
            verdicts = [r["valid"] for r in rows if r["mode"] == mode]
            per_seed.append(sum(verdicts) / len(verdicts))
        assert acc["per_seed"] == pytest.approx(per_seed)
        assert acc["value"] == pytest.approx(sum(per_seed) / 2)
        assert acc["low"] <= acc["value"] <= acc["high"] and acc["n_seeds"] == 2
    labels = [d["label"] for d in results["differences"]]
    assert labels == ["(c) - (a), none", "(c) adaptive - (a) none", "(c): adaptive - none"]
    assert [g["goal"] for g in results["goals"]] == ["c_adaptive_over_a", "c_adaptive_over_none", "tokens_mait_refine"]

    report = (run_dir / "report.md").read_text()
    for heading in ("## Ablation", "### Goals", "## Paired differences", "## Test accuracy per seed",
                    "## Dev accuracy per round", "## What refinement changed"):
        assert heading in report, heading
    # the ablation: mean accuracy over seeds, then its interval, per mode
    c = results["accuracy"]["mait_refine"]
    cells = [f"{100 * c[m]['value']:.1f}%" for m in ("none", "adaptive")]
    cells += [f"[{100 * c[m]['low']:.1f}, {100 * c[m]['high']:.1f}]" for m in ("none", "adaptive")]
    assert re.search(r"\| \(c\) MAIT \+ refinement corpus \(round[^)]*\) \| " + re.escape(" | ".join(cells)) + r" \|",
                     report)
    d = results["differences"][0]
    assert f"| (c) - (a), none | {100 * d['value']:+.1f} | [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] |" in report
    assert "over the 16 test samples and the 2 training seeds" in report
    assert re.search(r"- \(c\) \+ adaptive minus \(a\) single pass: [+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] "
                     r"points .* -> (met|NOT met)", report)
    assert re.search(r"\| \(a\) plain SFT \(round[^)]*\) \| \d+\.\d% \| - \| \[[^]]*\] \| - \|", report)
    # the dev table has a row per arm and seed
    assert re.search(r"\| \(a\) plain SFT \| 1 \| \d+\.\d% \|", report)

    # resume redoes an unfinished stage of the second seed, and the results come out the same
    del state["stages"]["s1/eval/mait_refine"]
    (run_dir / "state.json").write_text(json.dumps(state))
    res = _run(["--resume", str(run_dir)])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "s1/eval/mait_refine" in json.loads((run_dir / "state.json").read_text())["stages"]
    assert json.loads((run_dir / "results.json").read_text()) == results
