"""The refinement loop without a model: a scripted generator answers each prompt from a script,
so the stop rules, round and token counts, batching and sampled first passes are checked exactly."""

from __future__ import annotations

import pytest
from scripted import ScriptedGenerator, call, n_tokens, weather

from toolace_r.models.prompting import CONFIRM_TEXT, CONFIRM_TOKEN, build_messages, refine_messages
from toolace_r.refine import Sampling, effective_confirm_bias, first_pass, parse_mode, refine

PARIS, ROME = weather("Paris"), weather("Rome")
WRONG = call("Rome")  # a wrong answer to Paris
SPACED = '[get_weather( city = "Paris" )]'  # the same calls as call("Paris"), written differently


def _paris_script() -> ScriptedGenerator:
    """Paris: wrong first, corrected in round 1, then repeated (with other spacing)."""
    return ScriptedGenerator().chain(PARIS, [WRONG, call("Paris"), SPACED, call("Paris")])


@pytest.mark.parametrize("confirm", ["repeat", "token"])
def test_adaptive_stops_when_the_model_repeats_its_calls(confirm):
    gen = _paris_script()
    (r,) = refine(gen, [PARIS], "adaptive", max_rounds=5, max_new_tokens=32, confirm=confirm)
    # round 1 changes the answer, round 2 repeats it (canonically equal calls): stop there
    assert r.trajectory == [WRONG, call("Paris"), SPACED]
    assert r.final == SPACED and r.rounds == 2
    assert r.tokens == n_tokens(WRONG) + n_tokens(call("Paris")) + n_tokens(SPACED)
    assert r.first_tokens == n_tokens(WRONG) and r.last_tokens == n_tokens(SPACED)
    assert len(gen.calls) == 3 and all(c.max_new_tokens == 32 for c in gen.calls)


def test_adaptive_stops_at_max_rounds_without_a_repeat():
    gen = ScriptedGenerator().chain(ROME, [call("Oslo"), call("Lima"), call("Oslo")])
    (r,) = refine(gen, [ROME], "adaptive", max_rounds=2)
    assert r.rounds == 2 and r.final == call("Oslo") and len(gen.calls) == 3


