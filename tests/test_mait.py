"""The MAIT round without a model: arms, probe scoring, selection policies with top-up and
fallback, the refinement corpus, the stop rule and the best round."""

import dataclasses

import pytest

from toolace_r.config import ARMS as CONFIG_ARMS
from toolace_r.config import MaitConfig, RefineCorpusConfig
from toolace_r.data.schema import Sample
from toolace_r.mait import (ARMS, MAIT, MAIT_REFINE, PLAIN, ArmRounds, ProbeItem, arms, p_histogram, probe,
                            refinement_examples, replay_draw, round_lr, round_refinement, round_selection, select,
                            stop_reason, top_up)
from toolace_r.models.generation import Completion, Generator
from toolace_r.models.prompting import CONFIRM_TOKEN, REFINE_REQUEST
from toolace_r.scoring import score_answer

TOOL = {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                                      "required": ["a", "b"]}}


def _sample(i):
    return Sample(id=f"s{i}", tools=[TOOL], messages=[{"role": "user", "content": f"add {i} and 1"}],
                  answer=[{"add": {"a": [i], "b": [1]}}], category="simple")


def _items():
    # p = 0, 1/4, 2/4, 1, 1, 0
    pats = [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]]
    return [ProbeItem(f"s{i}", [f"[add(a={i}, b={1 if c else 2})]" for c in pat], [bool(c) for c in pat], 40)
            for i, pat in enumerate(pats)]


def test_score_answer_is_strict():
    s = _sample(3)
    assert score_answer(s, "[add(a=3, b=1)]")
    assert not score_answer(s, "[add(a=3, b=2)]")
    assert not score_answer(s, "[add(a=3")


def test_policies():
    items = _items()
    assert select("all", items, replay_share=0.1, seed=0) == [f"s{i}" for i in range(6)]
    assert select("progressive", items, replay_share=0.1, seed=0) == ["s1", "s2", "s3", "s4"]
    frontier = select("frontier", items, replay_share=0.0, seed=0)
    assert frontier == ["s1", "s2"]
    with_replay = select("frontier", items, replay_share=0.5, seed=0)
    assert set(frontier) < set(with_replay)
    assert len(set(with_replay) & {"s3", "s4"}) == 1 and len(set(with_replay) & {"s0", "s5"}) == 1
    assert with_replay == select("frontier", items, replay_share=0.5, seed=0)  # seeded


def test_histogram():
    assert p_histogram(_items(), 4) == {"0": 2, "1": 1, "2": 1, "3": 0, "4": 2}


def test_refinement_examples_targets():
    items = _items()
    by_id = {f"s{i}": _sample(i) for i in range(6)}
    exs, info = refinement_examples(by_id, items, n=6, correct_share=0.5, seed=0)
    assert len(exs) == 6 and info["refine_right_prev"] == 3 and info["refine_wrong_prev"] == 3
    for ex in exs:
        prev = ex["messages"][-2]["content"]
        if "b=1" in prev:  # right previous answer: repeat it unchanged
            assert ex["target"] == prev
        else:  # wrong previous answer: the gold answer
            assert ex["target"] == "[add(a=" + prev.split("a=")[1].split(",")[0] + ", b=1)]"
    # distinct answers only: each sample contributes at most one right and one wrong answer here
    exs, info = refinement_examples(by_id, items, n=100, correct_share=0.5, seed=0)
    assert info["refine_candidates_right"] == 4 and info["refine_candidates_wrong"] == 4 and len(exs) == 8


def test_confirmation_targets_for_right_previous_answers():
    """confirm=token: a right previous answer is confirmed; a wrong one still gets the gold answer."""
    by_id = {f"s{i}": _sample(i) for i in range(6)}
    exs, info = refinement_examples(by_id, _items(), n=6, correct_share=0.5, seed=0, confirm_text=CONFIRM_TOKEN)
    assert info["refine_right_prev"] == 3
    for ex in exs:
        prev = ex["messages"][-2]["content"]
        assert ex["messages"][-1] == {"role": "user", "content": REFINE_REQUEST}  # the conversation continued
        assert ex["target"] == (CONFIRM_TOKEN if "b=1" in prev else prev.replace("b=2", "b=1"))
    # the same picks as confirm=repeat: only the targets of right answers differ
    same, _ = refinement_examples(by_id, _items(), n=6, correct_share=0.5, seed=0)
    assert [e["messages"] for e in exs] == [e["messages"] for e in same]


