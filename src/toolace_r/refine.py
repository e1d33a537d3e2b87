"""Adaptive self-refinement at inference (method.md 1.3): the one "first pass, then refinement
rounds" loop, used by evaluation (``toolace-r run`` and ``toolace-r eval``) and the server.

::

    y_0 = M(x)
    for r = 1 .. R_max:
        y_r = M(x, y_0, check, y_1, check, ..., y_{r-1}, check)   # the conversation continues
        if y_r is the confirmation: stop, keep y_{r-1}          # confirm=token
        if calls(y_r) == calls(y_{r-1}): stop                   # the model repeated itself
    return the last answer

Each round continues the conversation (:func:`toolace_r.models.prompting.refine_messages` with all
answers so far): round r's prompt is round r-1's prompt, its answer and the check request, so
every prompt and answer is a prefix of the next prompt (what a prefix KV cache reuses).

How the model keeps an answer (``confirm``):

* ``repeat`` (the paper's rule): it answers the same calls again (canonical equality of the parsed
  calls, :func:`toolace_r.calls.answers_equal`); adaptive stops there. A whole second answer is the
  price of every stop.
* ``token`` (default): it answers with the confirmation, ``generator.confirm_text`` (its
  tokenizer's ``<|confirm|>`` token where it has one, else ``Confirmed.``;
  :func:`toolace_r.models.prompting.confirmation`), one token plus the end of turn. The final
  answer is then the previous one: a confirmation is never a final answer. A repeated answer
  stops adaptive too (a model that repeats instead of confirming has kept its answer as well).

``confirm_bias`` (``refine.confirm_bias``; confirm=token, hf backend): a round's first token is
picked with ``confirm_bias`` added to the confirmation's logit, so the model rewrites its answer
only where it prefers a rewrite to the confirmation by more than that many nats (greedy; the rest
of the pass is unchanged; a pass that picks the confirmation token ends there). A departure from
the paper, where any change is taken: a small model that cannot yet judge its own answers breaks
right ones far more often than it fixes wrong ones (benchmarks/README.md), and every rewrite costs
a whole answer. Other backends ignore it (:func:`effective_confirm_bias`).

``rewrite`` is a diagnostic, not a way to serve: one round in which the model may not confirm
(confirm=token, hf backend: the confirmation's first token is lowered by :data:`REWRITE_BAN` nats at
the round's first step), so every answer is rewritten. Its first answers fixed bound what any stop
rule could gain: a perfect judge, rewriting exactly the wrong first answers, would add those fixes
and break nothing. On a backend without ``confirm_bias`` (or with confirm=repeat) it is ``fixed:1``.

``fixed:N`` runs N rounds whatever the answers, except that a confirmation (confirm=token) ends the
trajectory: the conversation would only grow by a turn that changes nothing. ``none`` is the single
pass. A round is one batched ``generate`` call over the answers still active. ``fits`` (the
server's context check) drops an answer from a round whose prompt would not fit: it stops refining
and keeps its last answer (``RefineResult.context_stop``). ``wanted`` (the server: is the client
still there?) is asked before each round; an answer whose sample is no longer wanted is not refined
further.

Samples go through in chunks of ``chunk_size``: a chunk's first pass and all its rounds (in every
mode asked, :func:`refine_modes`) before the next chunk, so that per-chunk state such as a prefix KV
cache stays small. The first pass may sample ``n`` choices per sample (``temperature`` / ``top_p``
/ ``seed``, as the server does); every choice is then refined on its own, greedily.

``constraints`` (one :class:`~toolace_r.models.constrain.CallConstraint` or None per sample; the
server's ``tool_choice``) go to the first pass and to every round: each pass of a constrained
answer is calls of the allowed functions, or in a round also the confirmation (confirm=token),
which keeps the previous, constrained answer; a constrained round cut off by ``max_new_tokens``
before its calls are complete ends the refinement and keeps the previous answer too.

Cost per answer (:class:`RefineResult`): ``rounds`` (refinement calls after the first pass, the
confirming one included), ``tokens`` (generated tokens over all passes, the first included;
``first_tokens`` is the first pass's share), ``prompt_tokens`` / ``prefill_tokens`` (prompt tokens
over all passes, and those actually prefilled, where the backend's completions say).

Python use::

    from toolace_r.refine import refine
    results = refine(generator, samples, mode="adaptive", max_rounds=3, confirm="token")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from toolace_r import memory
from toolace_r.calls import answers_equal, parse_calls
from toolace_r.models.prompting import CONFIRM_MODES, PromptConfig, build_messages, is_confirmation, refine_messages

if TYPE_CHECKING:
    from toolace_r.data.schema import Sample
    from toolace_r.models.generation import Completion, Generator, Prompt

CHUNK_SIZE = 64  # samples taken through the first pass and every round together
# refine.confirm_bias's default (nats), chosen on the embedded default run's dev split (benchmarks/README.md)
DEFAULT_CONFIRM_BIAS = 3.0
# the ``rewrite`` mode's confirm bias: low enough that no logit beats it, finite so the sum stays a number
REWRITE_BAN = -1e4


@dataclass
class RefineResult:
    """One answer's refinement: the final text and what it cost."""

    final: str
    rounds: int = 0
    tokens: int = 0
    last_tokens: int = 0  # tokens of the pass that gave ``final`` (== max_new_tokens: maybe cut off)
    trajectory: list[str] = field(default_factory=list)  # every pass's text: y_0, y_1, ... (a confirmation last)
    first_tokens: int = 0  # tokens of the first pass y_0
    prompt_tokens: int = 0  # prompt tokens over all passes (0 where the backend does not say)
    prefill_tokens: int = 0  # of those, the ones the backend prefilled (fewer with a prefix cache)
    confirmed: bool = False  # the last pass confirmed ``final`` (confirm=token)
    context_stop: bool = False  # refinement stopped early: the next pass would not fit (``fits``)

    def add_pass(self, c: Completion) -> None:
        """Book one generated pass: its text and its cost."""
        self.trajectory.append(c.text)
        self.tokens += c.n_tokens
        # Completion.prompt_tokens / prefill_tokens come from backends that count them
        prompt = getattr(c, "prompt_tokens", None) or 0
        prefill = getattr(c, "prefill_tokens", None)
        self.prompt_tokens += prompt
        self.prefill_tokens += prompt if prefill is None else prefill


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
    """``"none"`` -> ("none", 0); ``"adaptive"`` -> ("adaptive", max_rounds); ``"fixed:N"`` -> ("fixed", N);
    ``"rewrite"`` -> ("rewrite", 1)."""
    if mode == "none":
        return "none", 0
    if mode == "rewrite":
        return "rewrite", 1
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
    raise ValueError(f"unknown refinement mode {mode!r}; use none, adaptive, fixed:N or rewrite")


