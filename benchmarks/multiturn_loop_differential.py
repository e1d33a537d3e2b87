"""Differential test of the multi-turn inference loop (toolace_r.multiturn.loop.run_loop) against BFCL's own.

Both loops are driven by the same scripted model: a policy, a deterministic function from (entry id,
turn index, step index) to the model's output text. Ours runs it through :func:`run_loop` (mode
``none``) with a Generator that works the entry, turn and step out of the messages it is given; BFCL's
runs it through ``BaseHandler.inference_multi_turn_prompting`` (and ``inference_multi_turn_FC``)
in a separate interpreter (``benchmarks/_bfcl_multiturn_loop_worker.py``). Only the control flow is
compared, not the prompts: per turn, the steps taken (their outputs), for each step whether it
was executed and which calls it executed in which order, whether the entry was force-quit and
which turns ran, the function names visible at each turn's first step (where withheld functions
appear), and the instances' public attributes after the run. Execution result strings are counted
apart (their wording is a documented departure of toolace_r.multiturn.envs, not control flow).

Policies (per turn; "text" is a plain-text answer, which ends a turn in both loops):
  gt_text          the turn's ground-truth calls in one step, then text
  gt_split         one ground-truth call per step, then text
  never_stop       a call at every step (the turn's ground-truth calls in a cycle): the step limit
                   force-quits the entry in turn 0
  limit_mid        gt_text, but never stops in the middle turn
  limit_last       gt_text, but never stops in the last turn
  limit_edge       turn 0: exactly MAXIMUM_STEP_LIMIT (20) calling steps, then text; later turns gt_text
  undecodable_mid  first call, then a step that does not decode (the turn must end there), then the rest
  empty_list       "[]" ends a turn: after the calls on even turns, at once on odd ones
  text_only        text at every step: nothing runs
  edge_texts       step 0 is one of EDGES (outputs at the decoders' boundary: empty, code fences, JSON,
                   <tool_call>, a <think> block, ...), then the ground truth, then text
  withheld_calls   (miss_func only) the withheld function called before its turn, at it, and after

Usage:
  python benchmarks/multiturn_loop_differential.py --bfcl-data /tmp/us2_bfcl/un \
      [--bfcl-python /tmp/bfcl-env/bin/python] [--categories base,miss_func] [--sample 25] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_bfcl_multiturn_loop_worker.py"
sys.path.insert(0, str(HERE))

from _bfcl_multiturn_loop_worker import state_digest  # noqa: E402 - standalone, imports no bfcl_eval
from multiturn_differential import (bfcl_arguments, bind_call, entry_methods, open_bfcl, positional,  # noqa: E402
                                    render, run_worker)

from toolace_r.models.generation import Completion, Generator  # noqa: E402
from toolace_r.models.prompting import PromptConfig  # noqa: E402
from toolace_r.multiturn.loop import ADDED_FUNCTIONS_PROMPT, MAX_STEPS, MultiTurnEntry  # noqa: E402

TEXT = "I have done what this turn asks; there is nothing more to call."
UNKNOWN = "no_such_tool(x=1)"  # a call for a turn without ground truth (an error result in both loops)


@dataclass
class Ctx:
    """What a policy knows of an entry: its number, ground truth in keyword form, withheld functions."""

    entry: MultiTurnEntry
    index: int
    gt: list[list[str]]  # per turn, the ground-truth calls with every argument named
    methods: dict

    @property
    def last(self) -> int:
        return len(self.entry.question) - 1

    def first_call(self, t: int) -> str:
        return (self.gt[t] or [c for turn in self.gt for c in turn] or [UNKNOWN])[0]

    def withheld(self) -> tuple[int, list[str]]:
        """(holdout turn, calls of withheld functions: those of the turn's ground truth, else bare ones)."""
        (h, docs), = self.entry.missed.items()
        names = {d["name"] for d in docs}
        calls = [c for c in self.gt[h] if c.split("(", 1)[0] in names]
        return h, calls or [f"{n}()" for n in sorted(names)]


def keyword_form(call: str, methods: dict) -> str:
    bound = bind_call(call, methods)
    return call if bound is None else render(bound[0], (), bound[1])


def calls(cs: list[str]) -> str:
    return f"[{', '.join(cs)}]"


def seq(outputs: list[str], s: int) -> str:
    """The step's output from a turn's list (its last output repeats)."""
    return outputs[min(s, len(outputs) - 1)]


def _json_call(call: str, c: Ctx) -> dict:
    bound = bind_call(call, c.methods)
    name, args = bound if bound is not None else ("no_such_tool", {"x": 1})
    return {"name": name, "arguments": args}


# Outputs at the decoders' boundary; each takes the call to write and the entry.
EDGES: dict[str, Callable[[str, Ctx], str]] = {
    "empty": lambda call, c: "",
    "blank": lambda call, c: "  \n ",
    "word_none": lambda call, c: "None",
    "list_of_name": lambda call, c: "[Done]",
    "nested_empty": lambda call, c: "[[]]",
    "no_brackets": lambda call, c: call,
    "fenced": lambda call, c: f"```\n[{call}]\n```",
    "fenced_python": lambda call, c: f"```python\n[{call}]\n```",
    "trailing_text": lambda call, c: f"[{call}] That is all.",
    "unclosed_list": lambda call, c: f"[{call}, ",
    "quoted": lambda call, c: f"'[{call}]'",
    "think_block": lambda call, c: f"<think>The tool does it.</think>\n[{call}]",
    "python_tag": lambda call, c: f"<|python_tag|>[{call}]",
    "positional": lambda call, c: f"[{positional(call, c.methods)}]",
    "call_of_call": lambda call, c: f"[{call.split('(', 1)[0]}(1)(x=1)]",
    "attribute_call": lambda call, c: f"[api.{call}]",
    "two_lists": lambda call, c: f"[{call}][{call}]",
    "semicolons": lambda call, c: f"{call}; {call}",
    "newlines": lambda call, c: f"{call}\n{call}",
    "tuple": lambda call, c: f"({call}, {call})",
    "json": lambda call, c: json.dumps([_json_call(call, c)]),
    "tool_call_tag": lambda call, c: f"<tool_call>\n{json.dumps(_json_call(call, c))}\n</tool_call>",
}


def edge_kind(c: Ctx, t: int) -> str:
    return list(EDGES)[(c.index + t) % len(EDGES)]


def gt_text(c: Ctx, t: int, s: int) -> str:
    return seq([calls(c.gt[t]), TEXT] if c.gt[t] else [TEXT], s)


def never_stop(c: Ctx, t: int, s: int) -> str:
    cycle = c.gt[t] or [c.first_call(t)]
    return calls([cycle[s % len(cycle)]])


def undecodable(c: Ctx, t: int) -> str:
    return f"[{c.first_call(t)}, {c.first_call(t).split('(', 1)[0]}(]"  # a bracket left open: SyntaxError


def withheld_calls(c: Ctx, t: int, s: int) -> str:
    h, w = c.withheld()
    if t < h:  # before its turn: the withheld function first, then the turn's own calls
        return seq([calls(w)] + ([calls(c.gt[t])] if c.gt[t] else []) + [TEXT], s)
    if t == h:
        return gt_text(c, t, s)
    return seq([calls(c.gt[t] + w), TEXT], s)


POLICIES: dict[str, Callable[[Ctx, int, int], str]] = {
    "gt_text": gt_text,
    "gt_split": lambda c, t, s: seq([calls([x]) for x in c.gt[t]] + [TEXT], s),
    "never_stop": never_stop,
    "limit_mid": lambda c, t, s: never_stop(c, t, s) if t == len(c.gt) // 2 else gt_text(c, t, s),
    "limit_last": lambda c, t, s: never_stop(c, t, s) if t == c.last else gt_text(c, t, s),
    "limit_edge": lambda c, t, s: (seq([never_stop(c, t, k) for k in range(MAX_STEPS)] + [TEXT], s) if t == 0
                                   else gt_text(c, t, s)),
    "undecodable_mid": lambda c, t, s: seq([calls(c.gt[t][:1]), undecodable(c, t), calls(c.gt[t][1:]), TEXT]
                                           if c.gt[t] else [undecodable(c, t), TEXT], s),
    "empty_list": lambda c, t, s: seq([calls(c.gt[t]), "[]", TEXT] if c.gt[t] and t % 2 == 0 else ["[]", TEXT], s),
    "text_only": lambda c, t, s: TEXT,
    "edge_texts": lambda c, t, s: seq([EDGES[edge_kind(c, t)](c.first_call(t), c)]
                                      + ([calls(c.gt[t])] if c.gt[t] else []) + [TEXT], s),
    "withheld_calls": withheld_calls,
}
MISS_FUNC_ONLY = {"withheld_calls"}


def table(policy: Callable[[Ctx, int, int], str], c: Ctx) -> list[list[str]]:
    """The policy per turn as the outputs of steps 0 .. MAX_STEPS (the most any turn may take),
    trailing repeats trimmed (the last output repeats)."""
    out = []
    for t in range(len(c.entry.question)):
        steps = [policy(c, t, s) for s in range(MAX_STEPS + 1)]
        while len(steps) > 1 and steps[-1] == steps[-2]:
            steps.pop()
        out.append(steps)
    return out


# --------------------------------------------------------------------------------------
# Our loop


class PolicyModel(Generator):
    """Answers from policy tables; finds the entry by its first user message, the turn by the user
    messages so far, the step by the assistant messages since the last one."""

    def __init__(self, tables: dict[str, list[list[str]]], entries: list[MultiTurnEntry]):
        self.prompt_config = PromptConfig()
        self.tables = tables
        self.by_first = {}
        self.users_after: dict[str, list[int]] = {}  # per entry: user messages once turn t has begun
        for e in entries:
            first = next(m["content"] for m in e.question[0] if m["role"] == "user")
            assert first not in self.by_first, f"{e.id}: its first message is another entry's in this batch"
            self.by_first[first] = e
            n, after = 0, []
            for t, msgs in enumerate(e.question):
                n += sum(m["role"] == "user" for m in msgs) or (t in e.missed)
                after.append(n)
            self.users_after[e.id] = after
        self.info: dict[str, list[dict]] = {e.id: [] for e in entries}

    def _visible(self, messages: list[dict], tools: list[dict] | None) -> list[str]:
        if tools is not None:
            return [t.get("function", t)["name"] for t in tools]
        pre = self.prompt_config.system_prompt.split("{tools}")[0]
        listing, _ = json.JSONDecoder().raw_decode(messages[0]["content"], len(pre))
        return [f["name"] for f in listing]

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None, constraints=None):
        out = []
        for messages, tools in prompts:
            users = [i for i, m in enumerate(messages) if m["role"] == "user"]
            e = self.by_first[messages[users[0]]["content"]]
            t = self.users_after[e.id].index(len(users))
            s = sum(m["role"] == "assistant" for m in messages[users[-1]:])
            if s == 0:
                self.info[e.id].append({"user": messages[users[-1]]["content"], "visible": self._visible(messages, tools)})
            text = seq(self.tables[e.id][t], s)
            out.append([Completion(text, len(text.split()) + 1)] * n)
        return out


