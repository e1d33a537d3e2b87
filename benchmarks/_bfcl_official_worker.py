"""Official-verdict worker for the BFCL differential benchmark.

Runs under a SEPARATE interpreter that has the official ``bfcl-eval`` wheel
installed (e.g. ``/tmp/bfcl-env/bin/python``); it is never imported by the
``toolace_r`` package or its tests, and it imports ``bfcl_eval`` only at run time.

It applies, per row, exactly what the official eval runner does for prompt-mode
(non-FC) Python models:

* AST categories (``_evaluate_single_ast_entry``): ``default_decode_ast_prompting``
  (any exception -> ``ast_decoder:decoder_failed``), then
  ``is_function_calling_format_output`` (-> ``ast_decoder:decoder_wrong_output_format``),
  then ``ast_checker(functions, decoded, possible_answer, Language.PYTHON,
  category, model_name)``.
* relevance / irrelevance categories (``_evaluate_single_relevance_entry``):
  decode; ``contain_func_call`` = decoded successfully and not ``is_empty_output``;
  irrelevance -> valid iff not contain_func_call
  (error ``irrelevance_error:decoder_success``); relevance -> valid iff
  contain_func_call (error ``relevance_error:decoder_failed``).

An exception raised inside ``ast_checker`` itself (not the decoder, whose
exceptions are part of the official logic) is reported as ``official_crash``.

Input: JSONL rows in the ``toolace-r score`` input format
(``functions``, ``output``, ``possible_answer``, ``category``).

Modes:
  verdicts (default): writes one JSON line per row:
      {"valid": bool|null, "error_type": str, "crash": bool, "crash_msg": str}
  --bench: times the in-process decode+check loop (JSON loading excluded) and
      prints one JSON object {"rows", "seconds", "rows_per_s", "repeats", ...}.
  --bench-server: loads once, then times one pass per "run" line read on stdin, so that
      benchmarks/checker.py can interleave official and our passes under the same load.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import sys
import time

DEFAULT_MODEL_NAME = "Qwen/Qwen3-8B"


def _load_official(model_name: str):
    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.constants.model_config import MODEL_CONFIG_MAPPING
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting
    from bfcl_eval.utils import (
        is_empty_output,
        is_function_calling_format_output,
        is_relevance_or_irrelevance,
    )

    # ast_checker -> convert_func_name looks the model up with "_" -> "/".
    key = model_name.replace("_", "/")
    if key not in MODEL_CONFIG_MAPPING:
        raise SystemExit(f"model {model_name!r} not in bfcl_eval MODEL_CONFIG_MAPPING")
    cfg = MODEL_CONFIG_MAPPING[key]
    if cfg.underscore_to_dot:
        print(
            f"warning: {model_name} has underscore_to_dot=True (FC-style name mangling)",
            file=sys.stderr,
        )

    def evaluate(output, functions, possible_answer, category):
        """Return (valid, error_type, crash_msg). crash_msg is '' unless official crashed."""
        if is_relevance_or_irrelevance(category):
            contain_func_call = False
            try:
                decoded = default_decode_ast_prompting(output, ReturnFormat.PYTHON, False)
                contain_func_call = True
                if is_empty_output(decoded):
                    contain_func_call = False
            except Exception:
                contain_func_call = False
            if "irrelevance" in category:
                ok = not contain_func_call
                return ok, ("" if ok else "irrelevance_error:decoder_success"), ""
            ok = contain_func_call
            return ok, ("" if ok else "relevance_error:decoder_failed"), ""

        try:
            decoded = default_decode_ast_prompting(output, ReturnFormat.PYTHON, False)
        except Exception:
            return False, "ast_decoder:decoder_failed", ""
        if not is_function_calling_format_output(decoded):
            return False, "ast_decoder:decoder_wrong_output_format", ""
        try:
            res = ast_checker(
                functions, decoded, possible_answer, Language.PYTHON, category, model_name
            )
        except Exception as exc:  # official checker bug on this input
            return None, "official_crash", f"{type(exc).__name__}: {exc}"[:300]
        if res["valid"]:
            return True, "", ""
        return False, res.get("error_type", ""), ""

    return evaluate


def _read_rows(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, help="rows JSONL (toolace-r score input format)")
    ap.add_argument("--output", help="verdicts JSONL (verdicts mode)")
    ap.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    ap.add_argument("--bench", action="store_true", help="time the in-process loop instead")
    ap.add_argument("--repeats", type=int, default=3, help="bench: timed passes (best is reported)")
    ap.add_argument("--bench-server", action="store_true",
                    help="load once, then time one pass per 'run' line on stdin (for interleaved timing)")
    args = ap.parse_args(argv)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    evaluate = _load_official(args.model_name)
    rows = _read_rows(args.input)

    if args.bench or args.bench_server:
        import importlib.metadata as md
        import platform

        def one_pass() -> float:
            # fresh copies so no pass sees data mutated by a previous one (copying is untimed)
            batch = [
                (r["output"], copy.deepcopy(r["functions"]), copy.deepcopy(r["possible_answer"]), r["category"])
                for r in rows
            ]
            gc.collect()
            gc.disable()  # same on our side: keeps collector pauses out of both loops
            try:
                t0 = time.perf_counter()
                for out, fn, pa, cat in batch:
                    evaluate(out, fn, pa, cat)
                return time.perf_counter() - t0
            finally:
                gc.enable()

        info = {
            "rows": len(rows),
            "python": platform.python_version(),
            "bfcl_eval_version": md.version("bfcl-eval"),
            "model_name": args.model_name,
        }
        if args.bench_server:
            # line protocol on stdin/stdout: "run" -> {"seconds": t}; "quit" -> exit
            print(json.dumps({"ready": True, **info}), flush=True)
            for line in sys.stdin:
                cmd = line.strip()
                if cmd == "run":
                    print(json.dumps({"seconds": one_pass()}), flush=True)
                elif cmd == "quit":
                    break
            return 0
        times = [one_pass() for _ in range(max(1, args.repeats))]
        best = min(times)
        print(json.dumps({**info, "seconds": best, "all_seconds": times,
                          "rows_per_s": len(rows) / best if best > 0 else None, "repeats": len(times)}))
        return 0

    if not args.output:
        ap.error("--output is required unless --bench")
    n_crash = 0
    with open(args.output, "w", encoding="utf-8") as fh:
        for r in rows:
            valid, err, crash = evaluate(
                r["output"], r["functions"], r["possible_answer"], r["category"]
            )
            n_crash += bool(crash)
            fh.write(
                json.dumps(
                    {"valid": valid, "error_type": err, "crash": bool(crash), "crash_msg": crash}
                )
                + "\n"
            )
    print(json.dumps({"rows": len(rows), "official_crash": n_crash}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
