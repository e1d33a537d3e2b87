"""Multi-turn results in BFCL's layout and back: `toolace-r eval --export-bfcl` writes each
multi-turn entry's step texts per turn run under ``<name>/multi_turn/``, `toolace-r score
--bfcl-result` re-scores them with the multi-turn checker (the eval's own verdicts), and hand-written
result files get BFCL's verdicts: the ground truth as text passes, a missing turn is
force-terminated, a result that is not a list of turns an inference error."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from toolace_r import bfcl
from toolace_r.bfcl_results import score_result_dir
from toolace_r.cli import app
from toolace_r.cli.eval import eval_app
from toolace_r.evaluation.files import export_bfcl
from toolace_r.multiturn.checker import FORCE_TERMINATED, INFERENCE_ERROR
from toolace_r.multiturn.envs import parse_call_string
from toolace_r.multiturn.loop import load_entries

NAME = "Team-ACE/ToolACE-2-8B"  # a prompt-mode model in the wheel's model list
FOLDER = "Team-ACE_ToolACE-2-8B"


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, mt_source):
    from toolace_r.models.base import BASE_DIR  # the shipped base: BFCL's prompts fit in its context

    d = tmp_path_factory.mktemp("mt_export")
    res = CliRunner().invoke(eval_app, [str(a) for a in (
        "--model", BASE_DIR, "--bench", "bfcl", "--bfcl-data", mt_source.path,
        "--test-category", "simple_python,multi_turn_base", "--limit", "2", "--refine", "none",
        "--max-new-tokens", "12", "--max-steps", "2", "--out", d / "ev", "--export-bfcl", d / "exp", "--name", NAME)])
    assert res.exit_code == 0, res.output
    return d


@pytest.mark.slow
def test_eval_exports_multi_turn_results(exported):
    results = json.loads((exported / "ev" / "results.json").read_text())
    assert results["export_bfcl"] == {"dir": str(exported / "exp"), "model": NAME, "mode": "none"}
    files = sorted(p.relative_to(exported / "exp").as_posix() for p in (exported / "exp").rglob("*.json"))
    assert files == [f"{FOLDER}/multi_turn/BFCL_v4_multi_turn_base_result.json",
                     f"{FOLDER}/non_live/BFCL_v4_simple_python_result.json"]
    rows = _lines(exported / "ev" / "multi_turn.jsonl")
    lines = _lines(exported / "exp" / files[0])
    assert [x["id"] for x in lines] == [r["id"] for r in rows] == ["multi_turn_base_0", "multi_turn_base_1"]
    for x, r in zip(lines, rows):
        assert x["result"] == [[s["output"] for s in t["steps"]] for t in r["turns"][: r["n_turns"]]]
        assert len(x["result"]) == r["n_turns"] >= 1 and x["output_token_count"] == r["tokens"]
    assert sum(r["n_steps"] for r in rows) >= 2  # the model's steps ran and were exported


@pytest.mark.slow
def test_score_gives_the_evals_verdicts(exported, mt_source, tmp_path):
    out = tmp_path / "verdicts.jsonl"
    res = CliRunner().invoke(app, ["score", "--bfcl-result", str(exported / "exp"), "--bfcl-data", str(mt_source.path),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "multi_turn_base" in res.output and "simple_python" in res.output and "skipped" not in res.output
    verdicts = {(v["category"], v["id"]): v for v in _lines(out)}
    evaluated = _lines(exported / "ev" / "multi_turn.jsonl") + _lines(exported / "ev" / "outputs.jsonl")
    assert len(verdicts) == len(evaluated) == 4
    for r in evaluated:
        v = verdicts[(r["category"], r["id"])]
        assert (v["model"], v["valid"], v["error_type"]) == (FOLDER, r["valid"], r["error_type"])


def _as_text(calls):
    return f"[{', '.join(calls)}]"


def test_hand_written_results_get_bfcls_verdicts(mt_source, mt_classes, tmp_path):
    # entries whose ground truth names every argument (a decoder of text drops positional ones, as BFCL's does)
    entries = [e for e in load_entries(mt_source, "multi_turn_base", limit=10)
               if not any(parse_call_string(c).args for t in e.ground_truth for c in t)][:4]
    gt = [e.ground_truth for e in entries]
    assert len(entries) == 4 and all(all(t for t in g) for g in gt)  # base: every turn asks for calls

    def fc(call):  # a call as BFCL's FC handlers write it: {name: JSON arguments}
        spec = parse_call_string(call)
        return {spec.name: json.dumps(dict(spec.kwargs))}

    results = [[[_as_text(t)] for t in gt[0]],  # the ground truth as text, one step per turn
               [[_as_text(t)] for t in gt[1][:-1]],  # the last turn missing
               "the model crashed",  # not a list of turns
               [[[fc(c) for c in t]] for t in gt[3]]]  # FC-mode steps
    path = tmp_path / "res" / FOLDER / "multi_turn" / bfcl.result_file("multi_turn_base")
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"id": e.id, "result": r}) + "\n" for e, r in zip(entries, results)))
    agentic = tmp_path / "res" / FOLDER / "agentic" / bfcl.result_file("web_search_base")
    agentic.parent.mkdir(parents=True)
    agentic.write_text(json.dumps({"id": "web_search_base_0", "result": "x"}) + "\n")

    scored = score_result_dir(tmp_path / "res", mt_source)
    assert [(v["id"], v["valid"], v["error_type"]) for v in scored["rows"]] == [
        (entries[0].id, True, ""), (entries[1].id, False, FORCE_TERMINATED), (entries[2].id, False, INFERENCE_ERROR),
        (entries[3].id, True, "")]
    cat = scored["models"][FOLDER]["categories"]["multi_turn_base"]
    n_all = len(load_entries(mt_source, "multi_turn_base"))
    assert cat == {"correct": 2, "total": 4, "accuracy": 0.5, "missing": n_all - 4}
    assert scored["models"][FOLDER]["aggregates"]["multi_turn"]["accuracy"] == 0.5
    (skipped, why), = scored["skipped"]
    assert skipped == str(agentic) and "agentic" in why
    # --categories picks multi-turn ones too; single-turn `score` of rows keeps refusing them
    assert score_result_dir(tmp_path / "res", mt_source, bfcl.parse_categories("multi_turn", multi_turn=True))["rows"]
    assert not score_result_dir(tmp_path / "res", mt_source, ["simple_python"])["models"]


def test_export_writes_only_the_turns_run(tmp_path):
    """A force-quit trajectory: its row lists every turn of the entry, the export only those run."""
    step = {"output": "[ls(a=True)]", "tokens": 3}
    row = {"id": "multi_turn_base_7", "mode": "none", "category": "multi_turn_base", "tokens": 6, "n_turns": 1,
           "stop": "step_limit", "turns": [{"turn": 0, "steps": [step, step]}, {"turn": 1, "steps": []},
                                           {"turn": 2, "steps": []}]}
    other = {**row, "mode": "adaptive", "id": "multi_turn_base_8"}
    paths = export_bfcl(tmp_path, "m/x", [], "none", [row, other])
    assert paths == [tmp_path / "m_x" / "multi_turn" / "BFCL_v4_multi_turn_base_result.json"]
    assert _lines(paths[0]) == [{"id": "multi_turn_base_7", "result": [["[ls(a=True)]"] * 2], "output_token_count": 6}]
