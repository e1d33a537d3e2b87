"""tool_choice enforced by constrained decoding, through the real server and the `openai` client.

The model: the tiny embedded model trained on weather and time requests (two tools offered) and on
jokes answered in text. Unconstrained it answers a joke in text, and shown only get_weather it still
calls get_time for a time request; with tool_choice "required" or a named function the answer is a
parseable call of an offered (or the named) function, with arguments by the schema, on the first
pass and on every refinement pass."""

from __future__ import annotations

import json

import openai
import pytest
from servefixtures import TIME, WEATHER, openai_tools, serve_model

from toolace_r.calls import parse_calls
from toolace_r.data.schema import Sample

pytest.importorskip("xgrammar")
pytestmark = pytest.mark.slow  # the module's model trains for about 20 s on 2 cores

CITIES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Quito", "Bern", "Nice"]
BOTH = openai_tools(WEATHER, TIME)


def _sample(i: int, text: str, answer: list | None) -> Sample:
    return Sample(id=f"tc-{i}", category="simple" if answer else "irrelevance", tools=[WEATHER, TIME],
                  messages=[{"role": "user", "content": text}], answer=answer)


def _train(out_root):
    from servefixtures import models_conftest

    from toolace_r.models.embedded import init_model
    from toolace_r.models.sft import SFTSettings, train_sft

    samples = []
    for c in CITIES:
        samples.append(_sample(len(samples), f"What is the weather in {c}?", [{"get_weather": {"city": [c]}}]))
        samples.append(_sample(len(samples), f"What time is it in {c}?", [{"get_time": {"tz": [c]}}]))
    for animal in ["cats", "dogs", "birds", "fish"]:
        samples.append(_sample(len(samples), f"Tell me a joke about {animal}.", []))
    init_model(samples * 2, out_root / "init", size="tiny", seed=0, overrides=models_conftest.TINY)
    train_sft(out_root / "init", samples, out_root / "trained",
              SFTSettings(max_steps=120, batch_size=len(samples), lr=1e-2, warmup_ratio=0.0, logging_steps=40,
                          progress=False, plot=False, seed=0, precision="fp32"))
    return out_root / "trained"


@pytest.fixture(scope="module")
def choice_model_dir(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("tool_choice"))


@pytest.fixture(scope="module")
def client(choice_model_dir):
    with serve_model(choice_model_dir, max_batch=8) as url, openai.OpenAI(base_url=url, api_key="x", max_retries=0) as c:
        yield c


def ask(client, text, tools=BOTH, **kw):
    return client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": text}], tools=tools,
                                          max_tokens=48, **kw).choices[0]


def calls_of(choice) -> list[tuple[str, dict]]:
    assert choice.finish_reason == "tool_calls", choice.message.content
    return [(tc.function.name, json.loads(tc.function.arguments)) for tc in choice.message.tool_calls]


@pytest.mark.parametrize("refine", ["none", "adaptive", "fixed:2"])
def test_required_turns_a_text_answer_into_a_call(client, refine):
    joke = "Tell me a joke about cats."
    free = ask(client, joke, extra_body={"refine": refine})
    assert free.message.content and not free.message.tool_calls  # text (refinement rounds: whatever it says)
    ((name, args),) = calls_of(ask(client, joke, tool_choice="required", extra_body={"refine": refine}))
    assert name in ("get_weather", "get_time")
    key = "city" if name == "get_weather" else "tz"
    assert set(args) <= {"city", "unit", "days", "tz"} and isinstance(args[key], str)


@pytest.mark.parametrize("refine", ["none", "adaptive"])
def test_named_function_is_the_one_called(client, refine):
    # shown only get_weather (what tool_choice "auto" with that one tool shows too), the model calls get_time
    alone = ask(client, "What time is it in Oslo?", tools=openai_tools(WEATHER), extra_body={"refine": refine})
    assert "get_time" in (alone.message.content or "") or [tc.function.name for tc in alone.message.tool_calls or []] \
        != ["get_weather"]
    named = {"type": "function", "function": {"name": "get_weather"}}
    for tools in (openai_tools(WEATHER), BOTH):
        calls = calls_of(ask(client, "What time is it in Oslo?", tools=tools, tool_choice=named,
                             extra_body={"refine": refine}))
        assert [n for n, _ in calls] == ["get_weather"] * len(calls) and isinstance(calls[0][1]["city"], str)
    # and the other way round: a weather request, get_time named
    calls = calls_of(ask(client, "What is the weather in Paris?", tool_choice={"type": "function",
                                                                            "function": {"name": "get_time"}}))
    assert [n for n, _ in calls] == ["get_time"] * len(calls)


