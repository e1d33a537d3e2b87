"""The FastAPI application of ``toolace-r serve``: OpenAI-compatible routes around the engine.

Routes:

* ``POST /v1/chat/completions``: messages, tools, tool_choice, temperature, top_p, max_tokens
  (or max_completion_tokens), n, stop, seed, stream (+ stream_options.include_usage); the
  toolace-r extensions ``refine`` (``none`` | ``adaptive`` | ``fixed:N``) and ``max_rounds``
  override the server's refinement per request. See :mod:`toolace_r.serving.protocol`.
* ``GET /v1/models`` and ``GET /v1/models/{id}``: the one served model.
* ``GET /health``: ``{"status": "ok", ...}`` (503 while shutting down); the only route that
  needs no API key.

Guards, outermost first (:class:`Guard`, a plain ASGI middleware): any exception the app lets out
becomes a 500 here (so the connection stays open and the server's own handler never logs a whole
traceback per request); the API key (``Authorization: Bearer KEY``, compared in constant time) on
every route but ``/health``; the body size limit (413, checked on ``Content-Length`` and on the
bytes actually received); the body read timeout (408 and the connection closed, for a client that
sends its body a byte at a time).
Every error is answered in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``:
400 for invalid requests (and for a request whose content the model's tokenizer refuses), 401, 404,
405, 408, 413, 429 (queue full, with ``Retry-After``), 502 (the upstream failed or answered
something that is not a chat completion), 503 (shutting down), 504 (the request timed out); an
unexpected exception gives a 500 with a generic message, and its traceback goes to the server log
only, bounded and once per kind (:class:`~toolace_r.serving.safe.FailureLog`). Every JSON answer
is encoded with :func:`~toolace_r.serving.safe.dumps`, which cannot fail; a stream's events are
all encoded before its 200 is sent. A request whose client disconnects while it waits is dropped
from the queue.

Build one in Python (the command line does this for you)::

    from toolace_r.serving.app import ServeSettings, create_app
    app = create_app(ServeSettings(model_name="tiny"), generator)   # or a function making one
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from toolace_r.models.generation import EndpointError, Generator

from toolace_r.refine import DEFAULT_CONFIRM_BIAS
from toolace_r.serving.engine import BadInput, ContextTooLong, Engine, EngineClosed, QueueFull
from toolace_r.serving.protocol import (
    APIError, Limits, bad_request, build_response, check_request, error_body, new_id, parse_request, request_to_sample,
    stream_events,
)
from toolace_r.serving.safe import FailureLog, dumps

log = logging.getLogger("toolace_r.serve")


@dataclass
class ServeSettings:
    """Everything the server decides (the ``toolace-r serve`` options)."""

    model_name: str
    refine: str = "adaptive"
    max_rounds: int = 3
    confirm: str = "token"  # how the model keeps an answer: token (it confirms) or repeat (it repeats it)
    confirm_bias: float = DEFAULT_CONFIRM_BIAS  # refine.confirm_bias: nats a rewrite must beat the confirmation by
    api_key: str | None = None
    queue_size: int = 64
    max_batch: int = 16
    batch_wait: float = 0.005  # seconds the worker waits for more requests before a small batch
    timeout: float = 120.0  # seconds per request, queueing included
    body_timeout: float = 30.0  # seconds to receive a request's whole body (then 408)
    max_body_bytes: int = 1 << 20
    limits: Limits = field(default_factory=Limits)


class SafeJSONResponse(JSONResponse):
    """A JSON response that always encodes (:func:`~toolace_r.serving.safe.dumps`)."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def _error(status: int, message: str, type: str = "invalid_request_error", code: str | None = None,
           param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return SafeJSONResponse(error_body(message, type, code, param), status_code=status, headers=headers)


