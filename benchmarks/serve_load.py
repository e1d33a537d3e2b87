"""Load test for `toolace-r serve`: a bounded number of chat-completion requests, a fixed number in
flight at a time; reports throughput, latency percentiles, status counts and errors.

    # against a running server
    python benchmarks/serve_load.py --base-url http://127.0.0.1:8000/v1 --model tiny-sft --data corpus/test.jsonl
    # or let it start `toolace-r serve --model DIR` on a free loopback port and stop it afterwards
    python benchmarks/serve_load.py --serve-model models/tiny-sft --data corpus/test.jsonl \
        --requests 200 --concurrency 16 --refine adaptive --json-out load.json

Requests are built from samples of our JSONL format (their messages and tools, OpenAI form), cycled
in order. Every request is checked: HTTP 200, a `chat.completion` body with one choice. The run is
bounded: `--requests` in all, and each request has `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path


def load_requests(data: Path, model: str, refine: str, max_tokens: int, limit: int) -> list[dict]:
    from toolace_r.data.io import read_samples
    from toolace_r.models.prompting import PromptConfig, build_messages

    bodies = []
    for s in read_samples(data)[:limit]:
        # "template" style: the conversation as it is, and the tools apart (the request's tools field)
        messages, tools = build_messages(s, PromptConfig(tools_in="template"))
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "refine": refine}
        if tools:
            body["tools"] = tools
        bodies.append(body)
    if not bodies:
        raise SystemExit(f"{data}: no samples")
    return bodies


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def run_load(base_url: str, bodies: list[dict], n_requests: int, concurrency: int, timeout: float,
                   api_key: str | None) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    tokens = rounds = 0
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=limits) as client:

        async def one(i: int) -> None:
            nonlocal tokens, rounds
            async with sem:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/chat/completions", json=bodies[i % len(bodies)])
                except httpx.HTTPError as e:
                    statuses["transport"] = statuses.get("transport", 0) + 1
                    errors.append(f"request {i}: {type(e).__name__}: {e}")
                    return
                dt = time.perf_counter() - t0
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                if r.status_code != 200:
                    errors.append(f"request {i}: HTTP {r.status_code}: {r.text[:200]}")
                    return
                body = r.json()
                if body.get("object") != "chat.completion" or len(body.get("choices") or []) != 1:
                    errors.append(f"request {i}: unexpected body {r.text[:200]}")
                    return
                latencies.append(dt)
                tokens += body["usage"]["completion_tokens"]
                rounds += body["usage"].get("refinement_rounds", 0)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n_requests)))
        wall = time.perf_counter() - t0
    ok = len(latencies)
    return {
        "requests": n_requests, "concurrency": concurrency, "ok": ok, "errors": len(errors),
        "statuses": statuses, "error_examples": errors[:5], "wall_s": round(wall, 2),
        "throughput_rps": round(ok / wall, 2) if wall else None,
        "generated_tokens_per_s": round(tokens / wall, 1) if wall else None,
        "latency_s": {
            "p50": round(percentile(latencies, 0.50), 3) if ok else None,
            "p95": round(percentile(latencies, 0.95), 3) if ok else None,
            "mean": round(statistics.fmean(latencies), 3) if ok else None,
            "max": round(max(latencies), 3) if ok else None,
        },
        "mean_completion_tokens": round(tokens / ok, 1) if ok else None,
        "mean_refinement_rounds": round(rounds / ok, 2) if ok else None,
    }


def start_server(model_dir: str, refine: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "toolace_r", "serve", "--model", model_dir, "--port", str(port),
           "--refine", refine, "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd, env=os.environ.copy())
    deadline = time.time() + 300
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.3)
    return proc, f"http://127.0.0.1:{port}/v1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", help="a running server's /v1 URL")
    ap.add_argument("--serve-model", help="start `toolace-r serve --model DIR` for the run instead")
    ap.add_argument("--serve-args", default="", help="extra options for that server, e.g. '--max-batch 16'")
    ap.add_argument("--model", help="model name in the requests (default: what the server lists)")
    ap.add_argument("--data", type=Path, required=True, help="JSONL of samples to build requests from")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--refine", default="adaptive", help="refinement mode of every request")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--api-key", default=os.environ.get("TOOLACE_R_API_KEY"))
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    if bool(a.base_url) == bool(a.serve_model):
        ap.error("give exactly one of --base-url or --serve-model")
    import httpx

    proc = None
    if a.serve_model:
        proc, base_url = start_server(a.serve_model, a.refine, a.serve_args.split())
    else:
        base_url = a.base_url.rstrip("/")
    try:
        headers = {"Authorization": f"Bearer {a.api_key}"} if a.api_key else {}
        model = a.model or httpx.get(f"{base_url}/models", headers=headers, timeout=10).json()["data"][0]["id"]
        bodies = load_requests(a.data, model, a.refine, a.max_tokens, a.requests)
        report = asyncio.run(run_load(base_url, bodies, a.requests, a.concurrency, a.timeout, a.api_key))
        report.update(model=model, refine=a.refine, max_tokens=a.max_tokens, distinct_prompts=len(bodies))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=120)
    print(json.dumps(report, indent=2))
    if a.json_out:
        a.json_out.write_text(json.dumps(report, indent=2) + "\n")
    if report["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
