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


HOSTILE = [  # (line, what the error says)
    (b'\xff{"functions": []}', "invalid UTF-8: byte 0xff"),
    (b'{"functions": [', "invalid JSON"),
    (b'{"functions": [], "output": "x", "possible_answer": null, "category": "irrelevance", "s": NaN}',
     "NaN is not valid JSON"),
    (b'{"functions": [], "output": "x", "possible_answer": null, "category": "irrelevance", "s": Infinity}',
     "Infinity is not valid JSON"),
    (b"[" * 100_000, "nested deeper than 128 levels"),
    (b'{"functions": 5, "output": "x", "category": "irrelevance"}', "field 'functions' must be a list, got int"),
    (b'{"functions": [], "output": "x", "possible_answer": null, "category": "[/bold]"}',
     "unknown category '[/bold]'; known: simple, multiple"),
]


def _hostile(tmp_path, lines):
    p = tmp_path / "in.jsonl"
    good = [json.dumps(r).encode() for r in _rows()]
    p.write_bytes(b"\n".join([good[0], *lines, *good[1:]]) + b"\n")
    return p


def test_each_malformed_line_is_one_line_error(tmp_path):
    runner = CliRunner()
    for line, needle in HOSTILE:
        inp = _hostile(tmp_path, [line])
        res = runner.invoke(app, ["score", str(inp)])
        assert res.exit_code == 2
        assert res.exception is None or isinstance(res.exception, SystemExit)
        err = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(err) == 1, res.stderr
        assert err[0].startswith(f"error: {inp}:2: ") and needle in err[0], err[0]
        assert err[0].endswith("(fix the line, or pass --skip-invalid to skip such lines)")


def test_skip_invalid_counts_add_up(tmp_path):
    inp, out = _hostile(tmp_path, [line for line, _ in HOSTILE]), tmp_path / "o.jsonl"
    res = CliRunner().invoke(app, ["score", str(inp), "--skip-invalid", "-o", str(out)])
    assert res.exit_code == 0, res.output
    n = len(HOSTILE)
    assert f"{inp}: {n + 3} records, 3 scored, {n} skipped" in res.stderr
    assert [json.loads(x)["valid"] for x in out.read_text().splitlines()] == [True, False, True]
    for i, (_, needle) in enumerate(HOSTILE, 2):
        assert f"{inp}:{i}: {needle}" in res.stderr


def test_skip_invalid_in_a_subprocess_never_tracebacks(tmp_path):
    """The nesting bomb and invalid UTF-8 through the real console script (the stack depth of a fresh process)."""
    inp = _hostile(tmp_path, [line for line, _ in HOSTILE])
    res = subprocess.run([sys.executable, "-m", "toolace_r", "score", str(inp), "--skip-invalid"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert f"{len(HOSTILE) + 3} records, 3 scored, {len(HOSTILE)} skipped" in res.stderr
    res = subprocess.run([sys.executable, "-m", "toolace_r", "score", str(inp)], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.startswith(f"error: {inp}:2: invalid UTF-8"), res.stderr
