"""`toolace-r run` killed in the middle of a stage and resumed gives the uninterrupted run's files."""

import json
import signal
import subprocess
import sys
import time

import pytest
from runfixtures import MICRO, ROOT, final_metrics, run


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_results(tmp_path):
    """Two properties from two runs of the micro model (each costs about 20 s): the reference's driver,
    which runs every stage in-process, must not grow in resident memory from stage to stage; the other
    run is killed in the middle of a stage (round 1's SFT), resumed, and must give the reference's
    files byte for byte.
    (Stages run as child processes, launch.launcher=process / accelerate, are tested in
    tests/models/test_scale.py and test_launched_stages_with_two_processes.)"""
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    # fp32: memory figures comparable across CPUs (bf16 autocast keeps more between stages: benchmarks/README.md)
    args = ["--config", "configs/quick.yaml", *MICRO, "arms=[mait_refine]", "train.precision=fp32"]
    assert run([*args, "--out", str(ref)]).returncode == 0
    stages = json.loads((ref / "state.json").read_text())["stages"]
    for name, m in stages.items():
        assert m["peak_rss_mb"] >= m["rss_after_mb"] > 0, name
    # two SFT stages (the warm-up, round 0's) and a probe in one process: after the third, the driver is
    # within 48 MiB of where the first SFT left it
    assert stages["mait_refine/r0/train"]["rss_after_mb"] - stages["warmup"]["rss_after_mb"] < 48
    assert stages["warmup"]["peak_rss_mb"] > stages["warmup"]["rss_after_mb"]

    proc = subprocess.Popen([sys.executable, "-m", "toolace_r", "run", *args, "--out", str(killed)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill it as soon as round 1's SFT has begun (the stage takes a second or two here)
    partial = killed / "stages" / "mait_refine" / "r1" / "train.partial"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not partial.is_dir():
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    state = json.loads((killed / "state.json").read_text())["stages"]
    assert "mait_refine/r0/dev" in state and "mait_refine/r1/train" not in state
    res = run(["--resume", str(killed)])
    assert res.returncode == 0, res.stderr[-3000:]
    assert not partial.exists()
    assert final_metrics(killed) == final_metrics(ref)
    for rel in ("stages/probe/m0/probe.jsonl", "stages/mait_refine/r0/train/selected.json",
                "stages/mait_refine/r1/train/model/model.safetensors", "stages/eval/mait_refine/outputs.jsonl"):
        assert (killed / rel).read_bytes() == (ref / rel).read_bytes(), rel