class Tap(dict):
    """The backend classes as factories that remember every instance they make, in order."""

    def __init__(self, classes: dict[str, type]):
        super().__init__({name: self._factory(name, cls) for name, cls in classes.items()})
        self.made: list[tuple[str, Any]] = []

    def _factory(self, name: str, cls: type):
        def make():
            inst = cls()
            self.made.append((name, inst))
            return inst
        return make


def batches(entries: list[MultiTurnEntry]) -> list[list[MultiTurnEntry]]:
    """Entries split so that no two in a batch open with the same user message (the model keys by it)."""
    out: list[tuple[set, list]] = []
    for e in entries:
        first = next(m["content"] for m in e.question[0] if m["role"] == "user")
        for keys, batch in out:
            if first not in keys:
                keys.add(first)
                batch.append(e)
                break
        else:
            out.append(({first}, [e]))
    return [b for _, b in out]


def run_ours(entries: list[MultiTurnEntry], tables: dict[str, list[list[str]]], classes: dict) -> dict[str, dict]:
    from toolace_r.multiturn.loop import run_loop

    out = {}
    for batch in batches(entries):
        model, tap = PolicyModel(tables, batch), Tap(classes)
        trajs = run_loop(model, batch, "none", prompt_cfg=model.prompt_config, classes=tap)
        made = iter(tap.made)  # the environments are made in entry order, each in its classes' order
        for e, tr in zip(batch, trajs):
            instances = {}
            for cls in e.raw["involved_classes"]:
                name, inst = next(made)
                assert name == cls, (e.id, name, cls)
                instances[cls] = inst
            turns = [[{"output": s.output, "executed": list(s.calls) if s.calls else None, "results": list(s.results)}
                      for s in steps] for steps in tr.turns]
            out[e.id] = {"turns": turns, "info": model.info[e.id], "state": state_digest(instances), "stop": tr.stop}
    return out


