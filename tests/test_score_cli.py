"""`toolace-r score` end to end, through the installed console script and in-process."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from toolace_r.cli import app

FN = {"name": "f", "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}


def _rows():
    return [
        {"id": "r1", "functions": [FN], "output": "[f(a=1)]", "possible_answer": [{"f": {"a": [1]}}], "category": "simple_python"},
        {"id": "r2", "functions": [FN], "output": "[f(a=2)]", "possible_answer": [{"f": {"a": [1]}}], "category": "simple_python"},
        {"functions": [FN], "output": "sorry, no tool", "possible_answer": None, "category": "irrelevance"},
    ]


def _write(path, rows, extra_lines=()):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(extra_lines))


def test_score_writes_verdicts_in_order(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(inp, _rows())
    res = subprocess.run([sys.executable, "-m", "toolace_r", "score", str(inp), "-o", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["valid"] for g in got] == [True, False, True]
    assert got[0]["id"] == "r1" and got[0]["error_type"] == ""
    assert got[1]["error_type"] == "value_error:others"
    assert "simple_python" in res.stderr and "irrelevance" in res.stderr


def test_malformed_line_names_the_line(tmp_path):
    inp = tmp_path / "in.jsonl"
    _write(inp, _rows(), ['{"functions": [], "output": 3, "category": "simple"}\n', "not json\n"])
    runner = CliRunner()
    res = runner.invoke(app, ["score", str(inp)])
    assert res.exit_code == 2
    assert f"{inp}:4" in res.output and "'output' must be a str" in res.output
    res = runner.invoke(app, ["score", str(inp), "--skip-invalid", "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 3
    assert "skipped 2 invalid line(s)" in res.output


def test_strict_mode_flag(tmp_path):
    inp = tmp_path / "in.jsonl"
    _write(inp, [{"functions": [FN], "output": "[f(a=", "possible_answer": None, "category": "irrelevance"}])
    runner = CliRunner()
    bfcl = runner.invoke(app, ["score", str(inp)])
    strict = runner.invoke(app, ["score", str(inp), "--mode", "strict"])
    assert json.loads(bfcl.stdout.splitlines()[0])["valid"] is True
    assert json.loads(strict.stdout.splitlines()[0])["valid"] is False
