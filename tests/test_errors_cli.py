"""Bad input gives one line on stderr and an exit code, never a traceback; `--debug` shows the
traceback. Also the LLaMA-Factory dataset_info.json that `data export --format sharegpt` writes,
and reading FC-mode BFCL results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolace_r.cli import app

runner = CliRunner()

XLAM = {"query": "Weather in Paris?",
        "tools": json.dumps([{"name": "get_weather", "description": "w",
                              "parameters": {"city": {"type": "str", "description": "c"}}}]),
        "answers": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}])}


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.setenv("TOOLACE_R_DEBUG", "0")  # restored after each test, whatever --debug set


def _error(args: list, code: int) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    return lines[0]


@pytest.fixture
def raw(tmp_path) -> Path:
    f = tmp_path / "raw.jsonl"
    f.write_text(json.dumps(XLAM) + "\n")
    return f


def test_convert_with_the_wrong_from_names_the_right_one(raw, tmp_path):
    msg = _error(["data", "convert", raw, tmp_path / "o.jsonl", "--from", "sharegpt"], 1)
    assert msg == f"error: {raw} line 1: this looks like xLAM (APIGen), not LLaMA-Factory sharegpt: use `--from xlam`"
    assert not (tmp_path / "o.jsonl").exists()


def test_a_raw_file_where_samples_belong_says_convert_first(raw):
    for cmd in (["data", "stats", raw], ["data", "split", raw, "--out", raw.parent / "c"]):
        msg = _error(cmd, 1)
        assert msg == (f"error: {raw} line 1: this is a raw xLAM (APIGen) file, not toolace-r samples: "
                       f"run `toolace-r data convert {raw} OUT.jsonl --from xlam` first")


def test_converting_samples_again_says_there_is_nothing_to_convert(raw, tmp_path):
    runner.invoke(app, ["data", "convert", str(raw), str(tmp_path / "s.jsonl"), "--from", "xlam"])
    msg = _error(["data", "convert", tmp_path / "s.jsonl", tmp_path / "t.jsonl", "--from", "openai"], 1)
    assert "line 1: this is already in toolace-r's sample format: nothing to convert" in msg


def test_missing_files_and_names_without_an_extension(raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _error(["data", "convert", "nosuch", "o.jsonl", "--from", "xlam"], 1) == (
        "error: nosuch: no such file (give a local .json or .jsonl file, or a Hugging Face data set as org/name)")
    assert _error(["data", "stats", "missing.jsonl"], 1).startswith("error: missing.jsonl: no such file")
    assert _error(["data", "convert", raw, "out", "--from", "xlam"], 1) == (
        "error: out has no extension: give a file name ending in .jsonl")
    assert _error(["data", "export", raw, "out.txt", "--to", "openai"], 1) == (
        "error: out.txt has the extension '.txt': give a file name ending in .jsonl or .json")


def test_score_rejects_unknown_categories(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"functions": [], "output": "x", "possible_answer": None, "category": "foo_bar"}) + "\n")
    msg = _error(["score", rows], 2)
    assert "rows.jsonl:1: unknown category 'foo_bar'; known: simple, multiple" in msg
    (tmp_path / "res").mkdir()
    msg = _error(["score", "--bfcl-result", tmp_path / "res", "--categories", "foo_bar"], 2)
    assert msg.startswith("error: unknown BFCL category 'foo_bar'; choose from simple_python, multiple, parallel")
    assert "live_relevance" in msg
    assert _error(["score", "--bfcl-result", tmp_path / "absent"], 2) == f"error: --bfcl-result {tmp_path / 'absent'}: no such folder"
    assert "give an INPUT file of rows, or --bfcl-result DIR" in _error(["score"], 2)


def test_debug_shows_the_traceback(raw):
    res = runner.invoke(app, ["--debug", "data", "stats", str(raw)])
    assert res.exit_code == 1
    assert "Traceback (most recent call last)" in res.stderr and "DataError" in res.stderr
    assert res.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_an_unexpected_error_is_one_line_too(raw, monkeypatch):
    import toolace_r.cli.data as data_cli

    def broken(*a, **k):
        raise KeyError("oops")

    monkeypatch.setattr(data_cli, "compute_stats", broken)
    monkeypatch.setattr(data_cli, "read_samples", lambda *a, **k: [])
    msg = _error(["data", "stats", raw], 1)
    assert msg == "error: KeyError: 'oops' (rerun with `toolace-r --debug ...` for the traceback)"
    res = runner.invoke(app, ["--debug", "data", "stats", str(raw)])
    assert res.exit_code == 1 and "Traceback" in res.stderr and "KeyError" in res.stderr


def test_sharegpt_export_writes_dataset_info(raw, tmp_path):
    runner.invoke(app, ["data", "convert", str(raw), str(tmp_path / "s.jsonl"), "--from", "xlam"])
    out = tmp_path / "lf"
    out.mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "other.json"}}))
    res = runner.invoke(app, ["data", "export", str(tmp_path / "s.jsonl"), str(out / "tools.json"),
                              "--format", "sharegpt", "--dataset-name", "my_tools"])
    assert res.exit_code == 0, res.output
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["other"] == {"file_name": "other.json"}  # other entries are kept
    entry = info["my_tools"]
    assert entry["file_name"] == "tools.json" and entry["formatting"] == "sharegpt"
    assert entry["columns"] == {"messages": "conversations", "system": "system", "tools": "tools"}
    record = json.loads((out / "tools.json").read_text())[0]
    tags = entry["tags"]
    # the tags name exactly the keys and speakers the records use
    assert {t[tags["role_tag"]] for t in record[entry["columns"]["messages"]]} == {tags["user_tag"], tags["function_tag"]}
    assert all(tags["content_tag"] in t for t in record["conversations"])
    assert isinstance(record[entry["columns"]["tools"]], str)


def test_fc_mode_results_are_scored_as_calls():
    from toolace_r.bfcl_results import result_text

    assert result_text('[f(a=1)]') == "[f(a=1)]"
    assert result_text([{"f": '{"a": 1}'}, {"g": {"b": "x"}}]) == '[f(a=1), g(b="x")]'
    assert result_text([{"f": "{not json"}]) is None and result_text(3) is None
