"""One round of model-aware iterative training (MAIT) with the self-refinement corpus
(method.md 1.1, 1.2), top to bottom, and the arms of the ablation.

A round of an arm, for the current model M_t and the pool D (:func:`toolace_r.pipeline.run_pipeline`
runs these steps as resumable stages, in this order, and asks this module for every decision)::

    probe    k answers per x in D at temperature > 0, each scored by the checker
             (:func:`probe`): c(x) = number correct, p(x) = c(x) / k; and the greedy answer
             (what refinement at inference starts from). Arms that do not probe
             skip it. One batched generation call: the k samples of a prompt share its prefill
             (``hf``) or are one request with ``SamplingParams(n=k)`` (``vllm``).
    select   D_t = policy(D, p) (:func:`round_selection`, with :func:`select` and :func:`top_up`)
               frontier    (default) 0 < p < 1, plus a replay share of mastered (p = 1) and
                           unsolved (p = 0) samples
               progressive pass@k = 1 (c > 0): what the model can already solve sometimes
               all         every sample (plain iterated SFT, the ablation baseline)
             a selection under ``mait.min_selected_share`` of the pool is topped up with random
             pool samples; an empty one falls back to the whole pool
    corpus   R_t from the same answers (:func:`round_refinement`, :func:`refinement_examples`):
             the conversation continued by y' and the check request; wrong y' -> gold, right y' ->
             the confirmation (refine.confirm=token) or y' unchanged (repeat); arm ``mait_refine`` only
    SFT      M_{t+1} = SFT(M_t, D_t + R_t) for ``train.steps_per_round`` optimizer steps
    dev      greedy dev accuracy of M_{t+1}
    stop     (:func:`stop_reason`) the selected set stopped growing (progressive) or is unchanged
             (other policies), or dev accuracy fell below the best round's
    best     the arm's best round on dev is the model it is evaluated with (:class:`ArmRounds`)

The arms (:data:`ARMS`, named in the config's ``arms``) are values of :class:`Arm`: ``plain``
(policy ``all``, no probe, no refinement corpus), ``mait`` (the config's ``mait.policy``, probes),
``mait_refine`` (``mait`` plus the refinement corpus).

Where this departs from the paper (method.md 1.4: what it leaves open is our choice):

- M_0 is a warm-up SFT of the base model when it cannot emit calls yet (the embedded model).
- The default policy is ``frontier``; the paper's first version is ``progressive``.
- Every arm trains the same number of optimizer steps per round (not epochs over D_t), so the
  ablation compares data, not compute; a small D_t is therefore topped up (else it is seen for
  dozens of epochs and overfits), and an empty one falls back to the whole pool.
- The refinement corpus is ``refine_corpus.ratio`` examples per selected sample, drawn from the
  probe answers of the whole pool (each distinct answer of a sample once), with
  ``refine_corpus.correct_share`` of them keeping a right previous answer and
  ``refine_corpus.greedy_share`` of them drawn from the greedy answers (the ones refinement at
  inference sees) rather than the sampled ones; with ``refine_corpus.gold_keep`` gold answers
  stand in where the model's own right answers run short.
- Early stops apply to the model-aware arms only (the ``plain`` baseline runs every round); a
  dev accuracy equal to the best so far does not stop a round, only a drop does. Every arm,
  ``plain`` included, is evaluated with its best round on dev (the earliest of equals).
- ``train.continue_from=initial`` restarts every round's SFT from M_0 (the probe still samples
  the latest model).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, TypeVar

from toolace_r.models.prompting import (PromptConfig, load_prompt_config, model_confirmation, refine_messages,
                                        target_text)
from toolace_r.progress import progress
from toolace_r.refine import GREEDY, Sampling, check_confirm, first_pass
from toolace_r.scoring import score_answer

if TYPE_CHECKING:
    from toolace_r.config import MaitConfig, RefineCorpusConfig
    from toolace_r.data.schema import Sample
    from toolace_r.models.generation import Generator

T = TypeVar("T")

PROBE_CHUNK = 128  # samples per generate call of the probe (a progress-bar step; answers do not depend on it)

# ------------------------------------------------------------------------------------------
# the arms


@dataclass(frozen=True)
class Arm:
    """One arm of the ablation. ``policy``: its selection policy (None: the config's
    ``mait.policy``); ``probes``: it probes the model each round, selects model-aware and may stop
    early; ``refine_corpus``: it adds the self-refinement corpus to each round's SFT data."""

    name: str
    title: str
    policy: str | None
    probes: bool
    refine_corpus: bool

    def selection_policy(self, configured: str) -> str:
        return self.policy if self.policy is not None else configured


