"""Queueing and batching: concurrent requests are batched and all answered; a full queue gives 429;
a request over its time limit gives 504 and the server goes on; shutting down the real
`toolace-r serve` process with SIGTERM finishes the request in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from servefixtures import WEATHER, openai_tools, serve_model

CITIES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Quito"]


def _ask(url: str, city: str, **extra) -> httpx.Response:
    body = {"model": "tiny", "messages": [{"role": "user", "content": f"What is the weather in {city}?"}],
            "tools": openai_tools(WEATHER), **extra}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=120)


# A request the untrained model is slow on: sampling from it rarely gives the end token, so each of
# the 8 choices runs to (nearly) max_tokens.
SLOW = {"max_tokens": 400, "refine": "none", "n": 8, "temperature": 1.0, "seed": 0}


def test_concurrent_requests_are_batched_and_all_answered(trained_model_dir):
    with serve_model(trained_model_dir, max_batch=8) as url:
        with ThreadPoolExecutor(12) as pool:
            rs = list(pool.map(lambda c: _ask(url, c), CITIES * 2))
        assert [r.status_code for r in rs] == [200] * 12
        for city, r in zip(CITIES * 2, rs):
            (tc,) = r.json()["choices"][0]["message"]["tool_calls"]
            assert json.loads(tc["function"]["arguments"])["city"] == city  # no answer crossed over
        assert httpx.get(url.removesuffix("/v1") + "/health", timeout=10).json()["served"] == 12


def test_full_queue_answers_429_and_the_server_goes_on(tiny_model_dir):
    with serve_model(tiny_model_dir, queue_size=1, max_batch=1) as url:
        with ThreadPoolExecutor(8) as pool:
            rs = list(pool.map(lambda c: _ask(url, c, **SLOW), CITIES + CITIES[:2]))
        codes = [r.status_code for r in rs]
        assert set(codes) <= {200, 429}, codes
        assert codes.count(429) >= 1 and codes.count(200) >= 2, codes  # one running, one waiting, the rest refused
        full = next(r for r in rs if r.status_code == 429)
        err = full.json()["error"]
        assert err["type"] == "rate_limit_error" and err["code"] == "queue_full" and "queue is full" in err["message"]
        assert full.headers["retry-after"] == "1"
        r = _ask(url, "Paris", max_tokens=8, refine="none")
        assert r.status_code == 200
        health = httpx.get(url.removesuffix("/v1") + "/health", timeout=10).json()
        assert health["rejected"] == codes.count(429)


def test_request_timeout_is_504_and_the_server_goes_on(tiny_model_dir):
    with serve_model(tiny_model_dir, timeout=0.3) as url:
        r = _ask(url, "Paris", **SLOW)
        assert r.status_code == 504
        err = r.json()["error"]
        assert err["code"] == "timeout" and "0.3 s" in err["message"]
        deadline = time.time() + 60
        while True:  # the abandoned generation finishes in the background, then short requests fit again
            r = _ask(url, "Paris", max_tokens=2, refine="none")
            if r.status_code == 200 or time.time() > deadline:
                break
        assert r.status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cli_server_shuts_down_gracefully_with_the_request_in_flight(tiny_model_dir, tmp_path):
    """`toolace-r serve` as a process, API key from the environment; SIGTERM while a slow request
    runs: the request still gets its 200, then the process exits cleanly."""
    port = _free_port()
    env = {**os.environ, "TOOLACE_R_API_KEY": "k3y", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "toolace_r", "serve", "--model", str(tiny_model_dir), "--port",
                             str(port), "--served-model-name", "tiny", "--log-level", "info", "--torch-threads", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{root}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        headers = {"Authorization": "Bearer k3y"}
        assert httpx.get(f"{root}/v1/models", timeout=5).status_code == 401
        body = {"model": "tiny", "messages": [{"role": "user", "content": "What is the weather in Oslo?"}],
                "tools": openai_tools(WEATHER), **SLOW}
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(httpx.post, f"{root}/v1/chat/completions", json=body, headers=headers, timeout=120)
            while httpx.get(f"{root}/health", timeout=5).json()["running"] == 0:
                assert not fut.done(), fut.result().text
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            r = fut.result()
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
        # uvicorn re-raises the signal once it has shut down, so the exit status is SIGTERM's
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        text = (tmp_path / "serve.log").read_text()
        assert "Application shutdown complete" in text and "Traceback" not in text, text
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{root}/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
