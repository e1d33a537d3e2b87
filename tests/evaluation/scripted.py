"""A scripted generator for model-free tests of refinement and evaluation: a real
:class:`~toolace_r.models.generation.Generator` that answers each prompt from a script keyed by
the prompt itself, counts one token per whitespace-separated word plus the end token, and logs
every ``generate`` call. Refinement prompts continue the conversation, so a refinement reply is
keyed by the whole trajectory so far (``then(sample, [y0, y1], reply)``; ``chain`` scripts one
trajectory at once). Its completions also count prompt tokens (one per word of every message, plus
one per message), all of them prefilled: a backend without a prefix cache."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from toolace_r.data.schema import Sample
from toolace_r.models.generation import Completion, Generator, Prompt
from toolace_r.models.prompting import PromptConfig, build_messages, refine_messages


def n_tokens(text: str) -> int:
    return len(text.split()) + 1  # + the end-of-turn token


def prompt_tokens(prompt: Prompt) -> int:
    messages, _ = prompt
    return sum(len(str(m["content"]).split()) + 1 for m in messages)


@dataclass(frozen=True)
class CountedCompletion(Completion):
    """A completion that says how long its prompt was and how much of it was prefilled."""

    prompt_tokens: int = 0
    prefill_tokens: int = 0


@dataclass
class Call:
    """One ``generate`` call: how many prompts, and the sampling settings."""

    n_prompts: int
    n: int
    temperature: float
    top_p: float
    seed: int
    max_new_tokens: int
    positions: list[int] | None = None


@dataclass
class ScriptedGenerator(Generator):
    """``script.first(sample, reply)`` sets the first-pass answer (a list: one per choice when
    sampling n > 1); ``script.then(sample, previous, reply)`` sets what a refinement round answers
    when shown the answers ``previous`` (a list, oldest first; a string: one answer);
    ``script.chain(sample, [y0, y1, ...])`` scripts the trajectory y0, y1, ... A prompt without a
    scripted answer is a test error. ``confirm_text``: the confirmation this model answers with."""

    prompt_config: Any = field(default_factory=PromptConfig)
    replies: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    prompts_seen: list[str] = field(default_factory=list)

    @staticmethod
    def _key(prompt: Prompt) -> str:
        return json.dumps(prompt, sort_keys=True)

    def first(self, sample: Sample, reply: str | list[str]) -> "ScriptedGenerator":
        self.replies[self._key(build_messages(sample, self.prompt_config))] = reply
        return self

    def then(self, sample: Sample, previous: str | list[str], reply: str) -> "ScriptedGenerator":
        self.replies[self._key(refine_messages(sample, previous, self.prompt_config))] = reply
        return self

    def chain(self, sample: Sample, answers: list[str]) -> "ScriptedGenerator":
        self.first(sample, answers[0])
        for k in range(1, len(answers)):
            self.then(sample, answers[:k], answers[k])
        return self

    def generate(self, prompts: Sequence[Prompt], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, seed: int = 0, positions: Sequence[int] | None = None) -> list[list[Completion]]:
        self.calls.append(Call(len(prompts), n, temperature, top_p, seed, max_new_tokens,
                               None if positions is None else list(positions)))
        out = []
        for p in prompts:
            key = self._key(p)
            self.prompts_seen.append(key)
            reply = self.replies[key]
            texts = reply if isinstance(reply, list) else [reply] * n
            assert len(texts) == n, f"script has {len(texts)} choices, asked for {n}"
            n_prompt = prompt_tokens(p)
            out.append([CountedCompletion(t, n_tokens(t), prompt_tokens=n_prompt, prefill_tokens=n_prompt)
                        for t in texts])
        return out


WEATHER = {"name": "get_weather", "description": "Weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME = {"name": "get_time", "description": "Time in a zone.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}


def weather(city: str, *, sid: str | None = None, unseen_tool: bool = False) -> Sample:
    return Sample.model_validate({
        "id": sid or f"w-{city}", "category": "simple", "tools": [WEATHER],
        "messages": [{"role": "user", "content": f"Weather in {city}?"}],
        "answer": [{"get_weather": {"city": [city]}}], "meta": {"unseen_tool": unseen_tool}})


def irrelevant(sid: str = "i-0") -> Sample:
    return Sample.model_validate({
        "id": sid, "category": "irrelevance", "tools": [TIME],
        "messages": [{"role": "user", "content": "Sing a song."}], "answer": [], "meta": {"unseen_template": True}})


def call(city: str) -> str:
    return f'[get_weather(city="{city}")]'
