"""Real chat templates with their real vocabularies (from the llama-cpp-python sdist, see
toolace_r.models.realvocab): every model trains on, is prompted with and is parsed in its own
tool-call format, and a saved folder's own template reproduces the training prompt."""

from __future__ import annotations

import json

import pytest

from toolace_r.calls import calls_equal, detect_tool_format, parse_calls
from toolace_r.models import prompting, realvocab
from toolace_r.models.prompting import native_config

# template, vocabulary, the format the template writes, its end-of-turn marker
CASES = {
    "qwen2.5": ("qwen2", "hermes", "<|im_end|>"),
    "qwen3": ("qwen2", "hermes", "<|im_end|>"),
    "llama3.1": ("llama-bpe", "llama3_json", "<|eot_id|>"),
    "hermes3": ("llama-bpe", "hermes", "<|im_end|>"),
    # more of the same families: the same rules hold
    "qwq": ("qwen2", "hermes", "<|im_end|>"),
    "llama3.2": ("llama-bpe", "llama3_json", "<|eot_id|>"),
    "llama3.3": ("llama-bpe", "llama3_json", "<|eot_id|>"),
    "hermes2pro": ("llama-bpe", "hermes", "<|im_end|>"),
}
SAMPLES = ["simple-0", "parallel-0", "irrelevance-0", "multi_turn-0"]


def by_id(samples, sid):
    return next(s for s in samples if s.id == sid)


@pytest.fixture(scope="module", params=list(CASES))
def case(request, real_vocab):
    """(template name, tokenizer with that template, its format, its end-of-turn marker)."""
    vocab, fmt, eot = CASES[request.param]
    return request.param, realvocab.with_chat_template(real_vocab(vocab), request.param), fmt, eot


def _masked(tok, ids, mask):
    return tok.decode([i for i, m in zip(ids, mask) if m], skip_special_tokens=False)


def test_the_format_is_detected_from_the_template(case):
    name, tok, fmt, eot = case
    assert detect_tool_format(tok.chat_template) == fmt
    assert tok.eos_token == eot and len(tok(eot, add_special_tokens=False)["input_ids"]) == 1


@pytest.mark.parametrize("sid", SAMPLES)
def test_the_template_writes_the_answer_and_the_mask_covers_exactly_it(case, samples, sid):
    name, tok, fmt, eot = case
    cfg, s = native_config(fmt), by_id(samples, sid)
    messages, tools = prompting.build_messages(s, cfg)
    assert tools and all(t["type"] == "function" for t in tools)  # the template renders the tools
    target = prompting.target_text(s, cfg)
    ids, mask = prompting.render(tok, messages, tools, target, fmt)

    # the prompt: what generation sees, token for token, and no loss on it
    n_prompt = mask.index(1)
    assert ids[:n_prompt] == prompting.encode_prompt(tok, messages, tools)
    assert set(mask[n_prompt:]) == {1}
    # the loss: the template's own answer turn, then its end-of-turn marker, nothing else
    _, completion = prompting.completion_text(tok, messages, tools, target, fmt)
    answered = _masked(tok, ids, mask)
    assert answered == completion and answered.endswith(eot) and ids[-1] == tok.eos_token_id
    answer = answered[: -len(eot)]
    assert eot not in answer
    # what the model generates (end token cut, decoded as generation decodes) parses back to the gold
    generated = prompting.decode_answer(tok, ids[n_prompt:-1], None)
    parsed = parse_calls(generated)
    if s.answer:
        assert parsed.status == "calls" and calls_equal(parsed.calls, s.gold_calls()), generated
        if fmt == "hermes":
            assert answer.count("<tool_call>") == len(s.gold_calls())
        else:
            assert '"parameters"' in answer
    else:
        assert parsed.status == "text" and generated.strip().endswith(target)


def test_history_calls_and_tool_results_are_structured(case, samples):
    name, tok, fmt, _ = case
    messages, tools = prompting.build_messages(by_id(samples, "multi_turn-0"), native_config(fmt))
    call_turn = next(m for m in messages if m["role"] == "assistant")
    assert call_turn["tool_calls"] == [{"type": "function", "function": {"name": "get_weather",
                                                                      "arguments": {"city": "Nice"}}}]
    assert messages[-1]["role"] == "tool"
    prompt = prompting.render_prompt(tok, messages, tools)
    marker = '"parameters": {"city": "Nice"}' if fmt == "llama3_json" else '"arguments": {"city": "Nice"}'
    # the result in the template's tool turn (Llama 3.1 writes any content through tojson)
    result = '<|start_header_id|>ipython<|end_header_id|>\n\n"{\\"temp\\": 21}"' if fmt == "llama3_json" else \
        '<tool_response>\n{"temp": 21}\n</tool_response>'
    assert marker in prompt and result in prompt


