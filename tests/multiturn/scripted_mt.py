"""A scripted multi-turn model for the loop tests: a real Generator that answers each turn of a BFCL
multi-turn entry with that turn's ground-truth calls (keyword form, in the model's format), then
ends the turn with text once it has seen the results; it confirms when asked to check an answer."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from toolace_r.calls import format_answer
from toolace_r.data.schema import ToolCall
from toolace_r.models.generation import Completion, Generator
from toolace_r.models.prompting import REFINE_REQUEST, PromptConfig
from toolace_r.multiturn.envs import Environment, parse_call_string

DONE = "Done: the task of this turn is complete."
NO_FUNCTION = "None of the functions I have can do that."


def keyword_calls(env: Environment, calls: list[str]) -> list[ToolCall]:
    """Ground-truth call strings with positional arguments named (from the methods' signatures)."""
    out = []
    for c in calls:
        spec = parse_call_string(c)
        bound = inspect.signature(env.methods[spec.name]).bind(*spec.args, **spec.kwargs)
        out.append(ToolCall(name=spec.name, arguments=dict(bound.arguments)))
    return out


@dataclass
class GroundTruthModel(Generator):
    """``add(entry, ground_truth)`` for each entry it will see (keyed by its first user message)."""

    prompt_config: Any = field(default_factory=PromptConfig)
    classes: Any = None
    script: dict[str, list[list[ToolCall]]] = field(default_factory=dict)
    n_prompts: list[int] = field(default_factory=list)  # prompts per generate call (batching)
    seen: list[Any] = field(default_factory=list)  # every (messages, tools) prompt, in order

    def add(self, raw: dict, ground_truth: list[list[str]]) -> "GroundTruthModel":
        env = Environment.for_entry(raw, classes=self.classes)
        first = next(m["content"] for m in raw["question"][0] if m["role"] == "user")
        if first in self.script:  # two BFCL entries may open with the same request (base_40 and base_43)
            raise ValueError(f"{raw['id']}: another entry opens with the same request; the script keys by it")
        self.script[first] = [keyword_calls(env, turn) for turn in ground_truth]
        return self

    def _answer(self, messages: list[dict]) -> str:
        users = [m for m in messages if m["role"] == "user" and m["content"] != REFINE_REQUEST]
        if messages[-1]["role"] == "user" and messages[-1]["content"] == REFINE_REQUEST:
            return self.confirm_text
        if messages[-1]["role"] == "tool":
            return DONE
        calls = self.script[users[0]["content"]][len(users) - 1]
        return format_answer(calls, self.prompt_config.tool_format) if calls else NO_FUNCTION

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None, constraints=None):
        self.n_prompts.append(len(prompts))
        out = []
        self.seen += list(prompts)
        for messages, _tools in prompts:
            text = self._answer(messages)
            out.append([Completion(text, len(text.split()) + 1)] * n)
        return out