def test_auto_and_none_are_unchanged(client):
    auto = ask(client, "What is the weather in Rome?", tool_choice="auto", extra_body={"refine": "none"})
    assert calls_of(auto) == [("get_weather", {"city": "Rome"})]
    none = ask(client, "What is the weather in Rome?", tool_choice="none")
    assert none.finish_reason in ("stop", "length") and not none.message.tool_calls


def test_required_with_sampling_streaming_and_one_call(client):
    choices = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Tell me a joke about dogs."}], tools=BOTH,
        tool_choice="required", n=4, temperature=1.0, seed=5, max_tokens=48, parallel_tool_calls=False).choices
    for ch in choices:
        assert len(calls_of(ch)) == 1
    stream = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Tell me a joke about fish."}], tools=BOTH,
        tool_choice="required", max_tokens=48, stream=True)
    names = [tc.function.name for chunk in stream for d in [chunk.choices[0].delta] if chunk.choices
             for tc in d.tool_calls or [] if tc.function and tc.function.name]
    assert names and set(names) <= {"get_weather", "get_time"}


def test_every_refinement_pass_obeys_the_constraint(choice_model_dir):
    """refine() as the server runs it: every pass of the trajectory is accepted by the grammar
    (calls of get_time, or in a round the confirmation), and the final answer is calls."""
    import xgrammar as xgr

    from toolace_r.models.constrain import CallConstraint
    from toolace_r.models.generation import HFGenerator
    from toolace_r.refine import refine

    gen = HFGenerator(choice_model_dir)
    s = Sample(id="x", category="irrelevance", tools=[TIME], text="",
               messages=[{"role": "user", "content": "Tell me a joke about cats."}])
    c = CallConstraint.for_tools(s.tools, gen.prompt_config.tool_format)
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(gen.tokenizer, vocab_size=len(gen.tokenizer)))
    for confirm in ("token", "repeat"):
        (r,) = refine(gen, [s], "fixed:3", max_new_tokens=48, confirm=confirm, constraints=[c])
        assert r.rounds >= 1
        for i, text in enumerate(r.trajectory):
            if confirm == "token" and i and text == gen.confirm_text:
                continue  # the confirmation: the previous answer stays
            grammar = compiler.compile_structural_tag(json.dumps(c.structural_tag()))
            assert xgr.GrammarMatcher(grammar).accept_string(text), (i, text)
        final = parse_calls(r.final)
        assert final.status == "calls" and {x.name for x in final.calls} == {"get_time"}


def test_upstream_mode_forwards_tool_choice(choice_model_dir, client):
    """A front server in upstream mode over a back server that hosts the model: the back enforces
    the tool_choice the front forwards, on the first pass and on every refinement round."""
    from servefixtures import running_server

    from toolace_r.models.generation import OpenAIGenerator
    from toolace_r.serving.app import ServeSettings, create_app

    back_url = str(client.base_url).rstrip("/")
    upstream = OpenAIGenerator("tiny", base_url=back_url, prompt_style="template", extra_body={"refine": "none"},
                               max_retries=0)
    with running_server(create_app(ServeSettings(model_name="front"), upstream)) as url, \
            openai.OpenAI(base_url=url, api_key="x", max_retries=0) as front:
        for refine in ("none", "fixed:2"):
            r = front.chat.completions.create(
                model="front", messages=[{"role": "user", "content": "Tell me a joke about cats."}], tools=BOTH,
                tool_choice="required", max_tokens=48, extra_body={"refine": refine})
            ((name, _),) = calls_of(r.choices[0])
            assert name in ("get_weather", "get_time")
            assert r.model_extra["refinement"]["rounds"] == {"none": 0, "fixed:2": 2}[refine]
