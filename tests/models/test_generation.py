"""Generation backends: the hf loop against transformers' own generate, sampling, stopping, and
the openai backend against a real HTTP server on a loopback port serving the embedded model."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from toolace_r.models import prompting
from toolace_r.models.generation import (
    Completion, EndpointError, HFGenerator, OpenAIGenerator, make_generator,
)


@pytest.fixture(scope="module")
def gen(trained_model_dir):
    return HFGenerator(trained_model_dir)


@pytest.fixture(scope="module")
def prompts(samples, trained_model_dir):
    cfg = prompting.load_prompt_config(trained_model_dir)
    return [prompting.build_messages(s, cfg) for s in samples]


def test_greedy_reproduces_the_memorised_answers(gen, prompts, samples):
    assert gen.prompt_config.tools_in == "template"  # read from the model directory
    outs = gen.generate(prompts, n=1, temperature=0.0, max_new_tokens=64)
    assert len(outs) == len(samples) and all(len(o) == 1 for o in outs)
    for s, (c,) in zip(samples, outs):
        target = prompting.target_text(s)
        assert c.text == target
        # The count includes the end-of-turn token the model stopped on.
        assert c.n_tokens == len(gen.tokenizer(target, add_special_tokens=False)["input_ids"]) + 1


@pytest.fixture(scope="module")
def unseen_prompts(samples, trained_model_dir):
    """Refinement prompts the model never saw: long, varied, arbitrary continuations."""
    cfg = prompting.load_prompt_config(trained_model_dir)
    return [prompting.refine_messages(s, "[wrong(x=1)]", cfg) for s in samples]


def test_greedy_matches_transformers_generate(gen, unseen_prompts):
    import torch

    # 20 tokens: some answers run into the limit (the cut-off path), others stop on their own
    ours = gen.generate(unseen_prompts, n=1, temperature=0.0, max_new_tokens=20)
    assert max(c.n_tokens for (c,) in ours) == 20 and len({c.text for (c,) in ours}) > 5
    for p, (c,) in zip(unseen_prompts, ours):
        ids = gen.encode(p)
        ref = gen.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=20, do_sample=False)[0, len(ids):].tolist()
        stop = ref.index(gen.tokenizer.eos_token_id) + 1 if gen.tokenizer.eos_token_id in ref else len(ref)
        assert list(c.token_ids) == ref[:stop] and c.n_tokens == stop
        # special tokens dropped, except a confirmation (<|confirm|>), which refinement must see
        assert c.text == prompting.decode_answer(gen.tokenizer, ref[:stop], gen.confirm_id)


def test_batching_does_not_change_greedy_results(gen, unseen_prompts):
    # Prompts of different lengths, left-padded together, with rows finishing at different steps.
    big = gen.generate(unseen_prompts, n=2, max_new_tokens=32)
    small = HFGenerator(model=gen.model, tokenizer=gen.tokenizer, max_batch_rows=4).generate(
        unseen_prompts, n=2, max_new_tokens=32)
    assert big == small


def test_sampling_is_seeded_and_shares_the_prompt(gen, unseen_prompts):
    ps = unseen_prompts[:3]
    a = gen.generate(ps, n=5, temperature=1.0, top_p=0.95, max_new_tokens=12, seed=7)
    b = gen.generate(ps, n=5, temperature=1.0, top_p=0.95, max_new_tokens=12, seed=7)
    c = gen.generate(ps, n=5, temperature=1.0, top_p=0.95, max_new_tokens=12, seed=8)
    assert a == b and a != c
    assert [len(x) for x in a] == [5, 5, 5]
    assert all(isinstance(x, Completion) and 1 <= x.n_tokens <= 12 for row in a for x in row)
    assert len({x.text for x in a[0]}) > 1  # the n samples of one prompt differ


@pytest.mark.parametrize("top_p", [1.0, 0.9])
def test_sampling_does_not_depend_on_batch_or_share(gen, unseen_prompts, top_p):
    """Each prompt has its own random stream seeded from (seed, position): a share of the prompts,
    given with their positions, samples exactly what the whole call sampled for them, whatever
    the batch size (what makes a probe split over processes equal to a single-process one)."""
    ps = unseen_prompts[:6]
    kw = dict(n=2, temperature=1.0, top_p=top_p, max_new_tokens=8, seed=11)
    whole = gen.generate(ps, **kw)
    small = HFGenerator(model=gen.model, tokenizer=gen.tokenizer, max_batch_rows=2)
    for r in range(2):
        positions = list(range(r, len(ps), 2))
        part = small.generate([ps[i] for i in positions], positions=positions, **kw)
        assert part == [whole[i] for i in positions]
    assert len({c.text for row in whole for c in row}) > len(whole)  # really sampled
    with pytest.raises(ValueError, match="positions"):
        gen.generate(ps[:2], positions=[0], **kw)


def test_tiny_top_p_is_greedy(gen, unseen_prompts):
    greedy = gen.generate(unseen_prompts[:4], n=1, temperature=0.0, max_new_tokens=10)
    nucleus = gen.generate(unseen_prompts[:4], n=3, temperature=1.0, top_p=1e-9, max_new_tokens=10, seed=1)
    for (gc,), row in zip(greedy, nucleus):
        assert all(c == gc for c in row)


def test_stops_at_end_of_turn_and_at_max_new_tokens(gen, prompts):
    # The memorised answers end with <|end|> after ~17 tokens; a budget of 5 cuts them.
    short = gen.generate(prompts[:2], n=2, temperature=0.0, max_new_tokens=5)
    assert all(c.n_tokens == 5 for row in short for c in row)
    assert short[0][0].text == '[get_weather(city="Paris", unit="celsius")]'[: len(short[0][0].text)]


def test_argument_errors(gen, prompts):
    with pytest.raises(ValueError, match="n must be"):
        gen.generate(prompts, n=0)
    with pytest.raises(ValueError, match="top_p"):
        gen.generate(prompts, top_p=0.0)
    with pytest.raises(TypeError, match="messages, tools"):
        gen.generate(["a pre-rendered string"])
    with pytest.raises(ValueError, match="unknown generation backend"):
        make_generator("tgi", "x")
    with pytest.raises(ValueError, match="base URL"):
        OpenAIGenerator("m", base_url="")


# ------------------------------------------------------------------------------------------
# openai backend against a real local server


def _start_server(app):
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return server, thread, sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(gen):
    """An OpenAI-style /v1/chat/completions served by the trained tiny model through HFGenerator."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    state = {"fail_next": 0, "in_flight": 0, "max_in_flight": 0, "requests": 0}
    lock, model_lock = threading.Lock(), threading.Lock()

    @app.post("/v1/chat/completions")
    def chat(body: dict):  # a sync endpoint: FastAPI runs it in a thread pool, so requests overlap
        with lock:
            state["requests"] += 1
            if state["fail_next"] > 0:
                state["fail_next"] -= 1
                return JSONResponse({"error": "overloaded"}, status_code=503, headers={"Retry-After": "0.01"})
            state["in_flight"] += 1
            state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        try:
            if body.get("model") != "tiny":
                return JSONResponse({"error": f"no model {body.get('model')!r}"}, status_code=404)
            time.sleep(0.05)  # long enough for concurrent requests to overlap
            with model_lock:
                (comps,) = [gen.generate([(body["messages"], body.get("tools"))], n=body.get("n", 1),
                                         temperature=body.get("temperature", 0.0), top_p=body.get("top_p", 1.0),
                                         max_new_tokens=body.get("max_tokens", 64), seed=body.get("seed", 0))[0]]
            return {
                "object": "chat.completion", "model": "tiny",
                "choices": [{"index": i, "message": {"role": "assistant", "content": c.text}, "finish_reason": "stop"}
                            for i, c in enumerate(comps)],
                "usage": {"completion_tokens": sum(c.n_tokens for c in comps), "prompt_tokens": comps[0].prompt_tokens},
            }
        finally:
            with lock:
                state["in_flight"] -= 1

    srv, thread, port = _start_server(app)
    yield {"url": f"http://127.0.0.1:{port}/v1", "state": state}
    srv.should_exit = True
    thread.join(timeout=10)


