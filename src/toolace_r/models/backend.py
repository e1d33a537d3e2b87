"""The interface every generation backend implements (:mod:`toolace_r.models.generation` has the
backends and re-exports all of this): :class:`Generator`, its :class:`Completion` results, the
``(messages, tools)`` :data:`Prompt` type, and :func:`prompt_seed`, the per-prompt sampling seed
that makes a prompt's answers independent of how the prompts were split into calls."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from toolace_r.models.prompting import CONFIRM_TEXT, PromptConfig

if TYPE_CHECKING:
    from toolace_r.models.prefix_cache import PrefixCache

Prompt = tuple[list[dict[str, Any]], "list[dict[str, Any]] | None"]


@dataclass(frozen=True)
class Completion:
    """One sampled answer: its text (end-of-turn token removed), the number of tokens generated
    (end token included: the cost), and those token ids where the backend exposes them.

    ``prompt_tokens``: the prompt's length (0 where the backend does not know it).
    ``prefill_tokens``: the prompt tokens the model actually computed for it: ``prompt_tokens``
    unless the hf backend reused a cached prefix (:class:`~toolace_r.models.prefix_cache.PrefixCache`).
    The n answers of one prompt share one prefill, so it is counted once, on the first answer
    (the others carry 0): summing ``prefill_tokens`` over all completions gives the work done.
    Both are accounting, not part of the answer: ``==`` ignores them."""

    text: str
    n_tokens: int
    token_ids: tuple[int, ...] = ()
    prompt_tokens: int = field(default=0, compare=False)
    prefill_tokens: int = field(default=0, compare=False)


def prompt_seed(seed: int, position: int) -> int:
    """The sampling seed of the prompt at ``position`` of a call made with ``seed`` (31 bits, which
    every backend and server accepts)."""
    digest = hashlib.sha256(f"{seed}/{position}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _positions(n_prompts: int, positions: Sequence[int] | None) -> list[int]:
    if positions is None:
        return list(range(n_prompts))
    if len(positions) != n_prompts:
        raise ValueError(f"positions has {len(positions)} entries for {n_prompts} prompts")
    return list(positions)


def _check_args(prompts: Sequence[Any], n: int, temperature: float, top_p: float, max_new_tokens: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    for i, p in enumerate(prompts):
        if not (isinstance(p, (tuple, list)) and len(p) == 2 and isinstance(p[0], list)):
            raise TypeError(f"prompt {i} must be a (messages, tools) pair, got {type(p).__name__}")


class Generator(ABC):
    """Samples completions for chat prompts. Subclasses implement :meth:`generate`.

    ``prompt_config`` is how the model expects its prompts (``toolace_r.json`` in a model
    directory; the default system-prompt style otherwise): build prompts with it."""

    prompt_config: PromptConfig | None = None
    # What this model answers a right previous answer with (refine.confirm=token): its tokenizer's
    # <|confirm|> token where it has one, kept in the decoded text; CONFIRM_TEXT for remote models.
    confirm_text: str = CONFIRM_TEXT

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[Prompt],
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 128,
        seed: int = 0,
        positions: Sequence[int] | None = None,
        cache: PrefixCache | None = None,
        constraints: Sequence[Any] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions for each ``(messages, tools)`` prompt, in prompt order. ``positions``:
        where these prompts stand in the full list a caller split (default 0, 1, ...); the random
        stream of a prompt is seeded by :func:`prompt_seed` ``(seed, position)``. ``cache``: a
        :class:`~toolace_r.models.prefix_cache.PrefixCache` the caller keeps across calls (the
        hf backend reuses and fills it; the others ignore it: vLLM caches prefixes itself).
        ``constraints``: a :class:`~toolace_r.models.constrain.CallConstraint` or None per prompt
        (``tool_choice``: the answers must be calls of its functions); backends that cannot
        enforce one raise rather than ignore it."""

    def constraint_problem(self) -> str | None:
        """Why this backend cannot enforce ``constraints`` (``tool_choice``), or None when it can."""
        return f"tool_choice 'required' or a named function cannot be enforced by the {type(self).__name__} backend"

    def close(self) -> None:  # pragma: no cover - default: nothing to release
        pass

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