PLAIN = Arm("plain", "(a) plain SFT", policy="all", probes=False, refine_corpus=False)
MAIT = Arm("mait", "(b) MAIT", policy=None, probes=True, refine_corpus=False)
MAIT_REFINE = Arm("mait_refine", "(c) MAIT + refinement corpus", policy=None, probes=True, refine_corpus=True)
ARMS: dict[str, Arm] = {a.name: a for a in (PLAIN, MAIT, MAIT_REFINE)}


def arms(names: Sequence[str]) -> list[Arm]:
    """The arms the config names (``arms: [plain, mait, mait_refine]``), in its order."""
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; arms are {list(ARMS)}")
    return [ARMS[n] for n in names]


# ------------------------------------------------------------------------------------------
# probe


@dataclass
class ProbeItem:
    """The probe's record of one pool sample: its k sampled answers and the checker's verdict on
    each (p(x) counts these only), and its greedy answer with its verdict (None: not probed).
    ``tokens``: generated tokens, the greedy answer's included."""

    id: str
    answers: list[str]
    correct: list[bool]
    tokens: int
    greedy: str | None = None
    greedy_correct: bool | None = None

    @property
    def p(self) -> float:
        return sum(self.correct) / len(self.correct) if self.correct else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "answers": self.answers, "correct": self.correct, "tokens": self.tokens,
                "greedy": self.greedy, "greedy_correct": self.greedy_correct}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ProbeItem":
        # probes written before greedy answers were recorded have none
        return cls(d["id"], list(d["answers"]), list(d["correct"]), int(d["tokens"]), d.get("greedy"),
                   d.get("greedy_correct"))


def probe(generator: Generator, samples: Sequence[Sample], *, k: int, temperature: float, top_p: float,
          max_new_tokens: int, seed: int, prompt_cfg: PromptConfig | None = None,
          positions: Sequence[int] | None = None, greedy: bool = True) -> list[ProbeItem]:
    """k answers per sample from the current model, each scored by the checker, and (``greedy``)
    its greedy answer, the one refinement at inference starts from. ``positions``: where these
    samples stand in the pool when this is one process's share of it (the answers of a sample
    depend only on ``seed`` and its position, not on the share)."""
    where = list(positions) if positions is not None else list(range(len(samples)))
    flat: list[Any] = []
    greedy_pass: list[Any] | None = [] if greedy else None
    # in chunks, for the progress bar: a sample's answers depend on the seed and its position only
    with progress(f"probing (k={k})", total=len(samples)) as tick:
        for lo in range(0, len(samples), PROBE_CHUNK):
            chunk, at = samples[lo:lo + PROBE_CHUNK], where[lo:lo + PROBE_CHUNK]
            flat += first_pass(generator, chunk, prompt_cfg=prompt_cfg, max_new_tokens=max_new_tokens,
                               sampling=Sampling(n=k, temperature=temperature, top_p=top_p, seed=seed), positions=at)
            if greedy_pass is not None:
                greedy_pass += first_pass(generator, chunk, prompt_cfg=prompt_cfg, max_new_tokens=max_new_tokens,
                                          sampling=GREEDY, positions=at)
            tick(len(chunk))
    items = []
    for i, s in enumerate(samples):
        comps = flat[i * k:(i + 1) * k]
        answers = [c.text for c in comps]
        item = ProbeItem(s.id, answers, [score_answer(s, a) for a in answers], sum(c.n_tokens for c in comps))
        if greedy_pass is not None:
            g = greedy_pass[i]
            item.greedy, item.greedy_correct, item.tokens = g.text, score_answer(s, g.text), item.tokens + g.n_tokens
        items.append(item)
    return items


