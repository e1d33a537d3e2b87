"""BFCL v4 multi-turn checking: one verdict per entry, with BFCL's rules and error labels.

A model's answer to a multi-turn entry is, per user turn, a list of steps (the model may call tools,
read the results and call again within one turn); each step is what the model emitted at that
step. :func:`check_entry` judges it against the entry's ground truth (per turn, a list of call
strings) by executing both on BFCL's own backend classes (:mod:`toolace_r.multiturn.envs`), as
BFCL's multi-turn checker does:

1. the answer must have as many turns as the ground truth (else ``multi_turn:force_terminated``;
   not a list: ``multi_turn:inference_error``);
2. turn by turn, the model's steps run on the model's instances and the turn's ground truth on a
   second set of instances; both sets keep their state across turns;
3. a turn whose ground truth is empty (the turn of ``multi_turn_miss_func`` where the needed
   function is still withheld) is not checked, but the model's calls in it still run and change its
   state;
4. otherwise the model must have made at least one call in the turn
   (``multi_turn:empty_turn_model_response``); every public attribute of every ground-truth
   instance must equal the model's (``multi_turn:instance_state_mismatch``); and every result of
   the turn's ground-truth calls must be found, counted with multiplicity, among the results of all
   the model's calls so far, this turn and earlier ones, in any order
   (``multi_turn:execution_response_mismatch``);
5. the first failing turn decides the verdict.

Steps are read the way BFCL's evaluation runner reads them: a step given as model text is decoded
(here with :func:`toolace_r.calls.parse_calls`), and a step that fails to decode or holds no call is
dropped; a step given as a list holds call strings (BFCL's decoded form, positional arguments
allowed) or decoded calls.

Departures from BFCL: :func:`toolace_r.calls.parse_calls` also reads JSON and ``<tool_call>`` steps,
which BFCL's prompt-mode decoder does not; the execution departures are listed in
:mod:`toolace_r.multiturn.envs`. A model instance lacking an attribute of the ground-truth instance
is a state mismatch here, a crash in BFCL. BFCL's unused irrelevance check for empty turns is not
reproduced (BFCL v4 does not call it).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from toolace_r.bfcl import MULTI_TURN
from toolace_r.multiturn.envs import CallSpec, Environment, as_spec, compare_states

CATEGORIES = MULTI_TURN  # the category names are toolace_r.bfcl's
INFERENCE_ERROR = "multi_turn:inference_error"
FORCE_TERMINATED = "multi_turn:force_terminated"
EMPTY_TURN = "multi_turn:empty_turn_model_response"
STATE_MISMATCH = "multi_turn:instance_state_mismatch"
RESPONSE_MISMATCH = "multi_turn:execution_response_mismatch"
ERROR_TYPES = (INFERENCE_ERROR, FORCE_TERMINATED, EMPTY_TURN, STATE_MISMATCH, RESPONSE_MISMATCH)


@dataclass
class MultiTurnVerdict:
    """``valid``, and for a failure its BFCL label, message, 0-based turn and details.
    ``execution``: per checked turn, the model's results per step and the ground truth's results."""

    valid: bool
    error_type: str = ""
    error_message: str = ""
    turn: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    execution: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "error_type": self.error_type, "error_message": self.error_message,
                "turn": self.turn}


# --------------------------------------------------------------------------------------
# Reading steps


def decode_step(step: Any) -> list[CallSpec]:
    """The calls of one step (empty when BFCL's runner would drop the step)."""
    if isinstance(step, str):
        from toolace_r.calls import parse_calls

        parsed = parse_calls(step)
        return [as_spec(c) for c in parsed.calls] if parsed.status == "calls" else []
    if hasattr(step, "calls") and hasattr(step, "status"):  # a ParseResult
        return [as_spec(c) for c in step.calls] if step.status == "calls" else []
    if isinstance(step, (list, tuple)):
        return [as_spec(c) for c in step]
    return []


def decode_turns(model_turns: list[Any]) -> list[list[list[CallSpec]]]:
    """Per turn, the non-empty steps, each a list of calls."""
    out = []
    for turn in model_turns:
        steps = [decode_step(s) for s in (turn if isinstance(turn, (list, tuple)) else [])]
        out.append([s for s in steps if s])
    return out


def _contains_all(haystack: list[str], needles: list[str]) -> list[str]:
    """The needles not found in the haystack, counting duplicates."""
    have = Counter(haystack)
    missing = []
    for item in needles:
        if have[item] > 0:
            have[item] -= 1
        else:
            missing.append(item)
    return missing


# --------------------------------------------------------------------------------------
# The verdict


def check_entry(entry: Mapping[str, Any], ground_truth: list[list[str]], model_turns: Any, *,
                classes: Mapping[str, type] | None = None, source: Any = None,
                timeout_s: float = 10.0) -> MultiTurnVerdict:
    """Judge one multi-turn answer (see the module docstring for the rules).

    ``entry``: the BFCL entry (``id``, ``initial_config``, ``involved_classes``); ``ground_truth``:
    its ``ground_truth`` (per turn, call strings); ``model_turns``: per turn, a list of steps, each
    model text or a list of call strings / decoded calls. ``classes`` / ``source``: where the
    backend classes come from (see :func:`toolace_r.multiturn.envs.load_classes`).
    """
    if not isinstance(model_turns, (list, tuple)):
        return MultiTurnVerdict(False, INFERENCE_ERROR, "the model's result is not a list of turns")
    if len(model_turns) != len(ground_truth):
        return MultiTurnVerdict(False, FORCE_TERMINATED,
                                f"the model's result has {len(model_turns)} turns, the ground truth {len(ground_truth)}")
    turns = decode_turns(list(model_turns))
    kw = {"classes": classes, "source": source, "timeout_s": timeout_s}
    model_env, truth_env = Environment.for_entry(entry, **kw), Environment.for_entry(entry, **kw)
    all_model_results: list[str] = []
    execution: list[dict[str, Any]] = []

    def fail(error_type: str, message: str, turn: int, **details) -> MultiTurnVerdict:
        return MultiTurnVerdict(False, error_type, message, turn, details, execution)

    for t, (steps, gt_calls) in enumerate(zip(turns, ground_truth)):
        step_results = [model_env.execute_all(step) for step in steps]
        for r in step_results:
            all_model_results.extend(r)
        gt_results = truth_env.execute_all(list(gt_calls))
        execution.append({"model": step_results, "ground_truth": gt_results})
        if not gt_calls:
            continue  # nothing asked of this turn (miss_func); its calls still changed the state
        if not steps:
            return fail(EMPTY_TURN, f"no call in turn {t}", t)
        diff = compare_states(model_env, truth_env)
        if diff is not None:
            cls, differences = diff
            return fail(STATE_MISMATCH, f"the state of {cls} differs from the ground truth's after turn {t}", t,
                        differences=differences)
        missing = _contains_all(all_model_results, gt_results)
        if missing:
            return fail(RESPONSE_MISMATCH, f"{len(missing)} ground-truth result(s) of turn {t} missing from the "
                        f"model's results so far", t, missing_items=missing)
    return MultiTurnVerdict(True, execution=execution)


# --------------------------------------------------------------------------------------
# Data


def load_category(source: Any, category: str) -> list[tuple[dict[str, Any], list[list[str]]]]:
    """(entry, ground truth) pairs of one multi-turn category, in file order, from BFCL's data."""
    from toolace_r import bfcl

    if category not in CATEGORIES:
        raise bfcl.BfclError(f"not a multi-turn category: {category!r}; choose from {', '.join(CATEGORIES)}")
    src = source if isinstance(source, bfcl.BfclSource) else bfcl.locate(source, download=False)
    name = f"{bfcl.PREFIX}_{category}.json"
    entries = [json.loads(x) for x in src.read(name).splitlines() if x.strip()]
    answers = {a["id"]: a["ground_truth"] for a in
               (json.loads(x) for x in src.read(f"possible_answer/{name}").splitlines() if x.strip())}
    missing = [e["id"] for e in entries if e["id"] not in answers]
    if missing:
        raise bfcl.BfclError(f"{src.describe()}: no ground truth for {missing[0]} (and {len(missing) - 1} more)")
    return [(e, answers[e["id"]]) for e in entries]
