"""Upstream mode: a front server that hosts no model runs the refinement loop against another
OpenAI-compatible server; here a second toolace-r server with the embedded model (the back)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from servefixtures import TIME, WEATHER, openai_tools, running_server

from toolace_r.models.generation import message_text
from toolace_r.serving.app import ServeSettings, create_app
from toolace_r.serving.server import ServeError, build_generator_factory

REQUESTS = {
    "call": ([{"role": "user", "content": "What is the weather in Rome?"}], [WEATHER]),
    "multiple": ([{"role": "user", "content": "What time is it in CET?"}], [WEATHER, TIME]),
    "text": ([{"role": "user", "content": "Tell me a joke about cats."}], [TIME]),
}


def _front(upstream: str, **settings):
    name, factory = build_generator_factory(
        model=None, backend="hf", upstream=upstream, upstream_model=None, upstream_api_key=None,
        upstream_prompt_style="template", upstream_extra_body={"refine": "none"}, device=None, concurrency=4,
        timeout=30.0)
    return name, running_server(create_app(ServeSettings(model_name=name, **settings), factory))


@pytest.fixture(scope="module")
def chain(server):
    """(front client, back client): the front in upstream mode in front of the back."""
    name, front = _front(server)
    assert name == "tiny"  # discovered through the back's /v1/models
    with front as front_url, openai.OpenAI(base_url=front_url, api_key="x", max_retries=0) as fc, \
            openai.OpenAI(base_url=server, api_key="x", max_retries=0) as bc:
        yield fc, bc


def _answer(r) -> tuple:
    m = r.choices[0].message
    calls = [(tc.function.name, json.loads(tc.function.arguments)) for tc in m.tool_calls or []]
    return r.choices[0].finish_reason, m.content, calls


@pytest.mark.parametrize("kind", list(REQUESTS))
@pytest.mark.parametrize("mode", ["none", "adaptive", "fixed:2"])
def test_front_gives_the_back_alone_answer(chain, kind, mode):
    """The front builds the refinement prompt and sends it as chat messages with the tools; the back
    renders it with its own template: the chain answers exactly what the back answers alone."""
    front, back = chain
    messages, tools = REQUESTS[kind]
    kw = dict(model="tiny", messages=messages, tools=openai_tools(*tools), extra_body={"refine": mode})
    via_front, alone = front.chat.completions.create(**kw), back.chat.completions.create(**kw)
    assert _answer(via_front) == _answer(alone)
    assert via_front.model_extra["refinement"]["rounds"] == alone.model_extra["refinement"]["rounds"]
    assert via_front.usage.completion_tokens == alone.usage.completion_tokens
    if kind == "call":
        assert _answer(alone)[2] == [("get_weather", {"city": "Rome", "unit": "celsius"})]


def test_front_streams(chain):
    front, _ = chain
    messages, tools = REQUESTS["call"]
    chunks = list(front.chat.completions.create(model="tiny", messages=messages, tools=openai_tools(*tools),
                                                stream=True))
    args = "".join(tc.function.arguments or "" for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or [])
    assert json.loads(args)["city"] == "Rome"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_dead_upstream_is_a_502_not_a_crash(server):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name, factory = build_generator_factory(
        model=None, backend="hf", upstream=f"http://127.0.0.1:{port}/v1", upstream_model="ghost",
        upstream_api_key=None, upstream_prompt_style="template", upstream_extra_body=None, device=None,
        concurrency=2, timeout=5.0)
    with running_server(create_app(ServeSettings(model_name=name), factory)) as url:
        body = {"model": "ghost", "messages": REQUESTS["call"][0]}
        r = httpx.post(f"{url}/chat/completions", json=body, timeout=60)
        assert r.status_code == 502
        assert r.json()["error"]["type"] == "upstream_error" and "ConnectError" in r.json()["error"]["message"]
        assert httpx.get(url.removesuffix("/v1") + "/health", timeout=5).status_code == 200


def test_upstream_options_are_checked():
    with pytest.raises(ServeError, match="exactly one"):
        build_generator_factory(model="m", backend="hf", upstream="http://x/v1", upstream_model=None,
                                upstream_api_key=None, upstream_prompt_style="template", upstream_extra_body=None,
                                device=None, concurrency=1, timeout=1.0)
    with pytest.raises(ServeError, match="did not list a model"):
        build_generator_factory(model=None, backend="hf", upstream="http://127.0.0.1:9/v1", upstream_model=None,
                                upstream_api_key=None, upstream_prompt_style="template", upstream_extra_body=None,
                                device=None, concurrency=1, timeout=1.0)


def test_message_text_reads_tool_calls():
    """How the openai backend turns a response message into answer text."""
    calls = [{"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1, "y": "z"}'}},
             {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]
    assert message_text({"content": "thinking...", "tool_calls": calls}) == '[f(x=1, y="z"), g()]'
    broken = [{"type": "function", "function": {"name": "f", "arguments": "{x"}}]
    assert message_text({"tool_calls": broken}) == json.dumps(broken)
    assert message_text({"content": "plain"}) == "plain"
    assert message_text({"content": None}) == ""