@pytest.mark.parametrize("confirm_text", [None, CONFIRM_TOKEN])
def test_follow_up_examples_show_the_round_after_a_fix(confirm_text):
    by_id = {f"s{i}": _sample(i) for i in range(6)}
    exs, info = refinement_examples(by_id, _items(), n=6, correct_share=0.5, seed=0, confirm_text=confirm_text,
                                    follow_up=True)
    plain, _ = refinement_examples(by_id, _items(), n=6, correct_share=0.5, seed=0, confirm_text=confirm_text)
    assert info["refine_follow_up"] == info["refine_wrong_prev"] == 3 and len(exs) == 9
    one = len(plain[0]["messages"])  # system, user, previous answer, check request
    assert [e for e in exs if len(e["messages"]) == one] == plain  # the same picks, one previous answer each
    for ex in (e for e in exs if len(e["messages"]) == one + 2):  # ..., wrong answer, check, gold answer, check
        wrong, fixed = ex["messages"][-4]["content"], ex["messages"][-2]["content"]
        assert "b=2" in wrong and fixed == wrong.replace("b=2", "b=1")
        assert ex["target"] == (fixed if confirm_text is None else CONFIRM_TOKEN)


def _items_with_greedy():
    """Six samples, each with a wrong and a right sampled answer and a greedy answer: right for
    s0..s2 (and then the same text as the right sampled one for s0), wrong for s3..s5."""
    items = []
    for i in range(6):
        greedy = f"[add(a={i}, b=1)]" if i == 0 else (f"[add(a={i}, b=+1)]" if i < 3 else f"[add(a={i}, b=9)]")
        items.append(ProbeItem(f"s{i}", [f"[add(a={i}, b=1)]", f"[add(a={i}, b=2)]"], [True, False], 20,
                               greedy=greedy, greedy_correct=i < 3))
    return items


@pytest.mark.parametrize("share, want_greedy", [(0.0, 0), (0.5, 4), (1.0, 6)])
def test_greedy_share_mixes_greedy_and_sampled_previous_answers(share, want_greedy):
    by_id = {f"s{i}": _sample(i) for i in range(6)}
    items = _items_with_greedy()
    exs, info = refinement_examples(by_id, items, n=8, correct_share=0.5, seed=0, greedy_share=share)
    # s0's greedy answer is its right sampled one: one candidate, counted as greedy
    assert (info["refine_candidates_right"], info["refine_candidates_wrong"]) == (8, 9)
    assert (info["refine_right_prev"], info["refine_wrong_prev"]) == (4, 4)
    greedy_texts = {(it.id, it.greedy) for it in items}
    prevs = [(ex["messages"][-2]["content"], ex["target"]) for ex in exs]
    from_greedy = [p for p, _ in prevs if any(p == g for _, g in greedy_texts)]
    assert len(from_greedy) == info["refine_greedy_prev"] == want_greedy
    # 3 greedy answers on each side: 0.5 takes 2 of 4 on each; 1.0 takes all 3 and fills the fourth
    # from the sampled ones. Targets follow correctness, not the source
    for prev, target in prevs:
        right = prev.endswith("b=1)]") or "b=+1" in prev
        assert target == (prev if right else "[add(a=" + prev.split("a=")[1].split(",")[0] + ", b=1)]")


def test_top_up_grows_small_selections_only():
    items = _items()
    assert top_up(["s1"], items, min_size=1, seed=0) == ["s1"]
    grown = top_up(["s1"], items, min_size=4, seed=0)
    assert len(grown) == 4 and "s1" in grown and grown == sorted(grown, key=lambda i: int(i[1:]))
    assert grown == top_up(["s1"], items, min_size=4, seed=0)


