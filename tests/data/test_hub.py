"""data.source as a data set loaded with `datasets`, offline: a save_to_disk folder, and a hub name
(org/name:config) whose loading is redirected to a local data set."""

from __future__ import annotations

import json

import pytest

datasets = pytest.importorskip("datasets")

from toolace_r.data import hub  # noqa: E402
from toolace_r.data.io import DataError, read_samples  # noqa: E402

TOOL = {"name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _sample(i: int) -> dict:
    return {"id": f"s{i}", "tools": [TOOL], "messages": [{"role": "user", "content": f"Weather in town{i}?"}],
            "answer": [{"get_weather": {"city": [f"town{i}"]}}], "category": "simple", "source": "test"}


def test_save_to_disk_folder_with_train_only_is_split(tmp_path):
    folder = tmp_path / "ds"
    datasets.DatasetDict({"train": datasets.Dataset.from_list([_sample(i) for i in range(40)])}).save_to_disk(folder)
    assert hub.is_dataset_source(str(folder))
    info = hub.write_splits(str(folder), tmp_path / "out", seed=0)
    assert info["from_split"] == "train" and info["split"]
    got = {s: read_samples(tmp_path / "out" / f"{s}.jsonl") for s in ("train", "dev", "test")}
    assert sum(len(v) for v in got.values()) == 40 and got["dev"] and got["test"]
    # Arrow's column union does not leak into the samples (no null keys)
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert "text" not in first and set(first["answer"][0]) == {"get_weather"}


def test_hub_name_with_config_uses_its_own_splits(tmp_path, monkeypatch):
    local = datasets.DatasetDict({name: datasets.Dataset.from_list([_sample(i) for i in range(lo, lo + 5)])
                                  for name, lo in (("train", 0), ("validation", 10), ("test", 20))})
    calls = []

    def fake_load(name, config=None):
        calls.append((name, config))
        return local

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert hub.is_dataset_source("acme/tool-samples:v2") and not hub.is_dataset_source("corpus/train.jsonl")
    info = hub.write_splits("acme/tool-samples:v2", tmp_path / "out", seed=0)
    assert calls == [("acme/tool-samples", "v2")]
    assert info["splits"] == {"train": "train", "dev": "validation", "test": "test"}
    assert [s.id for s in read_samples(tmp_path / "out" / "dev.jsonl")] == [f"s{i}" for i in range(10, 15)]


def test_raw_rows_and_load_failures_are_one_line(tmp_path, monkeypatch):
    raw = datasets.DatasetDict({"train": datasets.Dataset.from_list(
        [{"query": "q", "tools": "[]", "answers": "[]"}] * 3)})
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config=None: raw)
    with pytest.raises(DataError, match=r"raw xLAM .* run `toolace-r data convert acme/raw OUT.jsonl --from xlam` first"):
        hub.write_splits("acme/raw", tmp_path / "o", seed=0)

    def offline(name, config=None):
        raise ConnectionError("Couldn't reach the hub\nmore text")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as e:
        hub.write_splits("acme/missing", tmp_path / "o2", seed=0)
    assert str(e.value) == "data.source acme/missing: cannot load the data set: ConnectionError: Couldn't reach the hub"
