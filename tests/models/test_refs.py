"""Model references: local folders, hub ids through a real HF cache layout with HF_HUB_OFFLINE=1,
and one-line errors for everything else (before any run stage)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from toolace_r.models.refs import ModelRefError, looks_local, resolve_model

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(root: Path, repo: str) -> Path:
    """The HF cache layout huggingface_hub writes for ``repo`` at revision main: refs/main names a
    commit whose snapshot folder holds the files."""
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(SHA)
    snap = repo_dir / "snapshots" / SHA
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return snap


def _resolve_in_subprocess(ref: str, cache: Path, cwd: Path) -> subprocess.CompletedProcess:
    # huggingface_hub reads HF_HUB_CACHE when it is imported: a fresh process per environment
    code = ("import sys; from toolace_r.models.refs import resolve_model, ModelRefError\n"
            "try:\n    print(resolve_model(sys.argv[1], what='model.init'))\n"
            "except ModelRefError as e:\n    print('ERR', e); sys.exit(3)\n")
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(ROOT / "src"), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-c", code, ref], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def test_local_folder_and_bad_local_references(tmp_path, monkeypatch):
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    assert resolve_model(model) == model and resolve_model(str(model)) == model
    monkeypatch.chdir(tmp_path)
    # models/ exists here, so models/nomodel is a missing folder, not a hub id to retry for a minute
    assert looks_local("models/nomodel") and not looks_local("Qwen/Qwen2.5-1.5B-Instruct")
    for ref, says in (("models/nomodel", "does not exist here"), ("./nope", "does not exist here"),
                      ("a/b/c", "does not exist here"), ("not an id!", "does not exist here"), ("", "is empty")):
        with pytest.raises(ModelRefError, match=says):
            resolve_model(ref, what="--model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelRefError, match="holds no config.json"):
        resolve_model("empty")
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(ModelRefError, match="is a file"):
        resolve_model("weights.bin")


def test_hub_id_from_the_hf_cache_offline(tmp_path):
    cache = tmp_path / "hub"
    snap = _hub_cache(cache, "acme/tiny-tools")
    ok = _resolve_in_subprocess("acme/tiny-tools", cache, tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert Path(ok.stdout.strip()) == snap
    missing = _resolve_in_subprocess("acme/not-cached", cache, tmp_path)
    assert missing.returncode == 3, missing.stderr[-2000:]
    line = missing.stdout.strip()
    assert line.count("\n") == 0 and "model.init acme/not-cached" in line and "HF_HUB_OFFLINE" in line


def test_run_refuses_a_bad_model_init_before_any_stage(tmp_path):
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "toolace_r", "run", "--config", "configs/quick.yaml", "--out", str(out),
                          "model.init=./no/such/model"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 2
    assert "model.init ./no/such/model does not exist here" in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert not out.exists()  # nothing made: no run folder, no .partial stage


def test_every_command_refuses_a_missing_model_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from toolace_r.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    from toolace_r.data.synth import write_corpus

    write_corpus(tmp_path / "c", n=60, seed=0)
    data = tmp_path / "c" / "test.jsonl"
    runner = CliRunner()
    for args in (["train", "sft", "--model", "models/nomodel", "--data", str(data), "--out", "o"],
                 ["model", "generate", "--model", "models/nomodel", "--data", str(data)],
                 ["eval", "--model", "models/nomodel", "--bench", str(data)],
                 ["serve", "--model", "models/nomodel"],
                 ["data", "stats", str(data), "--tokenizer", "models/nomodel"]):
        res = runner.invoke(app, args)
        out = res.output.strip()
        assert res.exit_code != 0 and res.exception is None or isinstance(res.exception, SystemExit), (args, out)
        assert "models/nomodel does not exist here" in out, (args, out)
        assert "Traceback" not in out


def test_library_loaders_follow_the_same_rule(tmp_path, monkeypatch):
    """Called as a library (not through a command), the loaders resolve references the same way."""
    from toolace_r.models.generation import load_model_and_tokenizer
    from toolace_r.models.sft import train_sft

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelRefError, match="missing does not exist here"):
        load_model_and_tokenizer(tmp_path / "missing")
    with pytest.raises(ModelRefError, match="HF_HUB_OFFLINE"):
        train_sft("nobody-here/no-such-model", [{"input_ids": [1], "loss_mask": [1]}], tmp_path / "out")
