"""The embedded base model: a short version of its recipe, the seen-sample record, and the shipped folder."""

from __future__ import annotations

import json

import pytest

from toolace_r.data.io import read_samples
from toolace_r.data.synth import write_corpus
from toolace_r.models import base


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "m0"
    recipe = base.train_base(out, size="micro", corpus_n=300, steps=6, batch_size=8, dev_n=10, progress=False)
    return out, recipe


def test_short_recipe_makes_a_loadable_base(made):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, recipe = made
    assert recipe["steps"] == 6 and recipe["corpus_seed"] == base.BASE_SEED and recipe["n_train"] == 240
    assert json.loads((out / base.RECIPE_FILE).read_text()) == recipe
    assert 0 <= recipe["dev"]["accuracy"] <= 1 and recipe["dev"]["n"] == 10
    with safe_open(str(out / "model.safetensors"), "pt") as f:  # stored in bf16: half the bytes
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(out))
    assert next(model.parameters()).dtype == torch.float32
    assert len(tok("<|confirm|>", add_special_tokens=False)["input_ids"]) == 1
    assert not (out.parent / "m0.work").exists()  # the work folder is removed


def test_seen_record_drops_exactly_the_training_samples(made, tmp_path):
    out, recipe = made
    seen = base.read_seen(out)
    assert len(seen) == recipe["n_seen_keys"] == 240
    write_corpus(tmp_path / "c", n=300, seed=base.BASE_SEED)  # the base's own corpus, rebuilt
    train = read_samples(tmp_path / "c" / "train.jsonl")
    dev = read_samples(tmp_path / "c" / "dev.jsonl")
    kept, dropped = base.seen_filter(train + dev, seen)
    assert dropped == len(train) and [s.id for s in kept] == [s.id for s in dev]
    assert base.seen_filter(dev, set()) == (dev, 0)


def test_the_shipped_base_is_there_and_its_recipe_recorded():
    assert base.base_available(), "src/toolace_r/assets/base is missing: make it with `toolace-r model base`"
    recipe = json.loads((base.BASE_DIR / base.RECIPE_FILE).read_text())
    assert recipe["corpus_seed"] == base.BASE_SEED and recipe["wall_seconds"] > 0 and recipe["machine"]
    assert len(base.read_seen(base.BASE_DIR)) == recipe["n_seen_keys"] > 0
    # a working model: it answers every category some of the time (issue 13 asks 35-65% overall; the
    # shipped base has 20.3% on its dev split: not met, see benchmarks/README.md)
    cats = {k: v for k, v in recipe["dev"].items() if k.startswith("accuracy/")}
    assert len(cats) == 5 and min(cats.values()) > 0 and recipe["dev"]["accuracy"] > 0.15
