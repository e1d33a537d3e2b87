"""BFCL-side worker for the multi-turn inference-loop differential (benchmarks/multiturn_loop_differential.py).

Runs under a SEPARATE interpreter that has ``bfcl_eval`` installed (``/tmp/bfcl-env/bin/python``);
it is never imported by ``toolace_r`` or its tests. The differential imports only
:func:`state_digest` from it (this module imports ``bfcl_eval`` inside :func:`main` alone).

Per input row (an entry id and a policy table: per turn, the model's output text at each step) it
runs BFCL's own multi-turn inference loop, ``BaseHandler.inference_multi_turn_prompting`` (and, with
``--modes prompting,fc``, ``inference_multi_turn_FC``), on the entry as BFCL's generation loads it
(``bfcl_eval.utils.load_dataset_entry``: function docs filled in, withheld docs moved aside). The
handler is a BaseHandler subclass whose model is the table: it works out the turn and step from the
conversation methods BFCL calls on it (a turn's user message starts a turn, an assistant message
ends a step) and answers with ``table[turn][step]`` (the last entry of a turn's list repeats).
Decoding is BFCL's prompt-mode decoder (``default_decode_execute_prompting``) in both modes, so the
two loops differ only in how they present the tools.

Recorded per row: the step outputs per turn as BFCL's loop returns them, for each step the decoded
calls it executed (none when the step ended the turn) and their results, per turn the user message
and the function names the model could see at the turn's first step (prompting: the system
prompt's functions plus those whose docs a user message carried), and a digest of the instances'
public attributes after the run (:func:`state_digest`). BFCL keeps the instances in
``multi_turn_utils`` module globals named after the model and entry id: each row gets its own model
name (``loopdiff<row>``) and its instances are deleted afterwards.

Input: JSON lines ``{"row", "id", "category", "table"}``; output: one JSON line per row and mode
``{"row", "mode", "turns", "info", "state", "crash"}``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import io
import json
import re
import sys
from typing import Any


def _canonical(value: Any, path: tuple = ()) -> Any:
    """A JSON value that two processes can compare: what ``==`` compares on BFCL's backends
    (containers by content, dict order ignored, list vs tuple kept, objects by their public
    attributes; a back-reference to an enclosing object, such as a directory's parent, is marked)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if id(value) in path:
        return {"__cycle__": type(value).__name__}
    path = path + (id(value),)
    if isinstance(value, dict):
        items = [[_canonical(k, path), _canonical(v, path)] for k, v in value.items()]
        return {"__dict__": sorted(items, key=lambda kv: json.dumps(kv[0], sort_keys=True))}
    if isinstance(value, list):
        return [_canonical(v, path) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_canonical(v, path) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"__set__": sorted((_canonical(v, path) for v in value), key=lambda v: json.dumps(v, sort_keys=True))}
    if hasattr(value, "__dict__"):
        return {"__object__": type(value).__name__,
                "attrs": _canonical({k: v for k, v in vars(value).items() if not k.startswith("_")}, path)}
    return {"__repr__": repr(value)}


def state_digest(instances: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{class: {public attribute: sha1 of its canonical JSON}} of an entry's instances."""
    out = {}
    for name, inst in instances.items():
        attrs = {k: v for k, v in vars(inst).items() if not k.startswith("_")}
        out[name] = {k: hashlib.sha1(json.dumps(_canonical(v), sort_keys=True).encode()).hexdigest()[:16]
                     for k, v in sorted(attrs.items())}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("out")
    ap.add_argument("--modes", default="prompting,fc", help="BFCL loops to run: prompting, fc")
    ap.add_argument("--bfcl-root", help="folder holding an unpacked bfcl_eval (put first on sys.path)")
    args = ap.parse_args(argv)
    if args.bfcl_root:
        sys.path.insert(0, args.bfcl_root)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - {"prompting", "fc"}:
        raise SystemExit(f"--modes: prompting and/or fc, got {args.modes!r}")

    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.model_handler.base_handler import BaseHandler
    from bfcl_eval.model_handler.utils import default_decode_execute_prompting
    from bfcl_eval.utils import load_dataset_entry

    class PolicyHandler(BaseHandler):
        """A model that answers from a policy table; the conversation is only counted."""

        def __init__(self, name: str, table: list[list[str]]):
            super().__init__(model_name=name, temperature=0.0, registry_name=name, is_fc_model=False)
            self.table = table
            self.steps: list[dict] = []  # every step, in order: turn, step, output, executed, results
            self.info: list[dict] = []  # per turn: user message, functions visible at its first step

        def decode_execute(self, result, has_tool_call_tag=False):
            return default_decode_execute_prompting(result, has_tool_call_tag)

        # -- the conversation, counted (prompting mode; FC mode shares all but three methods)
        def _start(self, entry: dict, functions: list[dict]) -> dict:
            held = [d for docs in (entry.get("missed_function") or {}).values() for d in docs]
            return {"turn": -1, "step": 0, "visible": [f["name"] for f in functions], "held": held}

        def _pre_query_processing_prompting(self, test_entry):
            return self._start(test_entry, test_entry["function"])

        def add_first_turn_message_prompting(self, inference_data, first_turn_message):
            data = inference_data
            data["turn"] += 1
            data["step"] = 0
            users = [m["content"] for m in first_turn_message if m["role"] == "user"]
            data["user"] = users[-1] if users else ""
            # prompting mode: withheld docs reach the model inside this message
            data["visible"] += [d["name"] for d in data["held"] if str(d) in data["user"] and d["name"] not in data["visible"]]
            return data

        def _query_prompting(self, inference_data):
            t, s = inference_data["turn"], inference_data["step"]
            if s == 0:
                self.info.append({"user": inference_data["user"], "visible": list(inference_data["visible"])})
            steps = self.table[t]
            return {"text": steps[min(s, len(steps) - 1)], "turn": t, "step": s}, 0.0

        def _parse_query_response_prompting(self, api_response):
            self.steps.append({"turn": api_response["turn"], "step": api_response["step"],
                               "output": api_response["text"], "executed": None, "results": None})
            return {"model_responses": api_response["text"], "input_token": 0, "output_token": 0}

        def _add_assistant_message_prompting(self, inference_data, model_response_data):
            inference_data["step"] += 1
            return inference_data

        def _add_execution_results_prompting(self, inference_data, execution_results, model_response_data):
            decoded = model_response_data.get("model_responses_decoded")
            if decoded is None:  # the FC loop keeps no decoded list: decode the step's text again
                decoded = self.decode_execute(model_response_data["model_responses"])
            self.steps[-1]["executed"], self.steps[-1]["results"] = list(decoded), list(execution_results)
            return inference_data

        _add_next_turn_user_message_prompting = add_first_turn_message_prompting

        # -- FC mode: same model text, same decoder; the tools are compiled into the request
        def _pre_query_processing_FC(self, inference_data, test_entry):
            inference_data.update(self._start(test_entry, []))
            return inference_data

        def _compile_tools(self, inference_data, test_entry):
            inference_data["visible"] = [f["name"] for f in test_entry["function"]]
            return inference_data

        add_first_turn_message_FC = _add_next_turn_user_message_FC = add_first_turn_message_prompting
        _query_FC = _query_prompting
        _parse_query_response_FC = _parse_query_response_prompting
        _add_assistant_message_FC = _add_assistant_message_prompting
        _add_execution_results_FC = _add_execution_results_prompting

    rows = [json.loads(x) for x in open(args.rows) if x.strip()]
    entries: dict[str, dict] = {}
    for cat in sorted({r["category"] for r in rows}):
        entries.update({e["id"]: e for e in load_dataset_entry(cat)})

    globs = vars(multi_turn_utils)

    def run(row: dict, mode: str) -> dict:
        entry = copy.deepcopy(entries[row["id"]])  # the FC loop extends entry["function"]
        handler = PolicyHandler(f"loopdiff{row['row']}{mode}", row["table"])
        loop = handler.inference_multi_turn_prompting if mode == "prompting" else handler.inference_multi_turn_FC
        out = {"row": row["row"], "mode": mode, "crash": ""}
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the loop prints every step
                responses, _ = loop(entry, include_input_log=False, exclude_state_log=True)
        except Exception as e:  # noqa: BLE001 - a crash inside BFCL's loop is a finding
            out["crash"] = f"{type(e).__name__}: {e}"
            responses = None
        turns: list[list[dict]] = [[] for _ in range(max((s["turn"] + 1 for s in handler.steps), default=0))]
        for s in handler.steps:
            turns[s["turn"]].append({k: s[k] for k in ("output", "executed", "results")})
        if responses is not None and [[s["output"] for s in t] for t in turns] != responses:
            out["crash"] = "the loop's returned responses differ from the steps the handler answered"
        instances = {}
        for cls in entry["involved_classes"]:
            key = re.sub(r"[-./:]", "_", f"{handler.model_name_underline_replaced}_{row['id']}_{cls}_instance")
            if key in globs:
                instances[cls] = globs.pop(key)
        out.update(turns=turns, info=handler.info, state=state_digest(instances))
        return out

    with open(args.out, "w") as fout:
        for row in rows:
            for mode in modes:
                fout.write(json.dumps(run(row, mode)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
