"""BFCL v4 multi-turn categories in an evaluation: run the loop (:mod:`toolace_r.multiturn.loop`)
in each refinement mode, judge every trajectory with the multi-turn checker
(:func:`toolace_r.multiturn.checker.check_entry`) and make one row per entry and mode.

A row has the keys the summaries read (``id``, ``mode``, ``category``, ``valid``, ``error_type``,
``errors``, ``well_formed``, ``rounds``, ``tokens``, ``prompt_tokens``, ``prefill_tokens``,
``confirmed``), so multi-turn categories join the per-category table and the BFCL aggregates of
:func:`toolace_r.evaluation.core.summarize_mode`, plus what happened turn by turn and step by step::

    stop              "" (every turn ran), "step_limit", "token_budget" or "context_limit" (force-quit)
    failed_turn       the 0-based turn the checker failed (None: valid, or failed before any turn)
    n_turns, n_steps  turns run, model answers over all turns
    turns             per turn: turn, verdict (valid | invalid | unchecked: nothing asked of the turn
                      or not reached by the checker | not_run: after a force quit), ground_truth
                      (call strings), ground_truth_results (where the checker ran the turn), steps
                      (per step: step, output, status (calls | text | malformed), calls, results,
                      tokens, rounds, prompt_tokens, prefill_tokens, confirmed, refined)

Such rows are not ``toolace-r score`` rows (their output is a trajectory, not one text): they are
written to ``multi_turn.jsonl``, not ``outputs.jsonl``.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from toolace_r.calls import parse_calls
from toolace_r.multiturn.checker import MultiTurnVerdict, check_entry
from toolace_r.multiturn.loop import MultiTurnEntry, Trajectory, load_entries, run_loop
from toolace_r.progress import progress

if TYPE_CHECKING:
    from toolace_r.bfcl import BfclSource
    from toolace_r.models.generation import Generator
    from toolace_r.models.prompting import PromptConfig

Row = dict[str, Any]


def multi_turn_entries(source: "BfclSource", categories: Sequence[str], limit: int | None) -> list[MultiTurnEntry]:
    """The first ``limit`` entries of each multi-turn category, in order."""
    return [e for c in categories for e in load_entries(source, c, limit)]


def _turn_verdicts(entry: MultiTurnEntry, traj: Trajectory, verdict: MultiTurnVerdict) -> list[str]:
    out = []
    for t, gt in enumerate(entry.ground_truth):
        if t >= len(traj.turns):
            out.append("not_run")
        elif verdict.turn is not None and t == verdict.turn:
            out.append("invalid")
        elif (verdict.valid or (verdict.turn is not None and t < verdict.turn)) and gt:
            out.append("valid")
        else:
            out.append("unchecked")
    return out


def trajectory_row(entry: MultiTurnEntry, traj: Trajectory, mode: str, *,
                   classes: Mapping[str, type] | None = None) -> Row:
    """The row of one entry's trajectory in ``mode``, with the checker's verdict."""
    verdict = check_entry(entry.raw, entry.ground_truth, traj.model_turns(), classes=classes)
    verdicts = _turn_verdicts(entry, traj, verdict)
    turns = []
    for t, gt in enumerate(entry.ground_truth):
        steps = traj.turns[t] if t < len(traj.turns) else []
        turn: dict[str, Any] = {"turn": t, "verdict": verdicts[t], "ground_truth": gt}
        if t < len(verdict.execution):
            turn["ground_truth_results"] = verdict.execution[t]["ground_truth"]
        turn["steps"] = [{"step": i, "output": s.output, "status": parse_calls(s.output).status, "calls": s.calls,
                          "results": s.results, "tokens": s.tokens, "rounds": s.rounds,
                          "prompt_tokens": s.prompt_tokens, "prefill_tokens": s.prefill_tokens,
                          "confirmed": s.confirmed, "refined": s.refined} for i, s in enumerate(steps)]
        turns.append(turn)
    all_steps = [s for t in turns for s in t["steps"]]
    return {"id": entry.id, "mode": mode, "category": entry.category, "valid": verdict.valid,
            "error_type": verdict.error_type, "errors": [verdict.error_message] if verdict.error_message else [],
            "failed_turn": verdict.turn, "stop": traj.stop, "n_turns": len(traj.turns), "n_steps": len(all_steps),
            "well_formed": all(s["status"] != "malformed" for s in all_steps),
            "rounds": traj.total("rounds"), "tokens": traj.total("tokens"),
            "prompt_tokens": traj.total("prompt_tokens"), "prefill_tokens": traj.total("prefill_tokens"),
            "confirmed": any(s["confirmed"] for s in all_steps), "turns": turns}


def summarize_multi_turn(rows: Sequence[Row], modes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per mode, what the trajectories did: entries, mean turns run and steps per entry, force
    quits, turn verdicts counted (``valid`` / ``invalid`` / ``unchecked`` / ``not_run``)."""
    out: dict[str, dict[str, Any]] = {}
    for m in modes:
        mine = [r for r in rows if r["mode"] == m]
        n = len(mine) or 1
        verdicts = Counter(t["verdict"] for r in mine for t in r["turns"])
        out[m] = {"entries": len(mine), "mean_turns_run": sum(r["n_turns"] for r in mine) / n,
                  "mean_steps": sum(r["n_steps"] for r in mine) / n,
                  "force_quit": sum(bool(r["stop"]) for r in mine),
                  "turns": {k: verdicts.get(k, 0) for k in ("valid", "invalid", "unchecked", "not_run")}}
    return out


def evaluate_multi_turn(generator: "Generator", entries: Sequence[MultiTurnEntry], modes: Sequence[str], *,
                        prompt_cfg: "PromptConfig | None" = None, max_new_tokens: int = 128, max_rounds: int = 3,
                        confirm: str = "token", confirm_bias: float = 0.0, max_steps: int | None = None,
                        max_entry_tokens: int | None = None,
                        source: Any = None) -> tuple[list[Row], dict[str, float]]:
    """Rows (mode by mode, entries in order) and wall seconds per mode. Each mode runs the whole
    loop: refining a step changes what the model sees next, so modes share no pass."""
    from toolace_r.multiturn.envs import load_classes
    from toolace_r.multiturn.loop import MAX_STEPS

    classes = load_classes(source)
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    for mode in modes:
        t0 = time.perf_counter()
        with progress(f"multi-turn ({mode})", total=len(entries)) as tick:
            trajs = run_loop(generator, entries, mode, prompt_cfg=prompt_cfg, max_new_tokens=max_new_tokens,
                             max_rounds=max_rounds, confirm=confirm, confirm_bias=confirm_bias,
                             max_steps=MAX_STEPS if max_steps is None else max_steps,
                             max_entry_tokens=max_entry_tokens, classes=classes, on_done=tick)
        seconds[mode] = time.perf_counter() - t0
        rows += [trajectory_row(e, tr, mode, classes=classes) for e, tr in zip(entries, trajs)]
    return rows, seconds
