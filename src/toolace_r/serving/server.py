"""Running ``toolace-r serve``: the option checks, which generator to serve (a local model, or an
upstream OpenAI-compatible server whose answers this server refines), and the uvicorn server
around :func:`toolace_r.serving.app.create_app`.

Light at import: httpx, FastAPI, uvicorn, torch and the model load only when :func:`run_server` runs
(or the generator factory is called).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from toolace_r.models.generation import Generator, OpenAIGenerator, make_generator
from toolace_r.models.refs import ModelRefError, resolve_model
from toolace_r.refine import check_confirm, parse_mode

if TYPE_CHECKING:
    from toolace_r.serving.app import ServeSettings

GeneratorFactory = Callable[[], Generator]


class ServeError(ValueError):
    """A bad option; the message says which and why."""


API_KEY_ENV = "TOOLACE_R_API_KEY"


def check_api_key(key: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """The server's API key (None: no authentication), or :class:`ServeError` for a key that would
    silently turn authentication off or that no client can send (blank, or whitespace around it).
    ``key`` is ``--api-key``, else :data:`API_KEY_ENV` (typer reads it; an empty variable reads as
    unset there, so it is checked here)."""
    if key is None:
        if env.get(API_KEY_ENV) is not None and not env[API_KEY_ENV].strip():
            raise ServeError(f"{API_KEY_ENV} is set but empty: give it a key, or unset it to serve without one")
        return None
    if not key.strip():
        raise ServeError(f"--api-key is empty: give a key (best through {API_KEY_ENV}, which stays out of the "
                         "process list), or leave the option out to serve without one")
    if key != key.strip():
        raise ServeError("the API key starts or ends with whitespace, which no client can send")
    return key


def upstream_model_name(base_url: str, api_key: str | None) -> str:
    """The first model the upstream server lists at ``GET /models``."""
    import httpx  # ~0.1 s: only when an upstream is named without its model

    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(url, headers=headers, timeout=10.0)
        r.raise_for_status()
        data = r.json().get("data") or []
        return str(data[0]["id"])
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise ServeError(f"--upstream-model not given and {url} did not list a model ({type(e).__name__}: {e}); "
                         "name it with --upstream-model") from None


def is_loopback(host: str) -> bool:
    """Is ``host`` reachable only from this machine (``localhost`` or a loopback address)?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(*, refine: str, max_rounds: int, upstream: str | None, upstream_extra_body: str | None,
                  default_max_tokens: int, max_tokens_limit: int, confirm: str = "token") -> dict[str, Any] | None:
    """Validate the options that do not depend on the model; return ``--upstream-extra-body`` parsed.

    Raises :class:`ServeError` (or ``ValueError`` for a bad refinement mode or JSON)."""
    parse_mode(refine, max_rounds)
    check_confirm(confirm)
    extra = json.loads(upstream_extra_body) if upstream_extra_body else None
    if extra is not None and not isinstance(extra, dict):
        raise ServeError("--upstream-extra-body must be a JSON object")
    if upstream_extra_body and upstream is None:
        raise ServeError("--upstream-extra-body goes with --upstream")
    if default_max_tokens > max_tokens_limit:
        raise ServeError("--default-max-tokens is over --max-tokens-limit")
    return extra


def build_generator_factory(
    *, model: str | None, backend: str, upstream: str | None, upstream_model: str | None,
    upstream_api_key: str | None, upstream_prompt_style: str, upstream_extra_body: dict[str, Any] | None,
    device: str | None, concurrency: int, timeout: float, torch_threads: int | None = None,
    engine_kw: dict[str, Any] | None = None,
) -> tuple[str, GeneratorFactory]:
    """``(default served name, function that makes the generator)``; validates the options.
    ``engine_kw``: vLLM engine settings for ``--backend vllm`` (:func:`~toolace_r.models.generation.vllm_engine_kw`)."""
    if (model is None) == (upstream is None):
        raise ServeError("give exactly one of --model PATH (a local model) or --upstream URL (a remote server)")
    if upstream is not None:
        if upstream_prompt_style not in ("template", "system"):
            raise ServeError(f"--upstream-prompt-style must be template or system, not {upstream_prompt_style!r}")
        name = upstream_model or upstream_model_name(upstream, upstream_api_key)

        def make_upstream() -> Generator:
            return OpenAIGenerator(name, base_url=upstream, api_key=upstream_api_key, concurrency=concurrency,
                                   timeout=timeout, max_retries=1, extra_body=upstream_extra_body,
                                   prompt_style=upstream_prompt_style)

        return name, make_upstream
    if backend not in ("hf", "vllm"):
        raise ServeError(f"--backend must be hf or vllm, not {backend!r} (for a remote server use --upstream)")
    assert model is not None
    try:
        folder = str(resolve_model(model, what="--model"))
    except ModelRefError as e:
        raise ServeError(str(e)) from None

    def make_local() -> Generator:
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)

        kw = {"device": device} if backend == "hf" and device else {}
        return make_generator(backend, folder, **kw, **(engine_kw or {}))

    return Path(model.rstrip("/")).name or model, make_local


def run_server(settings: ServeSettings, factory: GeneratorFactory, *, host: str, port: int, log_level: str,
               torch_threads: int | None = None) -> None:
    """Serve ``create_app(settings, factory)`` with uvicorn until SIGINT/SIGTERM."""
    if torch_threads:
        # Before torch is imported: OpenMP reads these once, for every thread it starts.
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(torch_threads)
    import uvicorn

    from toolace_r.serving.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, factory)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level,
        # Connections beyond the queue get uvicorn's 503 instead of piling up.
        limit_concurrency=settings.queue_size + settings.max_batch + 64,
        # On SIGINT/SIGTERM, requests in flight get up to their own timeout to finish.
        timeout_graceful_shutdown=int(settings.timeout) + 5,
    )
    uvicorn.Server(config).run()
