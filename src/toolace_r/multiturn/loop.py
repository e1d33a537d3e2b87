"""The multi-turn inference loop: a model works through BFCL v4 multi-turn entries, turn by turn,
calling tools on the entry's own environment.

For one entry (:class:`MultiTurnEntry`, read by :func:`load_entries` from BFCL's data)::

    tools = the function docs of the entry's involved classes (data/multi_turn_func_doc/), less the
            withheld ones (multi_turn_miss_func)
    for each turn t of the entry:
        if functions were withheld until turn t: add them to the tools; the turn's user message is
            BFCL's "I have updated some more functions you can choose from. What about now?"
        append the turn's user message(s) to the conversation
        repeat:                                              # the steps of the turn
            answer = the model's answer to (tools, conversation), in its own format
                     (toolace_r.models.prompting, as for single-turn entries), optionally refined
                     before it executes (toolace_r.refine: mode, rounds, tokens counted per step)
            calls  = toolace_r.calls.parse_calls(answer)     # never eval
            no call (plain text, or output that does not parse): the turn ends
            else: execute the calls on the entry's Environment (toolace_r.multiturn.envs); append
                  the answer (as the assistant's tool calls) and one tool message per result
            after more than max_steps executed steps (BFCL's MAXIMUM_STEP_LIMIT = 20) the entry
            is force-quit: its remaining turns are not run (BFCL's checker then fails it as
            force-terminated; a force quit in the last turn leaves no turn missing, and the turns
            are checked as they are, in BFCL as here)

All entries in progress advance together: each step of all of them is one batched
``generate`` (through :func:`toolace_r.refine.refine`), so a batch shrinks as entries finish.

What is bounded: steps per turn (``max_steps``), tokens per answer (``max_new_tokens``), refinement
rounds per step (``max_rounds``), optionally generated tokens per entry (``max_entry_tokens``:
past it the entry is force-quit like at the step limit), and the conversation's length: a step
whose prompt and ``max_new_tokens`` would not fit in the model's context (local backends; e.g.
the long tool results of ``multi_turn_long_context`` on a small model) is not generated and the
entry is force-quit (stop ``context_limit``), and a refinement round that would not fit keeps the
step's last answer. BFCL's local-model runs instead request what is left of the context and fail
the entry when the server refuses the prompt; either way the entry is not valid. Each call runs
under the environment's time limit (:class:`~toolace_r.multiturn.envs.Environment`).

How this departs from BFCL's prompt-mode inference (``base_handler.inference_multi_turn_prompting``):

* the prompt is the model's own (our system prompt with the tools as JSON, or the tools through its
  chat template; :func:`toolace_r.models.prompting.build_messages`), not BFCL's system prompt with
  its "multi-turn behavior" paragraph;
* withheld functions (miss_func) join the tool list at their turn, with BFCL's function-calling
  user message, as BFCL's FC mode does; BFCL's prompt mode writes their docs into that user
  message instead (our prompt shows tools in one place only);
* an assistant step that made calls is shown back to the model as structured tool calls, which the
  prompt code writes in the model's format (canonical text for Python-call models), not as the
  raw text; tool messages carry the function's name (BFCL: the decoded call string);
* the step's text is decoded by :func:`toolace_r.calls.parse_calls`, and calls execute through
  :class:`~toolace_r.multiturn.envs.Environment` (no ``eval``; its own departures are listed there).
  Where the two decoders disagree, so does the turn's course: JSON calls, ``<tool_call>`` blocks, a
  code fence with a language tag, a leading ``<think>`` block or ``<|python_tag|>`` run here, where
  BFCL's prompt-mode decoder fails and ends the turn; a call without a function name
  (``[f(a)(b=1)]``) ends the turn here, where BFCL executes it (an error result) and the turn goes
  on. Otherwise the control flow is BFCL's, step for step (benchmarks/multiturn_loop_differential.py);
* refinement of a step before it executes is ours (the method's adaptive self-refinement);
  ``mode="none"`` is BFCL's single answer per step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from toolace_r.calls import format_calls, parse_calls
from toolace_r.data.normalize import ConvertError, tools_from_value
from toolace_r.data.schema import Sample, ToolSpec
from toolace_r.models.context import fits_check
from toolace_r.models.prompting import build_messages
from toolace_r.multiturn.envs import CLASS_FILES, Environment
from toolace_r.refine import RefineResult, refine

if TYPE_CHECKING:
    from toolace_r.bfcl import BfclSource
    from toolace_r.models.generation import Generator
    from toolace_r.models.prompting import PromptConfig

# bfcl_eval/constants/default_prompts.py: MAXIMUM_STEP_LIMIT (executed steps per turn before a force quit)
MAX_STEPS = 20
# bfcl_eval/constants/default_prompts.py: DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC
ADDED_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"
FUNC_DOC_DIR = "multi_turn_func_doc"


# --------------------------------------------------------------------------------------
# Entries


@dataclass
class MultiTurnEntry:
    """One BFCL multi-turn entry with its function docs filled in, as BFCL's
    ``populate_test_cases_with_predefined_functions`` does: ``functions`` the docs shown from the
    start, ``missed`` the withheld docs by turn index (miss_func)."""

    id: str
    category: str
    question: list[list[dict[str, Any]]]
    functions: list[dict[str, Any]]
    missed: dict[int, list[dict[str, Any]]]
    ground_truth: list[list[str]]
    raw: dict[str, Any]  # the entry as BFCL ships it (initial_config, involved_classes, ...)


def _func_docs(source: "BfclSource", cls: str) -> list[dict[str, Any]]:
    from toolace_r import bfcl

    if cls not in CLASS_FILES:
        raise bfcl.BfclError(f"unknown BFCL backend class {cls!r} (known: {', '.join(CLASS_FILES)})")
    name = f"{FUNC_DOC_DIR}/{CLASS_FILES[cls]}.json"
    return [json.loads(x) for x in source.read(name).splitlines() if x.strip()]


def load_entries(source: "BfclSource", category: str, limit: int | None = None) -> list[MultiTurnEntry]:
    """The first ``limit`` entries (all when None) of a multi-turn category, with docs and ground truth."""
    from toolace_r import bfcl
    from toolace_r.multiturn.checker import load_category

    docs: dict[str, list[dict[str, Any]]] = {}
    out = []
    for raw, truth in load_category(source, category)[: None if limit is None else max(0, limit)]:
        functions = []
        for cls in raw["involved_classes"]:
            if cls not in docs:
                docs[cls] = _func_docs(source, cls)
            functions.extend(docs[cls])
        missed: dict[int, list[dict[str, Any]]] = {}
        for turn, names in (raw.get("missed_function") or {}).items():
            held = [f for f in functions if f["name"] in names]
            if len(held) != len(names):
                raise bfcl.BfclError(f"BFCL entry {raw['id']}: withheld function(s) {names} not among its docs")
            missed[int(turn)] = held
            functions = [f for f in functions if f["name"] not in names]
        empty = [t for t, msgs in enumerate(raw["question"]) if not msgs and t not in missed]
        if empty:  # only a turn that brings withheld functions may come without a user message
            raise bfcl.BfclError(f"BFCL entry {raw['id']}: turn {empty[0]} has no message")
        if len(raw["question"]) != len(truth):
            raise bfcl.BfclError(f"BFCL entry {raw['id']}: {len(raw['question'])} turns but {len(truth)} in its ground truth")
        out.append(MultiTurnEntry(raw["id"], category, raw["question"], functions, missed, truth, raw))
    return out


def _tool_specs(entry_id: str, docs: list[dict[str, Any]]) -> list[ToolSpec]:
    from toolace_r import bfcl

    try:
        return tools_from_value(docs)  # BFCL's "dict"/"float" types to JSON Schema, as for single-turn entries
    except ConvertError as e:
        raise bfcl.BfclError(f"BFCL entry {entry_id}: {e}") from None


# --------------------------------------------------------------------------------------
# Trajectories


@dataclass
class Step:
    """One answer of the model within a turn: its text, the calls read from it (canonical
    Python-call strings), their results, and what the step cost (refinement included)."""

    output: str
    calls: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    tokens: int = 0
    rounds: int = 0
    prompt_tokens: int = 0
    prefill_tokens: int = 0
    confirmed: bool = False
    refined: list[str] = field(default_factory=list)  # the refinement trajectory y_0, y_1, ... (mode != none)


@dataclass
class Trajectory:
    """An entry's run: per turn the steps; ``stop``: "" (all turns run), "step_limit",
    "token_budget" or "context_limit" (force-quit: the remaining turns were not run)."""

    id: str
    turns: list[list[Step]] = field(default_factory=list)
    stop: str = ""

    def model_turns(self) -> list[list[str]]:
        """Per turn the step texts: what :func:`toolace_r.multiturn.checker.check_entry` judges."""
        return [[s.output for s in steps] for steps in self.turns]

    def total(self, key: str) -> int:
        return sum(getattr(s, key) for steps in self.turns for s in steps)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "stop": self.stop, "turns": [[asdict(s) for s in steps] for steps in self.turns]}


class _Run:
    """One entry in progress: its conversation, tools, environment and where it stands."""

    def __init__(self, entry: MultiTurnEntry, env: Environment, max_steps: int, max_entry_tokens: int | None):
        self.entry, self.env = entry, env
        self.max_steps, self.max_entry_tokens = max_steps, max_entry_tokens
        self.tools = _tool_specs(entry.id, entry.functions)
        self.messages: list[dict[str, Any]] = []
        self.traj = Trajectory(entry.id)
        self.turn, self.steps, self.done = -1, 0, False
        self._next_turn()

    def _next_turn(self) -> None:
        self.turn += 1
        if self.turn >= len(self.entry.question):
            self.done = True
            return
        self.steps = 0
        self.traj.turns.append([])
        turn_messages = [dict(m) for m in self.entry.question[self.turn]]
        if self.turn in self.entry.missed:
            self.tools = self.tools + _tool_specs(self.entry.id, self.entry.missed[self.turn])
            # BFCL's holdout turns have no user message of their own
            turn_messages = turn_messages or [{"role": "user", "content": ADDED_FUNCTIONS_PROMPT}]
        self.messages += [{"role": m["role"], "content": str(m.get("content") or "")} for m in turn_messages]

    def sample(self) -> Sample:
        """The prompt of the next step, as a prompt-only sample (tools + conversation so far)."""
        return Sample(id=self.entry.id, tools=self.tools, messages=self.messages, text="", category="multi_turn",
                      source="bfcl", meta={"bfcl_category": self.entry.category, "prompt_only": True})

    def take(self, r: RefineResult) -> None:
        """Book the model's answer to the current step, execute its calls, and move on."""
        step = Step(r.final, tokens=r.tokens, rounds=r.rounds, prompt_tokens=r.prompt_tokens,
                    prefill_tokens=r.prefill_tokens, confirmed=r.confirmed,
                    refined=list(r.trajectory) if r.rounds else [])
        self.traj.turns[-1].append(step)
        parsed = parse_calls(r.final)
        if parsed.status != "calls" or not parsed.calls:
            # no call (or text that does not parse): the turn is over, as in BFCL
            self.messages.append({"role": "assistant", "content": r.final.strip()})
            self._next_turn()
            return
        step.calls = [format_calls([c]).strip("[]") for c in parsed.calls]
        step.results = self.env.execute_all(list(parsed.calls))
        self.messages.append({"role": "assistant", "content": "",
                              "tool_calls": [{"name": c.name, "arguments": dict(c.arguments)} for c in parsed.calls]})
        self.messages += [{"role": "tool", "name": c.name, "content": res} for c, res in zip(parsed.calls, step.results)]
        self.steps += 1
        if self.steps > self.max_steps:
            self.traj.stop, self.done = "step_limit", True
        elif self.max_entry_tokens is not None and self.traj.total("tokens") >= self.max_entry_tokens:
            self.traj.stop, self.done = "token_budget", True


