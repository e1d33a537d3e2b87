"""Model-aware iterative training (MAIT) and the self-refinement corpus (method.md 1.1, 1.2).

One round, for the current model M_t and the pool D::

    probe:  k answers per x in D at temperature > 0, each scored by the checker;
            c(x) = number correct, p(x) = c(x) / k
    select: D_t = policy(D, p)
              frontier    (default) 0 < p < 1, plus a replay share of mastered (p = 1) and
                          unsolved (p = 0) samples
              progressive pass@k = 1 (c > 0): what the model can already solve sometimes
              all         every sample (plain iterated SFT, the ablation baseline)
    refine: R_t from the same k answers: (x, wrong y') -> gold, (x, right y') -> y' unchanged
    train:  M_{t+1} = SFT(M_t, D_t + R_t)

The probe is one batched generation call (the k samples of a prompt share its prefill in the
``hf`` backend; ``vllm`` uses ``SamplingParams(n=k)``), so its cost is |D| x k answers.
:mod:`toolace_r.pipeline` runs the rounds as resumable stages; this module holds the pieces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

from toolace_r.scoring import score_answer


@dataclass
class ProbeItem:
    id: str
    answers: list[str]
    correct: list[bool]
    tokens: int

    @property
    def p(self) -> float:
        return sum(self.correct) / len(self.correct) if self.correct else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "answers": self.answers, "correct": self.correct, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ProbeItem":
        return cls(d["id"], list(d["answers"]), list(d["correct"]), int(d["tokens"]))


def probe(generator: Any, samples: Sequence[Any], *, k: int, temperature: float, top_p: float,
          max_new_tokens: int, seed: int, prompt_cfg: Any = None,
          positions: Sequence[int] | None = None) -> list[ProbeItem]:
    """k answers per sample from the current model, each scored by the checker. ``positions``:
    where these samples stand in the pool when this is one process's share of it (the answers
    of a sample depend only on ``seed`` and its position, not on the share)."""
    from toolace_r.models.prompting import build_messages

    prompt_cfg = prompt_cfg or getattr(generator, "prompt_config", None)
    prompts = [build_messages(s, prompt_cfg) for s in samples]
    outs = generator.generate(prompts, n=k, temperature=temperature, top_p=top_p,
                              max_new_tokens=max_new_tokens, seed=seed, positions=positions)
    items = []
    for s, comps in zip(samples, outs):
        answers = [c.text for c in comps]
        items.append(ProbeItem(s.id, answers, [score_answer(s, a) for a in answers], sum(c.n_tokens for c in comps)))
    return items


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


def p_histogram(items: Sequence[ProbeItem], k: int) -> dict[str, int]:
    """How many pool items had c = 0 .. k correct answers."""
    hist = {str(c): 0 for c in range(k + 1)}
    for it in items:
        hist[str(sum(it.correct))] += 1
    return hist


def refinement_examples(samples_by_id: dict[str, Any], items: Sequence[ProbeItem], *, n: int,
                        correct_share: float, seed: int, prompt_cfg: Any = None,
                        gold_keep: bool = False) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Up to ``n`` refinement examples from the probe's own answers.

    A wrong previous answer gets the gold answer as target; a right one gets itself, unchanged,
    which teaches the model when to stop. ``correct_share`` of them (as far as there are such
    answers) have a right previous answer. Each (sample, distinct answer) pair is used once.

    A weak model has few right answers: the corpus would then be mostly "change it", and the
    model learns to change right answers too. With ``gold_keep``, when the model's own right
    answers are fewer than ``correct_share`` asks, gold answers stand in as right previous answers
    (target: the same, unchanged), for samples where none of its right answers already is one."""
    from toolace_r.models.prompting import refine_messages, target_text

    wrong, right = [], []
    for it in items:
        if it.id not in samples_by_id:
            continue
        seen = set()
        for a, ok in zip(it.answers, it.correct):
            key = _spaced(a)
            if key in seen:
                continue
            seen.add(key)
            (right if ok else wrong).append((it.id, a))
    rng = random.Random(seed)
    rng.shuffle(wrong)
    rng.shuffle(right)
    want_right, own_right, n_gold = round(n * correct_share), len(right), 0
    if gold_keep and own_right < want_right:
        have = {(i, _spaced(a)) for i, a in right}
        gold = [(it.id, target_text(samples_by_id[it.id])) for it in items if it.id in samples_by_id]
        gold = [(i, g) for i, g in gold if (i, _spaced(g)) not in have]
        rng.shuffle(gold)
        n_gold = min(len(gold), want_right - own_right)
        right = right + gold[:n_gold]
    n_right = min(len(right), want_right)
    n_wrong = min(len(wrong), n - n_right)
    n_right = min(len(right), n - n_wrong)  # fill from the other side when one runs short
    picked = [(i, a, False) for i, a in wrong[:n_wrong]] + [(i, a, True) for i, a in right[:n_right]]
    rng.shuffle(picked)
    examples = []
    for sid, prev, ok in picked:
        sample = samples_by_id[sid]
        messages, tools = refine_messages(sample, prev, prompt_cfg)
        examples.append({"messages": messages, "tools": tools,
                         "target": prev.strip() if ok else target_text(sample)})
    return examples, {"refine_wrong_prev": n_wrong, "refine_right_prev": n_right,
                      "refine_right_prev_gold": n_gold, "refine_candidates_wrong": len(wrong),
                      "refine_candidates_right": own_right}


def _spaced(text: str) -> str:
    """The text with its runs of whitespace made single spaces: two answers that differ only
    there are the same answer."""
    return " ".join(text.split())
