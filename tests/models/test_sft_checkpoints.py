"""SFT checkpoints (save_steps): an SFT killed (SIGKILL) after a checkpoint continues from it and ends
as an uninterrupted one; a checkpoint of another SFT, or one cut off while written, is not used."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from toolace_r.models import checkpoints

ROOT = Path(__file__).resolve().parents[2]
# 10 samples in batches of 4: 2 steps an epoch, so the checkpoint at step 3 lies inside epoch 1
RESUMABLE = dict(lora=True, lora_r=4, lora_alpha=8, lr=1e-2, max_steps=7, save_steps=3, batch_size=4,
                 progress=False, plot=False, logging_steps=1, precision="fp32")

KILLED_SFT = textwrap.dedent("""
    import json, os, signal, sys
    from transformers import TrainerCallback
    from toolace_r.data.io import read_samples
    from toolace_r.models.sft import SFTSettings, train_sft

    class KillOnSave(TrainerCallback):  # SIGKILL once the first checkpoint is written
        def on_save(self, args, state, control, **kw):
            os.kill(os.getpid(), signal.SIGKILL)

    model, data, out, settings = sys.argv[1:]
    train_sft(model, read_samples(data), out, SFTSettings(**json.loads(settings)), callbacks=[KillOnSave()])
""")


def _losses(out: Path) -> dict[int, float]:
    lines = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in lines if "loss" in r}


@pytest.mark.slow
def test_a_killed_sft_continues_from_its_checkpoint(tiny_model_dir, samples, tmp_path):
    import torch
    from safetensors.torch import load_file

    from toolace_r.data.io import write_samples
    from toolace_r.models.sft import SFTSettings, train_sft

    ref = train_sft(tiny_model_dir, samples, tmp_path / "ref", SFTSettings(**RESUMABLE))
    data, killed = tmp_path / "train.jsonl", tmp_path / "killed"
    write_samples(data, samples)
    proc = subprocess.run([sys.executable, "-c", KILLED_SFT, str(tiny_model_dir), str(data), str(killed),
                           json.dumps(RESUMABLE)], env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert checkpoints.last_checkpoint(killed / checkpoints.CHECKPOINTS).name == "checkpoint-3"
    assert not (killed / "adapter_config.json").exists()

    resumed = train_sft(tiny_model_dir, samples, killed, SFTSettings(**RESUMABLE))
    assert resumed["resumed_from_step"] == 3 and ref["resumed_from_step"] == 0
    assert resumed["steps"] == ref["steps"] == 7
    assert resumed["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-5)
    # every step's loss, the three before the kill (from the checkpoint's log history) and the four after
    assert sorted(_losses(killed)) == list(range(1, 8))
    assert _losses(killed) == pytest.approx(_losses(tmp_path / "ref"), abs=2e-4)
    a, b = load_file(tmp_path / "ref" / "adapter_model.safetensors"), load_file(killed / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert not (killed / checkpoints.CHECKPOINTS).exists()  # removed once the model is saved


def _checkpoint(folder: Path, step: int, complete: bool = True) -> Path:
    ckpt = folder / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    if complete:
        (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": [
            {"loss": 2.5, "epoch": 0.5, "step": 1}]}))
    return ckpt


def test_only_a_complete_checkpoint_of_the_same_sft_is_resumed(tmp_path):
    folder = tmp_path / checkpoints.CHECKPOINTS
    checkpoints.start_fresh(folder, "abc")
    assert checkpoints.resumable(folder, "abc") is None  # nothing saved yet
    two = _checkpoint(folder, 2)
    _checkpoint(folder, 4, complete=False)  # killed while it was written
    (folder / "checkpoint-6").mkdir()
    (folder / "checkpoint-6" / "trainer_state.json").write_text('{"global_st')  # cut off
    assert checkpoints.resumable(folder, "abc") == two
    assert checkpoints.resumable(folder, "another sft") is None
    checkpoints.start_fresh(folder, "another sft")  # what train_sft then does
    assert list(folder.iterdir()) == [folder / checkpoints.FINGERPRINT]
    assert checkpoints.resumable(tmp_path / "none", "abc") is None


def test_the_log_is_rebuilt_from_the_checkpoint(tmp_path):
    ckpt = _checkpoint(tmp_path, 1)
    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1, "loss": 2.5}\n{"step": 2, "loss": 2.')  # the killed run's, cut off
    assert checkpoints.log_until(ckpt, log) == [{"step": 1, "epoch": 0.5, "loss": 2.5}]
    assert [json.loads(x) for x in log.read_text().splitlines()] == [{"step": 1, "epoch": 0.5, "loss": 2.5}]
    checkpoints.write_loss_sum(ckpt, 0, 7.25)
    assert checkpoints.read_loss_sum(ckpt, 0) == 7.25 and checkpoints.read_loss_sum(ckpt, 1) is None


def test_fingerprint_follows_what_decides_the_training():
    ids, masks = [[1, 2, 3]], [[0, 1, 1]]
    fp = checkpoints.fingerprint("/m", {"lr": 1e-3, "progress": True}, ids, masks, 1)
    assert fp == checkpoints.fingerprint("/m", {"lr": 1e-3, "progress": False}, ids, masks, 1)
    for other in [("/other", {"lr": 1e-3}, ids, masks, 1), ("/m", {"lr": 2e-3}, ids, masks, 1),
                  ("/m", {"lr": 1e-3}, [[1, 2, 4]], masks, 1), ("/m", {"lr": 1e-3}, ids, masks, 2)]:
        assert checkpoints.fingerprint(*other) != fp