def test_openai_backend_matches_the_local_model(server, gen, prompts):
    client = make_generator("openai", "tiny", base_url=server["url"], api_key="test", concurrency=2)
    with client:
        remote = client.generate(prompts, n=1, temperature=0.0, max_new_tokens=64)
    local = gen.generate(prompts, n=1, temperature=0.0, max_new_tokens=64)
    assert [r[0].text for r in remote] == [c[0].text for c in local]
    assert [r[0].n_tokens for r in remote] == [c[0].n_tokens for c in local]
    # The prompt's length as the server's usage reports it, prefilled once per request.
    assert [r[0].prompt_tokens for r in remote] == [c[0].prompt_tokens for c in local]
    assert all(r[0].prefill_tokens == r[0].prompt_tokens > 0 for r in remote)
    assert 2 >= server["state"]["max_in_flight"] >= 1


def test_openai_backend_retries_then_succeeds(server, prompts):
    server["state"]["fail_next"] = 3
    before = server["state"]["requests"]
    with OpenAIGenerator("tiny", base_url=server["url"], concurrency=1, max_retries=5) as client:
        out = client.generate(prompts[:1], n=3, temperature=0.0, max_new_tokens=64)
    assert client.n_retries == 3 and server["state"]["requests"] - before == 4  # the SDK client retried
    assert [c.text for c in out[0]] == ['[get_weather(city="Paris", unit="celsius")]'] * 3


