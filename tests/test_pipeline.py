"""`toolace-r run` end to end on a micro config; the stage count; overrides refused on resume."""

import json

import pytest
from runfixtures import MICRO, run


@pytest.mark.slow
def test_quick_config_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    res = run(["--config", "configs/quick.yaml", "--out", str(run_dir), *MICRO])
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
    # configs/quick.yaml's mixture holds multi_step samples (a call after a tool result): probed and scored
    cats = {d["id"]: d["category"] for line in (run_dir / "stages/data/train.jsonl").read_text().splitlines()
            for d in [json.loads(line)]}
    probed = [json.loads(line) for line in (run_dir / "stages/probe/m0/probe.jsonl").read_text().splitlines()]
    assert [p for p in probed if cats[p["id"]] == "multi_step"] and "multi_step" in report
    # greedy answers feed the refinement corpus only: M_0's shared probe and (c)'s own record them, (b)'s not
    for stage, has_greedy in (("probe/m0", True), ("probe/mait_refine_r0", True), ("probe/mait_r0", False)):
        items = [json.loads(line) for line in (run_dir / "stages" / stage / "probe.jsonl").read_text().splitlines()]
        assert items and all((it["greedy"] is not None) == has_greedy for it in items), stage
    # an existing run folder is never overwritten without --force
    again = run(["--config", "configs/quick.yaml", "--out", str(run_dir), *MICRO])
    assert again.returncode == 2 and "--force" in again.stderr


def test_resume_refuses_overrides(tmp_path):
    res = run(["--resume", str(tmp_path), "mait.k=3"])
    assert res.returncode == 2 and "--resume" in res.stderr
    res = run(["--resume", str(tmp_path), "--seeds", "2"])
    assert res.returncode == 2 and "--seeds" in res.stderr
    res = run(["--resume", str(tmp_path / "nothing")])
    assert res.returncode == 2 and "not a run folder" in res.stderr


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
