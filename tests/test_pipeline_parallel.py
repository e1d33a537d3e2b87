"""`toolace-r run` with its stages side by side (launch.jobs=2): the same results as one after another."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from runfixtures import MICRO, ROOT, final_metrics, run

from toolace_r.data.io import DataError
from toolace_r.launch import LaunchError, Workers
from toolace_r.tasks import EvalTask


@pytest.mark.slow
def test_stages_side_by_side_killed_and_resumed_give_the_results_of_stages_one_after_another(tmp_path):
    """Two worker processes take the arms' stages as they come (one thread each, and one thread for
    the sequential run too: the thread count changes the float sums). The side-by-side run is killed
    (kill -9) while its arms are in their rounds: its workers leave on their own, and the resumed run
    ends with every stage's metrics but its times, the selections and the results of the sequential
    run; the probe of M_0, which two arms need, ran once."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--config", "configs/quick.yaml", *(a for a in MICRO if a != "launch.jobs=1")]
    one, two = tmp_path / "one", tmp_path / "two"
    res = run([*args, "--jobs", "1", "--out", str(one)], env=env)
    assert res.returncode == 0, res.stderr[-3000:]

    proc = subprocess.Popen([sys.executable, "-m", "toolace_r", "run", *args, "--jobs", "2", "--out", str(two)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = psutil.Process(proc.pid)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (two / "stages" / "mait" / "r0" / "dev").is_dir():
        time.sleep(0.05)
    workers = [c for c in driver.children() if "spawn_main" in " ".join(c.cmdline())]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert len(workers) == 2
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not [w for w in alive if w.status() != psutil.STATUS_ZOMBIE], "a worker outlived its driver"
    assert "eval/mait_refine" not in json.loads((two / "state.json").read_text())["stages"]

    res = run(["--resume", str(two)], env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "side by side in 2 worker processes" in res.stderr
    assert final_metrics(one) == final_metrics(two)
    assert (one / "results.json").read_text() == (two / "results.json").read_text()
    state = json.loads((two / "state.json").read_text())["stages"]
    for name in ("mait/r1/train", "eval/mait_refine"):
        # the stage ran in a worker, which recorded its own peak memory beside the stage's job
        assert (two / "stages" / name / "job" / "peak_rss.0.txt").is_file(), name
        assert state[name]["job_peak_rss_mb"] > 0
    assert sorted(p.name for p in (two / "stages" / "probe").iterdir()) == ["m0", "mait_r0", "mait_refine_r0"]


def _task_without_samples(tmp_path):
    """A real task that fails at once in the worker: its samples file does not exist."""
    return EvalTask(model=str(tmp_path / "no-model"), backend="hf", samples=tmp_path / "none.jsonl", modes=["none"],
                    max_new_tokens=8, out=tmp_path / "out")


def test_workers_pass_a_task_failure_back_and_start_nothing_once_stopped(tmp_path):
    task = _task_without_samples(tmp_path)
    workers = Workers(1, threads=1)
    try:
        # the task's own error, of its own type (the CLI turns a DataError into one line)
        with pytest.raises(DataError, match="none.jsonl: no such file"):
            workers.run(task, tmp_path / "job")
        assert (tmp_path / "job" / "peak_rss.0.txt").is_file()
        workers.stop()
        with pytest.raises(LaunchError, match="stopping"):
            workers.run(task, tmp_path / "job")
    finally:
        workers.close()


def test_a_worker_killed_outright_is_one_clear_error(tmp_path):
    task = _task_without_samples(tmp_path)
    workers = Workers(1, threads=1)
    try:
        with pytest.raises(DataError):
            workers.run(task, tmp_path / "job")  # the worker is up
        for child in psutil.Process().children():
            if "spawn_main" in " ".join(child.cmdline()):
                child.kill()  # as the kernel's out-of-memory killer would
        with pytest.raises(LaunchError, match="a worker process died during the eval task.*--resume"):
            workers.run(task, tmp_path / "job")
    finally:
        workers.close()


def test_the_report_lists_stages_in_one_order_whatever_order_they_finished_in():
    import random

    from toolace_r.report import run_order

    arms = ["plain", "mait", "mait_refine"]
    one_seed = ["probe/m0", "plain/r0/train", "plain/r0/dev", "plain/r1/train", "plain/r1/dev", "eval/plain",
                "mait/r0/train", "mait/r0/dev", "probe/mait_r0", "mait/r1/train", "mait/r1/dev", "eval/mait",
                "mait_refine/r0/train", "mait_refine/r0/dev", "probe/mait_refine_r0", "mait_refine/r1/train",
                "mait_refine/r1/dev", "eval/mait_refine"]
    want = ["data", "init", "warmup", "eval/base", "dev/base", *one_seed, *(f"s1/{n}" for n in one_seed),
            *(f"s2/{n}" for n in one_seed)]
    # stages side by side finish in any order; the shared ones keep theirs
    shuffled = want[:5] + random.Random(0).sample(want[5:], len(want) - 5)
    assert list(run_order({n: {} for n in shuffled}, arms)) == want
