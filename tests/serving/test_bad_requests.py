"""Bad input gets a 4xx in OpenAI's error shape, never a 500, and the server keeps serving;
the API key guards every route but /health."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from servefixtures import WEATHER, openai_tools, serve_model

GOOD = {"model": "tiny", "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": openai_tools(WEATHER)}


def _with(**changes):
    body = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        if v is _DROP:
            body.pop(k, None)
        else:
            body[k] = v
    return json.dumps(body).encode()


_DROP = object()


def _tool(**fn):
    return [{"type": "function", "function": {"name": "get_weather", **fn}}]


# (label, raw body bytes, expected status, a word the message must contain)
BAD = [
    ("malformed JSON", b'{"model": "tiny", "messages": [', 400, "not valid JSON"),
    ("empty body", b"", 400, "empty"),
    ("body is a JSON array", b'[{"model": "tiny"}]', 400, "JSON object"),
    ("NaN constant", b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', 400, "NaN"),
    ("deeply nested JSON", b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "user": '
     + b"[" * 5000 + b"]" * 5000 + b"}", 400, "nests deeper"),
    ("messages missing", _with(messages=_DROP), 400, "messages"),
    ("messages empty", _with(messages=[]), 400, "messages"),
    ("messages not a list", _with(messages="hello"), 400, "messages"),
    ("unknown role", _with(messages=[{"role": "wizard", "content": "hi"}]), 400, "role"),
    ("content of the wrong type", _with(messages=[{"role": "user", "content": 42}]), 400, "content"),
    ("user message without content", _with(messages=[{"role": "user"}]), 400, "needs content"),
    ("no user message", _with(messages=[{"role": "system", "content": "be nice"}]), 400, "no user message"),
    ("ends with an assistant turn", _with(messages=[{"role": "user", "content": "hi"},
                                                    {"role": "assistant", "content": "hello"}]), 400, "must end"),
    ("call arguments not JSON", _with(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                              "function": {"name": "get_weather", "arguments": "{city: Paris"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "sunny"}]), 400, "not valid JSON"),
    ("lone surrogate in the content", b'{"model": "tiny", "messages": [{"role": "user", "content": "Paris \\ud800?"}]}',
     400, "lone surrogate"),
    ("call arguments nesting 5000 levels", _with(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": ' + "[" * 5000 + "]" * 5000 + "}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "sunny"}]), 400, "nests deeper"),
    ("image content", _with(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]), 400, "only text"),
    ("temperature of the wrong type", _with(temperature="hot"), 400, "temperature"),
    ("temperature out of range", _with(temperature=7), 400, "temperature"),
    ("stream of the wrong type", _with(stream="yes"), 400, "stream"),
    ("max_tokens oversize", _with(max_tokens=10**9), 400, "limit"),
    ("max_tokens zero", _with(max_tokens=0), 400, "max_tokens"),
    ("prompt + max_tokens over the model's context", _with(max_tokens=4000), 400, "context"),
    ("n too large", _with(n=1000), 400, "limit"),
    ("unknown field", _with(frobnicate=True), 400, "unknown field"),
    ("unsupported logprobs", _with(logprobs=True), 400, "not supported"),
    ("tool parameters not an object schema", _with(tools=_tool(parameters={"type": "string"})), 400, "tool"),
    ("tool property schema not an object", _with(tools=_tool(parameters={"type": "object", "properties": {"city": 5}})),
     400, "schema"),
    ("tool required param not in properties", _with(tools=_tool(parameters={
        "type": "object", "properties": {}, "required": ["city"]})), 400, "not in properties"),
    ("tool without a name", _with(tools=[{"type": "function", "function": {"description": "x"}}]), 400, "name"),
    ("tool name with a space", _with(tools=[{"type": "function", "function": {"name": "get weather"}}]), 400, "name"),
    ("tool of an unknown type", _with(tools=[{"type": "retrieval"}]), 400, "tools"),
    ("duplicate tool names", _with(tools=openai_tools(WEATHER, WEATHER)), 400, "same name"),
    ("tool_choice names an unknown function", _with(tool_choice={"type": "function", "function": {"name": "nope"}}),
     400, "not among the tools"),
    ("tool_choice without tools", _with(tools=_DROP, tool_choice="required"), 400, "without any tools"),
    ("bad refine mode", _with(refine="sometimes"), 400, "refine"),
    ("the rewrite diagnostic", _with(refine="rewrite"), 400, "evaluation diagnostic"),
    ("too many refinement rounds", _with(refine="fixed:500"), 400, "limit"),
    ("unknown model", _with(model="gpt-9"), 404, "does not exist"),
]


def _post(url: str, body: bytes, **kw) -> httpx.Response:
    return httpx.post(f"{url}/chat/completions", content=body, headers={"Content-Type": "application/json"},
                      timeout=60, **kw)


def _assert_error_shape(r: httpx.Response) -> dict:
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"] and err["type"]
    assert "Traceback" not in err["message"]
    return err


@pytest.mark.parametrize("label,body,status,word", BAD, ids=[b[0] for b in BAD])
def test_bad_request_is_a_clear_4xx(server, label, body, status, word):
    r = _post(server, body)
    assert r.status_code == status, r.text
    err = _assert_error_shape(r)
    assert word.lower() in err["message"].lower(), err["message"]


def test_oversize_body_and_wrong_routes(server):
    big = _with(user="x" * (2 << 20))
    r = _post(server, big)
    assert r.status_code == 413 and "limit" in _assert_error_shape(r)["message"]
    r = httpx.get(f"{server}/chat/completions", timeout=10)
    assert r.status_code == 405 and _assert_error_shape(r)["code"] == "method_not_allowed"
    r = httpx.get(f"{server}/nothing-here", timeout=10)
    assert r.status_code == 404 and _assert_error_shape(r)["code"] == "not_found"


def test_server_keeps_serving_after_the_bad_requests(server):
    """Runs after the suite above (file order): the same server answers a good request correctly."""
    for _, body, _, _ in BAD[:5]:
        assert _post(server, body).status_code < 500
    r = _post(server, json.dumps(GOOD).encode())
    assert r.status_code == 200
    (tc,) = r.json()["choices"][0]["message"]["tool_calls"]
    assert json.loads(tc["function"]["arguments"])["city"] == "Paris"
    assert httpx.get(server.removesuffix("/v1") + "/health", timeout=10).json()["status"] == "ok"


def test_tool_arguments_are_data_never_executed(server, tmp_path):
    """A request whose content is Python code that would write a file if anything evaluated it."""
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    body = {"model": "tiny", "messages": [
        {"role": "user", "content": code},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                              "function": {"name": "get_weather", "arguments": json.dumps({"city": code})}}]},
        {"role": "tool", "tool_call_id": "c1", "content": f"[get_weather(city={code})]"}],
        "tools": openai_tools(WEATHER), "max_tokens": 32}
    r = _post(server, json.dumps(body).encode())
    assert r.status_code == 200
    assert not marker.exists()


def test_api_key_on_every_route_but_health(trained_model_dir):
    with serve_model(trained_model_dir, api_key="s3cret") as url:
        root = url.removesuffix("/v1")
        assert httpx.get(f"{root}/health", timeout=10).status_code == 200
        for method, path in [("GET", "/v1/models"), ("GET", "/v1/models/tiny"), ("POST", "/v1/chat/completions"),
                             ("GET", "/no-such-route")]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                r = httpx.request(method, root + path, headers=headers, content=json.dumps(GOOD), timeout=10)
                assert r.status_code == 401, (method, path, headers)
                assert _assert_error_shape(r)["code"] == "invalid_api_key"
        with openai.OpenAI(base_url=url, api_key="wrong", max_retries=0) as bad:
            with pytest.raises(openai.AuthenticationError):
                bad.models.list()
        with openai.OpenAI(base_url=url, api_key="s3cret", max_retries=0) as good:
            r = good.chat.completions.create(**GOOD)
            assert r.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_tool_choice_a_backend_cannot_enforce_is_refused():
    """An upstream prompted in the system style has no `tools` field to enforce tool_choice with:
    "required" and a named function are a 400 there (never silently unenforced); "auto" goes through
    to the upstream (here: nothing listens, so a 502)."""
    from servefixtures import running_server

    from toolace_r.models.generation import OpenAIGenerator
    from toolace_r.serving.app import ServeSettings, create_app

    gen = OpenAIGenerator("m", base_url="http://127.0.0.1:9/v1", prompt_style="system", max_retries=0, timeout=2)
    with running_server(create_app(ServeSettings(model_name="tiny"), gen)) as url:
        for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
            r = httpx.post(url + "/chat/completions", content=_with(tool_choice=choice), timeout=30)
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["param"] == "tool_choice" and err["code"] == "unsupported" and "cannot be enforced" in err["message"]
        r = httpx.post(url + "/chat/completions", content=_with(tool_choice="auto", refine="none"), timeout=30)
        assert r.status_code == 502


def test_upstream_gets_the_tool_choice():
    from toolace_r.models.constrain import CallConstraint
    from toolace_r.models.generation import upstream_tool_choice

    one = CallConstraint.for_tools([WEATHER])
    assert upstream_tool_choice(one, openai_tools(WEATHER)) == {"type": "function", "function": {"name": "get_weather"}}
    two = CallConstraint.for_tools([WEATHER, {"name": "get_time", "parameters": {"type": "object"}}])
    assert upstream_tool_choice(two, openai_tools(WEATHER, WEATHER)) == "required"
