"""SFT through TRL: assistant-only labels, outputs, LoRA, and the command line."""

from __future__ import annotations

import json

import pytest
import torch

from toolace_r.models import prompting
from toolace_r.models.refs import ModelRefError
from toolace_r.models.sft import SFTSettings, build_trainer, train_sft

QUICK = dict(max_steps=2, batch_size=4, progress=False, plot=False, logging_steps=1)


def test_trl_labels_are_the_answer_tokens_only(tiny_model_dir, tokenizer, samples, tmp_path):
    cfg = prompting.load_prompt_config(tiny_model_dir)
    refine = prompting.Example(*prompting.refine_messages(samples[0], "[get_weather(city='Pariss')]", cfg),
                               target=prompting.target_text(samples[0]))
    as_dict = {"messages": [{"role": "user", "content": "hi"}], "tools": None, "target": "hello"}
    ids, mask = prompting.render(tokenizer, [{"role": "user", "content": "yo"}], None, "[f(a=1)]")
    rendered = {"input_ids": ids, "loss_mask": mask}
    examples = [*samples, refine, as_dict, rendered]
    trainer, _, _ = build_trainer(tiny_model_dir, examples, tmp_path, SFTSettings(**QUICK))
    ds = trainer.train_dataset
    assert len(ds) == len(examples)
    expected = [prompting.render_example(tokenizer, prompting.example_from_sample(s, cfg)) for s in samples]
    expected += [prompting.render_example(tokenizer, refine),
                 prompting.render(tokenizer, as_dict["messages"], None, "hello"), (ids, mask)]
    for row, (e_ids, e_mask) in zip(ds, expected):
        assert row["input_ids"] == e_ids
        assert row["labels"] == [t if m else -100 for t, m in zip(e_ids, e_mask)]
    # What the loss sees, decoded: the answers and their end tokens, nothing of the prompts.
    first = ds[0]
    assert tokenizer.decode([t for t in first["labels"] if t != -100]) == (
        '[get_weather(city="Paris", unit="celsius")]<|end|>')


