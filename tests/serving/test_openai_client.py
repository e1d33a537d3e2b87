"""The server through the official `openai` client: tool calls in OpenAI form, text answers,
streaming that assembles to the non-streamed answer, n choices, refinement reported and
overridable per request, /v1/models and /health."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from servefixtures import TIME, WEATHER, openai_tools

from toolace_r.models.generation import HFGenerator
from toolace_r.models.prompting import build_messages
from toolace_r.refine import refine

PARIS = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=server, api_key="unused", max_retries=0) as c:
        yield c


def test_tool_call_comes_back_parsed(client):
    r = client.chat.completions.create(model="tiny", messages=PARIS, tools=openai_tools(WEATHER))
    (choice,) = r.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (tc,) = choice.message.tool_calls
    assert tc.type == "function" and tc.id.startswith("call_") and len(tc.id) > 10
    assert tc.function.name == "get_weather"
    assert isinstance(tc.function.arguments, str)
    assert json.loads(tc.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert r.object == "chat.completion" and r.model == "tiny" and r.id.startswith("chatcmpl-")


def test_answer_equals_the_refinement_loop_run_locally(client, trained_model_dir, samples):
    """What the server answers is exactly refine() over the same model and the same sample."""
    gen = HFGenerator(trained_model_dir)
    local = refine(gen, [samples[0]], "adaptive", max_rounds=3, max_new_tokens=256)[0]
    r = client.chat.completions.create(model="tiny", messages=PARIS, tools=openai_tools(WEATHER))
    assert local.final == '[get_weather(city="Paris", unit="celsius")]'
    assert r.usage.completion_tokens == local.tokens
    assert r.model_extra["refinement"]["rounds"] == local.rounds == 1  # adaptive: the repeat ends it
    prompt_len = len(gen.encode(build_messages(samples[0], gen.prompt_config)))
    assert r.usage.prompt_tokens == prompt_len
    assert r.usage.total_tokens == prompt_len + local.tokens


def test_text_answer_is_content_and_refinement_is_per_request(client):
    msgs = [{"role": "user", "content": "Tell me a joke about cats."}]
    r = client.chat.completions.create(model="tiny", messages=msgs, tools=openai_tools(TIME),
                                       extra_body={"refine": "fixed:2"})
    (choice,) = r.choices
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert choice.message.content == "None of the available functions fits this request."
    ext = r.model_extra["refinement"]
    assert ext["mode"] == "fixed:2" and ext["rounds"] == 2 and ext["choices"][0]["rounds"] == 2
    assert r.usage.model_extra["refinement_rounds"] == 2
    first = r.usage.completion_tokens - r.usage.model_extra["refinement_tokens"]
    assert first > 0 and r.usage.model_extra["refinement_tokens"] == 2 * first  # the same answer, twice more

    none = client.chat.completions.create(model="tiny", messages=msgs, tools=openai_tools(TIME),
                                          extra_body={"refine": "none"})
    assert none.model_extra["refinement"]["rounds"] == 0
    assert none.usage.completion_tokens == first
    assert none.usage.model_extra["refinement_tokens"] == 0


def test_conversation_with_tool_result(client):
    """An earlier assistant call (arguments as a JSON string) and its result, named through tool_call_id."""
    msgs = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Nice?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Nice"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ]
    r = client.chat.completions.create(model="tiny", messages=msgs, tools=openai_tools(WEATHER),
                                       extra_body={"refine": "none"})
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == "It is 21 degrees in Nice."


def _assemble(stream) -> tuple[dict, object]:
    """Fold OpenAI stream chunks into {index: {"content", "tool_calls", "finish_reason"}}, as clients do."""
    out: dict[int, dict] = {}
    usage = None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            acc = out.setdefault(ch.index, {"content": "", "tool_calls": {}, "finish_reason": None, "role": None})
            d = ch.delta
            acc["role"] = acc["role"] or d.role
            acc["content"] += d.content or ""
            for tc in d.tool_calls or []:
                slot = acc["tool_calls"].setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = slot["id"] or tc.id
                slot["name"] += (tc.function.name or "") if tc.function else ""
                slot["arguments"] += (tc.function.arguments or "") if tc.function else ""
            if ch.finish_reason:
                acc["finish_reason"] = ch.finish_reason
    return out, usage


@pytest.mark.parametrize("messages,tools", [
    (PARIS, [WEATHER]),
    ([{"role": "user", "content": "Weather in Bern and a table for 2 at Luigi's on the terrace."}], None),
    ([{"role": "user", "content": "Tell me a joke about cats."}], [TIME]),
], ids=["call", "parallel", "text"])
def test_stream_assembles_to_the_same_answer(client, samples, messages, tools):
    if tools is None:  # the parallel sample's three tools
        tools = [t.model_dump() for t in samples[7].tools]
    kw = dict(model="tiny", messages=messages, tools=openai_tools(*tools))
    full = client.chat.completions.create(**kw)
    parts, usage = _assemble(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    (got,) = parts.values()
    want = full.choices[0]
    assert got["role"] == "assistant"
    assert got["finish_reason"] == want.finish_reason
    assert got["content"] == (want.message.content or "")
    want_calls = [(tc.function.name, json.loads(tc.function.arguments)) for tc in want.message.tool_calls or []]
    got_calls = [(tc["name"], json.loads(tc["arguments"])) for _, tc in sorted(got["tool_calls"].items())]
    assert got_calls == want_calls
    assert all(tc["id"].startswith("call_") for tc in got["tool_calls"].values())
    if tools and len(tools) == 3:
        assert len(got_calls) == 2  # both calls of the parallel request
    assert usage.completion_tokens == full.usage.completion_tokens


def test_raw_stream_is_server_sent_events(server):
    body = {"model": "tiny", "messages": PARIS, "tools": openai_tools(WEATHER), "stream": True}
    with httpx.stream("POST", f"{server}/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert all(ln.startswith("data: ") for ln in lines)
    assert lines[-1] == "data: [DONE]"
    last = json.loads(lines[-2][6:])
    assert last["choices"][0]["finish_reason"] == "tool_calls" and last["refinement"]["mode"] == "adaptive"


def test_n_choices_sampled_and_each_refined(client):
    r = client.chat.completions.create(model="tiny", messages=PARIS, tools=openai_tools(WEATHER), n=3,
                                       temperature=0.7, seed=1, extra_body={"refine": "adaptive", "max_rounds": 2})
    assert [c.index for c in r.choices] == [0, 1, 2]
    ext = r.model_extra["refinement"]
    assert [c["index"] for c in ext["choices"]] == [0, 1, 2]
    assert all(1 <= c["rounds"] <= 2 for c in ext["choices"])
    assert r.usage.completion_tokens == sum(c["tokens"] for c in ext["choices"])
    again = client.chat.completions.create(model="tiny", messages=PARIS, tools=openai_tools(WEATHER), n=3,
                                           temperature=0.7, seed=1, extra_body={"refine": "adaptive", "max_rounds": 2})
    def answers(resp):
        return [(c.message.content, [(tc.function.name, tc.function.arguments) for tc in c.message.tool_calls or []])
                for c in resp.choices]

    assert answers(again) == answers(r)  # same seed, same answers


def test_tool_choice_none_and_named(client):
    r = client.chat.completions.create(model="tiny", messages=PARIS, tools=openai_tools(WEATHER), tool_choice="none",
                                       extra_body={"refine": "none"})
    assert r.choices[0].finish_reason in ("stop", "length") and not r.choices[0].message.tool_calls


def test_tool_choice_named(client):
    pytest.importorskip("xgrammar")  # a named function is enforced by constrained decoding
    # the named function is the only one the model is shown: the prompt is the trained single-tool one
    named = client.chat.completions.create(
        model="tiny", messages=PARIS, tools=openai_tools(TIME, WEATHER),
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert [tc.function.name for tc in named.choices[0].message.tool_calls] == ["get_weather"]


def test_max_tokens_cut_off_is_length(client):
    r = client.chat.completions.create(model="tiny", messages=PARIS, tools=openai_tools(WEATHER), max_tokens=3,
                                       extra_body={"refine": "none"})
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3


def test_models_and_health(client, server):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"
    h = httpx.get(server.removesuffix("/v1") + "/health", timeout=10)
    assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["served"] >= 1