def test_openai_backend_gives_up_with_a_clear_error(server, prompts):
    server["state"]["fail_next"] = 10
    with OpenAIGenerator("tiny", base_url=server["url"], concurrency=1, max_retries=2) as client:
        with pytest.raises(EndpointError, match="after 3 attempts.*503"):
            client.generate(prompts[:1])
    server["state"]["fail_next"] = 0
    with OpenAIGenerator("no-such-model", base_url=server["url"]) as client:
        with pytest.raises(EndpointError, match="404"):  # not retried: a client error
            client.generate(prompts[:1])


def test_openai_backend_connection_refused_is_retried_then_reported(prompts):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with OpenAIGenerator("tiny", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2,
                         timeout=2) as client:
        with pytest.raises(EndpointError, match="ConnectError"):
            client.generate(prompts[:1])
        assert client.n_retries == 2


def _need_vllm():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vllm needs CUDA")
    pytest.importorskip("vllm")
    return torch


def test_vllm_backend_when_available(trained_model_dir, prompts):
    _need_vllm()
    with make_generator("vllm", str(trained_model_dir), gpu_memory_utilization=0.3) as g:
        out = g.generate(prompts[:2], n=2, temperature=0.0, max_new_tokens=64)
        assert out[0][0].text == '[get_weather(city="Paris", unit="celsius")]'
        # seeded per prompt: the same call samples the same; the same prompt at another position differs
        kw = dict(n=4, temperature=3.0, max_new_tokens=16, seed=5)
        a = g.generate([prompts[0], prompts[0]], **kw)
        assert a == g.generate([prompts[0], prompts[0]], **kw) and a[0] != a[1]


def test_vllm_close_frees_the_gpu(trained_model_dir, prompts):
    torch = _need_vllm()
    free_before = torch.cuda.mem_get_info()[0]
    g = make_generator("vllm", str(trained_model_dir), gpu_memory_utilization=0.3)
    assert torch.cuda.mem_get_info()[0] < free_before - 1e9  # the engine took its share (KV cache)
    g.close()
    assert torch.cuda.mem_get_info()[0] > free_before - 1e9
    with pytest.raises(RuntimeError, match="closed"):
        g.generate(prompts[:1])
    g.close()  # twice is harmless


def test_vllm_lora_adapters_swap_without_restart(tiny_model_dir, samples, prompts, tmp_path):
    _need_vllm()
    from toolace_r.models.sft import SFTSettings, train_sft

    adapters = []
    for i, steps in enumerate((1, 60)):
        out = tmp_path / f"adapter{i}"
        train_sft(tiny_model_dir, samples, out, SFTSettings(lora=True, lora_r=8, max_steps=steps, lr=2e-2,
                                                            batch_size=len(samples), progress=False, plot=False))
        adapters.append(out)
    with make_generator("vllm", str(tiny_model_dir), gpu_memory_utilization=0.3, enable_lora=True,
                        max_lora_rank=8) as g:
        engine = g.llm
        texts = []
        for path in adapters:  # round 1's adapter, then round 2's, in the same engine
            g.set_adapter(path)
            texts.append([c[0].text for c in g.generate(prompts[:3], n=1, temperature=0.0, max_new_tokens=24)])
        assert g.llm is engine and g.lora_request.lora_int_id == 2
        # the second adapter really replaced the first: it gives the answers it memorised
        assert texts[1] == [prompting.target_text(s) for s in samples[:3]] != texts[0]
    with make_generator("vllm", str(tiny_model_dir), gpu_memory_utilization=0.3) as g:
        with pytest.raises(ValueError, match="enable_lora"):
            g.set_adapter(adapters[0])
