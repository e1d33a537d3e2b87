"""Hostile input never hurts anyone else (issue 17): a request that fails inside the engine fails
alone, text no tokenizer takes is a 400 at the edge, no model or upstream answer can turn into a
500 (streamed or not), tracebacks are logged once and bounded, a disconnected request is not
generated, a slow body times out, refinement stops before a pass that would not fit the context,
and an empty API key is refused.

Most servers here run a scripted generator (answers chosen by the user's message, no model), so
that each hostile answer is exact and the tests cost no CPU; the edge and isolation checks also
run against the real tiny model and its tokenizer."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import pytest
from servefixtures import TIME, WEATHER, openai_tools, running_server, serve_model
from typer.testing import CliRunner

from toolace_r.models.generation import Completion, Generator
from toolace_r.models.prompting import PromptConfig
from toolace_r.serving.app import ServeSettings, create_app
from toolace_r.serving.server import ServeError, build_generator_factory, check_api_key

RAISE, RECURSE = object(), object()
HUGE = 2**20000  # 6,021 decimal digits: past Python's int->str limit of 4,300
ANSWERS = {
    "RAISE": RAISE,
    "RECURSE": RECURSE,
    "HUGEPOW": '[get_weather(city="Paris", days=[2**20000])]',
    "HUGELIT": "[get_weather(city=10**5000)]",
    "SURROGATE_TEXT": "Paris \ud800 is sunny",
    "SURROGATE_ARG": '[get_weather(city="Par\\ud800is")]',
    "SURROGATE_NAME": '[{"name": "get_\\ud800", "arguments": {"city": "Oslo"}}]',
    "DEEP_ARGS": '[{"name": "get_weather", "arguments": {"city": ' + "[" * 100 + "]" * 100 + "}}]",
    "LONG": "x" * 400,
}


def _crash(depth: int = 0) -> int:
    return _crash(depth + 1) + 1  # RecursionError: a traceback of about a thousand frames


class Scripted(Generator):
    """A generator without a model: the answer is ANSWERS[key] for the first key in the request's
    user message (else a fixed call). ``gate``: the first generate call waits for it. ``encode``
    (what the engine measures prompts with) counts 50 tokens per message and refuses lone surrogates,
    as a tokenizer does; ``context`` sets the model's context length."""

    prompt_config = PromptConfig()

    def __init__(self, gate: threading.Event | None = None, context: int | None = None):
        self.gate, self.seen, self.calls = gate, [], []
        self.entered = threading.Event()
        if context:
            self.model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=context))

    def encode(self, prompt):
        messages, _ = prompt
        json.dumps(messages, ensure_ascii=False).encode("utf-8")
        return [0] * (50 * len(messages))

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
            self.gate = None
        users = [next(m["content"] for m in msgs if m["role"] == "user") for msgs, _ in prompts]
        self.calls.append(users)
        self.seen += users
        out = []
        for user in users:
            answer = next((a for k, a in ANSWERS.items() if k in user), '[get_weather(city="Rome")]')
            if answer is RAISE:
                raise RuntimeError(f"the backend failed on {user!r}")
            if answer is RECURSE:
                _crash()
            out.append([Completion(answer, 7)] * n)
        return out


def _body(text: str, **extra) -> dict:
    return {"model": "tiny", "messages": [{"role": "user", "content": text}], "tools": openai_tools(WEATHER), **extra}


