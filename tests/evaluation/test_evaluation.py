"""The evaluation module without a model: a scripted generator, so rows, summaries, the shared
first pass and the fixed/broken counts are checked against numbers worked out by hand."""

from __future__ import annotations

import pytest
from scripted import ScriptedGenerator, call, irrelevant, n_tokens, prompt_tokens, weather

from toolace_r.evaluation import (RUN_SUMMARY_KEYS, EvalError, EvalOptions, add_wall_seconds, evaluate, parse_modes,
                                  refinement_flips, run_modes, run_summary, sample_items, summarize_modes)
from toolace_r.models.prompting import NO_CALL_TEXT, PromptConfig, build_messages, refine_messages
from toolace_r.scoring import score_rows

PARIS, ROME, SONG = weather("Paris"), weather("Rome", unseen_tool=True), irrelevant()
MODES = ["none", "adaptive", "fixed:2"]
BROKEN = "get_weather("  # malformed
ROME_SPACED = '[get_weather( city = "Rome" )]'


def _script() -> ScriptedGenerator:
    """Paris: wrong, then fixed, then repeated. Rome: right, then repeated (other spacing), then
    broken (malformed). The song: a correct abstention, repeated."""
    return (ScriptedGenerator().chain(PARIS, [call("Rome"), call("Paris"), call("Paris")])
            .chain(ROME, [call("Rome"), ROME_SPACED, BROKEN]).chain(SONG, [NO_CALL_TEXT] * 3))


@pytest.fixture(scope="module")
def evaluated():
    gen = _script()
    rows, timing = evaluate(gen, sample_items([PARIS, ROME, SONG]), MODES, checker_mode="strict", max_rounds=3,
                            max_new_tokens=16)
    return gen, rows, timing


def test_the_first_pass_is_generated_once_for_every_mode(evaluated):
    gen, _, timing = evaluated
    plain = [k for k in gen.prompts_seen if "Check your answer" not in k]
    assert len(plain) == 3 and len(set(plain)) == 3
    # one first-pass call; adaptive: round 1 over all three, round 2 over Paris (the only one that
    # changed); fixed:2: two rounds over all three
    assert [c.n_prompts for c in gen.calls] == [3, 3, 1, 3, 3]
    assert set(timing["modes"]) == set(MODES) and timing["first_pass_s"] >= 0


def test_rows_are_score_rows_with_verdict_and_cost(evaluated):
    _, rows, _ = evaluated
    assert [(r["mode"], r["id"]) for r in rows] == [(m, s.id) for m in MODES for s in (PARIS, ROME, SONG)]
    assert list(rows[0]) == ["id", "mode", "functions", "possible_answer", "category", "output", "valid", "error_type",
                             "errors", "well_formed", "rounds", "tokens", "prompt_tokens", "prefill_tokens",
                             "confirmed", "sample_category", "unseen_tool", "unseen_template"]
    by = {(r["mode"], r["id"]): r for r in rows}
    assert [by["none", s.id]["valid"] for s in (PARIS, ROME, SONG)] == [False, True, True]
    # adaptive: Paris fixed in round 1, repeated in 2; Rome repeated at once
    paris, rome = by["adaptive", PARIS.id], by["adaptive", ROME.id]
    assert (paris["output"], paris["valid"], paris["rounds"]) == (call("Paris"), True, 2)
    assert paris["tokens"] == n_tokens(call("Rome")) + 2 * n_tokens(call("Paris"))
    # every pass's prompt counted: the plain one, then the conversation continued by each answer
    passes = [build_messages(PARIS, PromptConfig()), refine_messages(PARIS, [call("Rome")]),
              refine_messages(PARIS, [call("Rome"), call("Paris")])]
    assert paris["prompt_tokens"] == paris["prefill_tokens"] == sum(prompt_tokens(p) for p in passes)
    assert not any(r["confirmed"] for r in rows)
    assert (rome["output"], rome["valid"], rome["rounds"]) == (ROME_SPACED, True, 1)
    assert rome["tokens"] == n_tokens(call("Rome")) + n_tokens(ROME_SPACED)
    assert by["adaptive", SONG.id]["rounds"] == 1
    # fixed:2 stops Rome on its broken answer: invalid and not well formed
    bad = by["fixed:2", ROME.id]
    assert (bad["output"], bad["valid"], bad["well_formed"], bad["rounds"]) == (BROKEN, False, False, 2)
    assert bad["error_type"] != "" and bad["category"] == "simple" and bad["sample_category"] == "simple"
    assert by["none", SONG.id]["category"] == "irrelevance" and by["none", ROME.id]["unseen_tool"] is True
    # each row re-scores to its own verdict through `toolace-r score`'s function
    assert [v["valid"] for v in score_rows(rows, "strict")] == [r["valid"] for r in rows]


