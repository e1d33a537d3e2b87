"""Adaptive self-refinement at inference (method.md 1.3).

::

    y_0 = M(x)
    for r = 1 .. R_max:
        y_r = M(refine_prompt(x, y_{r-1}))
        if calls(y_r) == calls(y_{r-1}): stop      # the model repeated itself: final
    return y_r

The model decides when to stop: an answer it repeats unchanged (canonical equality of the
parsed calls, :func:`toolace_r.calls.answers_equal`) is final. ``fixed:N`` always runs N
refinement rounds; ``none`` is the single pass. All prompts of a round go to the generator in
one batched call, so the cost of a round is one batched pass over the samples still active.

Cost is reported per sample: ``rounds`` (refinement calls made after the first pass) and
``tokens`` (generated tokens over all passes, the first included).

Python use::

    from toolace_r.refine import refine
    results = refine(generator, samples, mode="adaptive", max_rounds=3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from toolace_r.calls import answers_equal


@dataclass
class RefineResult:
    final: str
    rounds: int = 0
    tokens: int = 0
    last_tokens: int = 0  # tokens of the pass that gave ``final`` (== max_new_tokens: maybe cut off)
    trajectory: list[str] = field(default_factory=list)  # y_0, y_1, ...


def parse_mode(mode: str, max_rounds: int = 3) -> tuple[str, int]:
    """``"none"`` -> ("none", 0); ``"adaptive"`` -> ("adaptive", max_rounds); ``"fixed:N"`` -> ("fixed", N)."""
    if mode == "none":
        return "none", 0
    if mode == "adaptive":
        if max_rounds < 1:
            raise ValueError(f"adaptive refinement needs max_rounds >= 1, got {max_rounds}")
        return "adaptive", max_rounds
    if mode.startswith("fixed:"):
        try:
            n = int(mode.split(":", 1)[1])
        except ValueError:
            n = -1
        if n < 1:
            raise ValueError(f"bad refinement mode {mode!r}: write fixed:N with N >= 1, e.g. fixed:3")
        return "fixed", n
    raise ValueError(f"unknown refinement mode {mode!r}; use none, adaptive or fixed:N")


def refine(
    generator: Any,
    samples: Sequence[Any],
    mode: str = "adaptive",
    *,
    max_rounds: int = 3,
    prompt_cfg: Any = None,
    max_new_tokens: int = 128,
    first: Sequence[Any] | None = None,
) -> list[RefineResult]:
    """Run the first pass (or take it from ``first``: completions already generated for the
    same plain prompts) and then refinement rounds, greedily. Returns one result per sample."""
    from toolace_r.models.prompting import build_messages, refine_messages

    # the prompt style the model was trained with (recorded in its folder), unless told otherwise
    prompt_cfg = prompt_cfg or getattr(generator, "prompt_config", None)
    kind, rounds = parse_mode(mode, max_rounds)
    if first is None:
        prompts = [build_messages(s, prompt_cfg) for s in samples]
        first = [c[0] for c in generator.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens)]
    results = [RefineResult(final=c.text, tokens=c.n_tokens, last_tokens=c.n_tokens, trajectory=[c.text]) for c in first]
    active = list(range(len(samples)))
    for _ in range(rounds):
        if not active:
            break
        prompts = [refine_messages(samples[i], results[i].final, prompt_cfg) for i in active]
        outs = generator.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens)
        still = []
        for i, comps in zip(active, outs):
            c = comps[0]
            r = results[i]
            stop = kind == "adaptive" and answers_equal(c.text, r.final)
            r.rounds += 1
            r.tokens += c.n_tokens
            r.last_tokens = c.n_tokens
            r.trajectory.append(c.text)
            r.final = c.text
            if not stop:
                still.append(i)
        active = still
    return results
