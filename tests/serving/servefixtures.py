"""Helpers for the serving tests: the fixtures and tool schemas of tests/models
(loaded from its conftest under a unique module name, not copied), and a real uvicorn server on a
free loopback port in a background thread."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_spec = importlib.util.spec_from_file_location("models_conftest", Path(__file__).parents[1] / "models" / "conftest.py")
assert _spec is not None and _spec.loader is not None
models_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(models_conftest)

WEATHER = models_conftest.WEATHER
TIME = models_conftest.TIME


def openai_tools(*fns: dict) -> list[dict]:
    return [{"type": "function", "function": f} for f in fns]


@contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:<free port> (lifespan on); yields the /v1 base URL.
    On exit the server shuts down gracefully, as on SIGTERM."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def serve_model(model_dir: Path, **settings: Any):
    """A running server (context manager) for a local model directory, with the given ServeSettings."""
    from toolace_r.models.generation import HFGenerator
    from toolace_r.serving.app import ServeSettings, create_app

    settings.setdefault("model_name", "tiny")
    return running_server(create_app(ServeSettings(**settings), lambda: HFGenerator(model_dir)))