@pytest.mark.parametrize("confirm", ["repeat", "token"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_fixed_runs_exactly_n_rounds_even_after_a_repeat(n, confirm):
    gen = _paris_script()
    (r,) = refine(gen, [PARIS], f"fixed:{n}", max_rounds=1, confirm=confirm)
    assert r.rounds == n and len(r.trajectory) == n + 1 and len(gen.calls) == n + 1
    assert r.trajectory == [WRONG, call("Paris"), SPACED, call("Paris")][: n + 1]
    assert r.tokens == sum(n_tokens(t) for t in r.trajectory)


def test_none_is_the_single_greedy_pass():
    gen = _paris_script()
    (r,) = refine(gen, [PARIS], "none")
    assert (r.final, r.rounds, r.tokens, r.trajectory) == (WRONG, 0, n_tokens(WRONG), [WRONG])
    assert [(c.n_prompts, c.n, c.temperature) for c in gen.calls] == [(1, 1, 0.0)]


def test_a_round_is_one_batched_call_over_the_answers_still_active():
    # Rome is right at once and repeats itself in round 1; Paris needs two rounds
    gen = _paris_script().chain(ROME, [call("Rome"), call("Rome")])
    results = refine(gen, [PARIS, ROME], "adaptive", max_rounds=3)
    assert [r.rounds for r in results] == [2, 1]
    assert [c.n_prompts for c in gen.calls] == [2, 2, 1]


def test_a_given_first_pass_is_used_not_regenerated():
    gen = _paris_script()
    first = first_pass(gen, [PARIS])
    (r,) = refine(gen, [PARIS], "fixed:1", first=first)
    assert len(gen.calls) == 2 and r.trajectory == [WRONG, call("Paris")]
    with pytest.raises(ValueError, match="first pass has 1 answers for 2 samples"):
        refine(gen, [PARIS, PARIS], "none", first=first)


def test_sampled_first_pass_then_every_choice_refined_greedily():
    """The server's use: n choices sampled at temperature / top_p / seed, each refined on its own."""
    gen = _paris_script().first(ROME, [call("Rome"), call("Oslo")]).then(ROME, [call("Rome")], call("Rome"))
    gen.then(ROME, [call("Oslo")], call("Rome")).then(ROME, [call("Oslo"), call("Rome")], call("Rome"))
    gen.first(PARIS, [WRONG, call("Paris")]).then(PARIS, [call("Paris")], SPACED)
    results = refine(gen, [PARIS, ROME], "adaptive", max_rounds=3, max_new_tokens=20,
                     sampling=Sampling(n=2, temperature=0.7, top_p=0.9, seed=11))
    assert len(results) == 4  # sample-major: Paris's two choices, then Rome's
    assert [r.trajectory[0] for r in results] == [WRONG, call("Paris"), call("Rome"), call("Oslo")]
    assert [r.final for r in results] == [SPACED, SPACED, call("Rome"), call("Rome")]
    assert [r.rounds for r in results] == [2, 1, 1, 2]
    assert [r.first_tokens for r in results] == [n_tokens(t) for t in (WRONG, call("Paris"), call("Rome"), call("Oslo"))]
    first, *rounds = gen.calls
    assert (first.n_prompts, first.n, first.temperature, first.top_p, first.seed) == (2, 2, 0.7, 0.9, 11)
    assert all(c.n == 1 and c.temperature == 0.0 for c in rounds)
    assert [c.n_prompts for c in rounds] == [4, 2]


def test_rounds_continue_the_conversation_with_every_answer_so_far():
    gen = _paris_script()
    refine(gen, [PARIS], "fixed:3")
    want = [build_messages(PARIS, gen.prompt_config)] + [
        refine_messages(PARIS, [WRONG, call("Paris"), SPACED][:k], gen.prompt_config) for k in (1, 2, 3)]
    assert gen.prompts_seen == [ScriptedGenerator._key(p) for p in want]
    # each prompt (with its answer) is the start of the next one: what a prefix cache reuses
    for (a, _), (b, _) in zip(want[1:], want[2:]):
        assert b[:len(a)] == a


@pytest.mark.parametrize("mode", ["adaptive", "fixed:3"])
def test_token_confirmation_keeps_the_previous_answer(mode):
    """Paris: wrong, corrected in round 1, confirmed in round 2. Rome: confirmed at once."""
    gen = (ScriptedGenerator().chain(PARIS, [WRONG, call("Paris"), CONFIRM_TEXT])
           .chain(ROME, [call("Rome"), f"  {CONFIRM_TEXT}\n"]))
    paris, rome = refine(gen, [PARIS, ROME], mode, max_rounds=3, confirm="token")
    assert (paris.final, paris.rounds, paris.confirmed) == (call("Paris"), 2, True)
    assert paris.trajectory == [WRONG, call("Paris"), CONFIRM_TEXT]
    assert paris.tokens == n_tokens(WRONG) + n_tokens(call("Paris")) + n_tokens(CONFIRM_TEXT)
    assert paris.last_tokens == n_tokens(call("Paris"))  # the pass that gave the final answer
    assert (rome.final, rome.rounds, rome.confirmed) == (call("Rome"), 1, True)
    assert rome.last_tokens == n_tokens(call("Rome"))
    # a confirmation ends the trajectory in fixed mode too: nothing more is asked
    assert [c.n_prompts for c in gen.calls] == [2, 2, 1]


def test_the_confirmation_is_the_models_own():
    """A model whose tokenizer has <|confirm|> confirms with it; "Confirmed." is then an answer."""
    gen = ScriptedGenerator().chain(PARIS, [call("Paris"), CONFIRM_TEXT, CONFIRM_TOKEN])
    gen.confirm_text = CONFIRM_TOKEN
    (r,) = refine(gen, [PARIS], "adaptive", max_rounds=3, confirm="token")
    assert (r.final, r.rounds, r.confirmed) == (CONFIRM_TEXT, 2, True)


def test_repeat_treats_a_confirmation_as_an_answer():
    """confirm=repeat is the paper's rule as before: only a repeat stops; a confirmation is text."""
    gen = ScriptedGenerator().chain(PARIS, [call("Paris"), CONFIRM_TEXT, CONFIRM_TEXT])
    (r,) = refine(gen, [PARIS], "adaptive", max_rounds=3, confirm="repeat")
    assert (r.final, r.rounds, r.confirmed) == (CONFIRM_TEXT, 2, False)
    with pytest.raises(ValueError, match="unknown confirm rule 'nod'"):
        refine(gen, [PARIS], "adaptive", confirm="nod")


def test_chunks_go_through_every_round_before_the_next_chunk():
    gen = _paris_script().chain(ROME, [call("Rome"), call("Rome")])
    results = refine(gen, [PARIS, ROME, PARIS], "adaptive", max_rounds=3, chunk_size=2)
    assert [r.rounds for r in results] == [2, 1, 2]
    # chunk 1 (Paris, Rome): first pass, two rounds; chunk 2 (Paris): first pass, two rounds
    assert [c.n_prompts for c in gen.calls] == [2, 2, 1, 1, 1, 1]
    # a chunk's sampled first pass keeps its samples' places in the whole set (their seeds)
    assert [c.positions for c in gen.calls if c.positions is not None] == [[0, 1], [2]]
    assert [r.trajectory for r in results] == [r.trajectory for r in refine(_paris_script().chain(
        ROME, [call("Rome"), call("Rome")]), [PARIS, ROME, PARIS], "adaptive", max_rounds=3)]


@pytest.mark.parametrize("mode, rounds, message", [
    ("none", 3, None), ("adaptive", 4, None), ("fixed:2", 3, None), ("rewrite", 3, None),
    ("adaptive", 0, "adaptive refinement needs max_rounds >= 1"),
    ("fixed:0", 3, "bad refinement mode 'fixed:0'"), ("fixed:x", 3, "bad refinement mode"),
    ("sometimes", 3, "unknown refinement mode 'sometimes'"),
])
def test_parse_mode(mode, rounds, message):
    if message is None:
        assert parse_mode(mode, rounds) == {"none": ("none", 0), "adaptive": ("adaptive", 4), "fixed:2": ("fixed", 2),
                                         "rewrite": ("rewrite", 1)}[mode]
    else:
        with pytest.raises(ValueError, match=message):
            parse_mode(mode, rounds)


def test_confirm_bias_is_ignored_where_the_backend_cannot_apply_it():
    gen = _paris_script()
    (r,) = refine(gen, [PARIS], "adaptive", max_rounds=5, confirm="token", confirm_bias=3.0)
    assert (r.final, r.rounds) == (SPACED, 2)  # as without a bias
    assert effective_confirm_bias(gen, "token", 3.0) == 0.0
    with pytest.raises(ValueError, match="confirm_bias must be >= 0"):
        refine(gen, [PARIS], "adaptive", confirm_bias=-1.0)
