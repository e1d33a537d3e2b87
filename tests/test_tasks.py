"""Typed stage tasks: written to the job folder and read back, validated on both sides."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from toolace_r.launch import run_task
from toolace_r.models.sft import SFTSettings
from toolace_r.tasks import EvalTask, ProbeTask, SFTTask, TaskError, read_task, write_task

ROOT = Path(__file__).resolve().parents[1]


def _tasks(tmp_path):
    gen = {"model": str(tmp_path / "m"), "backend": "vllm", "backend_kw": {"tensor_parallel_size": 2},
           "samples": tmp_path / "train.jsonl", "limit": 40, "max_new_tokens": 48}
    return [
        SFTTask(model="Qwen/Qwen2.5-7B-Instruct", out=tmp_path / "out" / "model", samples=tmp_path / "s.jsonl",
                examples=tmp_path / "refine.jsonl", settings=SFTSettings(max_steps=10, lr=2e-3, batch_size=8, seed=7)),
        ProbeTask(**gen, k=4, temperature=0.8, top_p=0.95, seed=123, greedy=False, out=tmp_path / "probe.jsonl"),
        EvalTask(**gen, modes=["none", "adaptive", "fixed:2"], max_rounds=2, confirm="repeat", out=tmp_path / "eval"),
    ]


def test_tasks_round_trip(tmp_path):
    for task in _tasks(tmp_path):
        path = tmp_path / f"{task.kind}.json"
        write_task(task, path)
        assert json.loads(path.read_text())["kind"] == task.kind
        back = read_task(path)
        assert back == task and type(back) is type(task)
    assert read_task(tmp_path / "sft.json").settings.max_steps == 10  # the SFT settings come back typed
    assert read_task(tmp_path / "eval.json").max_rounds == 2
    assert read_task(tmp_path / "eval.json").confirm == "repeat" and read_task(tmp_path / "probe.json").greedy is False


def _tamper(tmp_path, kind, change):
    task = next(t for t in _tasks(tmp_path) if t.kind == kind)
    path = tmp_path / "job" / "task.json"
    path.parent.mkdir(exist_ok=True)
    write_task(task, path)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("kind,change,field", [
    ("probe", lambda d: d.update(k="four"), "k"),
    ("probe", lambda d: d.update(top_p=1.5), "top_p"),
    ("probe", lambda d: d.pop("seed"), "seed"),
    ("probe", lambda d: d.update(temprature=0.7), "temprature"),
    ("eval", lambda d: d.update(modes=[]), "modes"),
    ("eval", lambda d: d.update(confirm="nod"), "confirm"),
    ("sft", lambda d: d["settings"].update(bogus=1), "settings.bogus"),
    ("sft", lambda d: d.update(samples=None, examples=None), "(the file)"),
    ("sft", lambda d: d.update(kind="train"), "kind"),
    ("sft", lambda d: d.pop("kind"), "kind"),
])
def test_a_bad_task_file_names_the_file_and_the_field(tmp_path, kind, change, field):
    path = _tamper(tmp_path, kind, change)
    with pytest.raises(TaskError) as e:
        read_task(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"task file {path}: {field}: "), msg


def test_unreadable_task_files(tmp_path):
    bad = tmp_path / "task.json"
    bad.write_text("{not json")
    with pytest.raises(TaskError, match=r"task\.json: \(the file\): Invalid JSON"):
        read_task(bad)
    with pytest.raises(TaskError, match="cannot read it"):
        read_task(tmp_path / "missing.json")


def test_the_writing_side_validates_too(tmp_path):
    probe = _tasks(tmp_path)[1]
    with pytest.raises(TaskError, match="probe.json: k: "):
        write_task(probe.model_copy(update={"k": 0}), tmp_path / "probe.json")  # model_copy skips validation
    assert not (tmp_path / "probe.json").exists()
    with pytest.raises(ValueError, match="needs samples, examples or both"):
        SFTTask(model="m", out=tmp_path, settings=SFTSettings(max_steps=1))
    with pytest.raises(TypeError, match="not a task"):
        run_task({"kind": "probe"})  # type: ignore[arg-type]


def test_the_worker_refuses_a_tampered_task_in_one_line(tmp_path):
    path = _tamper(tmp_path, "probe", lambda d: d.update(k="four"))
    res = subprocess.run([sys.executable, "-m", "toolace_r", "worker", str(path)], capture_output=True, text=True,
                         cwd=ROOT)
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [f"error: task file {path}: k: Input should be a valid integer, "
                                               "unable to parse string as an integer"]
    assert not (path.parent / "result.json").exists()
