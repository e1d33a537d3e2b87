"""Prompts, targets and the loss mask: only the assistant answer and its end token carry loss."""

from __future__ import annotations

import copy
import json

import pytest

from toolace_r.calls import parse_calls
from toolace_r.models import prompting
from toolace_r.models.prompting import PromptConfig

TEMPLATE = PromptConfig(tools_in="template")


def by_id(samples, sid):
    return next(s for s in samples if s.id == sid)


def test_system_mode_lists_tools_as_json(samples):
    s = by_id(samples, "multiple-0")
    messages, tools = prompting.build_messages(s)
    assert tools is None
    assert [m["role"] for m in messages] == ["system", "user"]
    system = messages[0]["content"]
    listed = json.loads(system.split("Functions:\n", 1)[1])
    assert [t["name"] for t in listed] == ["get_weather", "get_time"]
    assert listed[1]["parameters"]["required"] == ["tz"]
    assert "Python list" in system
    assert messages[1] == {"role": "user", "content": "What time is it in CET?"}


def test_system_mode_keeps_the_samples_own_system_text(samples):
    messages, _ = prompting.build_messages(by_id(samples, "multi_turn-0"))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[0]["content"].startswith(prompting.SYSTEM_PROMPT.split("{tools}")[0])
    assert messages[0]["content"].endswith("\n\nYou are a weather bot.")


def test_template_mode_passes_tools_to_the_template(samples):
    messages, tools = prompting.build_messages(by_id(samples, "multi_turn-0"), TEMPLATE)
    assert tools == [{"type": "function", "function": by_id(samples, "multi_turn-0").tools[0].model_dump()}]
    assert messages[0] == {"role": "system", "content": "You are a weather bot."}
    # Earlier assistant calls become Python-call text, the format of the answers themselves.
    assert messages[2] == {"role": "assistant", "content": '[get_weather(city="Nice")]'}
    assert messages[3] == {"role": "tool", "content": '{"temp": 21}', "name": "get_weather"}


def test_prompt_config_validation():
    with pytest.raises(ValueError, match="tools_in"):
        PromptConfig(tools_in="json")
    with pytest.raises(ValueError, match="placeholder"):
        PromptConfig(system_prompt="no tools here")
    assert PromptConfig(tools_in="template", system_prompt="anything").tools_in == "template"


def test_target_text(samples):
    assert prompting.target_text(by_id(samples, "simple-0")) == '[get_weather(city="Paris", unit="celsius")]'
    par = prompting.target_text(by_id(samples, "parallel-0"))
    assert par == ('[get_weather(city="Bern"), book_table(restaurant="Luigi\'s", people=2, '
                   'options={"terrace": True})]')
    assert parse_calls(par).status == "calls"
    assert prompting.target_text(by_id(samples, "irrelevance-0")) == prompting.NO_CALL_TEXT
    assert parse_calls(prompting.NO_CALL_TEXT).status == "text"
    assert prompting.target_text(by_id(samples, "multi_turn-0")) == "It is 21 degrees in Nice."


def test_refine_continues_the_conversation(samples):
    s = by_id(samples, "simple-1")
    base, tools = prompting.build_messages(s, TEMPLATE)
    messages, tools2 = prompting.refine_messages(s, ' [get_weather(city="Roma")] ', TEMPLATE)
    assert tools2 == tools and messages[: len(base)] == base
    assert messages[len(base):] == [
        {"role": "assistant", "content": '[get_weather(city="Roma")]'},
        {"role": "user", "content": prompting.REFINE_REQUEST},
    ]
    assert base[-1]["content"] == "What is the weather in Rome?"  # the original is not modified
    # several answers: one assistant turn and one request each, oldest first
    two, _ = prompting.refine_messages(s, ["[a()]", "[b()]"], TEMPLATE)
    assert [m["content"] for m in two[len(base):]] == ["[a()]", prompting.REFINE_REQUEST, "[b()]", prompting.REFINE_REQUEST]


