"""MAIT pieces: selection policies and the refinement corpus (no model needed)."""

from toolace_r.data.schema import Sample
from toolace_r.iterative import ProbeItem, p_histogram, refinement_examples, select
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
        last = ex["messages"][-1]["content"]
        prev = last.split("Previous answer: ", 1)[1].split("\n", 1)[0]
        if "b=1" in prev:  # right previous answer: repeat it unchanged
            assert ex["target"] == prev
        else:  # wrong previous answer: the gold answer
            assert ex["target"] == "[add(a=" + prev.split("a=")[1].split(",")[0] + ", b=1)]"
    # distinct answers only: each sample contributes at most one right and one wrong answer here
    exs, info = refinement_examples(by_id, items, n=100, correct_share=0.5, seed=0)
    assert info["refine_candidates_right"] == 4 and info["refine_candidates_wrong"] == 4 and len(exs) == 8


def test_top_up_grows_small_selections_only():
    from toolace_r.iterative import top_up

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
    kept = [ex for ex in exs if ex["target"] == ex["messages"][-1]["content"].split("Previous answer: ", 1)[1].split("\n", 1)[0]]
    assert len(kept) == 6
    assert {ex["target"] for ex in kept} >= {"[add(a=0, b=1)]", "[add(a=5, b=1)]"}
    # without it, the same corpus has only the model's own right answers
    _, info = refinement_examples(by_id, items, n=12, correct_share=0.5, seed=0)
    assert info["refine_right_prev"] == 4 and info["refine_right_prev_gold"] == 0
