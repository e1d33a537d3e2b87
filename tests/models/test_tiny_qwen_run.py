"""configs/tiny-qwen.yaml in micro: `toolace-r run` on a tiny Qwen2 network with the real Qwen2.5
tokenizer and chat template (hermes format), LoRA adapters kept between rounds: warm-up, probe,
MAIT + refinement corpus, evaluation with adaptive refinement, report; then `toolace-r eval` on the
adapter folder the run ended with. The answers are noise (random weights): this checks that every
stage runs in Qwen's own format and what the folders hold, not accuracy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the real-vocabulary SFT costs ~10 s a step here (151,936-token logits): one step per SFT stage, one
# example per batch, a few samples
MICRO = ["data.synth_n=120", "data.pool_size=6", "data.dev_size=3", "data.test_size=4", "train.warmup_steps=1",
         "data.warmup_size=6", "train.steps_per_round=1", "train.batch_size=1", "train.replay_size=0",
         "train.precision=fp32", "arms=[mait_refine]", "mait.max_new_tokens=12", "eval.max_new_tokens=12"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolace_r", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_the_tiny_qwen_recipe_runs_in_qwens_own_format(tiny_qwen, tmp_path):
    folder, _ = tiny_qwen
    run = tmp_path / "run"
    res = _cli("run", "--config", "configs/tiny-qwen.yaml", f"model.init={folder}", *MICRO, "--out", str(run))
    assert res.returncode == 0, res.stderr[-3000:]
    stages = json.loads((run / "state.json").read_text())["stages"]
    for name in ("warmup", "probe/m0", "mait_refine/r0/train", "mait_refine/r0/dev", "eval/mait_refine"):
        assert name in stages, name
    assert stages["mait_refine/r0/train"]["train_steps"] == 1

    # kept adapters (merge_lora: false), on the tiny model, carrying the hermes format and Qwen's template
    model = run / "stages/mait_refine/r0/train/model"
    assert (model / "adapter_config.json").is_file() and not (model / "model.safetensors").exists()
    assert not (model / "checkpoints").exists()  # save_steps wrote them; a finished SFT removes them
    assert json.loads((model / "adapter_config.json").read_text())["base_model_name_or_path"] == str(folder.resolve())
    assert json.loads((model / "toolace_r.json").read_text())["prompt"]["tool_format"] == "hermes"
    assert "<tool_call>" in (model / "chat_template.jinja").read_text()

    assert "n_refine" in stages["mait_refine/r0/train"]  # the refinement corpus step ran (few wrong answers here)
    outputs = [json.loads(line) for line in (run / "stages/eval/mait_refine/outputs.jsonl").read_text().splitlines()]
    assert {o["mode"] for o in outputs} == {"none", "adaptive"}
    assert "(c) MAIT + refinement corpus" in (run / "report.md").read_text()

    # toolace-r eval on the adapter folder (loaded through peft onto its base)
    res = _cli("eval", "--model", str(model), "--bench", str(run / "stages/data/test.jsonl"), "--refine", "none",
               "--max-new-tokens", "12", "--out", str(tmp_path / "eval"))
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["modes"] == ["none"] and results["prompt_style"] == "auto -> template"
