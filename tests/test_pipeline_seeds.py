"""`toolace-r run --seeds 2`: per-seed stages and seeds, intervals and paired differences, resume."""

import json
import re
from pathlib import Path

import pytest
from runfixtures import MICRO, run


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
            "eval.modes=[none,adaptive,rewrite]", "eval.max_rounds=1"]
    res = run([*args, "--out", str(run_dir), "--seeds", "2"])
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
    assert results["arm_modes"] == {"plain": ["none"], "mait_refine": ["none", "adaptive", "rewrite"]}
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
    assert labels == ["(c) - (a), none", "(c) adaptive - (a) none", "(c): adaptive - none", "(c): rewrite - none"]
    assert [g["goal"] for g in results["goals"]] == ["c_adaptive_over_a", "c_adaptive_over_none", "tokens_mait_refine"]
    # mode rewrite: every answer rewritten once, and what a perfect judge could gain from it
    rewrite_rows = [json.loads(x) for p in ("", "s1/") for x in (stages / f"{p}eval/mait_refine/outputs.jsonl")
                    .read_text().splitlines() if json.loads(x)["mode"] == "rewrite"]
    assert len(rewrite_rows) == 32 and all(r["rounds"] == 1 and not r["confirmed"] for r in rewrite_rows)
    fixed = results["flips"]["mait_refine"]["rewrite"]["fixed"]
    assert f"the model fixes {fixed} first answers: a perfect judge would gain at most +{100 * fixed / 32:.1f} " \
           "points in one round" in results["goals"][1]["text"]

    report = (run_dir / "report.md").read_text()
    for heading in ("## Ablation", "### Goals", "## Paired differences", "## Test accuracy per seed",
                    "## Dev accuracy per round", "## What refinement changed"):
        assert heading in report, heading
    # the ablation: mean accuracy over seeds, then its interval, per mode
    c = results["accuracy"]["mait_refine"]
    cells = [f"{100 * c[m]['value']:.1f}%" for m in ("none", "adaptive", "rewrite")]
    cells += [f"[{100 * c[m]['low']:.1f}, {100 * c[m]['high']:.1f}]" for m in ("none", "adaptive", "rewrite")]
    assert re.search(r"\| \(c\) MAIT \+ refinement corpus \(round[^)]*\) \| " + re.escape(" | ".join(cells)) + r" \|",
                     report)
    d = results["differences"][0]
    assert f"| (c) - (a), none | {100 * d['value']:+.1f} | [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] |" in report
    assert "over the 16 test samples and the 2 training seeds" in report
    assert re.search(r"- \(c\) \+ adaptive minus \(a\) single pass: [+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] "
                     r"points .* -> (met|NOT met)", report)
    assert re.search(r"\| \(a\) plain SFT \(round[^)]*\) \| \d+\.\d% \| - \| - \| \[[^]]*\] \| - \| - \|", report)
    # the dev table has a row per arm and seed
    assert re.search(r"\| \(a\) plain SFT \| 1 \| \d+\.\d% \|", report)

    # resume redoes an unfinished stage of the second seed, and the results come out the same
    del state["stages"]["s1/eval/mait_refine"]
    (run_dir / "state.json").write_text(json.dumps(state))
    res = run(["--resume", str(run_dir)])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "s1/eval/mait_refine" in json.loads((run_dir / "state.json").read_text())["stages"]
    assert json.loads((run_dir / "results.json").read_text()) == results
