"""BFCL v4 data: locating it (wheel, unpacked, data folder, gorilla checkout, cache), reading
entries, categories and the v4 aggregates."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from evalfixtures import BFCL_ENTRIES, N_BFCL, write_bfcl_data

from toolace_r import bfcl


def _ids(source):
    return [e.id for e in bfcl.load(source, list(BFCL_ENTRIES))]


def test_every_layout_reads_the_same_entries(tmp_path, bfcl_unpacked, bfcl_wheel):
    expected = [e["id"] for pairs in BFCL_ENTRIES.values() for e, _ in pairs]
    gorilla = tmp_path / "gorilla"
    write_bfcl_data(gorilla / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data")
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    shutil.copy(bfcl_wheel, wheel_dir)
    for path in (bfcl_unpacked, bfcl_unpacked / "bfcl_eval", bfcl_unpacked / "bfcl_eval" / "data", gorilla,
                 bfcl_wheel, wheel_dir):
        src = bfcl.from_path(path)
        assert _ids(src) == expected, path
    assert bfcl.from_path(bfcl_wheel).archive and bfcl.from_path(bfcl_wheel).prefix == "bfcl_eval/data/"


def test_entries_keep_bfcl_docs_and_ground_truth_verbatim(bfcl_wheel):
    src = bfcl.from_path(bfcl_wheel)
    simple = bfcl.load_category(src, "simple_python")
    assert simple[0].functions[0]["parameters"]["type"] == "dict"
    assert simple[0].ground_truth == BFCL_ENTRIES["simple_python"][0][1]
    assert bfcl.load_category(src, "irrelevance")[0].ground_truth is None
    assert len(bfcl.load_category(src, "simple_python", limit=1)) == 1
    # The prompt sample: normalised JSON-Schema tools, the conversation, no answer to score by.
    live = bfcl.load_category(src, "live_simple")[0]
    s = bfcl.entry_sample(live)
    assert s.tools[0].name == "weather.get" and s.tools[0].parameters["type"] == "object"
    assert [m.role for m in s.messages] == ["system", "user"]
    assert s.meta["bfcl_category"] == "live_simple"
    rel = bfcl.entry_sample(bfcl.load_category(src, "live_relevance")[0])
    assert rel.meta["bfcl_category"] == "live_relevance"


def test_cache_is_used_without_download(tmp_path, bfcl_wheel, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "bfcl").mkdir(parents=True)
    shutil.copy(bfcl_wheel, cache / "bfcl")
    monkeypatch.setenv("TOOLACE_R_CACHE", str(cache))
    src = bfcl.locate(None, download=False)
    assert src.archive and len(_ids(src)) == N_BFCL
    monkeypatch.setenv("TOOLACE_R_CACHE", str(tmp_path / "empty"))
    with pytest.raises(bfcl.BfclError, match="none cached"):
        bfcl.locate(None, download=False)


def test_bad_paths_say_what_is_wrong(tmp_path):
    with pytest.raises(bfcl.BfclError, match="does not exist"):
        bfcl.from_path(tmp_path / "nope")
    with pytest.raises(bfcl.BfclError, match="no BFCL v4 data found"):
        bfcl.from_path(tmp_path)
    junk = tmp_path / "junk.whl"
    junk.write_text("not a zip")
    with pytest.raises(bfcl.BfclError, match="not a readable wheel"):
        bfcl.from_path(junk)
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("pkg/__init__.py", "")
    with pytest.raises(bfcl.BfclError, match="holds no BFCL_v4_simple_python.json"):
        bfcl.from_path(other)


def test_missing_category_file_and_ground_truth(tmp_path):
    data = write_bfcl_data(tmp_path / "data")
    src = bfcl.from_path(data)
    with pytest.raises(bfcl.BfclError, match="has no BFCL_v4_live_multiple.json"):
        bfcl.load_category(src, "live_multiple")
    (data / "possible_answer" / "BFCL_v4_multiple.json").write_text('{"id": "multiple_0", "ground_truth": [{"f": {}}]}\n')
    with pytest.raises(bfcl.BfclError, match="multiple_1: no ground truth"):
        bfcl.load_category(src, "multiple")
    (data / "BFCL_v4_parallel.json").write_text("{oops\n")
    with pytest.raises(bfcl.BfclError, match=r"BFCL_v4_parallel.json:1: invalid JSON"):
        bfcl.load_category(src, "parallel")
    (data / "BFCL_v4_parallel.json").write_text('{"id": "parallel_0", "x": NaN}\n')
    with pytest.raises(bfcl.BfclError, match=r"BFCL_v4_parallel.json:1: NaN is not valid JSON"):
        bfcl.load_category(src, "parallel")
    (data / "BFCL_v4_parallel.json").write_bytes(b'{"id": "parallel_0"}\n{"id": "\xff"}\n')
    with pytest.raises(bfcl.BfclError, match=r"BFCL_v4_parallel.json:2: invalid UTF-8"):
        bfcl.load_category(src, "parallel")


def test_parse_categories():
    assert bfcl.parse_categories(None) == list(bfcl.CATEGORIES)
    assert bfcl.parse_categories("live_simple, simple") == ["simple_python", "live_simple"]
    assert bfcl.parse_categories("non_live") == ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]
    assert len(bfcl.parse_categories(["live", "irrelevance"])) == 7
    with pytest.raises(bfcl.BfclError, match="unknown BFCL category 'simpel'"):
        bfcl.parse_categories("simpel")
    with pytest.raises(bfcl.BfclError, match="'multi_turn_base' is not supported"):
        bfcl.parse_categories("multi_turn_base")


def test_aggregates_follow_bfcl_v4():
    def c(k, n):
        return {"correct": k, "total": n, "accuracy": k / n}

    per = {"simple_python": c(1, 2), "multiple": c(1, 1), "parallel": c(0, 4), "parallel_multiple": c(1, 4),
           "irrelevance": c(3, 4), "live_simple": c(1, 1), "live_multiple": c(1, 3),
           "live_irrelevance": c(1, 2), "live_relevance": c(1, 1)}
    agg = bfcl.aggregates(per)
    # non-live: unweighted mean of the four AST categories; irrelevance excluded
    assert agg["non_live"]["accuracy"] == pytest.approx((0.5 + 1 + 0 + 0.25) / 4)
    assert agg["non_live"]["complete"]
    # live: weighted by entries (2 of 4), irrelevance excluded; two of four categories ran
    assert agg["live"]["accuracy"] == pytest.approx(2 / 4)
    assert not agg["live"]["complete"] and agg["live"]["categories"] == ["live_simple", "live_multiple"]
    assert agg["hallucination"]["accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    assert agg["relevance"]["accuracy"] == 1.0
    assert "live" not in bfcl.aggregates({"simple_python": c(1, 1)})


def test_result_layout_names():
    assert bfcl.result_file("live_simple") == "BFCL_v4_live_simple_result.json"
    assert bfcl.group_dir("live_irrelevance") == "live" and bfcl.group_dir("irrelevance") == "non_live"
    assert all(bfcl.group_dir(c) == "multi_turn" for c in bfcl.MULTI_TURN)