def p_histogram(items: Sequence[ProbeItem], k: int) -> dict[str, int]:
    """How many pool items had c = 0 .. k correct answers."""
    hist = {str(c): 0 for c in range(k + 1)}
    for it in items:
        hist[str(sum(it.correct))] += 1
    return hist


# ------------------------------------------------------------------------------------------
# select


def select(policy: str, items: Sequence[ProbeItem], *, replay_share: float, seed: int) -> list[str]:
    """The ids of the samples to train on this round, in pool order."""
    if policy == "all":
        return [it.id for it in items]
    if policy == "progressive":
        return [it.id for it in items if any(it.correct)]
    if policy != "frontier":
        raise ValueError(f"unknown selection policy {policy!r}")
    frontier = [it.id for it in items if 0 < it.p < 1]
    mastered = [it.id for it in items if it.p == 1]
    unsolved = [it.id for it in items if it.p == 0]
    rng = random.Random(seed)
    n_replay = max(1, round(replay_share * len(frontier))) if replay_share > 0 else 0
    chosen = set(frontier)
    for group in (mastered, unsolved):
        chosen.update(rng.sample(group, min(n_replay, len(group))))
    return [it.id for it in items if it.id in chosen]


def top_up(selected: list[str], items: Sequence[ProbeItem], *, min_size: int, seed: int) -> list[str]:
    """Grow a too-small selection to ``min_size`` with random other pool items (seeded), in pool
    order. With a fixed number of optimizer steps per round, a tiny frontier set would be seen
    for dozens of epochs and overfit; the top-up keeps the round's data varied."""
    if len(selected) >= min_size:
        return selected
    chosen = set(selected)
    rest = [it.id for it in items if it.id not in chosen]
    chosen.update(random.Random(seed).sample(rest, min(len(rest), min_size - len(selected))))
    return [it.id for it in items if it.id in chosen]


@dataclass(frozen=True)
class Selection:
    """A round's training set D_t: the policy applied, the ids in pool order, and whether the
    policy selected nothing so that the whole pool stands in."""

    policy: str
    ids: list[str]
    fallback: bool


def round_selection(arm: Arm, items: Sequence[ProbeItem] | None, pool_ids: Sequence[str], cfg: MaitConfig, *,
                    seed: int, top_up_seed: int) -> Selection:
    """D_t for ``arm``: its policy over the probe ``items`` (None for an arm that does not probe:
    the whole pool), topped up to ``cfg.min_selected_share`` of the pool unless the policy is
    ``all``; the whole pool when that leaves nothing."""
    policy = arm.selection_policy(cfg.policy)
    if items is None:
        ids = list(pool_ids)
    else:
        ids = select(policy, items, replay_share=cfg.replay_share, seed=seed)
        if policy != "all":
            ids = top_up(ids, items, min_size=round(cfg.min_selected_share * len(pool_ids)), seed=top_up_seed)
    return Selection(policy, ids or list(pool_ids), fallback=not ids)


# ------------------------------------------------------------------------------------------
# refinement corpus


def round_refinement(arm: Arm, n_selected: int, samples_by_id: dict[str, Sample], items: Sequence[ProbeItem] | None,
                     cfg: RefineCorpusConfig, *, seed: int, model: str | Path,
                     confirm: str = "token",
                     tool_format: str = "auto") -> tuple[list[dict[str, Any]], dict[str, int]] | None:
    """R_t for ``arm``: ``cfg.ratio`` refinement examples per selected sample, from the probe's
    answers (see :func:`refinement_examples`), in the prompt format of ``model`` (the round's SFT
    base; ``tool_format`` as :func:`~toolace_r.models.prompting.load_prompt_config` takes it) and,
    with ``confirm="token"``, its tokenizer's confirmation; None for an arm without the refinement corpus."""
    if not arm.refine_corpus or items is None:
        return None
    confirm_text = model_confirmation(model) if check_confirm(confirm) == "token" else None
    return refinement_examples(samples_by_id, items, n=round(cfg.ratio * n_selected), correct_share=cfg.correct_share,
                               seed=seed, prompt_cfg=load_prompt_config(model, tool_format), gold_keep=cfg.gold_keep,
                               greedy_share=cfg.greedy_share, confirm_text=confirm_text, follow_up=cfg.follow_up)


