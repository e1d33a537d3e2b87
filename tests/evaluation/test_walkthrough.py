"""A new user's first hour, as commands: a raw xLAM file -> `data convert` -> `data split` -> `run`
(a micro model, one round) -> `eval` of the best model on the test split and on BFCL with
`--export-bfcl` -> `score --bfcl-result` on the exported folder."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from evalfixtures import PROMPT_MODEL
from typer.testing import CliRunner

from toolace_r.cli import app

runner = CliRunner()

TOOLS = {
    "get_weather": {"city": ("str", ["Paris", "Rome", "Oslo", "Lima", "Bern", "Kyiv"])},
    "get_time": {"tz": ("str", ["CET", "UTC", "EST", "JST"])},
    "convert": {"amount": ("int", [5, 10, 20, 50]), "currency": ("str", ["EUR", "USD", "GBP"])},
}
ASK = {"get_weather": "What is the weather in {city}?", "get_time": "What time is it in {tz}?",
       "convert": "Convert {amount} to {currency}."}


def _xlam_line(rng: random.Random) -> dict:
    names = rng.sample(sorted(TOOLS), rng.choice([1, 2]))
    calls = [(n, {p: rng.choice(vals) for p, (_, vals) in TOOLS[n].items()}) for n in names[:1]]
    tools = [{"name": n, "description": n.replace("_", " "),
              "parameters": {p: {"type": t, "description": p} for p, (t, _) in TOOLS[n].items()}} for n in names]
    return {"query": " ".join(ASK[n].format(**a) for n, a in calls), "tools": json.dumps(tools),
            "answers": json.dumps([{"name": n, "arguments": a} for n, a in calls])}


def _ok(args: list) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, (args, res.output)
    return res.output


@pytest.mark.slow
def test_new_user_walkthrough(tmp_path, bfcl_wheel, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = random.Random(0)
    raw = tmp_path / "xlam.jsonl"
    raw.write_text("".join(json.dumps(_xlam_line(rng)) + "\n" for _ in range(120)))

    # a wrong --from is caught on the first line, with the right one named
    bad = runner.invoke(app, ["data", "convert", str(raw), "samples.jsonl", "--from", "toolace"])
    assert bad.exit_code == 1 and "line 1: this looks like xLAM (APIGen)" in bad.output and "`--from xlam`" in bad.output

    _ok(["data", "convert", raw, "samples.jsonl", "--from", "xlam"])
    _ok(["data", "split", "samples.jsonl", "--out", "corpus", "--dev", "16", "--test", "16"])
    out = _ok(["--quiet", "run", "--out", "run", "data.source=corpus", "model.init=scratch", "model.size=micro",
               "data.pool_size=32", "data.dev_size=16", "data.test_size=16", "train.warmup_steps=40",
               "train.steps_per_round=3", "train.batch_size=8", "train.replay_size=16", "mait.rounds=1", "mait.k=2",
               "mait.max_new_tokens=16", "eval.max_new_tokens=16", "eval.modes=[none,adaptive]", "eval.max_rounds=1",
               "arms=[plain,mait_refine]"])
    # the end of the run says where the report is and which model each arm kept
    assert f"report: {Path('run') / 'report.md'}" in out
    best = re.search(r"mait_refine: (\S+) \(round 0", out)
    assert best and Path(best.group(1)).is_dir(), out
    assert (tmp_path / "run" / "results.json").is_file()

    _ok(["eval", "--model", best.group(1), "--bench", "corpus/test.jsonl", "--refine", "none", "--mode", "strict",
         "--max-new-tokens", "16", "--out", "ev-test"])
    _ok(["eval", "--model", best.group(1), "--bench", "bfcl", "--bfcl-data", bfcl_wheel,
         "--test-category", "simple_python,irrelevance", "--refine", "none,adaptive", "--export-mode", "adaptive",
         "--max-rounds", "1", "--max-new-tokens", "16", "--out", "ev-bfcl", "--export-bfcl", "result",
         "--name", PROMPT_MODEL])
    files = sorted(p.relative_to(tmp_path / "result").as_posix() for p in (tmp_path / "result").rglob("*.json"))
    assert files == ["acme_micro-tool/non_live/BFCL_v4_irrelevance_result.json",
                     "acme_micro-tool/non_live/BFCL_v4_simple_python_result.json"]

    # the exported files score as the evaluation did, through BFCL's layout
    scored = _ok(["score", "--bfcl-result", "result", "--bfcl-data", bfcl_wheel, "-o", "verdicts.jsonl"])
    assert "acme_micro-tool" in scored and "simple_python" in scored and "irrelevance" in scored
    verdicts = {v["id"]: v["valid"] for v in map(json.loads, (tmp_path / "verdicts.jsonl").read_text().splitlines())}
    rows = [json.loads(line) for line in (tmp_path / "ev-bfcl" / "outputs.jsonl").read_text().splitlines()]
    assert verdicts == {r["id"]: r["valid"] for r in rows if r["mode"] == "adaptive"}