def test_trained_model_directory(trained_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoTokenizer.from_pretrained(str(trained_model_dir))
    AutoModelForCausalLM.from_pretrained(str(trained_model_dir))
    assert prompting.load_prompt_config(trained_model_dir).tools_in == "template"
    assert (trained_model_dir / "train_loss.png").stat().st_size > 0
    assert not (trained_model_dir / "checkpoints").exists()
    lines = [json.loads(x) for x in (trained_model_dir / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in lines if "loss" in r]
    assert len(losses) == 12 and losses[-1] < 0.1 * losses[0]
    summary = lines[-1]["summary"]
    assert summary["steps"] == 120 and summary["dtype"] in ("fp32", "bf16-autocast") and summary["tokens_per_s"] > 0


def test_lora_merged_and_unmerged(tiny_model_dir, samples, tmp_path):
    from transformers import AutoModelForCausalLM

    from toolace_r.models.generation import HFGenerator

    merged = train_sft(tiny_model_dir, samples, tmp_path / "merged",
                       SFTSettings(lora=True, merge_lora=True, lora_r=4, **QUICK))
    assert merged["lr"] == 2e-4
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"))
    assert not any("lora" in n for n, _ in model.named_parameters())

    train_sft(tiny_model_dir, samples, tmp_path / "adapter", SFTSettings(lora=True, lora_r=4, **QUICK))
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    g = HFGenerator(tmp_path / "adapter")  # base model + adapter through peft (tests/models/test_adapters.py)
    (out,) = g.generate([prompting.build_messages(samples[0], prompting.PromptConfig(tools_in="template"))],
                        max_new_tokens=4)
    assert out[0].n_tokens <= 4
    # a full fine-tune from an adapter folder trains all weights of base + adapter: a whole model comes out
    train_sft(tmp_path / "adapter", samples, tmp_path / "again", SFTSettings(**QUICK))
    assert (tmp_path / "again" / "model.safetensors").is_file()
    assert not (tmp_path / "again" / "adapter_config.json").exists()


def test_trainer_settings_reach_trl(tiny_model_dir, samples, tmp_path):
    trainer, _, _ = build_trainer(tiny_model_dir, samples, tmp_path, SFTSettings(
        max_steps=4, batch_size=2, grad_accum=2, max_length=64, gradient_checkpointing=True, save_steps=2,
        report_to=["none"], lora=True, lora_target_modules=["q_proj", "v_proj"], progress=False, plot=False))
    args = trainer.args
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.max_length) == (2, 2, 64)
    assert getattr(args, "activation_checkpointing", None) or args.gradient_checkpointing
    assert (args.save_strategy, args.save_steps, args.save_total_limit) == ("steps", 2, 1)
    assert args.report_to in ([], ["none"], "none")
    assert args.output_dir == str(tmp_path / "checkpoints")
    lora_layers = {n.split(".")[-4] for n, _ in trainer.model.named_parameters() if "lora_A" in n}
    assert lora_layers == {"q_proj", "v_proj"}
    with pytest.raises(ValueError, match=r"lora_target_modules \['nothing_here'\] do not fit"):
        build_trainer(tiny_model_dir, samples, tmp_path / "x", SFTSettings(
            max_steps=1, lora=True, lora_target_modules=["nothing_here"], progress=False))


def test_bad_inputs(tiny_model_dir, tmp_path):
    with pytest.raises(TypeError, match="example 0"):
        train_sft(tiny_model_dir, ["just a string"], tmp_path, SFTSettings(**QUICK))
    with pytest.raises(ValueError, match="no training examples"):
        train_sft(tiny_model_dir, [], tmp_path, SFTSettings(**QUICK))
    with pytest.raises(ValueError, match="as long as"):
        train_sft(tiny_model_dir, [{"input_ids": [1, 2, 3], "loss_mask": [0, 1]}], tmp_path, SFTSettings(**QUICK))
    with pytest.raises(ModelRefError, match="nope does not exist here"):
        train_sft(tmp_path / "nope", [], tmp_path, SFTSettings(**QUICK))
    with pytest.raises(ValueError, match="merge_lora needs lora"):
        SFTSettings(merge_lora=True)


def test_command_line(tmp_path, samples):
    from typer.testing import CliRunner

    from toolace_r.cli import app
    from toolace_r.data.io import write_samples

    data = tmp_path / "train.jsonl"
    write_samples(data, samples)
    run = CliRunner().invoke
    r = run(app, ["model", "init", "--data", str(data), "--out", str(tmp_path / "m"), "--size", "tiny"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n_params"] > 1_000_000
    r = run(app, ["train", "sft", "--model", str(tmp_path / "m"), "--data", str(data), "--out", str(tmp_path / "s"),
                  "--max-steps", "1", "--batch-size", "4", "--lr", "1e-3"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s" / "model.safetensors").is_file()
    r = run(app, ["model", "generate", "--model", str(tmp_path / "s"), "--data", str(data), "--limit", "2",
                  "--n", "2", "--max-new-tokens", "4"])
    assert r.exit_code == 0, r.output
    assert r.stdout.count("--- ") == 2 and "gold:    [get_weather(city=\"Paris\"" in r.stdout
    r = run(app, ["model", "init", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "does not exist" in r.output
    r = run(app, ["train", "sft", "--model", str(tmp_path / "m"), "--data", str(data), "--out", str(tmp_path / "y"),
                  "--merge-lora"])
    assert r.exit_code == 1 and "--merge-lora needs --lora" in r.output


def test_precision_settings(tiny_model_dir, samples, tmp_path):
    from toolace_r.models.sft import cpu_has_bf16, resolve_precision

    with pytest.raises(ValueError, match="precision"):
        SFTSettings(precision="fp8")
    assert resolve_precision("fp32", on_cuda=False) == "fp32"
    assert resolve_precision("auto", on_cuda=False) == ("bf16" if cpu_has_bf16() else "fp32")
    if not cpu_has_bf16():
        pytest.skip("this CPU has no bf16 instructions")
    # bf16 autocast on the CPU: weights stay fp32 and the saved model is fp32
    m = train_sft(tiny_model_dir, samples, tmp_path / "bf16", SFTSettings(precision="bf16", **QUICK))
    assert m["dtype"] == "bf16-autocast" and m["steps"] == 2
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(str(tmp_path / "bf16")).dtype == torch.float32
