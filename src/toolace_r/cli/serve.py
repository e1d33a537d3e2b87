"""`toolace-r serve`: an OpenAI-compatible chat-completions server with adaptive self-refinement.

::

    toolace-r serve --model models/tiny-sft                         # http://127.0.0.1:8000/v1
    toolace-r serve --model Qwen/Qwen2.5-7B-Instruct --backend vllm --refine fixed:2 --port 9000
    toolace-r serve --model Qwen/Qwen2.5-72B-Instruct --backend vllm --tensor-parallel-size 4 --max-model-len 8192
    toolace-r serve --upstream http://gpu-box:8000/v1 --upstream-model served-name   # refine a remote model
    TOOLACE_R_API_KEY=secret toolace-r serve --model models/tiny-sft --host 0.0.0.0

With ``--model`` the server loads the model itself (``hf``: transformers, ``vllm``: GPU). With
``--upstream`` it hosts no model: every generation, the refinement rounds included, is a request
to the upstream OpenAI-compatible server, and this server runs the refinement loop around it.
FastAPI, uvicorn and the model are imported only when the command runs. See docs/serve.md.
"""

from __future__ import annotations

from typing import Optional

import typer

from toolace_r.cli._common import die
from toolace_r.models.generation import vllm_engine_kw
from toolace_r.refine import DEFAULT_CONFIRM_BIAS
from toolace_r.serving.server import (ServeError, build_generator_factory, check_api_key, check_options, is_loopback,
                                      run_server)