def _post(url: str, body: dict | bytes, client: httpx.Client | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (client or httpx).post(f"{url}/chat/completions", content=content,
                                  headers={"Content-Type": "application/json"}, timeout=60)


def _health(url: str) -> dict:
    return httpx.get(url.removesuffix("/v1") + "/health", timeout=10).json()


def _wait_for(cond, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.02)


def _scripted(gen: Scripted, **settings):
    settings.setdefault("model_name", "tiny")
    return running_server(create_app(ServeSettings(**settings), gen))


def _stream(url: str, body: dict) -> tuple[int, list[dict]]:
    with httpx.stream("POST", f"{url}/chat/completions", json={**body, "stream": True}, timeout=60) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code, [r.json()]
        lines = [ln for ln in r.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]"
    return 200, [json.loads(ln[6:]) for ln in lines[:-1]]


def _assembled(events: list[dict]) -> dict:
    """Streamed chunks folded into {"content", "calls": [(name, arguments)]}, as clients do."""
    content, calls = "", {}
    for ev in events:
        for ch in ev["choices"]:
            content += ch["delta"].get("content") or ""
            for tc in ch["delta"].get("tool_calls") or []:
                slot = calls.setdefault(tc["index"], ["", ""])
                slot[0] += tc.get("function", {}).get("name") or ""
                slot[1] += tc.get("function", {}).get("arguments") or ""
    return {"content": content, "calls": [tuple(v) for _, v in sorted(calls.items())]}


# --------------------------------------------------------------------------------------------
# One request's failure stays its own


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_poisoned_request_fails_alone_and_its_batch_goes_on(caplog):
    caplog.set_level(logging.WARNING)
    gate = threading.Event()
    gen = Scripted(gate)
    uvicorn_errors = _Records()
    with _scripted(gen, max_batch=8, batch_wait=0.05) as url:
        logging.getLogger("uvicorn.error").addHandler(uvicorn_errors)  # after uvicorn set its logging up
        with ThreadPoolExecutor(8) as pool:
            first = pool.submit(_post, url, _body("warm up"))
            _wait_for(gen.entered.is_set)  # the worker is busy: what comes next waits together
            texts = [f"weather in city {i}" for i in range(5)] + ["RAISE please", "RECURSE please"]
            futures = [pool.submit(_post, url, _body(t, refine="none")) for t in texts]
            _wait_for(lambda: _health(url)["queued"] == len(texts))
            gate.set()
            assert first.result().status_code == 200
            rs = [f.result() for f in futures]
        assert any(len(c) == len(texts) for c in gen.calls)  # all seven were batched in one call
        assert [r.status_code for r in rs[:5]] == [200] * 5, [r.text for r in rs]
        for r in rs[:5]:
            assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
        for r in rs[5:]:
            assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
            assert "Traceback" not in r.text

        # the same failure again, on a kept-alive connection: a 500 no longer hangs up on the client
        conn = http.client.HTTPConnection(url.split("//")[1].split("/")[0], timeout=30)
        for text, status in [("RECURSE again", 500), ("RECURSE once more", 500), ("fine now", 200)]:
            conn.request("POST", "/v1/chat/completions", json.dumps(_body(text, refine="none")),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == status and not resp.will_close
        conn.close()
        assert _health(url)["status"] == "ok"
        logging.getLogger("uvicorn.error").removeHandler(uvicorn_errors)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert text.count("Traceback") == 2, text[:3000]  # once per kind: RuntimeError, RecursionError
    assert len(text) < 40_000  # three RecursionErrors, not three 330 KB tracebacks
    assert not uvicorn_errors.records, [r.getMessage()[:300] for r in uvicorn_errors.records]


def test_text_no_tokenizer_takes_is_a_400_and_the_others_are_answered(tiny_model_dir):
    """The real tokenizer, concurrent requests: the lone-surrogate ones get 400 at the edge, the
    rest 200."""
    good = [json.dumps(_body(f"What is the weather in {c}?", max_tokens=4, refine="none")).encode()
            for c in ("Paris", "Rome", "Oslo", "Lima", "Kyiv", "Quito")]
    bad = [b'{"model": "tiny", "messages": [{"role": "user", "content": "Paris \\ud800?"}], "max_tokens": 4}',
           json.dumps(_body("hi", max_tokens=4, user="\udfff"), ensure_ascii=True).encode(),
           json.dumps({**_body("hi", max_tokens=4), "tools": [{"type": "function", "function": {
               "name": "get_weather", "description": "\ud83d weather"}}]}).encode()]
    with serve_model(tiny_model_dir, max_batch=16) as url:
        with ThreadPoolExecutor(9) as pool:
            rs = list(pool.map(lambda b: _post(url, b), good + bad))
        assert [r.status_code for r in rs] == [200] * 6 + [400] * 3, [r.text for r in rs]
        params = [r.json()["error"]["param"] for r in rs[6:]]
        assert params == ["messages[0].content", "user", "tools[0].function.description"]
        for r in rs[6:]:
            assert r.json()["error"]["code"] == "invalid_text" and "surrogate" in r.json()["error"]["message"]


def test_engine_isolates_a_sample_the_tokenizer_refuses(tiny_model_dir, samples):
    """Past the edge (the engine used directly): the tokenizer raises on one sample of the batch;
    that one job fails with BadInput, the others are generated."""
    from toolace_r.data.schema import Sample
    from toolace_r.models.generation import HFGenerator
    from toolace_r.serving.engine import BadInput, Engine
    from toolace_r.serving.protocol import Plan

    poisoned = Sample(**{**samples[1].model_dump(), "messages": [{"role": "user", "content": "Rome \ud800?"}]})
    plan = Plan(n=1, temperature=0.0, top_p=1.0, max_tokens=3, seed=None, mode="none", max_rounds=1,
                allow_calls=True, parallel=True)

    async def run():
        engine = Engine(HFGenerator(tiny_model_dir), max_batch=8, batch_wait=0.05)
        await engine.start()
        try:
            jobs = [engine.submit(s, plan) for s in (samples[0], poisoned, samples[2])]
            return await asyncio.gather(*(engine.wait(j, 120) for j in jobs), return_exceptions=True)
        finally:
            await engine.close()

    ok1, bad, ok2 = asyncio.run(run())
    assert isinstance(bad, BadInput) and "could not be made into a prompt" in str(bad)  # the tokenizer's TypeError
    assert ok1.results[0].tokens >= 1 and ok2.results[0].tokens >= 1


# --------------------------------------------------------------------------------------------
# Request fields that exhaust the parser: 400, not a traceback


def _earlier_call(arguments: str) -> dict:
    return {"model": "tiny", "tools": openai_tools(WEATHER), "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                              "function": {"name": "get_weather", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]}


PARSER_BOMBS = [
    ("arguments nesting 5000 levels", _earlier_call('{"city": ' + "[" * 5000 + "]" * 5000 + "}"), "nests deeper"),
    ("arguments nesting 100 levels", _earlier_call('{"city": ' + "[" * 100 + "]" * 100 + "}"), "nests deeper"),
    ("arguments with a 4400-digit integer", _earlier_call('{"city": ' + "7" * 4400 + "}"), "4300 digits"),
    ("arguments with a lone surrogate", _earlier_call('{"city": "Par\\ud800is"}'), "surrogate"),
    ("arguments not an object", _earlier_call("[1, 2]"), "JSON object"),
    ("a 4400-digit integer in the body", {**_body("hi"), "seed": int("7" * 4000)}, "4300 digits"),
    ("a seed beyond 64 bits", {**_body("hi"), "seed": 2**70}, "seed"),
]


@pytest.mark.parametrize("label,body,word", PARSER_BOMBS, ids=[b[0] for b in PARSER_BOMBS])
def test_parser_bombs_are_clear_400s(scripted_server, caplog, label, body, word):
    url, _ = scripted_server
    raw = json.dumps(body).encode()
    if "4400-digit integer in the body" in label:
        raw = raw.replace(b"7" * 4000, b"7" * 4400)
    r = _post(url, raw)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert word.lower() in err["message"].lower(), err["message"]
    assert "Traceback" not in "\n".join(rec.getMessage() for rec in caplog.records)


@pytest.fixture(scope="module")
def scripted_server():
    gen = Scripted()
    with _scripted(gen) as url:
        yield url, gen


# --------------------------------------------------------------------------------------------
# Answers that cannot crash the response


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_hostile_model_answers_are_encoded_safely(scripted_server, stream):
    url, _ = scripted_server

    def ask(key: str) -> dict:
        body = _body(f"please {key}")
        if stream:
            status, events = _stream(url, body)
            assert status == 200, events
            return _assembled(events)
        r = _post(url, body)
        assert r.status_code == 200, r.text
        m = r.json()["choices"][0]["message"]
        return {"content": m.get("content") or "",
                "calls": [(tc["function"]["name"], tc["function"]["arguments"]) for tc in m.get("tool_calls") or []]}

    (name, args), = ask("HUGEPOW")["calls"]
    assert name == "get_weather" and json.loads(args)["days"] == [hex(HUGE)]  # "0x1000...": exact, as a string
    (_, args), = ask("HUGELIT")["calls"]
    assert json.loads(args)["city"] == hex(10**5000)
    assert ask("SURROGATE_TEXT")["content"] == "Paris \ufffd is sunny"
    (_, args), = ask("SURROGATE_ARG")["calls"]
    assert json.loads(args)["city"] == "Par\ufffdis"
    (name, _), = ask("SURROGATE_NAME")["calls"]
    assert name == "get_\ufffd"
    deep = ask("DEEP_ARGS")  # arguments nesting past 64 levels: the answer comes back as its text
    assert deep["calls"] == [] and deep["content"] == ANSWERS["DEEP_ARGS"]


FAKE_UPSTREAM = {  # marker in the last user message -> the raw body the upstream answers with 200
    "NOTJSON": b"<html>bad gateway</html>",
    "MSGSTR": b'{"choices": [{"message": "hello"}]}',
    "LIST": b"[1, 2]",
    "CHOICESTR": b'{"choices": "many"}',
    "DEEPJSON": b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "BIGUSAGE": b'{"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": ' + b"9" * 5000 + b"}}",
    "SURROGATE": b'{"choices": [{"message": {"role": "assistant", "content": "Paris \\ud800"}}]}',
    "HUGE": b'{"choices": [{"message": {"role": "assistant", "content": "[get_weather(city=2**20000)]"}}]}',
}


@pytest.fixture(scope="module")
def front():
    """A front server in upstream mode before a fake upstream that answers FAKE_UPSTREAM's bodies."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def chat(request):
        text = json.dumps((await request.json())["messages"])
        key = next(k for k in FAKE_UPSTREAM if k in text)
        return Response(FAKE_UPSTREAM[key], media_type="application/json")

    up = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with running_server(up) as up_url:
        name, factory = build_generator_factory(
            model=None, backend="hf", upstream=up_url, upstream_model="fake", upstream_api_key=None,
            upstream_prompt_style="template", upstream_extra_body=None, device=None, concurrency=2, timeout=10.0)
        with running_server(create_app(ServeSettings(model_name=name), factory)) as url:
            yield url


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("key", list(FAKE_UPSTREAM))
def test_upstream_replies_are_200_or_502_never_500(front, key, stream):
    body = {**_body(f"say {key}", refine="none"), "model": "fake"}
    if stream:
        status, events = _stream(front, body)
    else:
        r = _post(front, body)
        status, events = r.status_code, [r.json()]
    if key in ("SURROGATE", "HUGE"):
        assert status == 200, events
        got = _assembled(events) if stream else None
        if key == "SURROGATE":
            assert (got["content"] if stream else events[0]["choices"][0]["message"]["content"]) == "Paris \ufffd"
        else:
            args = got["calls"][0][1] if stream else events[0]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            assert json.loads(args)["city"] == hex(2**20000)
    else:
        assert status == 502, events
        err = events[0]["error"]
        assert err["type"] == "upstream_error" and set(err) == {"message", "type", "param", "code"}


# --------------------------------------------------------------------------------------------
# Clients that leave, clients that dawdle; the context of refinement passes


def test_tool_choice_from_an_untrained_model_is_always_a_whole_call(tiny_model_dir):
    """The random tiny model, sampled, through the server: with tool_choice "required" or named,
    every choice is a complete call of an offered (the named) function within max_tokens, streamed
    or not, with and without refinement, though its string arguments rarely end by themselves (an
    answer the budget cuts inside a call is closed: CallMasker.close)."""
    pytest.importorskip("xgrammar")
    tools = openai_tools(WEATHER, TIME)
    named = {"type": "function", "function": {"name": "get_time"}}
    with serve_model(tiny_model_dir, max_batch=8) as url:
        for i, (choice, refine, stream) in enumerate([("required", "none", False), (named, "none", False),
                                                      ("required", "fixed:2", False), (named, "none", True)]):
            body = {**_body("What time is it in Paris?", tools=tools, tool_choice=choice, max_tokens=40, n=3,
                            temperature=1.0, seed=i, refine=refine), "stream": stream}
            r = _post(url, body)
            assert r.status_code == 200, r.text
            if stream:
                events = [json.loads(line[6:]) for line in r.text.splitlines()
                          if line.startswith("data: {")]
                finish = {e["choices"][0]["index"]: e["choices"][0]["finish_reason"] for e in events
                          if e["choices"] and e["choices"][0]["finish_reason"]}
                names = {tc["function"]["name"] for e in events if e["choices"]
                         for tc in e["choices"][0]["delta"].get("tool_calls") or [] if tc["function"].get("name")}
                assert finish == {0: "tool_calls", 1: "tool_calls", 2: "tool_calls"} and names == {"get_time"}
                continue
            for ch in r.json()["choices"]:
                assert ch["finish_reason"] == "tool_calls", ch["message"]
                called = {tc["function"]["name"] for tc in ch["message"]["tool_calls"]}
                assert called <= ({"get_time"} if choice is named else {"get_weather", "get_time"}), called
                for tc in ch["message"]["tool_calls"]:
                    assert isinstance(json.loads(tc["function"]["arguments"]), dict)
            assert r.json()["usage"]["completion_tokens"] <= 3 * 40 * (3 if refine != "none" else 1)


def test_disconnected_request_is_not_generated():
    gate = threading.Event()
    gen = Scripted(gate)
    with _scripted(gen) as url:
        host, port = url.split("//")[1].split("/")[0].split(":")
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(_post, url, _body("warm up"))
            _wait_for(gen.entered.is_set)
            payload = json.dumps(_body("GONE-CLIENT weather")).encode()
            sock = socket.create_connection((host, int(port)))
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
            _wait_for(lambda: _health(url)["queued"] == 1)
            sock.close()  # the client gives up while its request waits
            time.sleep(0.5)
            gate.set()
            assert first.result().status_code == 200
        _wait_for(lambda: _health(url)["dropped"] == 1)
        assert not any("GONE-CLIENT" in u for u in gen.seen)
        assert _health(url)["served"] == 1 and _post(url, _body("still here")).status_code == 200


def test_disconnected_request_is_not_refined_further():
    """The client goes while its first pass is generating: the pass ends (its batch is shared),
    but no refinement round is generated for it; the server goes on."""
    gate = threading.Event()
    gen = Scripted(gate)
    with _scripted(gen) as url:
        host, port = url.split("//")[1].split("/")[0].split(":")
        payload = json.dumps(_body("GONE-CLIENT weather", refine="fixed:3")).encode()
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
        _wait_for(gen.entered.is_set)  # its first pass is generating
        sock.close()
        time.sleep(0.5)
        gate.set()
        _wait_for(lambda: _health(url)["cut_short"] == 1)
        assert sum("GONE-CLIENT" in u for u in gen.seen) == 1  # the first pass only
        r = _post(url, _body("still here", refine="fixed:3"))
        assert r.status_code == 200 and sum("still here" in u for u in gen.seen) == 4  # first pass + 3 rounds


def test_request_over_its_time_is_still_a_504():
    gate = threading.Event()
    with _scripted(Scripted(gate), timeout=0.3) as url:
        r = _post(url, _body("slow"))
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        gate.set()
        assert _post(url, _body("fast")).status_code == 200


def test_slow_body_times_out():
    with _scripted(Scripted(), body_timeout=0.5) as url:
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n")
        sock.settimeout(0.1)
        t0, reply = time.time(), b""
        while time.time() - t0 < 10:
            try:
                sock.sendall(b" ")  # a byte at a time
            except OSError:
                break
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:  # reset: a byte sent after the server closed (the reply was read before)
                break
            if not chunk:
                break  # the server hung up
            reply += chunk
        sock.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert b"request_timeout" in reply and time.time() - t0 < 5
        assert _post(url, _body("fine")).status_code == 200


def test_refinement_stops_before_a_pass_over_the_context():
    """50 tokens per message (Scripted.encode), context 320, max_tokens 100: the first pass (2
    messages) and round 1 (4) fit, round 2 (6 messages: 300 + 100) would not."""
    with _scripted(Scripted(context=320)) as url:
        r = _post(url, _body("LONG", max_tokens=100, refine="fixed:3"))
        assert r.status_code == 200, r.text
        ref = r.json()["refinement"]
        assert ref["rounds"] == 1 and ref["choices"][0]["context_stop"] is True
        assert r.json()["choices"][0]["message"]["content"] == ANSWERS["LONG"]
        r = _post(url, _body("LONG", max_tokens=100, refine="fixed:1"))
        assert r.json()["refinement"]["rounds"] == 1 and "context_stop" not in r.json()["refinement"]["choices"][0]
        r = _post(url, _body("LONG", max_tokens=300))
        assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


# --------------------------------------------------------------------------------------------
# The API key


def test_empty_api_key_is_refused(tmp_path, monkeypatch):
    from toolace_r.cli import app

    monkeypatch.delenv("TOOLACE_R_API_KEY", raising=False)
    runner = CliRunner()
    model = str(tmp_path)  # never loaded: the key is checked first
    for args, env, word in [(["--api-key", ""], {}, "--api-key is empty"),
                            (["--api-key", "   "], {}, "--api-key is empty"),
                            (["--api-key", " k3y "], {}, "whitespace"),
                            ([], {"TOOLACE_R_API_KEY": ""}, "TOOLACE_R_API_KEY is set but empty")]:
        r = runner.invoke(app, ["serve", "--model", model, *args], env=env)
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and word in lines[0], r.output
    assert check_api_key(None, {}) is None and check_api_key("k3y", {}) == "k3y"
    assert check_api_key(None, {"TOOLACE_R_API_KEY": "k3y"}) is None  # typer passes the variable's key as `key`
    with pytest.raises(ServeError):
        check_api_key("", {})
    with pytest.raises(ValueError, match="empty"):
        create_app(ServeSettings(model_name="tiny", api_key=""), Scripted())
