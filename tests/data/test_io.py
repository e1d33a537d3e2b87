"""Reading records and samples (with error locations), skipping with reasons, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from toolace_r.data.io import (
    ConversionReport,
    DataError,
    RecordError,
    read_records,
    read_samples,
    write_json,
    write_jsonl,
    write_samples,
)
from toolace_r.data.schema import Message, Sample, ToolSpec

WEATHER = ToolSpec(name="get_weather", description="Weather of a city.", parameters={
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def _sample(i: int) -> Sample:
    return Sample(id=f"s{i}", tools=[WEATHER], messages=[Message(role="user", content=f"Weather in city {i}?")],
                  answer=[{"get_weather": {"city": [f"C{i}"]}}], category="simple")


def test_jsonl_records_know_their_lines(tmp_path: Path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    recs = list(read_records(p))
    assert [r.data for r in recs] == [{"a": 1}, {"a": 2}]
    assert [r.location for r in recs] == [f"{p}:1", f"{p}:3"]


def test_json_array_records_know_their_lines(tmp_path: Path):
    p = tmp_path / "a.json"
    p.write_text('[\n  {"a": 1},\n  {"a": [1,\n 2]},\n  {"a": 3}\n]\n', encoding="utf-8")
    recs = list(read_records(p))
    assert [r.data["a"] for r in recs] == [1, [1, 2], 3]
    assert [r.location.rsplit(":", 1)[1] for r in recs] == ["2", "3", "5"]
    single = tmp_path / "one.json"
    single.write_text('{"a": 9}', encoding="utf-8")
    assert [r.data for r in read_records(single)] == [{"a": 9}]
    empty = tmp_path / "empty.json"
    empty.write_text("[ ]", encoding="utf-8")
    assert list(read_records(empty)) == []


@pytest.mark.parametrize(("name", "text", "line"), [
    ("bad.jsonl", '{"a": 1}\n{"a": 2}\n{"a": oops}\n', 3),
    ("bad.json", '[\n{"a": 1},\n{"a": }\n]', 3),
    ("trailing.json", '[\n{"a": 1}\n}\n', 3),
])
def test_malformed_json_names_file_and_line(tmp_path: Path, name: str, text: str, line: int):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as e:
        list(read_records(p))
    msg = str(e.value)
    assert msg.startswith(f"{p}:{line}: invalid JSON")
    assert "\n" not in msg


def test_missing_file_is_a_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="no such file"):
        list(read_records(tmp_path / "nope.jsonl"))


def test_invalid_sample_error_is_one_line_with_location(tmp_path: Path):
    good = _sample(1).model_dump(mode="json")
    bad = dict(good, id="s2", answer=[{"not_a_tool": {"x": [1]}}])
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n" + json.dumps({"id": "s3"}) + "\n")
    with pytest.raises(DataError) as e:
        read_samples(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:2: invalid sample:") and "not_a_tool" in msg and "\n" not in msg

    report = ConversionReport()
    samples = read_samples(p, skip_invalid=True, report=report)
    assert [s.id for s in samples] == ["s1"]
    assert report.records == 3 and report.converted == 1 and report.n_skipped == 2
    assert report.skipped[0][0] == f"{p}:2"
    assert "messages: Field required" in report.skipped[1][1] and "(+" in report.skipped[1][1]
    assert "2 skipped" in report.summary()
    d = report.to_dict()
    assert d["skipped"] == 2 and len(d["skipped_examples"]) == 2


def test_write_then_read_gives_the_same_samples(tmp_path: Path):
    samples = [_sample(i) for i in range(5)]
    p = tmp_path / "deep" / "out.jsonl"
    assert write_samples(p, samples) == 5
    assert read_samples(p) == samples
    # None fields are left out, so files stay small and readable
    assert '"text"' not in p.read_text()


def test_writes_are_atomic(tmp_path: Path):
    p = tmp_path / "out.jsonl"
    write_jsonl(p, [{"a": 1}])
    mode = stat.S_IMODE(os.stat(p).st_mode)
    assert mode & 0o044  # readable by others, as an ordinary open() would make it (not mkstemp's 0600)

    def broken():
        yield {"a": 2}
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_jsonl(p, broken())
    assert p.read_text() == '{"a": 1}\n'  # the old file is untouched
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary left behind
    write_json(tmp_path / "m.json", {"b": [1, 2]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"b": [1, 2]}


def test_a_folder_is_read_through_datasets(tmp_path: Path):
    """The Hugging Face path (``datasets.load_dataset``), exercised offline on a local folder."""
    pytest.importorskip("datasets")
    folder = tmp_path / "hub_copy"
    folder.mkdir()
    rows = [{"query": f"q{i}", "answers": "[]", "tools": "[]"} for i in range(3)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recs = list(read_records(folder))
    assert [r.data for r in recs] == rows
    assert recs[1].location == f"{folder}[train]#1"


def test_unreadable_lines_are_skipped_and_counted_with_samples(tmp_path: Path):
    good = json.dumps(_sample(1).model_dump(mode="json"))
    p = tmp_path / "s.jsonl"
    p.write_bytes(good.encode() + b'\n{"id": NaN}\n\xc3\x28\n' + b"[" * 5000 + b"\n")
    with pytest.raises(RecordError, match=rf"^{p}:2: NaN is not valid JSON"):
        read_samples(p)
    report = ConversionReport()
    assert [s.id for s in read_samples(p, skip_invalid=True, report=report)] == ["s1"]
    assert report.records == report.kept + report.n_skipped == 4
    assert [r.split(" (")[0].split(":")[0] for _, r in report.skipped] == [
        "NaN is not valid JSON", "invalid UTF-8", "nested deeper than 128 levels"]


def test_json_file_refused_values_are_records_with_errors(tmp_path: Path):
    p = tmp_path / "a.json"
    p.write_text('[\n{"a": 1},\n{"a": Infinity},\n{"a": "\\ud800"},\n{"a": 2}\n]\n', encoding="utf-8")
    with pytest.raises(RecordError, match=rf"^{p}:3: Infinity"):
        list(read_records(p))
    recs = list(read_records(p, skip_invalid=True))
    assert [(r.location.rsplit(":", 1)[1], r.data, r.error is None) for r in recs] == [
        ("2", {"a": 1}, True), ("3", None, False), ("4", None, False), ("5", {"a": 2}, True)]
    p.write_text("[" * 100_000, encoding="utf-8")  # a nesting bomb ends the read: its end is unknown
    with pytest.raises(DataError, match=rf"^{p}:1: nested deeper than 128 levels"):
        list(read_records(p, skip_invalid=True))


def test_hub_rows_are_checked_too(tmp_path: Path):
    pytest.importorskip("datasets")
    folder = tmp_path / "hub_copy"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"q": "a", "score": 1.5}\n{"q": "b", "score": NaN}\n')
    with pytest.raises(RecordError, match=r"\[train\]#1: NaN is not valid JSON"):
        list(read_records(folder))
    assert [r.error is None for r in read_records(folder, skip_invalid=True)] == [True, False]