def refinement_examples(samples_by_id: dict[str, Sample], items: Sequence[ProbeItem], *, n: int,
                        correct_share: float, seed: int, prompt_cfg: PromptConfig | None = None,
                        gold_keep: bool = False, greedy_share: float = 0.0, confirm_text: str | None = None,
                        follow_up: bool = False) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Up to ``n`` refinement examples from the probe's own answers.

    Each example is the conversation continued by a previous answer and the check request
    (:func:`~toolace_r.models.prompting.refine_messages`), the prompt refinement at inference
    builds. A wrong previous answer gets the gold answer as target; a right one gets the
    confirmation ``confirm_text`` (refine.confirm=token) or, when that is None, itself unchanged
    (the paper's rule): either teaches the model when to stop. ``correct_share`` of them (as far
    as there are such answers) have a right previous answer, and on each side ``greedy_share`` of
    them come from the greedy answers (the ones inference refines), the rest from the sampled ones
    (each side filled from the other source when one runs short). Each (sample, distinct answer)
    pair is used once.

    A weak model has few right answers: the corpus would then be mostly "change it", and the
    model learns to change right answers too. With ``gold_keep``, when the model's own right
    answers are fewer than ``correct_share`` asks, gold answers stand in as right previous answers
    (target: the confirmation, or the same answer), for samples where none of its right answers
    already is one.

    With ``follow_up``, each wrong previous answer's example is followed by the next round's, not
    counted in ``n``: the conversation continued by the gold answer, whose target is the
    confirmation (or the gold answer again). Without it, every example shows one previous answer,
    and what the model does in round 2 after a fix is left to generalisation."""
    # (source, right) -> [(sample id, answer)], source "greedy" or "sampled"
    pools: dict[tuple[str, bool], list[tuple[str, str]]] = {(g, ok): [] for g in ("greedy", "sampled")
                                                            for ok in (False, True)}
    for it in items:
        if it.id not in samples_by_id:
            continue
        seen = set()
        own = [(it.greedy, bool(it.greedy_correct), "greedy")] if it.greedy is not None else []
        own += [(a, ok, "sampled") for a, ok in zip(it.answers, it.correct)]
        for a, ok, source in own:
            key = _spaced(a)
            if key not in seen:  # a sampled answer equal to the greedy one counts as the greedy one
                seen.add(key)
                pools[source, ok].append((it.id, a))
    rng = random.Random(seed)
    for pool in pools.values():
        rng.shuffle(pool)
    n_wrong_have = len(pools["greedy", False]) + len(pools["sampled", False])
    own_right = len(pools["greedy", True]) + len(pools["sampled", True])
    want_right, gold = round(n * correct_share), []
    if gold_keep and own_right < want_right:
        have = {(i, _spaced(a)) for key in (("greedy", True), ("sampled", True)) for i, a in pools[key]}
        gold = [(it.id, target_text(samples_by_id[it.id], prompt_cfg)) for it in items if it.id in samples_by_id]
        gold = [(i, g) for i, g in gold if (i, _spaced(g)) not in have]
        rng.shuffle(gold)
        gold = gold[:want_right - own_right]
    n_right = min(own_right + len(gold), want_right)
    n_wrong = min(n_wrong_have, n - n_right)
    n_right = min(own_right + len(gold), n - n_wrong)  # fill from the other side when one runs short
    wrong = _mix(pools["greedy", False], pools["sampled", False], n_wrong, greedy_share)
    right = _mix(pools["greedy", True], pools["sampled", True], min(n_right, own_right), greedy_share)
    n_gold = n_right - len(right)
    greedy_ids = {(i, a) for key in (("greedy", False), ("greedy", True)) for i, a in pools[key]}
    picked = [(i, a, False) for i, a in wrong] + [(i, a, True) for i, a in right + gold[:n_gold]]
    rng.shuffle(picked)
    examples = []
    for sid, prev, ok in picked:
        sample = samples_by_id[sid]
        gold_text = target_text(sample, prompt_cfg)
        trajectories = [[prev]] + ([[prev, gold_text]] if follow_up and not ok else [])
        for answers in trajectories:
            messages, tools = refine_messages(sample, answers, prompt_cfg)
            last_right = ok or len(answers) == 2  # a follow-up's last answer is the gold one
            # a right last answer: confirmed (token), else repeated unchanged (repeat)
            keep = confirm_text if confirm_text is not None else answers[-1].strip()
            examples.append({"messages": messages, "tools": tools, "target": keep if last_right else gold_text})
    return examples, {"refine_wrong_prev": n_wrong, "refine_right_prev": n_right,
                      "refine_right_prev_gold": n_gold, "refine_candidates_wrong": n_wrong_have,
                      "refine_candidates_right": own_right,
                      "refine_greedy_prev": sum((i, a) in greedy_ids for i, a, _ in picked),
                      "refine_follow_up": len(examples) - len(picked)}


def _mix(greedy: list[Any], sampled: list[Any], want: int, greedy_share: float) -> list[Any]:
    """``want`` entries, ``greedy_share`` of them from ``greedy`` and the rest from ``sampled``,
    each filled from the other when it runs short."""
    n_greedy = min(len(greedy), round(want * greedy_share))
    n_sampled = min(len(sampled), want - n_greedy)
    n_greedy = min(len(greedy), want - n_sampled)
    return greedy[:n_greedy] + sampled[:n_sampled]


# ------------------------------------------------------------------------------------------
# stop rule and best round


def stop_reason(policy: str, selected: Sequence[str], previous: Sequence[str] | None, dev_accuracy: float,
                best_dev: float, *, stop_when_unchanged: bool) -> str | None:
    """Why a model-aware arm stops after this round, or None to go on: its selected set stopped
    growing (``progressive``) or did not change (other policies), when ``stop_when_unchanged``;
    or its dev accuracy fell below the best round's so far."""
    stop = None
    if stop_when_unchanged and previous is not None:
        if policy == "progressive" and len(selected) <= len(previous):
            stop = "selected set stopped growing"
        elif list(selected) == list(previous):
            stop = "selected set unchanged"
    if dev_accuracy < best_dev:
        stop = stop or "dev accuracy stopped rising"
    return stop


