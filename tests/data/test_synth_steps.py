"""The synthetic multi_step category: one call after an earlier call and its tool result, the
right call only writable by reading that result; deterministic, and absent from the default mix."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from toolace_r.calls import format_calls
from toolace_r.checker import check
from toolace_r.data import synth
from toolace_r.data.synth_steps import CHAINS

SHARES = {"multi_step": 0.25}


@pytest.fixture(scope="module")
def corpus():
    return synth.synthesize(800, seed=5, shares=SHARES)


def _steps(corpus, split="train"):
    return [s for s in corpus[split] if s.category == "multi_step"]


def test_share_and_shape(corpus):
    assert len(_steps(corpus)) == round(640 * 0.25)
    for split in ("train", "dev", "test"):
        for s in _steps(corpus, split):
            roles = [m.role for m in s.messages]
            assert roles == ["user", "assistant", "tool"], roles
            (call,) = s.messages[1].tool_calls
            assert s.messages[2].name == call.name and call.name in {t.name for t in s.tools}
            assert len(s.answer) == 1 and s.checker_category() == "multiple"


def test_the_next_call_takes_its_id_from_the_tool_result_not_the_request(corpus):
    listed = 0
    for s in _steps(corpus) + _steps(corpus, "test"):
        (gold,) = s.gold_calls()
        result = json.loads(s.messages[2].content)
        items = result if isinstance(result, list) else [result]
        ids = [v for it in items for k, v in it.items() if k.endswith("_id")]
        (taken,) = [v for v in gold.arguments.values() if v in ids]
        assert taken not in s.messages[0].content  # only the tool result says it
        if len(items) > 1:
            listed += 1
            # another item's id is a wrong answer: the model must pick by what the request names
            other = next(i for i in ids if i != taken)
            wrong = gold.model_copy(update={"arguments": {k: (other if v == taken else v) for k, v in gold.arguments.items()}})
            tools = [t.model_dump() for t in s.tools]
            assert not check(format_calls([wrong]), tools, s.answer, s.checker_category()).valid
        assert check(format_calls([gold]), [t.model_dump() for t in s.tools], s.answer, s.checker_category()).valid
    assert listed > 20


def test_held_out_chain_only_in_unseen_tool_part(corpus):
    held = {n for c in CHAINS if c.held_out for n in (c.find[0], c.act[0])}
    for split in ("train", "dev", "test"):
        for s in corpus[split]:
            uses = bool(held & {t.name for t in s.tools})
            assert uses == (s.category == "multi_step" and s.meta["part"] == "unseen_tool"), s.id
    assert any(s.meta["unseen_tool"] for s in _steps(corpus, "test"))


def test_deterministic_and_default_mix_unchanged(tmp_path):
    a = synth.write_corpus(tmp_path / "a", 300, 2, SHARES)
    b = synth.write_corpus(tmp_path / "b", 300, 2, SHARES)
    assert a["files"] == b["files"] and a["by_category"]["train"]["multi_step"] > 0
    listed = {t["name"] for t in json.loads((tmp_path / "a" / "tools.json").read_text())}
    assert {"lookup_orders", "cancel_order"} <= listed
    # the default: no multi_step share, no chain tool listed, the same corpus as with the old five shares
    assert "multi_step" not in synth.resolve_shares(None) and "multi_step" not in synth.resolve_shares({"simple": 0.3})
    d = synth.write_corpus(tmp_path / "d", 300, 2)
    old = synth.write_corpus(tmp_path / "old", 300, 2, dict(synth.DEFAULT_SHARES))
    assert d["files"] == old["files"] and "multi_step" not in Counter(d["by_category"]["train"])
    assert "lookup_orders" not in (tmp_path / "d" / "tools.json").read_text()


def test_config_takes_the_shares():
    from toolace_r.config import ConfigError, DataConfig

    assert DataConfig(synth_shares="multi_step=0.15").synth_shares == "multi_step=0.15"
    with pytest.raises(ConfigError, match="data.synth_shares: unknown categories"):
        DataConfig(synth_shares="multi_hop=0.1")
