"""The procedural corpus: size, determinism, correctness of every gold answer, held-out
tools and templates, and the difficulty knobs of method.md section 5."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from toolace_r.calls import format_calls, parse_calls
from toolace_r.checker import check
from toolace_r.data import synth
from toolace_r.data.io import read_samples
from toolace_r.data.schema import Sample


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[Sample]]:
    return synth.synthesize(4000, seed=11)


def _tool_dicts(s: Sample) -> list[dict]:
    return [t.model_dump() for t in s.tools]


def test_split_sizes_and_category_shares(corpus):
    assert {k: len(v) for k, v in corpus.items()} == {"train": 3200, "dev": 400, "test": 400}
    cats = Counter(s.category for s in corpus["train"])
    for cat, share in synth.DEFAULT_SHARES.items():
        assert cats[cat] == round(3200 * share)
    parts = Counter(s.meta["part"] for s in corpus["test"])
    assert parts == {"seen": 200, "unseen_template": 100, "unseen_tool": 100}


def test_every_gold_answer_passes_the_checker(corpus):
    n = 0
    for samples in corpus.values():
        for s in samples:
            output = format_calls(s.gold_calls()) if s.answer else s.text
            v = check(output, _tool_dicts(s), s.answer, s.checker_category())
            assert v.valid, (s.id, s.messages[0].content, s.answer, v.error_type, v.errors)
            n += 1
    assert n == 4000


def test_gold_text_round_trips_through_the_parser(corpus):
    for s in corpus["test"]:
        if s.answer:
            parsed = parse_calls(format_calls(s.gold_calls()))
            assert parsed.status == "calls"
            assert [c.name for c in parsed.calls] == [c.name for c in s.gold_calls()]
        else:
            assert s.category == "irrelevance" and s.text == synth.IRRELEVANCE_TEXT
            assert parse_calls(s.text).status == "text"


def test_wrong_answers_fail_the_checker(corpus):
    """The gold answers are not vacuous: dropping a call or a required value fails."""
    for s in corpus["test"][:300]:
        if not s.answer:
            continue
        calls = s.gold_calls()
        v = check(format_calls(calls[1:]), _tool_dicts(s), s.answer, s.checker_category())
        assert not v.valid
        tool = next(t for t in s.tools if t.name == calls[0].name)
        required = tool.parameters.get("required", [])
        if required:
            broken = [calls[0].model_copy(update={"arguments": {k: v for k, v in calls[0].arguments.items()
                                                                 if k != required[0]}})] + calls[1:]
            v = check(format_calls(broken), _tool_dicts(s), s.answer, s.checker_category())
            assert not v.valid


def test_same_seed_same_bytes_other_seed_other_corpus(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synth.write_corpus(a, 600, 5)
    synth.write_corpus(b, 600, 5)
    synth.write_corpus(c, 600, 6)
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "tools.json", "manifest.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "train.jsonl").read_bytes() != (c / "train.jsonl").read_bytes()
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["splits"] == {"train": 480, "dev": 60, "test": 60}
    assert manifest["seed"] == 5 and manifest["n"] == 600
    assert len(read_samples(a / "train.jsonl")) == 480
    tools = json.loads((a / "tools.json").read_text())
    assert len(tools) == len(synth.build_inventory())


def test_inventory_breadth_and_parameter_kinds():
    inv = synth.build_inventory()
    assert len(inv) >= 60
    assert len({t.domain for t in inv}) >= 15
    assert len([t for t in inv if not t.held_out]) >= 60
    kinds = Counter(p.kind for t in inv for p in t.params)
    for kind in ("string", "enum", "integer", "number", "boolean", "array", "object"):
        assert kinds[kind] > 0, kind
    assert any(p.required for t in inv for p in t.params)
    assert any(not p.required for t in inv for p in t.params)
    held_domains = {t.domain for t in inv if t.held_out}
    assert len(held_domains) >= 10
    for d in held_domains:  # every held-out tool has seen siblings to be confused with
        assert any(t.domain == d and not t.held_out for t in inv)


def test_held_out_tools_never_reach_train_or_dev(corpus):
    held = {t.name for t in synth.build_inventory() if t.held_out}
    for split in ("train", "dev"):
        for s in corpus[split]:
            assert not held & {t.name for t in s.tools}
            assert not s.meta["unseen_tool"] and not s.meta["unseen_template"]
    unseen = [s for s in corpus["test"] if s.meta["part"] == "unseen_tool"]
    assert unseen and all(s.meta["unseen_tool"] for s in unseen)
    called = {c.name for s in unseen for c in s.gold_calls()}
    assert called & held


def test_held_out_templates_are_new_combinations_of_seen_fragments(corpus):
    single, multi = synth.all_templates()
    held = [t for t in single + multi if synth.is_held_out_template(t)]
    seen = [t for t in single + multi if not synth.is_held_out_template(t)]
    assert 0.05 < len(held) / (len(held) + len(seen)) < 0.3
    seen_fragments = {f for t in seen for f in t.fragments}
    for t in held:
        assert set(t.fragments) <= seen_fragments, t.id
    held_ids = {t.id for t in held}
    train_ids = {s.meta["template_id"] for s in corpus["train"]}
    assert not train_ids & held_ids
    test_unseen = [s for s in corpus["test"] if s.meta["part"] == "unseen_template"]
    assert test_unseen and all(s.meta["template_id"] in held_ids and s.meta["unseen_template"] for s in test_unseen)
    # ...and their words all occur in training requests (values aside, they are not new words)
    train_words = {w for s in corpus["train"] for w in s.messages[0].content.lower().split()}
    test_words = Counter(w for s in test_unseen for w in s.messages[0].content.lower().split())
    new = sum(n for w, n in test_words.items() if w not in train_words)
    assert new / sum(test_words.values()) < 0.02


def test_no_request_of_the_test_split_is_in_train(corpus):
    def key(s: Sample) -> tuple:
        return s.messages[0].content.lower(), tuple(sorted(t.name for t in s.tools))

    train = {key(s) for s in corpus["train"]}
    assert not any(key(s) in train for s in corpus["test"] + corpus["dev"])


def test_meta_fields_and_shape(corpus):
    for split, samples in corpus.items():
        for s in samples:
            assert s.meta["split"] == split
            for k in ("unseen_tool", "unseen_template", "template_id", "domain"):
                assert k in s.meta
            assert s.source == "synth"
            assert [m.role for m in s.messages] == ["user"]


def test_requests_are_short_and_categories_are_what_they_say(corpus):
    words = [len(s.messages[0].content.split()) for s in corpus["train"]]
    assert sum(words) / len(words) < 20
    assert max(words) <= synth.MAX_WORDS_MULTI
    for s in corpus["train"]:
        n_calls, n_tools = len(s.answer or []), len(s.tools)
        if s.category == "simple":
            assert (n_calls, n_tools) == (1, 1)
        elif s.category == "multiple":
            assert n_calls == 1 and 2 <= n_tools <= 6
        elif s.category == "parallel":
            assert n_calls >= 2 and n_tools == 1
        elif s.category == "parallel_multiple":
            assert n_calls >= 2 and 2 <= n_tools <= 6
            assert len({c.name for c in s.gold_calls()}) >= 2
        else:
            assert s.category == "irrelevance" and s.answer == [] and 1 <= n_tools <= 4


def test_hard_features_are_present(corpus):
    train = corpus["train"]
    values = [v for s in train for c in s.gold_calls() for v in c.arguments.values()]
    assert any(isinstance(v, list) for v in values)
    assert any(isinstance(v, dict) for v in values)
    assert any(isinstance(v, bool) for v in values)
    assert any(isinstance(v, float) for v in values)
    # converted values: a number word in the request, a digit in the answer
    worded = [s for s in train if any(w in s.messages[0].content.split() for w in ("three", "four", "seven"))]
    assert len(worded) > 20
    # alternatives: optional parameters that may be left out or given as their default
    assert any("" in vals and len(vals) == 2 for s in train for call in s.answer or []
               for params in call.values() for vals in params.values())
    # multiple-choice distractors often come from the target's own domain
    domain = {t.name: t.domain for t in synth.build_inventory()}
    multi = [s for s in train if s.category == "multiple"]
    near = [s for s in multi if any(domain[t.name] == s.meta["domain"] for t in s.tools
                                    if t.name != s.gold_calls()[0].name)]
    assert len(near) / len(multi) > 0.4
    irr = [s for s in train if s.category == "irrelevance"]
    near = [s for s in irr if any(domain[t.name] == s.meta["domain"] for t in s.tools)]
    assert len(near) / len(irr) > 0.3


def test_shares_are_configurable():
    out = synth.synthesize(500, 1, {"irrelevance": 0.5, "simple": 0.5})
    cats = Counter(s.category for s in out["train"])
    assert set(cats) == {"irrelevance", "simple"} and cats["simple"] == 200
    shares = synth.resolve_shares({"irrelevance": 0.4})
    assert shares["irrelevance"] == 0.4 and abs(sum(shares.values()) - 1) < 1e-9
    assert shares["multiple"] / shares["simple"] == pytest.approx(synth.DEFAULT_SHARES["multiple"] / synth.DEFAULT_SHARES["simple"])
    with pytest.raises(ValueError, match="unknown categories"):
        synth.resolve_shares({"chitchat": 0.1})
    with pytest.raises(ValueError, match="more than 1"):
        synth.resolve_shares({"simple": 0.8, "multiple": 0.5})
    assert synth.parse_shares("simple=0.3, parallel=0.2") == {"simple": 0.3, "parallel": 0.2}
    with pytest.raises(ValueError, match="not a number"):
        synth.parse_shares("simple=lots")


def test_twenty_thousand_samples_in_well_under_a_minute():
    t0 = time.perf_counter()
    out = synth.synthesize(20000, 0)
    elapsed = time.perf_counter() - t0
    assert sum(len(v) for v in out.values()) == 20000
    assert elapsed < 30, f"took {elapsed:.1f}s"
