"""`toolace-r run` with every model stage launched as a 2-process accelerate job."""

import json
import os

import pytest
from runfixtures import MICRO, run


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
    # other batch shapes. The shipped base (no init, no warm-up): each launched stage costs ~12 s here.
    micro = [a for a in MICRO if not a.startswith(("model.", "train.warmup_steps"))]
    args = ["--config", "configs/quick.yaml", *micro, "arms=[mait]", "mait.rounds=1", "eval.modes=[none]",
            "train.precision=fp32"]
    res = run([*args, "--out", str(run_dir), "--launcher", "accelerate", "--num-processes", "2"],
              env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    state = json.loads((run_dir / "state.json").read_text())["stages"]
    assert state["mait/r0/train"]["train_processes"] == 2
    stages = run_dir / "stages"
    assert "warmup" not in state
    for stage in ("eval/base", "probe/m0", "mait/r0/train", "mait/r0/dev", "eval/mait"):
        assert "--multi_gpu" in (stages / stage / "job" / "launch.log").read_text().splitlines()[0], stage
    # the driver held no model: its peak during the training stage is far below the job's
    assert state["mait/r0/train"]["job_peak_rss_mb"] > state["mait/r0/train"]["peak_rss_mb"]
    task = read_task(stages / "eval/mait" / "job" / "task.json")
    run_task(task.model_copy(update={"out": tmp_path / "one"}))
    assert (tmp_path / "one" / "outputs.jsonl").read_text() == (stages / "eval/mait" / "outputs.jsonl").read_text()
