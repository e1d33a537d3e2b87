"""Official-verdict worker for the BFCL multi-turn differential (benchmarks/multiturn_differential.py).

Runs under a SEPARATE interpreter that can import ``bfcl_eval`` (``/tmp/bfcl-env/bin/python`` with
the wheel installed, or any interpreter with ``mpmath`` given ``--bfcl-root`` = the folder holding
an unpacked ``bfcl_eval``: the multi-turn checker modules need nothing else). It is never imported
by ``toolace_r`` or its tests.

Per trajectory it does what BFCL's evaluation runner does for one multi-turn entry
(``_evaluate_single_multi_turn_entry``): when ``bfcl_eval.eval_checker.eval_runner`` imports (the
full install), that very function is called with a stub handler whose ``decode_execute`` returns
a step given as a list unchanged and decodes a step given as text with BFCL's
``default_decode_execute_prompting``; otherwise (checker modules only) the runner's three steps
before the checker are re-done here (not a list -> inference_error; turn count differs ->
force_terminated; steps that decode to nothing are dropped) and ``multi_turn_checker`` is called.

BFCL keeps the instances of an entry in its module globals under a name built from the model name
and the entry id; every trajectory gets its own model name (``diff<row>``) so that no state leaks
from one trajectory to the next, and its instances are deleted afterwards.

Input: JSON lines ``{"row", "id", "turns"}``; output: one JSON line per row
``{"row", "valid", "error_type", "crash"}`` (crash: an exception inside the official code).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("out")
    ap.add_argument("--bfcl-root", help="folder holding an unpacked bfcl_eval (put first on sys.path)")
    args = ap.parse_args(argv)
    if args.bfcl_root:
        sys.path.insert(0, args.bfcl_root)

    import bfcl_eval
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import is_empty_execute_response

    data = Path(bfcl_eval.__file__).parent / "data"
    entries, truths = {}, {}
    for cat in ("base", "miss_func", "miss_param", "long_context"):
        name = f"BFCL_v4_multi_turn_{cat}.json"
        for line in (data / name).read_text().splitlines():
            if line.strip():
                e = json.loads(line)
                entries[e["id"]] = e
        for line in (data / "possible_answer" / name).read_text().splitlines():
            if line.strip():
                a = json.loads(line)
                truths[a["id"]] = a["ground_truth"]

    try:
        from bfcl_eval.model_handler.utils import default_decode_execute_prompting
    except Exception as e:  # checker modules only
        default_decode_execute_prompting = None
        print(f"worker: no BFCL text decoder ({type(e).__name__}: {e}); text steps count as undecodable",
              file=sys.stderr)
    try:
        from bfcl_eval.eval_checker.eval_runner import _evaluate_single_multi_turn_entry
        mode = "eval_runner"
    except Exception as e:
        _evaluate_single_multi_turn_entry = None
        mode = "checker_only"
        print(f"worker: eval_runner not importable ({type(e).__name__}); re-doing its pre-checks", file=sys.stderr)
    print(f"worker: mode={mode}", file=sys.stderr)

    class StubHandler:
        def decode_execute(self, item, has_tool_call_tag=False):
            if isinstance(item, list):
                return item
            if default_decode_execute_prompting is None:
                raise ValueError("no decoder")
            return default_decode_execute_prompting(item, has_tool_call_tag)

    handler = StubHandler()

    def verdict(row) -> dict:
        entry = json.loads(json.dumps(entries[row["id"]]))  # the runner may edit the entry
        gt = truths[row["id"]]
        category = row["id"].rsplit("_", 1)[0]
        model_name = f"diff{row['row']}"
        turns = row["turns"]
        if _evaluate_single_multi_turn_entry is not None:
            res = _evaluate_single_multi_turn_entry(handler, row["id"], turns, gt, entry, model_name, category)
            return {"valid": bool(res["valid"]), "error_type": "" if res["valid"] else res["error"]["error_type"]}
        if not isinstance(turns, list):
            return {"valid": False, "error_type": "multi_turn:inference_error"}
        if len(turns) != len(gt):
            return {"valid": False, "error_type": "multi_turn:force_terminated"}
        decoded = []
        for turn in turns:
            steps = []
            for item in turn:
                try:
                    d = handler.decode_execute(item)
                except Exception:
                    continue
                if not is_empty_execute_response(d):
                    steps.append(d)
            decoded.append(steps)
        res = multi_turn_checker(decoded, gt, entry, category, model_name)
        return {"valid": bool(res["valid"]), "error_type": "" if res["valid"] else res["error_type"]}

    globs = vars(multi_turn_utils)
    with open(args.rows) as fin, open(args.out, "w") as fout:
        for line in fin:
            if not line.strip():
                continue
            row = json.loads(line)
            try:
                out = verdict(row)
                out["crash"] = ""
            except Exception as e:  # noqa: BLE001 - an official crash is a finding, not a worker failure
                out = {"valid": None, "error_type": "", "crash": f"{type(e).__name__}: {e}"}
            out["row"] = row["row"]
            fout.write(json.dumps(out) + "\n")
            prefix = f"diff{row['row']}_"
            for k in [k for k in globs if k.startswith(prefix) and k.endswith("_instance")]:
                del globs[k]
    print(f"worker: mode={mode} done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
