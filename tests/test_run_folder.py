"""The run folder of `toolace-r run`: resume checks state.json and the finished stages' folders and
says in one line how to recover; a lock keeps a second process off a live run folder, and goes
with the process, also when it is killed. No stage runs here (open_run only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from toolace_r.config import load_config
from toolace_r.pipeline import LOCK_FILE, RunError, open_run

CFG = load_config(None, [])


def _new_run(run_dir: Path, stages: tuple[str, ...] = ()) -> None:
    """A run folder as a run that finished ``stages`` leaves it, closed."""
    run = open_run(run_dir, CFG, resume=False, force=False, log=lambda _: None)
    for name in stages:
        (run.stage_dir(name) / "x").mkdir(parents=True)
        run.state["stages"][name] = {"seconds": 1.0}
    run._save_state()
    run.close()


def _resume_error(run_dir: Path) -> str:
    with pytest.raises(RunError) as e:
        open_run(run_dir, None, resume=True, force=False)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolace_r", "run", *args], capture_output=True, text=True,
                          timeout=120)


def test_resume_checks_the_state_file(tmp_path: Path):
    run_dir = tmp_path / "run"
    _new_run(run_dir, ("data", "eval/base"))
    state = (run_dir / "state.json").read_text()
    restart = f"start the run again with  toolace-r run --config {run_dir / 'config.yaml'} --out {run_dir} --force"
    for text, needle in [
        (state[: len(state) // 2], "cannot be read (invalid JSON"),
        ("", "cannot be read (invalid JSON"),
        ('{"config": {}, "stages": {"data": {"x": NaN}}}', "NaN is not valid JSON"),
        ("[]", "is not a run's state: expected a JSON object, got list"),
        (json.dumps({"stages": {}}), "'config' is missing or not an object"),
        (json.dumps({"config": {}, "stages": []}), "'stages' is missing or not an object"),
        (json.dumps({"config": {}, "stages": {"data": 3}}), "stage entry 'data' is not a stage name"),
        (json.dumps({"config": {}, "stages": {"../../etc": {}}}), "stage entry '../../etc'"),
        (json.dumps({"config": {"mait": {"k": "x"}}, "stages": {}}), "its config is not valid (mait.k:"),
    ]:
        (run_dir / "state.json").write_text(text)
        msg = _resume_error(run_dir)
        assert msg.startswith(str(run_dir / "state.json")) and needle in msg and msg.endswith(restart), msg
    (run_dir / "state.json").write_text(state)
    run = open_run(run_dir, None, resume=True, force=False)
    assert run.done("eval/base") == {"seconds": 1.0}
    run.close()


def test_resume_notices_a_deleted_stage_folder(tmp_path: Path):
    run_dir = tmp_path / "run"
    _new_run(run_dir, ("data", "eval/base"))
    (run_dir / "stages" / "eval" / "base" / "x").rmdir()
    (run_dir / "stages" / "eval" / "base").rmdir()
    msg = _resume_error(run_dir)
    assert msg.startswith("stage 'eval/base' is recorded as finished") and str(run_dir / "stages/eval/base") in msg
    assert "delete its entry" in msg and "--force" in msg
    # through the command line: one line, exit 2, before any model library is loaded
    res = _cli("--resume", str(run_dir))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: stage 'eval/base'"), res.stderr
    (run_dir / "state.json").write_text("{")
    res = _cli("--resume", str(run_dir))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "state.json cannot be read" in res.stderr


def test_a_second_open_of_a_live_run_folder_is_refused(tmp_path: Path):
    run_dir = tmp_path / "run"
    run = open_run(run_dir, CFG, resume=False, force=False)
    assert (run_dir / LOCK_FILE).is_file()
    for resume, force in ((True, False), (False, True), (False, False)):
        with pytest.raises(RunError, match=f"run folder {run_dir} is in use by another toolace-r process"):
            open_run(run_dir, None if resume else CFG, resume=resume, force=force)
    assert (run_dir / "state.json").is_file()  # --force removed nothing of the live run
    run.close()
    open_run(run_dir, None, resume=True, force=False).close()
    forced = open_run(run_dir, CFG, resume=False, force=True)  # --force empties all but the lock it holds
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "metrics.jsonl", LOCK_FILE, "state.json"]
    forced.close()


def test_the_lock_keeps_another_process_off_and_goes_with_a_killed_one(tmp_path: Path):
    run_dir = tmp_path / "run"
    _new_run(run_dir)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from toolace_r.pipeline import open_run
        run = open_run(Path({str(run_dir)!r}), None, resume=True, force=False)
        print("locked", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match="is in use by another toolace-r process"):
            open_run(run_dir, None, resume=True, force=False)
        res = _cli("--resume", str(run_dir))
        assert res.returncode == 2 and res.stderr.count("\n") == 1
        assert f"run folder {run_dir} is in use by another toolace-r process" in res.stderr
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # a crash: no cleanup runs in the holder
        holder.wait()
    open_run(run_dir, None, resume=True, force=False).close()


def test_a_restarted_sft_stage_keeps_only_its_checkpoints(tmp_path: Path):
    """A stage killed mid-SFT restarts in its emptied .partial folder, but for the SFT's trainer
    checkpoints (train.save_steps), which the SFT continues from; other stages start clean."""
    from toolace_r.pipeline import SFT_CHECKPOINTS

    run = open_run(tmp_path / "run", CFG, resume=False, force=False, log=lambda _: None)
    partial = run.stage_dir("mait/r0/train").with_name("train.partial")
    ckpt = partial / SFT_CHECKPOINTS / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    for leftover in (partial / "selected.json", partial / "model" / "train_log.jsonl", partial / "job" / "task.json"):
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_text("old")
    with run.stage("mait/r0/train", keep=SFT_CHECKPOINTS) as (out, _):
        assert out == partial
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
            "model", "model/checkpoints", "model/checkpoints/checkpoint-2",
            "model/checkpoints/checkpoint-2/trainer_state.json"]
    assert (run.stage_dir("mait/r0/train") / SFT_CHECKPOINTS / "checkpoint-2").is_dir()  # the SFT removes them
    other = run.stage_dir("eval/base").with_name("base.partial")
    (other / "model" / "checkpoints").mkdir(parents=True)
    with run.stage("eval/base") as (out, _):
        assert list(out.iterdir()) == []
    run.close()