def test_refine_after_a_tool_result(samples):
    messages, _ = prompting.refine_messages(by_id(samples, "multi_turn-0"), "It is hot.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert messages[-2]["content"] == "It is hot."


def test_first_pass_is_a_prefix_of_the_refinement_prompt(tokenizer, samples):
    # the hf backend's KV reuse and vLLM's prefix caching rest on this
    s = by_id(samples, "simple-1")
    messages, tools = prompting.build_messages(s, TEMPLATE)
    first = prompting.encode_prompt(tokenizer, messages, tools)
    answer = '[get_weather(city="Roma")]'
    answer_ids = prompting._ids(tokenizer, answer + "<|end|>")
    refine = prompting.encode_prompt(tokenizer, *prompting.refine_messages(s, answer, TEMPLATE))
    assert refine[: len(first) + len(answer_ids)] == first + answer_ids


def _masked(tokenizer, ids, mask, value):
    return tokenizer.decode([i for i, m in zip(ids, mask) if m == value])


@pytest.mark.parametrize("sid", ["simple-0", "parallel-0", "irrelevance-0", "multi_turn-0"])
@pytest.mark.parametrize("cfg", [TEMPLATE, PromptConfig()], ids=["template", "system"])
def test_loss_mask_covers_only_the_answer(tokenizer, samples, sid, cfg):
    s = by_id(samples, sid)
    messages, tools = prompting.build_messages(s, cfg)
    target = prompting.target_text(s)
    ids, mask = prompting.render(tokenizer, messages, tools, target)
    assert len(ids) == len(mask)
    # Loss exactly on the answer and its end-of-turn token.
    assert _masked(tokenizer, ids, mask, 1) == target + "<|end|>"
    assert mask[-1] == 1 and ids[-1] == tokenizer.eos_token_id
    # The prompt part is exactly the generation prompt, and carries no loss.
    prompt_ids = prompting.encode_prompt(tokenizer, messages, tools)
    n = len(prompt_ids)
    assert ids[:n] == prompt_ids and set(mask[:n]) == {0} and set(mask[n:]) == {1}
    no_loss = _masked(tokenizer, ids, mask, 0)
    assert no_loss == prompting.render_prompt(tokenizer, messages, tools)
    for m in messages:  # system text, user turns, tool results, earlier assistant turns
        assert m["content"] in no_loss


def test_loss_mask_of_a_refinement_example(tokenizer, samples):
    s = by_id(samples, "simple-2")
    messages, tools = prompting.refine_messages(s, '[get_weather(city="Olso")]', TEMPLATE)
    ids, mask = prompting.render(tokenizer, messages, tools, prompting.target_text(s))
    assert _masked(tokenizer, ids, mask, 1) == '[get_weather(city="Oslo", unit="celsius")]<|end|>'
    assert "Olso" in _masked(tokenizer, ids, mask, 0)


def _with_template(tokenizer, template):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    return tok


def test_render_with_a_chatml_like_template(tokenizer):
    # A template that writes a newline after each end-of-turn token, like ChatML.
    tok = _with_template(tokenizer, (
        "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '<|end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    ))
    ids, mask = prompting.render(tok, [{"role": "user", "content": "hi"}], None, "[f(a=1)]")
    assert tok.decode(ids) == "<|user|>\nhi<|end|>\n<|assistant|>\n[f(a=1)]<|end|>"
    assert _masked(tok, ids, mask, 1) == "[f(a=1)]<|end|>"


def test_render_appends_eos_when_the_template_has_no_end_marker(tokenizer):
    tok = _with_template(tokenizer, (
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
    ))
    ids, mask = prompting.render(tok, [{"role": "user", "content": "hi"}], None, "hello")
    assert _masked(tok, ids, mask, 1) == "hello<|end|>"
    assert tok.decode(ids[: mask.index(1)]) == "user: hi\nassistant: "


def test_render_falls_back_when_the_template_renders_the_final_turn_differently(tokenizer):
    tok = _with_template(tokenizer, (
        "{% for m in messages %}{{ m['role'].upper() + ': ' + m['content'] + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}"
    ))
    ids, mask = prompting.render(tok, [{"role": "user", "content": "hi"}], None, "hello")
    assert tok.decode(ids[: mask.index(1)]) == "USER: hi\nAssistant: "
    assert _masked(tok, ids, mask, 1) == "hello<|end|>"


def test_render_prompt_needs_a_chat_template(tokenizer):
    tok = _with_template(tokenizer, None)
    with pytest.raises(ValueError, match="no chat template"):
        prompting.render_prompt(tok, [{"role": "user", "content": "hi"}])


def test_tool_format_of_the_prompt_config(tmp_path):
    hermes = PromptConfig(tools_in="template", tool_format="hermes")
    with pytest.raises(ValueError, match="needs tools_in='template'"):
        PromptConfig(tool_format="hermes")
    with pytest.raises(ValueError, match="tool_format must be one of"):
        PromptConfig(tools_in="template", tool_format="xml")  # type: ignore[arg-type]
    assert prompting.native_config("hermes") == hermes and prompting.native_config("pythonic") == PromptConfig()
    # a folder's record wins under auto; a given format overrides it
    prompting.write_prompt_config(tmp_path, hermes)
    assert json.loads((tmp_path / prompting.PROMPT_CONFIG_FILE).read_text()) == {
        "prompt": {"tools_in": "template", "tool_format": "hermes"}}
    assert prompting.load_prompt_config(tmp_path) == hermes
    assert prompting.load_prompt_config(tmp_path, "llama3_json").tool_format == "llama3_json"
    assert prompting.load_prompt_config(tmp_path, "pythonic") == PromptConfig(tools_in="template")
    # a record from before tool_format existed is pythonic
    (tmp_path / prompting.PROMPT_CONFIG_FILE).write_text('{"prompt": {"tools_in": "template"}}')
    assert prompting.load_prompt_config(tmp_path).tool_format == "pythonic"
    # a folder without a record: its chat template says
    (tmp_path / prompting.PROMPT_CONFIG_FILE).unlink()
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ '<tool_call>' }}"}))
    assert prompting.load_prompt_config(tmp_path) == hermes
    assert prompting.load_prompt_config(None) == PromptConfig()
    # --prompt-style / --tools-in
    assert prompting.prompt_style_config(hermes, "auto") == hermes
    assert prompting.prompt_style_config(hermes, "system") == PromptConfig()
    assert prompting.prompt_style_config(hermes, "template") == hermes
    with pytest.raises(ValueError, match="auto, system or template"):
        prompting.prompt_style_config(hermes, "json")


def test_the_embedded_template_keeps_pythonic_text(tokenizer, samples):
    # the native formats' structured turns are for real templates; pythonic stays text, byte for byte
    s = by_id(samples, "multi_turn-0")
    messages, tools = prompting.build_messages(s, TEMPLATE)
    assert messages[2] == {"role": "assistant", "content": '[get_weather(city="Nice")]'}
    assert prompting.refine_messages(s, "[f(a=1)]", TEMPLATE)[0][-2] == {"role": "assistant", "content": "[f(a=1)]"}