def test_summaries(evaluated):
    _, rows, _ = evaluated
    s = summarize_modes(rows, MODES)
    assert list(s) == MODES
    none, ad, fx = s["none"], s["adaptive"], s["fixed:2"]
    assert (none["n"], none["accuracy"], none["mean_rounds"]) == (3, 2 / 3, 0)
    assert ad["accuracy"] == 1.0 and ad["mean_rounds"] == (2 + 1 + 1) / 3
    assert fx["accuracy"] == 2 / 3 and fx["well_formed"] == 2 / 3 and fx["mean_rounds"] == 2
    assert none["mean_tokens"] == sum(n_tokens(t) for t in (call("Rome"), call("Rome"), NO_CALL_TEXT)) / 3
    assert list(none["categories"]) == ["simple", "irrelevance"]  # our category order
    assert none["categories"]["simple"] == {"correct": 1, "total": 2, "accuracy": 0.5}
    assert none["overall"] == {"correct": 2, "total": 3, "accuracy": 2 / 3}
    assert none["groups"]["tools/unseen"] == {"correct": 1, "total": 1, "accuracy": 1.0}
    assert none["groups"]["template/unseen"]["total"] == 1 and "aggregates" not in none
    assert none["well_formed_irrelevance"] == 1.0 and sum(fx["errors"].values()) == 1
    assert none["mean_prefill_tokens"] == none["mean_prompt_tokens"] > 0
    assert ad["mean_prefill_tokens"] > none["mean_prefill_tokens"] and ad["confirmations"] == 0
    # what `toolace-r run` keeps in state.json
    assert run_summary(fx) == {k: fx[k] for k in RUN_SUMMARY_KEYS}
    assert list(run_summary(fx)) == ["n", "accuracy", "well_formed", "mean_rounds", "mean_tokens"]


def test_wall_seconds_are_the_shared_first_pass_plus_the_modes_own_rounds(evaluated):
    _, rows, timing = evaluated
    s = summarize_modes(rows, MODES)
    add_wall_seconds(s, [timing])
    assert [s[m]["wall_s"] for m in MODES] == [timing["first_pass_s"] + timing["modes"][m]["refine_s"] for m in MODES]
    # several processes: the slowest one's
    add_wall_seconds(s, [timing, {"modes": {m: {"total_s": 99.0} for m in MODES}}])
    assert [s[m]["wall_s"] for m in MODES] == [99.0] * 3


def test_refinement_flips_count_fixed_and_broken(evaluated):
    _, rows, _ = evaluated
    flips = refinement_flips(rows)
    assert list(flips) == ["adaptive", "fixed:2"]
    assert (flips["adaptive"]["fixed"], flips["adaptive"]["broken"]) == (1, 0)
    assert (flips["fixed:2"]["fixed"], flips["fixed:2"]["broken"]) == (1, 1)
    assert dict(flips["fixed:2"]["broken_by_category"]) == {"simple": 1}
    assert refinement_flips([r for r in rows if r["mode"] != "none"]) == {}


def test_run_modes_without_refinement_makes_one_call():
    gen = _script()
    outputs, _ = run_modes(gen, [PARIS, ROME], ["none"], max_rounds=3, max_new_tokens=8)
    assert [r.final for r in outputs["none"]] == [call("Rome"), call("Rome")] and len(gen.calls) == 1


def test_parse_modes_and_options_checks():
    assert parse_modes(["none", "adaptive,fixed:2", "none"], 3) == MODES
    assert parse_modes(None, 3) == ["none", "adaptive"]
    with pytest.raises(EvalError, match="--refine: unknown refinement mode 'x'"):
        parse_modes(["x"], 3)
    opts = EvalOptions(model="m", bench="b.jsonl", refine_modes=["none,fixed:1"], checker_mode="strict")
    assert opts.modes == ["none", "fixed:1"] and "Checker mode" in EvalOptions.help("checker_mode")
    for kw, message in (({"checker_mode": "loose"}, "--mode must be 'bfcl' or 'strict'"),
                        ({"prompt_style": "x"}, "--prompt-style must be auto, system or template"),
                        ({"limit": 0}, "--limit must be >= 1"), ({"max_new_tokens": 0}, "--max-new-tokens must be >= 1"),
                        ({"confirm": "nod"}, "--confirm must be token or repeat"),
                        ({"confirm_bias": -0.5}, "--confirm-bias must be >= 0"),
                        ({"bfcl_data": "d"}, "--bfcl-data and --export-bfcl are for --bench bfcl")):
        with pytest.raises(EvalError, match=message):
            EvalOptions(model="m", bench="b.jsonl", **kw)
