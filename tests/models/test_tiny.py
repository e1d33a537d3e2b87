"""toolace-r model tiny: a random Qwen2 network with the real Qwen2.5 tokenizer and chat template,
loaded by plain transformers, prompted in its own format and generating."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from toolace_r.cli import app
from toolace_r.models import prompting


def test_the_folder_loads_as_the_real_model_would(tiny_qwen):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, info = tiny_qwen
    assert info["arch"] == "qwen2" and info["tool_format"] == "hermes" and info["eos_token"] == "<|im_end|>"
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert model.config.model_type == "qwen2" and model.config.vocab_size == len(tok) == info["vocab_size"]
    assert "<tool_call>" in tok.chat_template and tok.eos_token == "<|im_end|>"
    assert prompting.load_prompt_config(out) == prompting.native_config("hermes")
    assert json.loads((out / prompting.PROMPT_CONFIG_FILE).read_text())["prompt"]["tool_format"] == "hermes"


def test_it_generates_from_its_own_prompt(tiny_qwen, samples):
    from toolace_r.models.generation import make_generator

    out, _ = tiny_qwen
    with make_generator("hf", out, device="cpu") as gen:
        assert gen.prompt_config.tool_format == "hermes"
        prompt = prompting.build_messages(samples[0], gen.prompt_config)
        assert "<tool_call>" in gen.tokenizer.decode(gen.encode(prompt))  # Qwen2.5's tool instructions
        (comps,) = gen.generate([prompt], n=2, temperature=1.0, max_new_tokens=4, seed=0)
    assert [0 < c.n_tokens <= 4 for c in comps] == [True, True]
    assert all(isinstance(c.text, str) for c in comps)


def test_bad_inputs_are_one_line_errors(tmp_path):
    res = CliRunner().invoke(app, ["model", "tiny", "--vocab", "qwen2", "--chat-template", "qwen2.5",
                                   "--arch", "gpt2", "--out", str(tmp_path / "m")])
    assert res.exit_code == 1 and "--arch must be one of qwen2, llama" in res.output
    res = CliRunner().invoke(app, ["model", "tiny", "--vocab", str(tmp_path / "missing.gguf"),
                                   "--chat-template", "qwen2.5", "--out", str(tmp_path / "m")])
    assert res.exit_code == 1 and "missing.gguf: no such file" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_sft_trains_it_in_its_own_format_and_the_folder_keeps_it(tiny_qwen, samples, tmp_path):
    from transformers import AutoTokenizer

    from toolace_r.models.sft import SFTSettings, train_sft

    out, _ = tiny_qwen
    cfg = prompting.load_prompt_config(out)
    refine = {"messages": prompting.refine_messages(samples[0], '<tool_call>\n{"name": "get_weather", "arguments": '
                                                                '{"city": "Pariss"}}\n</tool_call>', cfg)[0],
              "tools": prompting.build_messages(samples[0], cfg)[1], "target": prompting.target_text(samples[0], cfg)}
    metrics = train_sft(out, [*samples[:3], refine], tmp_path / "sft",
                        SFTSettings(max_steps=2, batch_size=2, lr=1e-3, warmup_ratio=0.0, progress=False, plot=False,
                                    precision="fp32", logging_steps=1))
    assert metrics["steps"] == 2 and metrics["n_examples"] == 4
    trained = tmp_path / "sft"
    assert prompting.load_prompt_config(trained) == prompting.native_config("hermes")
    saved = AutoTokenizer.from_pretrained(str(trained))
    messages, tools = prompting.build_messages(samples[1], cfg)
    # the trained folder's own template gives the prompt training used (the start folder's tokenizer)
    assert saved.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False) == \
        prompting.render_prompt(AutoTokenizer.from_pretrained(str(out)), messages, tools)
    assert "<tool_call>" in saved.chat_template and saved.eos_token == "<|im_end|>"


def test_like_copies_a_model_at_hand(tiny_qwen, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = tiny_qwen
    res = CliRunner().invoke(app, ["model", "tiny", "--like", str(out), "--out", str(tmp_path / "like"), "--seed", "1"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["arch"] == "qwen2" and info["tool_format"] == "hermes"
    like = AutoModelForCausalLM.from_pretrained(str(tmp_path / "like"))
    assert like.config.num_hidden_layers == 2 and like.config.vocab_size == info["vocab_size"]
    assert AutoTokenizer.from_pretrained(str(tmp_path / "like")).chat_template == \
        AutoTokenizer.from_pretrained(str(out)).chat_template
    assert prompting.load_prompt_config(tmp_path / "like") == prompting.native_config("hermes")
    res = CliRunner().invoke(app, ["model", "tiny", "--like", str(tmp_path / "nomodel"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1 and "nomodel" in res.output
    res = CliRunner().invoke(app, ["model", "tiny", "--like", str(out), "--vocab", "qwen2", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "either --vocab and --chat-template, or --like" in res.output


@pytest.mark.slow
def test_tool_choice_constrains_its_hermes_answers(tiny_qwen, samples):
    """With the real Qwen2.5 vocabulary (151k tokens, <tool_call> an added token), the constrained
    random model answers a hermes call of the named function from its first token."""
    pytest.importorskip("xgrammar")
    from toolace_r.models.constrain import CallConstraint
    from toolace_r.models.generation import make_generator

    out, _ = tiny_qwen
    with make_generator("hf", out, device="cpu") as gen:
        prompt = prompting.build_messages(samples[6], gen.prompt_config)  # get_weather and get_time offered
        c = CallConstraint.for_tools([t for t in samples[6].tools if t.name == "get_time"], gen.prompt_config.tool_format)
        (comps,) = gen.generate([prompt], n=2, temperature=1.0, max_new_tokens=24, seed=0, constraints=[c])
    start = '<tool_call>\n{"name": "get_time", "arguments": {'
    for comp in comps:
        assert comp.text.startswith(start) or start.startswith(comp.text), comp.text


def test_served_it_answers_the_openai_client_with_tool_calls(tiny_qwen):
    """`toolace-r serve`'s app on the tiny Qwen look-alike (real tokenizer and template, hermes): the
    model's `<tool_call>` JSON (its choice forced by tool_choice, a bounded enum argument so that the
    random weights finish the call) comes back to the `openai` client as `tool_calls`."""
    pytest.importorskip("xgrammar")
    import importlib.util
    from pathlib import Path

    import openai

    from toolace_r.models.generation import HFGenerator
    from toolace_r.serving.app import ServeSettings, create_app

    spec = importlib.util.spec_from_file_location("servefixtures_tiny", Path(__file__).parents[1] / "serving" / "servefixtures.py")
    servefixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(servefixtures)
    out, _ = tiny_qwen
    unit = {"type": "function", "function": {"name": "set_unit", "description": "Set the temperature unit.",
                                             "parameters": {"type": "object", "properties": {
                                                 "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                                                 "required": ["unit"]}}}
    clock = {"type": "function", "function": {"name": "get_time", "description": "Local time.",
                                              "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                                                             "required": ["tz"]}}}
    app = create_app(ServeSettings(model_name="tiny-qwen", refine="none"), lambda: HFGenerator(out))
    with servefixtures.running_server(app) as url, openai.OpenAI(base_url=url, api_key="x", max_retries=0) as client:
        res = client.chat.completions.create(
            model="tiny-qwen", messages=[{"role": "user", "content": "Use celsius from now on."}], tools=[clock, unit],
            tool_choice={"type": "function", "function": {"name": "set_unit"}}, parallel_tool_calls=False,
            max_tokens=48)
    choice = res.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    (call,) = choice.message.tool_calls
    assert call.function.name == "set_unit" and json.loads(call.function.arguments)["unit"] in ("celsius", "fahrenheit")
