"""The embedded model: tokenizer, chat template, model config, loading with plain transformers."""

from __future__ import annotations

import json

import pytest

from toolace_r.models import embedded, prompting


def test_loads_with_plain_transformers(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert isinstance(model, LlamaForCausalLM)
    assert model.config.vocab_size == len(tok)
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|bos|>", "<|end|>", "<|pad|>")
    assert model.config.eos_token_id == tok.eos_token_id == model.generation_config.eos_token_id
    # Every marker is one token, never split by BPE.
    for t in embedded.SPECIAL_TOKENS:
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1
    info = json.loads((tiny_model_dir / embedded.PROMPT_CONFIG_FILE).read_text())
    assert info["prompt"] == {"tools_in": "template"}
    assert prompting.load_prompt_config(tiny_model_dir).tools_in == "template"


def test_chat_template_renders_compact_signatures(tokenizer, samples):
    parallel = next(s for s in samples if s.id == "parallel-0")
    messages, tools = prompting.build_messages(parallel, prompting.PromptConfig(tools_in="template"))
    text = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|bos|><|tools|>get_weather(city:str, unit?:enum[celsius|fahrenheit], days?:list[int])\n"
        "get_time(tz:str)\n"
        "book_table(restaurant:str, people:int, options?:dict{terrace:bool})<|end|>"
        "<|user|>Weather in Bern and a table for 2 at Luigi's on the terrace.<|end|><|assistant|>"
    )
    # Without tools and without the generation prompt.
    plain = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert plain == "<|bos|><|user|>hi<|end|>"


def test_chat_template_history_and_assistant_mask(tokenizer):
    chat = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": "x"}}}]},
        {"role": "tool", "content": "R"},
        {"role": "assistant", "content": "done"},
    ]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    assert text == '<|bos|><|system|>S<|end|><|user|>U<|end|><|assistant|>[f(a=1, b="x")]<|end|><|tool|>R<|end|><|assistant|>done<|end|>'
    # {% generation %} marks assistant content + end token, for TRL's assistant_only_loss.
    enc = tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    kept = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tokenizer.decode(kept) == '[f(a=1, b="x")]<|end|>done<|end|>'


def test_unknown_role_is_a_clear_error(tokenizer):
    with pytest.raises(Exception, match="unknown role"):
        tokenizer.apply_chat_template([{"role": "robot", "content": "x"}], tokenize=False)


@pytest.mark.parametrize("text", [
    '[get_weather(city="São Paulo", unit="celsius")]',
    "naïve 東京 🙂 tabs\tand\nnewlines  double  spaces",
    "",
])
def test_byte_level_round_trip(tokenizer, text):
    # The parser reads decoded text: decode(encode(x)) must give x back exactly, even unseen characters.
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_tokenizer_learned_the_corpus(tokenizer):
    # BPE merges make frequent corpus strings short: a tool name is a few tokens, not one per byte.
    assert len(tokenizer("get_weather", add_special_tokens=False)["input_ids"]) <= 3


def test_tiny_size_has_the_calibrated_shape(tokenizer):
    model = embedded.build_model(tokenizer, size="tiny", seed=0)
    n = sum(p.numel() for p in model.parameters())
    assert model.config.hidden_size == 192 and model.config.num_hidden_layers == 4
    assert 1_000_000 < n < 2_500_000
    assert model.config.tie_word_embeddings


def test_seed_makes_init_reproducible(tokenizer):
    import torch

    a = embedded.build_model(tokenizer, seed=3, overrides=dict(hidden_size=32, intermediate_size=64,
                                                               num_hidden_layers=1, num_attention_heads=2,
                                                               num_key_value_heads=2))
    b = embedded.build_model(tokenizer, seed=3, overrides=dict(hidden_size=32, intermediate_size=64,
                                                               num_hidden_layers=1, num_attention_heads=2,
                                                               num_key_value_heads=2))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_init_from_jsonl_file_and_errors(tmp_path, samples):
    from toolace_r.data.io import write_samples

    path = tmp_path / "train.jsonl"
    write_samples(path, samples)
    info = embedded.init_model(path, tmp_path / "m", size="tiny", seed=1,
                               overrides=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                              num_attention_heads=2, num_key_value_heads=2, vocab_size=300))
    assert info["n_corpus_samples"] == len(samples)
    assert (tmp_path / "m" / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="unknown size"):
        embedded.init_model(path, tmp_path / "x", size="huge")
    with pytest.raises(FileNotFoundError):
        embedded.init_model(tmp_path / "missing.jsonl", tmp_path / "y")
    with pytest.raises(ValueError, match="no training samples"):
        embedded.init_model([], tmp_path / "z")


def test_a_value_is_the_same_tokens_in_the_request_and_in_the_answer(tokenizer):
    # What lets a small model copy values: no space glued to the word, digits one by one.
    def enc(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def contains(seq, sub):
        return any(seq[i:i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))

    for value in ("Quito", "Zanzibar", "2024"):
        assert contains(enc(f"What is the weather in {value} today?"), enc(value))
        assert contains(enc(f'[get_weather(city="{value}")]'), enc(value))
    assert len(enc("2024")) == 4