class Guard:
    """ASGI middleware: unexpected exceptions -> 500, API key (all routes but /health), request body
    size limit, body read timeout."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int, body_timeout: float,
                 failures: FailureLog):
        self.app, self.api_key, self.max_body, self.body_timeout = app, api_key, max_body_bytes, body_timeout
        self.failures = failures

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._guard(scope, receive, tracked)
        except Exception as e:  # answered here: nothing reaches uvicorn, which would log it all and hang up
            self.failures(f"unexpected error on {scope.get('method')} {scope.get('path')}", e)
            if not started:
                await _error(500, "internal server error (see the server log)", "server_error",
                             "internal_error")(scope, receive, send)

    async def _guard(self, scope: dict, receive: Callable, send: Callable) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.api_key is not None and scope.get("path") != "/health":
            auth = headers.get("authorization", "")
            given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                msg = "invalid API key" if given else "missing API key: send 'Authorization: Bearer <key>'"
                resp = _error(401, msg, "authentication_error", "invalid_api_key",
                              headers={"WWW-Authenticate": "Bearer"})
                return await resp(scope, receive, send)
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        too_big = _error(413, f"the request body is over this server's limit of {self.max_body} bytes",
                         code="request_too_large")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await too_big(scope, receive, send)
        # Read the body here (bounded in size and time) and hand the app a replay of it.
        chunks, size = [], 0
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        while True:
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except asyncio.TimeoutError:
                slow = _error(408, f"the request body did not arrive within {self.body_timeout:g} s",
                              code="request_timeout", headers={"Connection": "close"})
                return await slow(scope, receive, send)
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > self.max_body:
                return await too_big(scope, receive, send)
            chunks.append(body)
            if not msg.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has been read: the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.05)  # a server that answers anything else at once must not make this spin


def create_app(settings: ServeSettings, generator: Union[Generator, Callable[[], Generator]]) -> FastAPI:
    """The application. ``generator`` is a Generator, or a function that makes one (called at
    startup, so that the model loads before the server takes requests)."""
    if settings.api_key is not None and not settings.api_key.strip():
        raise ValueError("the API key is empty: give a key, or none to serve without one")
    state: dict[str, Any] = {"engine": None, "started": time.time()}
    failures = FailureLog(log)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        gen = generator if hasattr(generator, "generate") else generator()
        engine = Engine(gen, queue_size=settings.queue_size, max_batch=settings.max_batch,
                        batch_wait=settings.batch_wait, confirm=settings.confirm,
                        confirm_bias=settings.confirm_bias, failures=failures)
        await engine.start()
        state["engine"] = engine
        log.info("serving %s (refine %s, max rounds %d, confirm %s)", settings.model_name, settings.refine,
                 settings.max_rounds, settings.confirm)
        try:
            yield
        finally:
            # uvicorn has stopped accepting connections and waited for the open requests;
            # whatever is still queued is finished here before the process exits.
            await engine.close(drain_timeout=settings.timeout)

    app = FastAPI(title="toolace-r", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError) -> JSONResponse:
        return SafeJSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code)
        message = {404: f"no route {request.method} {request.url.path}",
                   405: f"method {request.method} is not allowed on {request.url.path}"}.get(e.status_code, str(e.detail))
        return _error(e.status_code, message, code=code, headers=getattr(e, "headers", None))

    def engine() -> Engine:
        eng = state["engine"]
        if eng is None or eng.closing:
            raise APIError(503, "the server is starting or shutting down", type="server_error", code="unavailable")
        return eng

    def model_card() -> dict[str, Any]:
        return {"id": settings.model_name, "object": "model", "created": int(state["started"]), "owned_by": "toolace-r"}

    @app.get("/health")
    async def health() -> JSONResponse:
        eng = state["engine"]
        if eng is None or eng.closing:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "model": settings.model_name, "queued": eng.queued,
                             "running": eng.running, "served": eng.served, "rejected": eng.rejected,
                             "dropped": eng.dropped, "cut_short": eng.cut_short})

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> dict[str, Any]:
        if model_id != settings.model_name:
            raise APIError(404, f"the model {model_id!r} does not exist; this server serves {settings.model_name!r}",
                           code="model_not_found", param="model")
        return model_card()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        req = parse_request(await request.body())
        if req.model != settings.model_name:
            raise APIError(404, f"the model {req.model!r} does not exist; this server serves {settings.model_name!r}",
                           code="model_not_found", param="model")
        plan = check_request(req, settings.limits, settings.refine, settings.max_rounds)
        if plan.constrain:  # a guarantee this backend cannot keep is refused, not silently broken
            check = getattr(engine().generator, "constraint_problem", None)
            problem = check() if check else "tool_choice 'required' or a named function cannot be enforced here"
            if problem:
                raise bad_request(problem, "tool_choice", "unsupported")
        request_id = new_id("chatcmpl-")
        try:
            sample, names = request_to_sample(req, request_id)
        except (ValueError, TypeError, RecursionError) as e:  # the request's content, past the checks
            failures("a request could not be read", e, logging.WARNING)
            raise APIError(400, "the request's messages or tools could not be read", code="invalid_value") from None
        eng = engine()
        try:
            job = eng.submit(sample, plan)
        except QueueFull as e:
            raise APIError(429, str(e), type="rate_limit_error", code="queue_full", headers={"Retry-After": "1"}) from None
        except EngineClosed as e:
            raise APIError(503, str(e), type="server_error", code="unavailable") from None
        result = await _result(request, eng, job)
        if result is None:  # the client has gone: nobody reads this
            return Response(status_code=499)
        response = build_response(request_id, settings.model_name, result.results, result.first_tokens,
                                  result.prompt_tokens, names, plan)
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            # every event encoded now, before the 200: nothing can fail once the stream is open
            events = [e.encode("utf-8") for e in stream_events(response, include_usage)]
            return StreamingResponse(iter(events), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return SafeJSONResponse(response)

    async def _result(request: Request, eng: Engine, job: Any) -> Any:
        """The job's result, or None when the client disconnects first (the job is then dropped if
        it has not run); engine failures as :class:`APIError`."""
        waiting = asyncio.ensure_future(eng.wait(job, settings.timeout))
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not waiting.done():
                waiting.cancel()
        if waiting not in done:
            eng.cancel(job)  # not run if it has not started
            return None
        try:
            return waiting.result()
        except asyncio.TimeoutError:
            raise APIError(504, f"the request did not finish within {settings.timeout:g} s", type="timeout_error",
                           code="timeout") from None
        except ContextTooLong as e:
            raise APIError(400, str(e), code="context_length_exceeded", param="messages") from None
        except BadInput as e:
            raise APIError(400, str(e), code="invalid_value", param="messages") from None
        except EngineClosed as e:
            raise APIError(503, str(e), type="server_error", code="unavailable") from None
        except EndpointError as e:
            raise APIError(502, f"the upstream server failed: {e}", type="upstream_error", code="bad_gateway") from None
        except Exception:  # logged by the engine (FailureLog); this request alone fails
            raise APIError(500, "generation failed for this request (see the server log)", type="server_error",
                           code="internal_error") from None

    app.add_middleware(Guard, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes,
                       body_timeout=settings.body_timeout, failures=failures)
    return app
