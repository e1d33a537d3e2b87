"""A scripted generator for model-free tests of refinement and evaluation: a real
:class:`~toolace_r.models.generation.Generator` that answers each prompt from a script keyed by
the prompt itself, counts one token per whitespace-separated word plus the end token, and logs
every ``generate`` call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from toolace_r.data.schema import Sample
from toolace_r.models.generation import Completion, Generator, Prompt
from toolace_r.models.prompting import PromptConfig, build_messages, refine_messages


def n_tokens(text: str) -> int:
    return len(text.split()) + 1  # + the end-of-turn token


@dataclass
class Call:
    """One ``generate`` call: how many prompts, and the sampling settings."""

    n_prompts: int
    n: int
    temperature: float
    top_p: float
    seed: int
    max_new_tokens: int


@dataclass
class ScriptedGenerator(Generator):
    """``script.first(sample, reply)`` sets the first-pass answer (a list: one per choice when
    sampling n > 1); ``script.then(sample, previous, reply)`` sets what a refinement round answers
    when shown ``previous``. A prompt without a scripted answer is a test error."""

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

    def then(self, sample: Sample, previous: str, reply: str) -> "ScriptedGenerator":
        self.replies[self._key(refine_messages(sample, previous, self.prompt_config))] = reply
        return self

    def generate(self, prompts: Sequence[Prompt], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, seed: int = 0, positions: Sequence[int] | None = None) -> list[list[Completion]]:
        self.calls.append(Call(len(prompts), n, temperature, top_p, seed, max_new_tokens))
        out = []
        for p in prompts:
            key = self._key(p)
            self.prompts_seen.append(key)
            reply = self.replies[key]
            texts = reply if isinstance(reply, list) else [reply] * n
            assert len(texts) == n, f"script has {len(texts)} choices, asked for {n}"
            out.append([Completion(t, n_tokens(t)) for t in texts])
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