@pytest.mark.parametrize("previous", ["wrong", "right", "text", "malformed"])
def test_the_refinement_turn_renders_through_the_template(case, samples, previous):
    name, tok, fmt, eot = case
    cfg, s = native_config(fmt), by_id(samples, "simple-1")
    gold = prompting.target_text(s, cfg)
    answer = {"wrong": gold.replace("Rome", "Roma"), "right": gold, "text": "I do not know.",
              "malformed": '<tool_call>\n{"name": "get_weather", "arguments": {"city": </tool_call>'}[previous]
    messages, tools = prompting.refine_messages(s, answer, cfg)
    assert messages[-1] == {"role": "user", "content": prompting.REFINE_REQUEST}
    turn = messages[-2]
    if previous in ("wrong", "right"):  # calls go to the template as structured tool_calls
        assert turn["tool_calls"][0]["function"]["arguments"]["city"] == ("Roma" if previous == "wrong" else "Rome")
    else:
        assert "tool_calls" not in turn and turn["content"] == answer.strip()
    prompt = prompting.render_prompt(tok, messages, tools)
    # the conversation so far comes first, unchanged (the generation prompt after it may differ:
    # QwQ's opens a reasoning block that an earlier assistant turn does not show)
    base, _ = prompting.build_messages(s, cfg)
    assert prompt.startswith(tok.apply_chat_template(base, tools=tools, tokenize=False))
    assert prompting.REFINE_REQUEST in prompt
    if previous == "wrong":
        head = '{"name": "get_weather", "parameters": {"city": "Roma"' if fmt == "llama3_json" else \
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Roma"'
        assert head in prompt
    # the refinement example trains on the gold answer, or on a confirmation
    for target in (gold, prompting.CONFIRM_TEXT):
        ids, mask = prompting.render(tok, messages, tools, target, fmt)
        assert _masked(tok, ids, mask).endswith(eot)
        assert ids[: mask.index(1)] == prompting.encode_prompt(tok, messages, tools)


def test_a_saved_folder_reproduces_the_training_prompt(case, samples, tmp_path):
    """What vLLM, transformers or BFCL users do with a trained folder: load its tokenizer and call
    apply_chat_template(messages, tools=tools, add_generation_prompt=True)."""
    from transformers import AutoTokenizer

    name, tok, fmt, eot = case
    cfg = native_config(fmt)
    tok.save_pretrained(tmp_path)
    prompting.write_prompt_config(tmp_path, cfg)
    assert json.loads((tmp_path / prompting.PROMPT_CONFIG_FILE).read_text())["prompt"]["tool_format"] == fmt
    assert prompting.load_prompt_config(tmp_path) == cfg
    # a folder that records nothing: the format is read off its template
    (tmp_path / prompting.PROMPT_CONFIG_FILE).unlink()
    assert prompting.load_prompt_config(tmp_path) == cfg
    assert prompting.load_prompt_config(tmp_path, tool_format="pythonic") == prompting.PromptConfig()

    saved = AutoTokenizer.from_pretrained(str(tmp_path))
    assert saved.eos_token == eot
    for sid in ("simple-0", "multi_turn-0"):
        s = by_id(samples, sid)
        for messages, tools in (prompting.build_messages(s, cfg),
                                prompting.refine_messages(s, prompting.target_text(s, cfg), cfg)):
            ids, mask = prompting.render(tok, messages, tools, prompting.target_text(s, cfg), fmt)
            plain = saved.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
            assert plain == prompting.render_prompt(tok, messages, tools)
            assert saved(plain, add_special_tokens=False)["input_ids"] == ids[: mask.index(1)]


def test_templates_whose_calls_we_do_not_write_fall_back_to_pythonic():
    try:
        path = realvocab.fetch(["qwen3-coder"])["qwen3-coder"]
    except realvocab.VocabUnavailable as e:
        pytest.skip(f"real chat templates unavailable: {e}")
    text = path.read_text()
    assert "<tool_call>" in text and "<function=" in text  # XML calls inside <tool_call>: not hermes JSON
    assert detect_tool_format(text) == "pythonic"


def test_llama31_takes_one_call_per_turn_so_parallel_calls_are_written_as_its_json_text(real_vocab, samples):
    tok = realvocab.with_chat_template(real_vocab("llama-bpe"), "llama3.1")
    cfg, s = native_config("llama3_json"), by_id(samples, "parallel-0")
    messages, tools = prompting.build_messages(s, cfg)
    _, completion = prompting.completion_text(tok, messages, tools, prompting.target_text(s, cfg), "llama3_json")
    assert completion == prompting.target_text(s, cfg) + "<|eot_id|>"
    assert completion.count('"parameters"') == 2 and "; " in completion


def test_format_markers_made_special_tokens_stay_in_the_decoded_answer(real_vocab, samples):
    # Hermes-style vocabularies add <tool_call> as a token of its own; where it is a special token,
    # plain decoding (skip_special_tokens) would drop it and the answer would not parse.
    tok = realvocab.with_chat_template(real_vocab("qwen2"), "qwen2.5")
    tok.add_special_tokens({"additional_special_tokens": ["<tool_call>", "</tool_call>"]})
    kept = prompting.kept_token_ids(tok)
    assert kept == {tok.convert_tokens_to_ids("<tool_call>"), tok.convert_tokens_to_ids("</tool_call>")}
    cfg, s = native_config("hermes"), by_id(samples, "parallel-0")
    messages, tools = prompting.build_messages(s, cfg)
    ids, mask = prompting.render(tok, messages, tools, prompting.target_text(s, cfg), "hermes")
    answer = ids[mask.index(1):-1]
    assert kept & set(answer)
    assert parse_calls(tok.decode(answer, skip_special_tokens=True)).status != "calls"  # what plain decoding gives
    parsed = parse_calls(prompting.decode_answer(tok, answer, kept))
    assert parsed.status == "calls" and calls_equal(parsed.calls, s.gold_calls())
