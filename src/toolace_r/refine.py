"""Adaptive self-refinement at inference (method.md 1.3): the one "first pass, then refinement
rounds" loop, used by evaluation (``toolace-r run`` and ``toolace-r eval``) and the server.

::

    y_0 = M(x)
    for r = 1 .. R_max:
        y_r = M(refine_prompt(x, y_{r-1}))
        if calls(y_r) == calls(y_{r-1}): stop      # the model repeated itself: final
    return y_r

The model decides when to stop: an answer it repeats unchanged (canonical equality of the
parsed calls, :func:`toolace_r.calls.answers_equal`) is final. ``fixed:N`` always runs N
refinement rounds; ``none`` is the single pass. All prompts of a round go to the generator in
one batched call, so the cost of a round is one batched pass over the answers still active.

The first pass may sample ``n`` choices per sample (``temperature`` / ``top_p`` / ``seed``, as
the server does); every choice is then refined on its own, greedily. Without sampling settings
the first pass is greedy with one choice.

Cost is reported per answer: ``rounds`` (refinement calls made after the first pass) and
``tokens`` (generated tokens over all passes, the first included; ``first_tokens`` is the first
pass's share).

Python use::

    from toolace_r.refine import refine
    results = refine(generator, samples, mode="adaptive", max_rounds=3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from toolace_r.calls import answers_equal
from toolace_r.models.prompting import PromptConfig, build_messages, refine_messages

if TYPE_CHECKING:
    from toolace_r.data.schema import Sample
    from toolace_r.models.generation import Completion, Generator


@dataclass
class RefineResult:
    """One answer's refinement: the final text and what it cost."""

    final: str
    rounds: int = 0
    tokens: int = 0
    last_tokens: int = 0  # tokens of the pass that gave ``final`` (== max_new_tokens: maybe cut off)
    trajectory: list[str] = field(default_factory=list)  # y_0, y_1, ...
    first_tokens: int = 0  # tokens of the first pass y_0


@dataclass(frozen=True)
class Sampling:
    """How the first pass samples: ``n`` choices per prompt at ``temperature`` / ``top_p``, with
    ``seed`` (greedy, one choice by default). Refinement rounds are always greedy."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


GREEDY = Sampling()


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


def first_pass(
    generator: "Generator",
    samples: Sequence["Sample"],
    *,
    prompt_cfg: PromptConfig | None = None,
    max_new_tokens: int = 128,
    sampling: Sampling = GREEDY,
    positions: Sequence[int] | None = None,
) -> list["Completion"]:
    """The first pass over ``samples``: ``sampling.n`` completions per sample, flat and sample-major
    (sample 0's choices, then sample 1's, ...). ``positions``: where the samples stand in the whole
    set when this is one process's share of it (sampled answers depend on the seed and the position)."""
    prompt_cfg = prompt_cfg or generator.prompt_config
    prompts = [build_messages(s, prompt_cfg) for s in samples]
    outs = generator.generate(prompts, n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                              max_new_tokens=max_new_tokens, seed=sampling.seed, positions=positions)
    return [c for comps in outs for c in comps]


def refine(
    generator: "Generator",
    samples: Sequence["Sample"],
    mode: str = "adaptive",
    *,
    max_rounds: int = 3,
    prompt_cfg: PromptConfig | None = None,
    max_new_tokens: int = 128,
    first: Sequence["Completion"] | None = None,
    sampling: Sampling = GREEDY,
) -> list[RefineResult]:
    """Run the first pass (:func:`first_pass` with ``sampling``, or take it from ``first``:
    completions already generated for the same plain prompts, ``sampling.n`` per sample, flat)
    and then greedy refinement rounds of every answer. Returns one result per answer:
    ``len(samples) * sampling.n``, sample-major."""
    # the prompt style the model was trained with (recorded in its folder), unless told otherwise
    prompt_cfg = prompt_cfg or generator.prompt_config
    kind, rounds = parse_mode(mode, max_rounds)
    if first is None:
        first = first_pass(generator, samples, prompt_cfg=prompt_cfg, max_new_tokens=max_new_tokens, sampling=sampling)
    if len(first) != len(samples) * sampling.n:
        raise ValueError(f"first pass has {len(first)} answers for {len(samples)} samples x {sampling.n} choices")
    # the sample each answer belongs to
    owner = [samples[i // sampling.n] for i in range(len(first))]
    results = [RefineResult(final=c.text, tokens=c.n_tokens, last_tokens=c.n_tokens, trajectory=[c.text],
                            first_tokens=c.n_tokens) for c in first]
    active = list(range(len(results)))
    for _ in range(rounds):
        if not active:
            break
        prompts = [refine_messages(owner[i], results[i].final, prompt_cfg) for i in active]
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