def check_confirm(confirm: str) -> str:
    """``confirm`` if it is a known rule (``repeat`` or ``token``), else ValueError."""
    if confirm not in CONFIRM_MODES:
        raise ValueError(f"unknown confirm rule {confirm!r}; use repeat or token")
    return confirm


def check_confirm_bias(confirm_bias: float) -> float:
    """``confirm_bias`` if it is >= 0 (a head start of the confirmation, in nats), else ValueError."""
    if not confirm_bias >= 0:
        raise ValueError(f"confirm_bias must be >= 0, got {confirm_bias}")
    return confirm_bias


def effective_confirm_bias(generator: "Generator", confirm: str, confirm_bias: float) -> float:
    """The confirm bias ``generator``'s rounds get: ``confirm_bias`` under confirm=token on a backend
    that applies it (hf), else 0 (what ``results.json`` of ``toolace-r eval`` records)."""
    return confirm_bias if confirm == "token" and getattr(generator, "confirm_bias_ok", False) else 0.0


def first_pass(
    generator: "Generator",
    samples: Sequence["Sample"],
    *,
    prompt_cfg: PromptConfig | None = None,
    max_new_tokens: int = 128,
    sampling: Sampling = GREEDY,
    positions: Sequence[int] | None = None,
    **generate_kw: Any,
) -> list["Completion"]:
    """The first pass over ``samples``: ``sampling.n`` completions per sample, flat and sample-major
    (sample 0's choices, then sample 1's, ...). ``positions``: where the samples stand in the whole
    set when this is a share of it (sampled answers depend on the seed and the position).
    ``generate_kw`` goes to ``generator.generate`` as it is."""
    prompt_cfg = prompt_cfg or generator.prompt_config
    prompts = [build_messages(s, prompt_cfg) for s in samples]
    outs = generator.generate(prompts, n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                              max_new_tokens=max_new_tokens, seed=sampling.seed, positions=positions, **generate_kw)
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
    confirm: str = "token",
    chunk_size: int = CHUNK_SIZE,
    fits: Callable[[Prompt], bool] | None = None,
    constraints: Sequence[Any] | None = None,
    wanted: Callable[[Sample], bool] | None = None,
    confirm_bias: float = 0.0,
) -> list[RefineResult]:
    """Run the first pass (:func:`first_pass` with ``sampling``, or take it from ``first``:
    completions already generated for the same plain prompts, ``sampling.n`` per sample, flat)
    and then greedy refinement rounds of every answer. Returns one result per answer:
    ``len(samples) * sampling.n``, sample-major. ``fits``: whether a refinement prompt may be
    generated (the server: prompt + max_new_tokens within the model's context); an answer whose
    next prompt does not fit stops refining and keeps its last answer (``context_stop``).
    ``confirm_bias``: see the module docstring; 0 here (the paper's rule), while ``toolace-r run``,
    ``eval`` and ``serve`` default to :data:`DEFAULT_CONFIRM_BIAS`."""
    outputs, _ = refine_modes(generator, samples, [mode], max_rounds=max_rounds, prompt_cfg=prompt_cfg,
                              max_new_tokens=max_new_tokens, first=first, sampling=sampling, confirm=confirm,
                              chunk_size=chunk_size, fits=fits, constraints=constraints, wanted=wanted,
                              confirm_bias=confirm_bias)
    return outputs[mode]