def test_gold_answers_stand_in_when_right_answers_run_short():
    # only s3 and s4 have right answers (one distinct each); asking for 6 right of 12 needs 4 more
    items = _items()
    by_id = {f"s{i}": _sample(i) for i in range(6)}
    exs, info = refinement_examples(by_id, items, n=12, correct_share=0.5, seed=0, gold_keep=True)
    assert info["refine_candidates_right"] == 4 and info["refine_right_prev"] == 6
    assert info["refine_right_prev_gold"] == 2  # s0 and s5: the others' right answer already is the gold text
    kept = [ex for ex in exs if ex["target"] == ex["messages"][-2]["content"]]
    assert len(kept) == 6
    assert {ex["target"] for ex in kept} >= {"[add(a=0, b=1)]", "[add(a=5, b=1)]"}
    # without it, the same corpus has only the model's own right answers
    _, info = refinement_examples(by_id, items, n=12, correct_share=0.5, seed=0)
    assert info["refine_right_prev"] == 4 and info["refine_right_prev_gold"] == 0


# ------------------------------------------------------------------------------------------
# arms


def test_arms_are_values_named_by_the_config():
    assert list(ARMS) == list(CONFIG_ARMS)  # the config accepts exactly these names
    assert arms(["mait_refine", "plain"]) == [MAIT_REFINE, PLAIN]
    assert (PLAIN.policy, PLAIN.probes, PLAIN.refine_corpus) == ("all", False, False)
    assert (MAIT.probes, MAIT.refine_corpus, MAIT_REFINE.probes, MAIT_REFINE.refine_corpus) == (True, False, True, True)
    assert PLAIN.selection_policy("progressive") == "all"
    assert MAIT.selection_policy("progressive") == MAIT_REFINE.selection_policy("progressive") == "progressive"
    assert len({a.title for a in ARMS.values()}) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        MAIT.policy = "all"  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown arm"):
        arms(["mait", "sft"])


# ------------------------------------------------------------------------------------------
# probe


class ScriptedGenerator(Generator):
    """Answers every prompt with the same scripted k answers (sampling) or ``greedy`` (temperature
    0), 3 tokens each; records what it was asked."""

    def __init__(self, answers, greedy="[add(a={i}, b=3)]"):
        self.answers, self.greedy, self.calls = answers, greedy, []

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None):
        self.calls.append({"n": n, "temperature": temperature, "seed": seed, "positions": positions})
        answers = [self.greedy] if temperature == 0 else self.answers[:n]
        return [[Completion(a.format(i=int(p[0][-1]["content"].split()[1])), 3) for a in answers] for p in prompts]


def test_probe_scores_each_of_the_k_answers_and_the_greedy_one():
    gen = ScriptedGenerator(["[add(a={i}, b=1)]", "[add(a={i}, b=2)]", "[add(a={i}, b=1)]"])
    items = probe(gen, [_sample(4), _sample(7)], k=3, temperature=0.8, top_p=0.9, max_new_tokens=16, seed=5,
                  positions=[1, 3])
    assert [it.id for it in items] == ["s4", "s7"]
    assert items[0].answers == ["[add(a=4, b=1)]", "[add(a=4, b=2)]", "[add(a=4, b=1)]"]
    assert items[1].correct == [True, False, True] and items[1].p == pytest.approx(2 / 3)
    # the greedy answer is recorded beside the k sampled ones (p counts the sampled only), and costs tokens
    assert (items[1].greedy, items[1].greedy_correct, items[1].tokens) == ("[add(a=7, b=3)]", False, 12)
    assert gen.calls == [{"n": 3, "temperature": 0.8, "seed": 5, "positions": [1, 3]},
                         {"n": 1, "temperature": 0.0, "seed": 0, "positions": [1, 3]}]
    assert ProbeItem.from_dict(items[0].to_dict()) == items[0]
    # without it: one call, no greedy answer; a probe file written before greedy answers still reads
    gen = ScriptedGenerator(["[add(a={i}, b=1)]"])
    (item,) = probe(gen, [_sample(4)], k=1, temperature=0.8, top_p=1.0, max_new_tokens=16, seed=5, greedy=False)
    assert (item.greedy, item.greedy_correct, item.tokens, len(gen.calls)) == (None, None, 3, 1)
    old = {"id": "s4", "answers": ["x"], "correct": [False], "tokens": 3}
    assert ProbeItem.from_dict(old) == ProbeItem("s4", ["x"], [False], 3)


