"""Load test for `toolace-r serve`: a bounded number of chat-completion requests, a fixed number in
flight at a time, some of them hostile; reports throughput, latency percentiles, status counts and errors.

    # the embedded base model (the package's assets/base), synthetic requests, 5% hostile ones
    python benchmarks/serve_load.py --requests 300 --concurrency 48 --hostile 0.05 --tool-choice-share 0.1
    # against a running server
    python benchmarks/serve_load.py --base-url http://127.0.0.1:8000/v1 --model tiny-sft --data corpus/test.jsonl
    # or let it start `toolace-r serve --model DIR` on a free loopback port and stop it afterwards
    python benchmarks/serve_load.py --serve-model models/tiny-sft --data corpus/test.jsonl \
        --requests 200 --concurrency 16 --refine adaptive --json-out load.json

Requests are built from samples of our JSONL format (their messages and tools, OpenAI form), cycled
in order (without `--data`: synthetic samples, `toolace_r.data.synth`). `--tool-choice-share` of
them ask `tool_choice: "required"` (constrained decoding). Every valid request is checked: HTTP
200, a `chat.completion` body with one choice, and with tool_choice a `tool_calls` answer or a
`length` cut-off. `--hostile` of the requests are hostile, in turn: a lone surrogate in a message, an
earlier call's arguments nested 200 deep, integers of 5,000 digits, malformed JSON; each must be
answered 4xx. The run is bounded: `--requests` in all, and each request has `--timeout` seconds.
Exit status 1 when a valid request failed or a hostile one was not answered 4xx.
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


def load_requests(data: Path | None, model: str, refine: str, max_tokens: int, limit: int) -> list[dict]:
    from toolace_r.data.io import read_samples
    from toolace_r.models.prompting import PromptConfig, build_messages

    if data is None:
        from toolace_r.data.synth import synthesize

        samples = [s for split in synthesize(max(limit, 50), seed=0).values() for s in split]
    else:
        samples = read_samples(data)
    bodies = []
    for s in samples[:limit]:
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


def hostile_body(k: int, model: str) -> bytes:
    """The k-th hostile request body (raw bytes: some are not JSON a client library would write)."""
    user = '{"role": "user", "content": "What is the weather in Paris?"}'
    kind = k % 4
    if kind == 0:  # a lone surrogate: valid JSON escape, not text
        return ('{"model": "%s", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}' % model).encode()
    if kind == 1:  # an earlier call's arguments nested 200 deep
        args = json.dumps('{"a": ' * 200 + "1" + "}" * 200)
        return ('{"model": "%s", "messages": [%s, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", '
                '"type": "function", "function": {"name": "f", "arguments": %s}}]}, {"role": "tool", "tool_call_id": "c1", '
                '"content": "ok"}]}' % (model, user, args)).encode()
    if kind == 2:  # an integer of 5,000 digits (over Python's int-from-text limit) as the seed
        big = "9" * 5000
        return ('{"model": "%s", "seed": %s, "messages": [%s]}' % (model, big, user)).encode()
    return ('{"model": "%s", "messages": [%s' % (model, user)).encode()  # malformed: cut off


HOSTILE_KINDS = ("lone surrogate", "nested arguments", "huge integers", "malformed JSON")


async def run_load(base_url: str, bodies: list[dict], n_requests: int, concurrency: int, timeout: float,
                   api_key: str | None, hostile: float = 0.0) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"} if api_key else \
        {"Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    tokens = rounds = 0
    # which requests are hostile: spread evenly, about `hostile` of them
    n_hostile = round(n_requests * hostile)
    # (+1: off the multiples of 10 that --tool-choice-share 0.1 picks, so that both kinds are sent)
    bad_at = {int((j + 0.5) * n_requests / n_hostile) + 1 for j in range(n_hostile)} if n_hostile else set()
    hostile_statuses: dict[str, int] = {}
    hostile_not_4xx: list[str] = []
    required_finish: dict[str, int] = {}
    required_latencies: list[float] = []
    model = bodies[0]["model"]
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=limits) as client:

        async def bad(i: int, k: int) -> None:
            async with sem:
                try:
                    r = await client.post("/chat/completions", content=hostile_body(k, model))
                    code = str(r.status_code)
                except httpx.HTTPError as e:
                    code = f"transport {type(e).__name__}"
                hostile_statuses[code] = hostile_statuses.get(code, 0) + 1
                if not code.startswith("4"):
                    hostile_not_4xx.append(f"request {i} ({HOSTILE_KINDS[k % 4]}): {code}")

        async def one(i: int) -> None:
            nonlocal tokens, rounds
            if i in bad_at:
                return await bad(i, sorted(bad_at).index(i))
            async with sem:
                body = bodies[i % len(bodies)]
                t0 = time.perf_counter()
                try:
                    r = await client.post("/chat/completions", content=json.dumps(body).encode())
                except httpx.HTTPError as e:
                    statuses["transport"] = statuses.get("transport", 0) + 1
                    errors.append(f"request {i}: {type(e).__name__}: {e}")
                    return
                dt = time.perf_counter() - t0
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                if r.status_code != 200:
                    errors.append(f"request {i}: HTTP {r.status_code}: {r.text[:200]}")
                    return
                answer = r.json()
                if answer.get("object") != "chat.completion" or len(answer.get("choices") or []) != 1:
                    errors.append(f"request {i}: unexpected body {r.text[:200]}")
                    return
                if body.get("tool_choice") == "required":
                    finish = answer["choices"][0]["finish_reason"]
                    if finish not in ("tool_calls", "length"):
                        errors.append(f"request {i}: tool_choice required answered {r.text[:200]}")
                        return
                    required_finish[finish] = required_finish.get(finish, 0) + 1
                    required_latencies.append(dt)
                latencies.append(dt)
                tokens += answer["usage"]["completion_tokens"]
                rounds += answer["usage"].get("refinement_rounds", 0)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n_requests)))
        wall = time.perf_counter() - t0
    ok = len(latencies)
    return {
        "requests": n_requests, "concurrency": concurrency, "valid": n_requests - len(bad_at), "ok": ok,
        "errors": len(errors), "valid_failed": len(errors),
        "hostile": len(bad_at), "hostile_4xx": sum(v for k, v in hostile_statuses.items() if k.startswith("4")),
        "hostile_statuses": hostile_statuses, "hostile_not_4xx": hostile_not_4xx[:5],
        "statuses": statuses, "error_examples": errors[:5], "wall_s": round(wall, 2),
        "throughput_rps": round(ok / wall, 2) if wall else None,
        "generated_tokens_per_s": round(tokens / wall, 1) if wall else None,
        "latency_s": {
            "p50": round(percentile(latencies, 0.50), 3) if ok else None,
            "p95": round(percentile(latencies, 0.95), 3) if ok else None,
            "mean": round(statistics.fmean(latencies), 3) if ok else None,
            "max": round(max(latencies), 3) if ok else None,
        },
        "tool_choice_required": {"answered": sum(required_finish.values()), "finish_reasons": required_finish,
                                 "p50_s": round(percentile(required_latencies, 0.5), 3) if required_latencies else None,
                                 "p95_s": round(percentile(required_latencies, 0.95), 3) if required_latencies else None},
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
    ap.add_argument("--serve-model", help="start `toolace-r serve --model DIR` for the run instead "
                    "(default without --base-url: the embedded base model, toolace_r/assets/base)")
    ap.add_argument("--serve-args", default="", help="extra options for that server, e.g. '--max-batch 16'")
    ap.add_argument("--model", help="model name in the requests (default: what the server lists)")
    ap.add_argument("--data", type=Path, help="JSONL of samples to build requests from (default: synthetic ones)")
    ap.add_argument("--hostile", type=float, default=0.0, help="share of hostile requests (each must get a 4xx)")
    ap.add_argument("--tool-choice-share", type=float, default=0.0,
                    help="share of the valid requests sent with tool_choice: required")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--refine", default="adaptive", help="refinement mode of every request")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--api-key", default=os.environ.get("TOOLACE_R_API_KEY"))
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    if a.base_url and a.serve_model:
        ap.error("give one of --base-url or --serve-model")
    if not a.base_url and not a.serve_model:
        import toolace_r

        a.serve_model = str(Path(toolace_r.__file__).parent / "assets" / "base")
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
        if a.tool_choice_share > 0:  # every k-th request with tools asks for a call
            with_tools = [b for b in bodies if b.get("tools")]
            for b in with_tools[::max(1, round(1 / a.tool_choice_share))]:
                b["tool_choice"] = "required"
        t0 = time.perf_counter()
        report = asyncio.run(run_load(base_url, bodies, a.requests, a.concurrency, a.timeout, a.api_key, a.hostile))
        report.update(model=model, refine=a.refine, max_tokens=a.max_tokens, distinct_prompts=len(bodies),
                      required_prompts=sum(b.get("tool_choice") == "required" for b in bodies),
                      run_s=round(time.perf_counter() - t0, 2))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=120)
    print(json.dumps(report, indent=2))
    if a.json_out:
        a.json_out.write_text(json.dumps(report, indent=2) + "\n")
    if report["errors"] or report["hostile_not_4xx"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
