"""The model's context window, and whether a prompt fits in it: one check shared by the server
(a request over the context is a 400) and the multi-turn loop (an entry whose conversation outgrows
the context is force-quit). Local backends only: a remote model's tokenizer is not at hand, so
there every prompt "fits" and the remote server decides."""

from __future__ import annotations

from typing import Any, Callable


def context_limit(generator: Any) -> int | None:
    """The model's context window where the backend exposes it (``max_position_embeddings``)."""
    cfg = getattr(getattr(generator, "model", None), "config", None)
    n = getattr(cfg, "max_position_embeddings", None)
    return n if isinstance(n, int) and n > 0 else None


def prompt_length(generator: Any, prompt: Any) -> int | None:
    """Tokens of a ``(messages, tools)`` prompt for local backends; None for remote ones."""
    if hasattr(generator, "encode"):
        return len(generator.encode(prompt))
    tok = getattr(generator, "tokenizer", None)
    if tok is not None:
        from toolace_r.models.prompting import encode_prompt

        return len(encode_prompt(tok, *prompt))
    return None


def fits_check(generator: Any, max_tokens: int, limit: int | None = None) -> Callable[[Any], bool] | None:
    """``fits(prompt)``: whether the prompt and ``max_tokens`` new tokens stay within ``limit``
    (default: :func:`context_limit`); None when the limit is unknown (everything fits)."""
    limit = limit or context_limit(generator)
    if not limit:
        return None

    def fits(prompt: Any) -> bool:
        n = prompt_length(generator, prompt)
        return n is None or n + max_tokens <= limit

    return fits