# ------------------------------------------------------------------------------------------
# selection: policy, top-up, fallback

POOL = [f"s{i}" for i in range(6)]


def _mait_cfg(**kw):
    return MaitConfig(**{"min_selected_share": 0.0, "replay_share": 0.0, **kw})


def test_round_selection_for_each_policy():
    items = _items()
    plain = round_selection(PLAIN, None, POOL, _mait_cfg(policy="frontier"), seed=0, top_up_seed=1)
    assert (plain.policy, plain.ids, plain.fallback) == ("all", POOL, False)
    for policy, want in (("all", POOL), ("progressive", ["s1", "s2", "s3", "s4"]), ("frontier", ["s1", "s2"])):
        sel = round_selection(MAIT, items, POOL, _mait_cfg(policy=policy), seed=0, top_up_seed=1)
        assert (sel.policy, sel.ids, sel.fallback) == (policy, want, False)
    # frontier with replay: the frontier plus one mastered and one unsolved sample, seeded
    replay = round_selection(MAIT_REFINE, items, POOL, _mait_cfg(replay_share=0.5), seed=0, top_up_seed=1)
    assert replay.ids == select("frontier", items, replay_share=0.5, seed=0) and len(replay.ids) == 4


def test_round_selection_tops_up_small_sets_but_not_policy_all():
    items = _items()
    sel = round_selection(MAIT, items, POOL, _mait_cfg(min_selected_share=0.5), seed=0, top_up_seed=7)
    assert sel.ids == top_up(["s1", "s2"], items, min_size=3, seed=7) and len(sel.ids) == 3
    assert {"s1", "s2"} <= set(sel.ids) and not sel.fallback
    # policy all is never topped up (it has the whole pool already); nor is a plain arm
    assert round_selection(MAIT, items[:2], POOL, _mait_cfg(policy="all", min_selected_share=1.0),
                           seed=0, top_up_seed=7).ids == ["s0", "s1"]


def test_empty_selection_falls_back_to_the_whole_pool():
    unsolved = [ProbeItem(i, ["[x()]"] * 2, [False, False], 4) for i in POOL]
    sel = round_selection(MAIT, unsolved, POOL, _mait_cfg(policy="progressive"), seed=0, top_up_seed=1)
    assert (sel.ids, sel.fallback) == (POOL, True)
    # a top-up fills it before the fallback is needed
    sel = round_selection(MAIT, unsolved, POOL, _mait_cfg(policy="progressive", min_selected_share=0.5),
                          seed=0, top_up_seed=1)
    assert len(sel.ids) == 3 and not sel.fallback


def test_round_refinement_only_for_the_refinement_arm(tmp_path):
    from toolace_r.models.embedded import train_tokenizer

    items = _items()
    by_id = {f"s{i}": _sample(i) for i in range(6)}
    cfg = RefineCorpusConfig(ratio=1.5, correct_share=0.5, greedy_share=0.0)
    for arm in (PLAIN, MAIT):
        assert round_refinement(arm, 4, by_id, items, cfg, seed=3, model=tmp_path) is None
    refs, info = round_refinement(MAIT_REFINE, 4, by_id, items, cfg, seed=3, model=tmp_path, confirm="repeat")
    assert len(refs) == 6  # ratio 1.5 x 4 selected
    assert (refs, info) == refinement_examples(by_id, items, n=6, correct_share=0.5, seed=3)
    # confirm=token: the confirmation of the model's own tokenizer (the embedded one has <|confirm|>)
    train_tokenizer(list(by_id.values()), 300).save_pretrained(tmp_path)
    refs, _ = round_refinement(MAIT_REFINE, 4, by_id, items, cfg, seed=3, model=tmp_path, confirm="token")
    assert (refs, info) == refinement_examples(by_id, items, n=6, correct_share=0.5, seed=3, confirm_text=CONFIRM_TOKEN)


