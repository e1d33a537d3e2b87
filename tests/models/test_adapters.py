"""Kept LoRA adapters: an SFT without merge_lora writes a small adapter folder, a second SFT trains
that adapter on, the hf backend loads it (base + peft) and answers as the merged model does, and
the vLLM arguments for an adapter folder (engine on the base, LoRARequest for the adapter)."""

from __future__ import annotations

import json

import pytest

from toolace_r.models import adapters, prompting
from toolace_r.models.refs import resolve_model
from toolace_r.models.sft import SFTSettings, build_trainer, train_sft

LORA = dict(lora=True, lora_r=4, lora_alpha=8, lr=1e-2, max_steps=2, batch_size=4, warmup_ratio=0.0,
            progress=False, plot=False, logging_steps=1, precision="fp32")


def _lora_weights(model) -> dict:
    return {n.replace(".default", ""): p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_kept_adapter_trains_on_and_generates_as_its_merge(tiny_model_dir, samples, tmp_path):
    import torch
    from safetensors.torch import load_file

    from toolace_r.models.generation import HFGenerator

    r0, r1, merged = tmp_path / "r0", tmp_path / "r1", tmp_path / "merged"
    train_sft(tiny_model_dir, samples, r0, SFTSettings(**LORA))
    # an adapter folder, not a model copy; its base recorded as an absolute folder
    assert adapters.is_adapter(r0) and not (r0 / "model.safetensors").exists()
    assert (r0 / "adapter_model.safetensors").stat().st_size < (tiny_model_dir / "model.safetensors").stat().st_size / 4
    assert adapters.adapter_base(r0) == str(tiny_model_dir.resolve())
    assert resolve_model(r0) == r0 and (r0 / prompting.PROMPT_CONFIG_FILE).is_file()
    saved = {k.replace("base_model.model.", ""): v for k, v in load_file(r0 / "adapter_model.safetensors").items()}

    # the next SFT starts from base + this adapter: the trainer's LoRA weights are the saved ones
    trainer, _, _ = build_trainer(r0, samples, tmp_path / "look", SFTSettings(**LORA))
    start = {k.replace("base_model.model.", ""): v for k, v in _lora_weights(trainer.model).items()}
    assert set(start) == set(saved) and all(torch.equal(start[k], saved[k]) for k in saved)
    assert all(p.requires_grad for n, p in trainer.model.named_parameters() if "lora_" in n)
    del trainer

    train_sft(r0, samples, r1, SFTSettings(**LORA))
    assert adapters.adapter_base(r1) == str(tiny_model_dir.resolve())  # the same base, round after round
    after = {k.replace("base_model.model.", ""): v for k, v in load_file(r1 / "adapter_model.safetensors").items()}
    assert set(after) == set(saved) and any(not torch.equal(after[k], saved[k]) for k in saved)
    # the same SFT with merge_lora gives the merged equivalent of r1
    train_sft(r0, samples, merged, SFTSettings(**{**LORA, "merge_lora": True}))
    assert not adapters.is_adapter(merged)

    prompts = [prompting.build_messages(s, prompting.load_prompt_config(r1)) for s in samples[:4]]
    from_adapter = HFGenerator(r1, device="cpu")
    assert not any("lora" in n for n, _ in from_adapter.model.named_parameters())  # folded in on load
    texts = [c[0].text for c in from_adapter.generate(prompts, max_new_tokens=12)]
    assert texts == [c[0].text for c in HFGenerator(merged, device="cpu").generate(prompts, max_new_tokens=12)]
    # the adapter is applied: the folded weights are not the base's
    base = load_file(tiny_model_dir / "model.safetensors")
    folded = from_adapter.model.state_dict()
    assert any(not torch.equal(folded[k].float(), base[k].float()) for k in base if k.endswith("q_proj.weight"))


def test_continuing_an_adapter_keeps_its_shape(tiny_model_dir, samples, tmp_path):
    train_sft(tiny_model_dir, samples, tmp_path / "a", SFTSettings(**{**LORA, "max_steps": 1}))
    with pytest.raises(adapters.AdapterError, match="r=4, lora_alpha=8, which trains on as it is"):
        build_trainer(tmp_path / "a", samples, tmp_path / "b", SFTSettings(**{**LORA, "lora_r": 8}))


def _adapter(folder, base, **extra):
    folder.mkdir(parents=True)
    (folder / adapters.ADAPTER_CONFIG).write_text(json.dumps({"base_model_name_or_path": str(base), **extra}))
    return folder


def test_vllm_arguments_for_an_adapter_folder(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    ad = _adapter(tmp_path / "ad", base, r=100)
    # an adapter folder as the model: the engine loads the base, LoRA on, the rank raised to fit
    assert adapters.vllm_engine_args(ad, None, False, 64) == (
        str(base), str(ad), {"enable_lora": True, "max_lora_rank": 128})
    assert adapters.vllm_engine_args(ad, None, False, 64)[2]["max_lora_rank"] in adapters.VLLM_LORA_RANKS
    assert adapters.vllm_engine_args(_adapter(tmp_path / "small", base, r=16), None, False, 64)[2] == {
        "enable_lora": True, "max_lora_rank": 64}
    # a whole model: no LoRA unless asked for (then ready for set_adapter)
    assert adapters.vllm_engine_args(base, None, False, 64) == (str(base), None, {})
    assert adapters.vllm_engine_args(base, None, True, 32) == (str(base), None, {"enable_lora": True, "max_lora_rank": 32})
    assert adapters.lora_request_args(3, ad) == ("toolace_r_adapter_3", 3, str(ad.resolve()))
    with pytest.raises(ValueError, match="start at 1"):
        adapters.lora_request_args(0, ad)
    with pytest.raises(adapters.AdapterError, match="not a LoRA adapter folder"):
        adapters.lora_request_args(1, base)


def test_an_adapter_whose_base_is_gone_is_one_line(tmp_path):
    ad = _adapter(tmp_path / "ad", tmp_path / "gone")
    with pytest.raises(adapters.AdapterError) as e:
        adapters.vllm_engine_args(ad, None, False, 64)
    assert "base_model_name_or_path" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(adapters.AdapterError, match="names no base model"):
        adapters.adapter_base(_adapter(tmp_path / "nobase", ""))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / adapters.ADAPTER_CONFIG).write_text("{not json")
    with pytest.raises(adapters.AdapterError, match="cannot be read"):
        adapters.adapter_config(tmp_path / "bad")