@dataclass
class ArmRounds:
    """One arm's rounds so far: the previous selection (for the stop rule) and the best round on
    dev, whose model the arm is evaluated with. Before any round the best is the starting model,
    round -1."""

    arm: Arm
    policy: str
    stop_when_unchanged: bool
    best_model: Path
    best_round: int = -1
    best_dev: float = -1.0
    previous: list[str] | None = None

    def record(self, t: int, model: Path, selected: list[str], dev_accuracy: float) -> str | None:
        """Book round ``t`` (its new model, D_t and dev accuracy); return why the arm stops now,
        or None. Only arms that probe stop early: the plain baseline runs every round."""
        stop = None
        if self.arm.probes:
            stop = stop_reason(self.policy, selected, self.previous, dev_accuracy, self.best_dev,
                               stop_when_unchanged=self.stop_when_unchanged)
        if dev_accuracy > self.best_dev:
            self.best_dev, self.best_model, self.best_round = dev_accuracy, model, t
        self.previous = selected
        return stop


def _spaced(text: str) -> str:
    """The text with its runs of whitespace made single spaces: two answers that differ only
    there are the same answer."""
    return " ".join(text.split())


def replay_draw(rest: Sequence[T], n: int, seed: int) -> list[T]:
    """A round's replay: ``n`` samples (all when fewer) drawn from ``rest``, the train samples outside
    the pool, by ``seed``. Fresh samples in every round keep a few hundred fixed steps from
    overfitting the small pool, which made the model forget what it knew (dev below the base)."""
    return random.Random(seed).sample(list(rest), min(n, len(rest))) if n > 0 else []


def round_lr(lr: float, decay: float, t: int) -> float:
    """Peak learning rate of round ``t``'s SFT: ``lr x decay^t``. Each round's SFT has its own
    warm-up and cosine schedule; without the decay every round restarts at the full rate and
    undoes part of what the model knew (dev accuracy fell after round 0 in the first runs)."""
    return lr * decay ** t