def refine_modes(
    generator: "Generator",
    samples: Sequence["Sample"],
    modes: Sequence[str],
    *,
    max_rounds: int = 3,
    prompt_cfg: PromptConfig | None = None,
    max_new_tokens: int = 128,
    first: Sequence["Completion"] | None = None,
    sampling: Sampling = GREEDY,
    confirm: str = "token",
    chunk_size: int = CHUNK_SIZE,
    fits: Callable[[Prompt], bool] | None = None,
    on_done: Callable[[int], Any] | None = None,
    constraints: Sequence[Any] | None = None,
    wanted: Callable[[Sample], bool] | None = None,
    confirm_bias: float = 0.0,
) -> tuple[dict[str, list[RefineResult]], dict[str, float]]:
    """:func:`refine` in several modes over one shared first pass, chunk by chunk. Returns the
    results by mode and the wall seconds spent: ``"first"`` (the first pass) and per mode (its
    own rounds only). ``on_done(n)`` is called as each chunk of ``n`` samples is finished in
    every mode (a progress bar's tick)."""
    # the prompt style the model was trained with (recorded in its folder), unless told otherwise
    prompt_cfg = prompt_cfg or generator.prompt_config
    plans = {m: parse_mode(m, max_rounds) for m in modes}
    check_confirm(confirm)
    check_confirm_bias(confirm_bias)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    n = sampling.n
    if first is not None and len(first) != len(samples) * n:
        raise ValueError(f"first pass has {len(first)} answers for {len(samples)} samples x {n} choices")
    if constraints is not None and len(constraints) != len(samples):
        raise ValueError(f"constraints has {len(constraints)} entries for {len(samples)} samples")
    if constraints is not None and all(c is None for c in constraints):
        constraints = None  # backends without constrained decoding never see the keyword
    outputs: dict[str, list[RefineResult]] = {m: [] for m in modes}
    seconds = {"first": 0.0, **{m: 0.0 for m in modes}}
    # A prefix cache is read by the refinement rounds, and by a first pass of several batches (its
    # later batches reuse the earlier ones' prompts); a first pass of one batch with no rounds after
    # it would only fill it.
    one_batch = chunk_size * n <= getattr(generator, "max_batch_rows", 0)
    reuse = getattr(generator, "prefix_reuse", False) and (
        not one_batch or any(rounds > 0 for _, rounds in plans.values()))
    for lo in range(0, len(samples), chunk_size):
        chunk = samples[lo:lo + chunk_size]
        # The one place for per-chunk generate options: a prefix KV cache made here and passed to
        # the chunk's first pass and every mode's rounds is dropped when the chunk is done.
        generate_kw: dict[str, Any] = {}
        if reuse:  # the hf backend: reuse each prefix's KV
            from toolace_r.models.prefix_cache import PrefixCache

            generate_kw["cache"] = PrefixCache()
        cons = None if constraints is None else list(constraints[lo:lo + len(chunk)])
        t0 = time.perf_counter()
        if first is None:
            first_kw = generate_kw if cons is None else {**generate_kw, "constraints": cons}
            comps = first_pass(generator, chunk, prompt_cfg=prompt_cfg, max_new_tokens=max_new_tokens,
                               sampling=sampling, positions=range(lo, lo + len(chunk)), **first_kw)
        else:
            comps = list(first[lo * n:(lo + len(chunk)) * n])
        seconds["first"] += time.perf_counter() - t0
        owner = [chunk[i // n] for i in range(len(comps))]  # the sample each answer belongs to
        # a round's constraint: the sample's, where the confirmation may also be the answer
        round_cons = None if cons is None else [
            None if c is None else c.with_confirm() if confirm == "token" else c
            for c in (cons[i // n] for i in range(len(comps)))]
        for mode, (kind, rounds) in plans.items():
            t1 = time.perf_counter()
            results = [_start(c) for c in comps]
            bias = REWRITE_BAN if kind == "rewrite" and confirm == "token" else confirm_bias
            _rounds(generator, owner, results, kind, rounds, prompt_cfg=prompt_cfg, max_new_tokens=max_new_tokens,
                    confirm=confirm, generate_kw=generate_kw, fits=fits, constraints=round_cons, wanted=wanted,
                    confirm_bias=bias)
            outputs[mode] += results
            seconds[mode] += time.perf_counter() - t1
        del generate_kw
        memory.trim()  # the chunk's cache and batches were freed: give the heap's pages back
        if on_done is not None:
            on_done(len(chunk))
    return outputs, seconds


def _start(c: Completion) -> RefineResult:
    r = RefineResult(final=c.text, last_tokens=c.n_tokens, first_tokens=c.n_tokens)
    r.add_pass(c)
    return r


def _rounds(generator: Generator, owner: Sequence[Sample], results: list[RefineResult], kind: str, rounds: int, *,
            prompt_cfg: PromptConfig | None, max_new_tokens: int, confirm: str, generate_kw: dict[str, Any],
            fits: Callable[[Prompt], bool] | None = None, constraints: Sequence[Any] | None = None,
            wanted: Callable[[Sample], bool] | None = None, confirm_bias: float = 0.0) -> None:
    """Refine ``results`` (answers to ``owner``) in place for up to ``rounds`` rounds."""
    confirm_text = generator.confirm_text
    active = list(range(len(results)))
    for _ in range(rounds):
        if wanted is not None:  # whoever asked has gone (the server's disconnected clients)
            active = [i for i in active if wanted(owner[i])]
        # the conversation so far: every answer of this trajectory, each followed by the check request
        prompts = [refine_messages(owner[i], results[i].trajectory, prompt_cfg) for i in active]
        if fits is not None:
            ok = [fits(p) for p in prompts]
            for i, good in zip(active, ok):
                results[i].context_stop = not good
            active = [i for i, good in zip(active, ok) if good]
            prompts = [p for p, good in zip(prompts, ok) if good]
        if not active:
            break
        kw = generate_kw if constraints is None else {**generate_kw, "constraints": [constraints[i] for i in active]}
        if applied_bias := effective_confirm_bias(generator, confirm, confirm_bias):
            kw = {**kw, "confirm_bias": applied_bias}
        outs = generator.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens, **kw)
        still = []
        for i, comps in zip(active, outs):
            c, r = comps[0], results[i]
            r.rounds += 1
            r.add_pass(c)
            if confirm == "token" and is_confirmation(c.text, confirm_text):
                r.confirmed = True  # the previous answer stays final; nothing would change it now
                continue
            if constraints is not None and constraints[i] is not None and c.n_tokens >= max_new_tokens \
                    and parse_calls(c.text).status != "calls":
                continue  # a constrained pass cut off mid-call: the previous, complete calls stay final
            repeated = answers_equal(c.text, r.final)
            r.final, r.last_tokens = c.text, c.n_tokens
            if not (kind == "adaptive" and repeated):
                still.append(i)
        active = still
