"""`toolace-r data convert|export|synth|stats` through the real command line app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolace_r.cli import app
from toolace_r.data.io import read_samples, write_jsonl

runner = CliRunner()

XLAM_ROWS = [
    {"id": 1, "query": "Weather in Oslo?",
     "tools": json.dumps([{"name": "get_weather", "description": "Weather.",
                           "parameters": {"city": {"type": "str", "description": "City"}}}]),
     "answers": json.dumps([{"name": "get_weather", "arguments": {"city": "Oslo"}}])},
    {"id": 2, "query": "Weather in Oslo and Rome?",
     "tools": json.dumps([{"name": "get_weather", "description": "Weather.",
                           "parameters": {"city": {"type": "str", "description": "City"}}}]),
     "answers": json.dumps([{"name": "get_weather", "arguments": {"city": "Oslo"}},
                            {"name": "get_weather", "arguments": {"city": "Rome"}}])},
    {"id": 3, "query": "Broken", "tools": "[", "answers": "[]"},
]


def _run(*args: str):
    return runner.invoke(app, ["data", *args])


def _one_line_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def xlam_file(tmp_path: Path) -> Path:
    p = tmp_path / "xlam.jsonl"
    write_jsonl(p, XLAM_ROWS)
    return p


def test_convert_stops_at_a_bad_record_with_one_line(xlam_file: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    line = _one_line_error(_run("convert", "--from", "xlam", str(xlam_file), str(out)))
    assert f"{xlam_file}:3" in line and "tools is not valid JSON" in line and "--skip-invalid" in line
    assert not out.exists()


def test_convert_skip_invalid_reports_what_it_skipped(xlam_file: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    report = tmp_path / "report.json"
    r = _run("convert", "--from", "xlam", str(xlam_file), str(out), "--skip-invalid", "--report", str(report))
    assert r.exit_code == 0, r.output
    assert "2 samples from 3 records (2 converted, 1 skipped)" in r.stderr
    assert f"skipped {xlam_file}:3" in r.stderr
    samples = read_samples(out)
    assert [s.category for s in samples] == ["simple", "parallel"]
    rep = json.loads(report.read_text())
    assert rep["converted"] == 2 and rep["skipped"] == 1
    assert rep["records"] == rep["records_converted"] + rep["skipped"] == 3


def test_export_then_stats(xlam_file: Path, tmp_path: Path):
    out = tmp_path / "s.jsonl"
    assert _run("convert", "--from", "xlam", str(xlam_file), str(out), "--skip-invalid").exit_code == 0
    for to, suffix in (("openai", ".jsonl"), ("sharegpt", ".json")):
        target = tmp_path / f"e{suffix}"
        r = _run("export", "--to", to, str(out), str(target))
        assert r.exit_code == 0, r.output
        if suffix == ".json":
            records = json.loads(target.read_text())
        else:
            records = [json.loads(x) for x in target.read_text().splitlines()]
        assert len(records) == 2
        assert ("messages" in records[0]) == (to == "openai")
    r = _run("stats", str(out), "--json")
    assert r.exit_code == 0, r.output
    st = json.loads(r.stdout)
    assert st["samples"] == 2 and st["calls"] == 3
    assert st["by_category"] == {"parallel": 1, "simple": 1}
    assert st["by_source"] == {"xlam": 2}
    assert set(st["prompt_chars"]) >= {"p50", "p90", "p99", "p100"}
    r = _run("stats", str(out))
    assert r.exit_code == 0 and "samples" in r.stdout and "by category" in r.stdout


def test_stats_counts_tokens_with_a_tokenizer_file(xlam_file: Path, tmp_path: Path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers

    tok = tokenizers.Tokenizer(models.WordLevel({"[UNK]": 0, "weather": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok_path = tmp_path / "tokenizer.json"
    tok.save(str(tok_path))
    out = tmp_path / "s.jsonl"
    _run("convert", "--from", "xlam", str(xlam_file), str(out), "--skip-invalid")
    r = _run("stats", str(out), "--json", "--tokenizer", str(tok_path))
    assert r.exit_code == 0, r.output
    st = json.loads(r.stdout)
    assert 0 < st["prompt_tokens"]["p50"] < st["prompt_chars"]["p50"]


def test_synth_writes_the_corpus(tmp_path: Path):
    out = tmp_path / "corpus"
    r = _run("synth", "--out", str(out), "--n", "300", "--seed", "4", "--shares", "simple=0.5,irrelevance=0.5")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["dev.jsonl", "manifest.json", "test.jsonl", "tools.json", "train.jsonl"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"] == {"train": 240, "dev": 30, "test": 30}
    assert set(manifest["by_category"]["train"]) == {"simple", "irrelevance"}
    r = _run("stats", str(out / "train.jsonl"), "--json")
    assert json.loads(r.stdout)["by_split"] == {"train": 240}


@pytest.mark.parametrize(("args", "needle"), [
    (["synth", "--out", "X", "--n", "10", "--shares", "simple=2"], "more than 1"),
    (["synth", "--out", "X", "--n", "0"], "--n must be positive"),
    (["convert", "--from", "csv", "in.jsonl", "out.jsonl"], "--from must be one of"),
    (["convert", "--from", "xlam", "--answers", "a.json", "in.jsonl", "out.jsonl"], "only for --from bfcl"),
    (["convert", "--from", "xlam", "missing.jsonl", "out.jsonl"], "missing.jsonl: no such file"),
    (["export", "--to", "alpaca", "in.jsonl", "out.jsonl"], "--to must be one of"),
    (["stats", "missing.jsonl"], "no such file"),
])
def test_bad_arguments_give_one_line(tmp_path: Path, args: list[str], needle: str, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_line_error(_run(*args))
    assert needle in line


def test_stats_on_an_invalid_sample_names_file_and_line(tmp_path: Path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}], "category": "simple", "text": "x"}\n'
                 '{"id": "b", "messages": [], "category": "simple", "text": "x"}\n')
    line = _one_line_error(_run("stats", str(p)))
    assert f"{p}:2: invalid sample: messages:" in line


def test_data_commands_do_not_import_heavy_libraries():
    code = ("import sys, toolace_r.cli, toolace_r.data.convert, toolace_r.data.synth, toolace_r.data.stats; "
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'trl') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------------------------------------
# Hostile input: every malformed record is one line without --skip-invalid, skipped and counted with it

HOSTILE = [  # (line, what the error says)
    (b'\xff\xfe{"id": 9}', "invalid UTF-8: byte 0xff"),
    (b'{"id": 9, "query": ', "invalid JSON: Expecting value"),
    (b'{"id": 9, "query": NaN}', "NaN is not valid JSON"),
    (b'{"id": 9, "query": -Infinity}', "-Infinity is not valid JSON"),
    (b'{"id": 9, "query": 1e999}', "the number 1e999 is too large for a float"),
    (b"[" * 100_000, "nested deeper than 128 levels"),
    (b'{"id": 9, "query": "\\ud800"}', "lone UTF-16 surrogate"),
    (b'{"id": 9, "query": 5, "tools": "[]", "answers": "[]"}', "'query' is missing or empty"),
    (b'{"id": 9, "query": "q", "tools": 5, "answers": "[]"}', "tools"),
    (b"5", "expected a JSON object, got int"),
    (b"x" * 300_000, "line longer than 200000 bytes"),
]


def _hostile_file(tmp_path: Path, lines: list[bytes]) -> Path:
    """The two good xlam rows with ``lines`` between them."""
    good = [json.dumps(r).encode() for r in XLAM_ROWS[:2]]
    p = tmp_path / "hostile.jsonl"
    p.write_bytes(b"\n".join([good[0], *lines, good[1]]) + b"\n")
    return p


@pytest.fixture
def short_lines(monkeypatch):
    from toolace_r import jsonin

    monkeypatch.setattr(jsonin, "MAX_LINE_BYTES", 200_000)


@pytest.mark.parametrize(("line", "needle"), HOSTILE)
def test_convert_names_each_malformed_line(tmp_path: Path, line: bytes, needle: str, short_lines):
    p = _hostile_file(tmp_path, [line])
    out = tmp_path / "out.jsonl"
    err = _one_line_error(_run("convert", "--from", "xlam", str(p), str(out)))
    assert err.startswith(f"error: {p}:2: ") and needle in err, err
    assert err.endswith("(fix or remove that record, or pass --skip-invalid to skip and count such records)")
    assert not out.exists()


def test_convert_skip_invalid_counts_every_malformed_line(tmp_path: Path, short_lines):
    p = _hostile_file(tmp_path, [line for line, _ in HOSTILE])
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    r = _run("convert", "--from", "xlam", str(p), str(out), "--skip-invalid", "--report", str(report))
    assert r.exit_code == 0, r.output
    n = len(HOSTILE)
    assert f"2 samples from {n + 2} records (2 converted, {n} skipped)" in r.stderr
    rep = json.loads(report.read_text())
    assert rep["records"] == rep["records_converted"] + rep["skipped"] == n + 2
    assert [e["location"] for e in rep["skipped_examples"]] == [f"{p}:{i}" for i in range(2, n + 2)]
    for (_, needle), example in zip(HOSTILE, rep["skipped_examples"]):
        assert needle in example["reason"]
    assert [s.id for s in read_samples(out)] == ["xlam-1", "xlam-2"]


def test_convert_openai_wrong_types_are_reasons_not_tracebacks(tmp_path: Path):
    user = {"role": "user", "content": "hi"}
    rows = [
        {"messages": [user, {"role": "assistant", "tool_calls": 5}]},
        {"messages": [user, {"role": "assistant", "tool_calls": [5]}]},
        {"messages": [user, {"role": "assistant", "tool_calls": [{"function": {"name": 5, "arguments": "{"}}]}]},
        {"messages": 5},
        {"messages": [user, {"role": "assistant", "content": "ok"}], "tools": 5},
        {"messages": [user, {"role": "assistant", "content": "ok"}]},
    ]
    p = tmp_path / "openai.jsonl"
    write_jsonl(p, rows)
    out = tmp_path / "out.jsonl"
    line = _one_line_error(_run("convert", "--from", "openai", str(p), str(out)))
    assert f"{p}:1: messages[1].tool_calls must be a list, not int" in line
    r = _run("convert", "--from", "openai", str(p), str(out), "--skip-invalid")
    assert r.exit_code == 0, r.output
    assert "1 samples from 6 records (1 converted, 5 skipped)" in r.stderr
    assert "Traceback" not in r.output and "unexpected record shape" not in r.stderr


def test_convert_json_array_skips_refused_elements_and_stops_at_bad_syntax(tmp_path: Path):
    good = [json.dumps(r) for r in XLAM_ROWS[:2]]
    p = tmp_path / "x.json"
    p.write_text(f'[\n{good[0]},\n{{"id": 5, "query": NaN}},\n{good[1]}\n]\n')
    out = tmp_path / "out.jsonl"
    line = _one_line_error(_run("convert", "--from", "xlam", str(p), str(out)))
    assert f"{p}:3: NaN is not valid JSON" in line and "--skip-invalid" in line
    r = _run("convert", "--from", "xlam", str(p), str(out), "--skip-invalid")
    assert r.exit_code == 0 and "2 samples from 3 records (2 converted, 1 skipped)" in r.stderr
    p.write_text(f'[\n{good[0]},\n{{"id": 5, "query": }},\n{good[1]}\n]\n')
    line = _one_line_error(_run("convert", "--from", "xlam", str(p), str(out), "--skip-invalid"))
    assert f"{p}:3: invalid JSON: Expecting value" in line and "cannot be read past it" in line
    p.write_bytes(b'[\n{"id": "\xff"}\n]\n')
    line = _one_line_error(_run("convert", "--from", "xlam", str(p), str(out)))
    assert f"{p}:2: invalid UTF-8: byte 0xff" in line


@pytest.mark.parametrize("command", ["stats", "export"])
def test_sample_readers_name_a_malformed_line(tmp_path: Path, command: str):
    p = tmp_path / "s.jsonl"
    p.write_bytes(b'{"id": "a", "messages": [{"role": "user", "content": "hi"}], "category": "simple", "text": "x"}\n'
                  + b"[" * 100_000 + b"\n")
    args = [command, str(p)] if command == "stats" else [command, "--to", "openai", str(p), str(tmp_path / "o.jsonl")]
    line = _one_line_error(_run(*args))
    assert line == f"error: {p}:2: nested deeper than 128 levels (fix or remove that record)"