# ------------------------------------------------------------------------------------------
# stop rule and best round


def test_stop_rules():
    a, ab, abc, ac = ["a"], ["a", "b"], ["a", "b", "c"], ["a", "c"]
    kw = {"stop_when_unchanged": True}
    # progressive: stops when the selection stops growing, even when its members change
    assert stop_reason("progressive", abc, ab, 0.5, 0.4, **kw) is None
    assert stop_reason("progressive", ac, ab, 0.5, 0.4, **kw) == "selected set stopped growing"
    assert stop_reason("progressive", a, ab, 0.5, 0.4, **kw) == "selected set stopped growing"
    # other policies: stop when it is unchanged
    for policy in ("frontier", "all"):
        assert stop_reason(policy, ac, ab, 0.5, 0.4, **kw) is None
        assert stop_reason(policy, list(ab), ab, 0.5, 0.4, **kw) == "selected set unchanged"
    assert stop_reason("frontier", ab, None, 0.5, 0.4, **kw) is None  # the first round has nothing to compare
    assert stop_reason("frontier", ab, ab, 0.5, 0.4, stop_when_unchanged=False) is None
    # dev accuracy falling below the best round's stops any policy; equal does not
    assert stop_reason("frontier", ac, ab, 0.3, 0.4, **kw) == "dev accuracy stopped rising"
    assert stop_reason("frontier", ac, ab, 0.4, 0.4, **kw) is None
    assert stop_reason("frontier", ab, ab, 0.3, 0.4, **kw) == "selected set unchanged"  # the first reason wins


def test_arm_rounds_keep_the_best_round(tmp_path):
    warm = tmp_path / "warm"
    rounds = ArmRounds(MAIT, "frontier", True, best_model=warm)
    assert (rounds.best_model, rounds.best_round) == (warm, -1)
    assert rounds.record(0, tmp_path / "m0", ["a"], 0.40) is None
    assert rounds.record(1, tmp_path / "m1", ["a", "b"], 0.55) is None
    assert rounds.record(2, tmp_path / "m2", ["b"], 0.55) is None  # a tie keeps the earlier round
    assert rounds.record(3, tmp_path / "m3", ["c"], 0.50) == "dev accuracy stopped rising"
    assert (rounds.best_model, rounds.best_round, rounds.best_dev) == (tmp_path / "m1", 1, 0.55)
    # the plain baseline never stops early, but is still evaluated with its best round
    plain = ArmRounds(PLAIN, "all", True, best_model=warm)
    for t, dev in enumerate([0.3, 0.2, 0.25]):
        assert plain.record(t, tmp_path / f"p{t}", POOL, dev) is None
    assert (plain.best_model, plain.best_round) == (tmp_path / "p0", 0)


def test_round_lr_decays_geometrically():
    assert round_lr(2e-3, 1.0, 3) == 2e-3
    assert [round_lr(1e-3, 0.5, t) for t in range(3)] == [1e-3, 5e-4, 2.5e-4]


def test_replay_draw_is_seeded_bounded_and_fresh():
    rest = [f"s{i}" for i in range(10)]
    a = replay_draw(rest, 4, seed=7)
    assert len(a) == 4 and len(set(a)) == 4 and set(a) <= set(rest)
    assert a == replay_draw(rest, 4, seed=7)  # the same seed draws the same samples (every arm)
    assert a != replay_draw(rest, 4, seed=8)  # another round draws others
    assert sorted(replay_draw(rest, 50, seed=7)) == sorted(rest)  # never more than there are
    assert replay_draw(rest, 0, seed=7) == [] and replay_draw([], 3, seed=7) == []