def run_loop(generator: "Generator", entries: Sequence[MultiTurnEntry], mode: str = "none", *,
             prompt_cfg: "PromptConfig | None" = None, max_steps: int = MAX_STEPS, max_new_tokens: int = 128,
             max_rounds: int = 3, confirm: str = "token", confirm_bias: float = 0.0,
             max_entry_tokens: int | None = None,
             classes: Mapping[str, type] | None = None, source: Any = None,
             on_done: Callable[[int], Any] | None = None, max_context: int | None = None) -> list[Trajectory]:
    """Run the entries through the loop (module docstring) in refinement mode ``mode`` (``none``,
    ``adaptive``, ``fixed:N``: each step's answer is refined before it executes). Returns one
    :class:`Trajectory` per entry, in order. ``classes`` / ``source``: where the backend classes
    come from (:func:`toolace_r.multiturn.envs.load_classes`); ``on_done(k)``: k entries finished;
    ``max_context``: the context the prompts must fit in (default: the model's, where known)."""
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    if max_entry_tokens is not None and max_entry_tokens < 1:
        raise ValueError(f"max_entry_tokens must be >= 1, got {max_entry_tokens}")
    runs = [_Run(e, Environment.for_entry(e.raw, classes=classes, source=source), max_steps, max_entry_tokens)
            for e in entries]
    fits = fits_check(generator, max_new_tokens, max_context)  # max_context None: the model's own
    cfg = prompt_cfg or getattr(generator, "prompt_config", None)
    active = [r for r in runs if not r.done]
    while active:
        if fits is not None:  # a conversation that outgrew the context ends its entry here
            for r in active:
                if not fits(build_messages(r.sample(), cfg)):
                    r.traj.stop, r.done = "context_limit", True
        going = [r for r in active if not r.done]
        if going:
            results = refine(generator, [r.sample() for r in going], mode, max_rounds=max_rounds, prompt_cfg=prompt_cfg,
                             max_new_tokens=max_new_tokens, confirm=confirm, confirm_bias=confirm_bias, fits=fits)
            for r, res in zip(going, results):
                r.take(res)
        still = [r for r in active if not r.done]
        if on_done and len(still) < len(active):
            on_done(len(active) - len(still))
        active = still
    return [r.traj for r in runs]
