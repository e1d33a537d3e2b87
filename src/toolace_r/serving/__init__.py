"""Serving: ``toolace-r serve``, an OpenAI-compatible chat-completions server with tool calling
and adaptive self-refinement, over a local model or an upstream OpenAI-compatible server.

Modules: :mod:`~toolace_r.serving.protocol` (request validation, request -> sample, response and
stream formats), :mod:`~toolace_r.serving.engine` (bounded queue, batching worker that runs
refinement), :mod:`~toolace_r.serving.app` (the FastAPI routes and guards),
:mod:`~toolace_r.serving.safe` (text checks at the edge, JSON encoding that cannot fail, the
bounded failure log), :mod:`~toolace_r.serving.server` (option checks, the generator to serve,
uvicorn; the command is :mod:`toolace_r.cli.serve`). Launch: ``toolace-r serve --model DIR``; see docs/serve.md.
"""