# --------------------------------------------------------------------------------------
# Comparison


def norm_calls(cs: list[str] | None):
    """Executed call strings as (name, positional, keyword) values, so that both sides' spellings compare."""
    from toolace_r.multiturn.envs import parse_call_string

    if cs is None:
        return None
    out = []
    for c in cs:
        spec = parse_call_string(c)
        out.append(("<unparsed>", c) if spec.error else (spec.name, spec.args, dict(spec.kwargs)))
    return out


def force_quit(turns: list[list[dict]]) -> bool:
    """A turn ends on a step that was not executed, or on a force quit after an executed one."""
    return bool(turns and turns[-1] and turns[-1][-1]["executed"] is not None)


def compare(c: Ctx, ours: dict, theirs: dict, mode: str) -> tuple[list[tuple[int | None, str, str]], int, list]:
    """((turn or None, kind, text) of each way the two runs differ, executed calls compared, and
    (call, our result, BFCL's) where the result texts differ)."""
    if theirs["crash"]:
        return [(None, "BFCL crashed", theirs["crash"])], 0, []
    reasons: list[tuple[int | None, str, str]] = []
    a, b = ours["turns"], theirs["turns"]
    if len(a) != len(b):
        reasons.append((None, "turns run", f"ours {len(a)}, BFCL {len(b)}"))
    n_calls, texts = 0, []
    for t, (sa, sb) in enumerate(zip(a, b)):
        if [s["output"] for s in sa] != [s["output"] for s in sb]:
            reasons.append((t, "steps taken", f"ours {len(sa)}, BFCL {len(sb)}"))
        for s, (x, y) in enumerate(zip(sa, sb)):
            ex, ey = norm_calls(x["executed"]), norm_calls(y["executed"])
            if (ex is None) != (ey is None):
                reasons.append((t, f"executed by {'ours' if ex is not None else 'BFCL'} only",
                                f"step {s}: {x['output'][:70]!r}"))
            elif ex != ey:
                reasons.append((t, "calls differ", f"step {s}: ours {x['executed']}, BFCL {y['executed']}"))
            elif ex is not None:
                n_calls += len(ex)
                texts += [(call, r, q) for call, r, q in zip(x["executed"], x["results"], y["results"]) if r != q]
    fa, fb = ours["stop"] == "step_limit", force_quit(b)
    if fa != fb or force_quit(a) != fa:
        reasons.append((None, "force quit", f"ours {ours['stop'] or 'no'}, BFCL {'yes' if fb else 'no'}"))
    for t, (ia, ib) in enumerate(zip(ours["info"], theirs["info"])):
        va, vb = set(ia["visible"]), set(ib["visible"])
        if va != vb:
            reasons.append((t, "functions visible", f"ours only {sorted(va - vb)}, BFCL only {sorted(vb - va)}"))
        if t in c.entry.missed:  # the holdout turn: BFCL's own message (prompting: the docs before it)
            bfcl_ok = (ib["user"] == ADDED_FUNCTIONS_PROMPT if mode == "fc"
                       else ib["user"].endswith("\n" + ADDED_FUNCTIONS_PROMPT) and ib["user"] != ADDED_FUNCTIONS_PROMPT)
            if ia["user"] != ADDED_FUNCTIONS_PROMPT or not bfcl_ok:
                reasons.append((t, "holdout message", f"ours {ia['user'][-50:]!r}, BFCL {ib['user'][-50:]!r}"))
        elif ia["user"] != ib["user"]:
            reasons.append((t, "user message", "differs"))
    if ours["state"] != theirs["state"]:
        diff = sorted(f"{cls}.{k}" for cls in set(ours["state"]) | set(theirs["state"])
                      for k in set(ours["state"].get(cls, {})) | set(theirs["state"].get(cls, {}))
                      if ours["state"].get(cls, {}).get(k) != theirs["state"].get(cls, {}).get(k))
        reasons.append((None, "final state", ", ".join(diff)))
    return reasons, n_calls, texts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bfcl_arguments(ap, "/tmp/multiturn_loop_differential")
    ap.add_argument("--categories", default="base,miss_func", help="multi-turn categories run in full")
    ap.add_argument("--sample", type=int, default=0, help="entries of each other multi-turn category (every k-th)")
    ap.add_argument("--limit", type=int, default=0, help="entries per category (0 = all)")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--modes", default="prompting,fc", help="BFCL loops: prompting (the reference), fc")
    args = ap.parse_args(argv)

    from toolace_r import bfcl
    from toolace_r.multiturn.loop import load_entries

    out_dir, src, classes = open_bfcl(args)
    policies = [p for p in args.policies.split(",") if p]
    unknown = set(policies) - set(POLICIES)
    if unknown:
        raise SystemExit(f"unknown policies: {sorted(unknown)} (known: {', '.join(POLICIES)})")
    full = {f"multi_turn_{c}" for c in args.categories.split(",") if c}
    ctxs: list[Ctx] = []
    for cat in bfcl.MULTI_TURN:
        if cat not in full and not args.sample:
            continue
        entries = load_entries(src, cat)
        if cat not in full:
            entries = entries[:: max(1, len(entries) // args.sample)][: args.sample]
        entries = entries[: args.limit or None]
        for i, e in enumerate(entries):
            methods = entry_methods(e.raw, classes)
            ctxs.append(Ctx(e, i, [[keyword_form(x, methods) for x in turn] for turn in e.ground_truth], methods))

    rows, tables = [], {}
    for p in policies:
        for c in ctxs:
            if p in MISS_FUNC_ONLY and not c.entry.missed:
                continue
            tables[(p, c.entry.id)] = table(POLICIES[p], c)
            rows.append({"row": len(rows), "id": c.entry.id, "category": c.entry.category, "policy": p,
                         "table": tables[(p, c.entry.id)]})
    rows_path, off_path = out_dir / "rows.jsonl", out_dir / "bfcl.jsonl"
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(ctxs)} entries, {len(policies)} policies, {len(rows)} trajectories per loop", flush=True)

    t0 = time.perf_counter()
    ours: dict[tuple[str, str], dict] = {}
    for p in policies:
        entries = [c.entry for c in ctxs if (p, c.entry.id) in tables]
        for eid, res in run_ours(entries, {e.id: tables[(p, e.id)] for e in entries}, classes).items():
            ours[(p, eid)] = res
    t_ours = time.perf_counter() - t0

    _, t_bfcl = run_worker(args, WORKER, str(rows_path), str(off_path), "--modes", args.modes)
    theirs = [json.loads(x) for x in off_path.read_text().splitlines() if x.strip()]

    by_id = {c.entry.id: c for c in ctxs}
    modes = [m for m in args.modes.split(",") if m]
    total: Counter = Counter()
    agree: Counter = Counter()
    kinds: Counter = Counter()
    calls_compared, results_differ, holdouts = 0, [], Counter()
    disagreements = []
    for o in theirs:
        r = rows[o["row"]]
        c, mine = by_id[r["id"]], ours[(r["policy"], r["id"])]
        reasons, n_calls, texts = compare(c, mine, o, o["mode"])
        key = (o["mode"], r["policy"])
        total[key] += 1
        holdouts[o["mode"]] += sum(t < min(len(mine["info"]), len(o["info"])) for t in c.entry.missed)
        if o["mode"] == modes[0]:
            calls_compared += n_calls
            results_differ += [{"policy": r["policy"], "id": r["id"], "agreeing": not reasons, "call": x,
                                "ours": y[:300], "bfcl": z[:300]} for x, y, z in texts]
        if not reasons:
            agree[key] += 1
            continue
        for t, kind, _ in reasons:
            edge = edge_kind(c, t) if r["policy"] == "edge_texts" and t is not None else ""
            kinds[" | ".join(x for x in (o["mode"], r["policy"], edge, kind) if x)] += 1
        disagreements.append({"mode": o["mode"], "policy": r["policy"], "id": r["id"],
                              "reasons": [(f"turn {t}: " if t is not None else "") + f"{k}: {x}" for t, k, x in reasons],
                              "ours": mine["turns"], "bfcl": o["turns"]})
    (out_dir / "result_texts.jsonl").write_text("".join(json.dumps(d) + "\n" for d in results_differ))
    (out_dir / "disagreements.jsonl").write_text("".join(json.dumps(d) + "\n" for d in disagreements))
    summary = {
        "entries": len(ctxs), "by_category": dict(Counter(c.entry.category for c in ctxs)),
        "trajectories_per_loop": len(rows),
        "agree": {m: f"{sum(agree[k] for k in agree if k[0] == m)}/{sum(total[k] for k in total if k[0] == m)}"
                  for m in modes},
        "per_policy": {m: {p: f"{agree[(m, p)]}/{total[(m, p)]}" for p in policies if total[(m, p)]} for m in modes},
        "ours_per_policy": {p: {"force_quits": sum(v["stop"] == "step_limit" for (q, _), v in ours.items() if q == p),
                                "steps": sum(len(t) for (q, _), v in ours.items() if q == p for t in v["turns"]),
                                "executed_steps": sum(s["executed"] is not None for (q, _), v in ours.items() if q == p
                                                      for t in v["turns"] for s in t)} for p in policies},
        "holdout_turns_compared": dict(holdouts),
        "executed_calls_compared": calls_compared,
        "result_text_differs": {"agreeing_runs": sum(d["agreeing"] for d in results_differ),
                                "disagreeing_runs": sum(not d["agreeing"] for d in results_differ)},
        "edges_without_disagreement": [k for k in EDGES if "edge_texts" in policies
                                       and not any(f"| {k} |" in x for x in kinds)],
        "seconds_ours": round(t_ours, 1), "seconds_bfcl": round(t_bfcl, 1),
        "disagreement_kinds": dict(sorted(kinds.items())),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    for d in disagreements[:40]:
        print(f"- [{d['mode']}] {d['policy']} {d['id']}: " + "; ".join(d["reasons"][:3]))
    if len(disagreements) > 40:
        print(f"... {len(disagreements) - 40} more in {out_dir / 'disagreements.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
