"""Evaluation: the one path used by ``toolace-r run`` (dev and test stages), ``toolace-r eval``
and the report. Run a generator over items in the requested refinement modes, score every final
answer with the checker, summarise.

For each item the first pass (greedy, prompted as the model was trained) is generated once and
shared by every refinement mode: ``none`` stops there, ``adaptive`` and ``fixed:N`` refine it
(:func:`toolace_r.refine.refine`). The checker mode is the caller's: ``toolace-r run`` scores in
``strict`` mode (a malformed output is never a correct abstention), ``toolace-r eval`` in ``bfcl``
mode by default (the official verdicts).

Output row (one per item and mode; ``outputs.jsonl`` of a run's eval stage and of
``toolace-r eval``), a valid ``toolace-r score`` input row plus its verdict and cost::

    id, mode                               the item and the refinement mode
    functions, possible_answer, category   what it is scored against (category: the checker's)
    output                                 the final answer
    valid, error_type, errors              the checker's verdict
    well_formed                            the output parses as calls or as a text answer
    rounds, tokens                         refinement calls after the first pass; generated tokens, all passes
    prompt_tokens, prefill_tokens          prompt tokens over all passes, and those prefilled (0: not reported)
    confirmed                              the answer ended with the model's confirmation (refine.confirm=token)
    sample_category, unseen_tool, unseen_template    (our samples only) report groups

Rows are written mode by mode: every item in the first mode, then every item in the next.

BFCL's multi-turn categories are not items: :mod:`toolace_r.evaluation.multiturn` runs them through
the multi-turn loop and checker, one row per entry and mode with the keys above that summaries read
plus the trajectory turn by turn and step by step (``multi_turn.jsonl``, not ``outputs.jsonl``); they
join the summaries' categories and aggregates.

Summary of one mode (:func:`summarize_mode`; ``results.json`` ``by_mode`` and a run's
``summary.json``): ``n``, ``accuracy``, ``overall`` ``{correct, total, accuracy}``,
``categories`` (by BFCL category, or by sample category for our samples, each
``{correct, total, accuracy}``), ``well_formed``, ``well_formed_irrelevance``, ``mean_rounds``,
``mean_tokens``, ``mean_prompt_tokens``, ``mean_prefill_tokens``, ``confirmations`` (answers that
ended with a confirmation), ``errors`` (count by error type), ``wall_s`` (where timed: the mode's
wall seconds, the shared first pass plus its own rounds; :func:`add_wall_seconds`); BFCL adds ``aggregates``
(:func:`toolace_r.bfcl.aggregates`), our samples add ``groups`` (``tools/seen|unseen``,
``template/seen|unseen``). ``toolace-r run`` records :data:`RUN_SUMMARY_KEYS` of it in state.json.

Python use::

    from toolace_r.evaluation import evaluate, sample_items, summarize_modes
    rows, timing = evaluate(generator, sample_items(samples), ["none", "adaptive"], max_new_tokens=64)
    summary = summarize_modes(rows, ["none", "adaptive"])

    from toolace_r.evaluation import EvalOptions, run_eval        # what `toolace-r eval` does
    results = run_eval(EvalOptions(model="models/tiny", bench="corpus/test.jsonl", checker_mode="strict"))
"""

from toolace_r.evaluation.core import (DEFAULT_MODES, RUN_SUMMARY_KEYS, EvalError, Item, add_wall_seconds,
                                       bfcl_items, evaluate, jsonl_items, parse_modes, refinement_flips, run_modes,
                                       run_summary, sample_items, score_outputs, summarize_mode, summarize_modes)
from toolace_r.evaluation.files import (OUTPUTS_FILE, RESULTS_FILE, common_modes, compare_rows, default_name,
                                        export_bfcl, load_results, read_rows, results_markdown, write_plots,
                                        write_results)
from toolace_r.evaluation.multiturn import evaluate_multi_turn, multi_turn_entries, trajectory_row
from toolace_r.evaluation.runner import EvalOptions, make_eval_generator, run_eval

__all__ = [
    "DEFAULT_MODES", "RUN_SUMMARY_KEYS", "EvalError", "Item", "add_wall_seconds", "bfcl_items", "evaluate",
    "jsonl_items", "parse_modes", "refinement_flips", "run_modes", "run_summary", "sample_items",
    "score_outputs", "summarize_mode", "summarize_modes", "OUTPUTS_FILE", "RESULTS_FILE", "common_modes",
    "compare_rows", "default_name", "export_bfcl", "load_results", "read_rows", "results_markdown",
    "write_plots", "write_results", "EvalOptions", "make_eval_generator", "run_eval",
    "evaluate_multi_turn", "multi_turn_entries", "trajectory_row",
]