def serve(
    model: Optional[str] = typer.Option(None, "--model", help="Model directory or hub id to load and serve."),
    backend: str = typer.Option("hf", "--backend", help="hf (transformers) or vllm, for --model."),
    tensor_parallel_size: Optional[int] = typer.Option(None, "--tensor-parallel-size", help="vllm backend: GPUs "
                                                       "per engine (tensor parallelism; default 1)."),
    gpu_memory_utilization: Optional[float] = typer.Option(None, "--gpu-memory-utilization", help="vllm backend: "
                                                           "share of each GPU's memory the engine takes, in (0, 1] "
                                                           "(default 0.9)."),
    max_model_len: Optional[int] = typer.Option(None, "--max-model-len", help="vllm backend: longest prompt + "
                                                "answer in tokens (default: the model's context length)."),
    upstream: Optional[str] = typer.Option(None, "--upstream", help="Serve no model: refine the answers of this "
                                           "OpenAI-compatible server (base URL ending in /v1)."),
    upstream_model: Optional[str] = typer.Option(None, "--upstream-model", help="Model name at the upstream "
                                                 "(default: the first one it lists)."),
    upstream_api_key: Optional[str] = typer.Option(None, "--upstream-api-key", envvar="TOOLACE_R_UPSTREAM_API_KEY",
                                                   help="API key for the upstream (env TOOLACE_R_UPSTREAM_API_KEY).",
                                                   show_default=False),
    upstream_prompt_style: str = typer.Option("template", "--upstream-prompt-style", help="template: tools go in the "
                                              "request's tools field; system: in our system prompt (BFCL prompt mode)."),
    upstream_extra_body: Optional[str] = typer.Option(None, "--upstream-extra-body", help="JSON object merged into "
                                                      "every upstream request, e.g. '{\"refine\": \"none\"}'."),
    served_model_name: Optional[str] = typer.Option(None, "--served-model-name", help="The name clients use "
                                                    "(default: the model folder's name, or the upstream model)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free port)."),
    refine: str = typer.Option("adaptive", "--refine", help="Default refinement: adaptive, none or fixed:N "
                               "(a request may override it with its 'refine' field)."),
    max_rounds: int = typer.Option(3, "--max-rounds", min=1, help="Default refinement rounds at most (adaptive)."),
    confirm: str = typer.Option("token", "--confirm", help="How the model keeps a right answer: token (it answers "
                                "the confirmation, <|confirm|> or 'Confirmed.'; refinement stops and keeps the "
                                "previous answer) or repeat (adaptive stops when the calls come back unchanged)."),
    confirm_bias: float = typer.Option(DEFAULT_CONFIRM_BIAS, "--confirm-bias", min=0.0, help="confirm=token, hf "
                                       "backend: added to the confirmation's logit at a refinement pass's first "
                                       "token (nats: a rewrite must be preferred by more); 0: the plain greedy "
                                       "choice. Other backends ignore it."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="TOOLACE_R_API_KEY", show_default=False,
                                          help="Require 'Authorization: Bearer KEY' on every route but /health. "
                                          "Prefer the env TOOLACE_R_API_KEY: it stays out of the process list."),
    queue_size: int = typer.Option(64, "--queue-size", min=1, help="Requests that may wait; more get 429."),
    max_batch: int = typer.Option(16, "--max-batch", min=1, help="Waiting requests generated together at most."),
    batch_wait_ms: float = typer.Option(5.0, "--batch-wait-ms", min=0.0, help="How long the worker waits for more "
                                        "requests before running a batch smaller than --max-batch."),
    timeout: float = typer.Option(120.0, "--timeout", min=0.1, help="Seconds a request may take, queueing "
                                  "included (then 504)."),
    body_timeout: float = typer.Option(30.0, "--body-timeout", min=0.1, help="Seconds a client may take to send "
                                       "its request body (then 408 and the connection is closed)."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", min=1024, help="Largest request body (then 413)."),
    max_tokens_limit: int = typer.Option(4096, "--max-tokens-limit", min=1, help="Largest max_tokens a request may ask."),
    default_max_tokens: int = typer.Option(256, "--default-max-tokens", min=1, help="max_tokens when a request gives none."),
    max_n: int = typer.Option(8, "--max-n", min=1, help="Largest n (choices per request)."),
    max_messages: int = typer.Option(256, "--max-messages", min=1, help="Most messages in a request."),
    max_tools: int = typer.Option(128, "--max-tools", min=1, help="Most tools in a request."),
    max_rounds_limit: int = typer.Option(8, "--max-rounds-limit", min=1, help="Most refinement rounds a request may ask."),
    torch_threads: Optional[int] = typer.Option(None, "--torch-threads", min=1, help="CPU threads for torch "
                                                "(default: torch's choice). 1 is much faster on a shared, busy machine."),
    device: Optional[str] = typer.Option(None, "--device", help="hf backend: cpu, cuda, cuda:1 ... (default: cuda if present)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug."),
) -> None:
    """Serve POST /v1/chat/completions (tool calls in OpenAI form, adaptive self-refinement), GET /v1/models, GET /health."""
    try:
        api_key = check_api_key(api_key)  # before anything slow: a blank key is a typo, not "no key"
        extra = check_options(refine=refine, max_rounds=max_rounds, confirm=confirm, upstream=upstream,
                              upstream_extra_body=upstream_extra_body, default_max_tokens=default_max_tokens,
                              max_tokens_limit=max_tokens_limit)
        engine_kw = vllm_engine_kw(backend, tensor_parallel_size=tensor_parallel_size,
                                   gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len)
        name, factory = build_generator_factory(
            model=model, backend=backend, upstream=upstream, upstream_model=upstream_model,
            upstream_api_key=upstream_api_key, upstream_prompt_style=upstream_prompt_style,
            upstream_extra_body=extra, device=device, concurrency=max_batch, timeout=timeout,
            torch_threads=torch_threads, engine_kw=engine_kw)
    except (ServeError, ValueError) as e:
        die(str(e), 2)
    if not is_loopback(host) and not api_key:
        typer.echo(f"warning: serving on {host} without an API key: anyone who can reach it can use it", err=True)

    # FastAPI and the request models (pydantic classes, slow to build) load only to serve
    from toolace_r.serving.app import ServeSettings
    from toolace_r.serving.protocol import Limits

    settings = ServeSettings(
        model_name=served_model_name or name, refine=refine, max_rounds=max_rounds, confirm=confirm,
        confirm_bias=confirm_bias,
        api_key=api_key, queue_size=queue_size, max_batch=max_batch, batch_wait=batch_wait_ms / 1000, timeout=timeout,
        body_timeout=body_timeout, max_body_bytes=max_body_bytes,
        limits=Limits(max_tokens=max_tokens_limit, default_max_tokens=default_max_tokens, max_n=max_n,
                      max_messages=max_messages, max_tools=max_tools, max_rounds=max_rounds_limit),
    )
    run_server(settings, factory, host=host, port=port, log_level=log_level, torch_threads=torch_threads)
