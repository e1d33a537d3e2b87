"""`toolace-r eval` end to end with a real micro model: BFCL from a wheel, samples from a JSONL,
the files it writes, results.json == `toolace-r score` of outputs.jsonl, the BFCL export layout,
`compare`, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evalfixtures import BFCL_ENTRIES, N_BFCL, PROMPT_MODEL
from typer.testing import CliRunner

from toolace_r.cli.eval import eval_app
from toolace_r.cli.score import score
from toolace_r.scoring import summarize

runner = CliRunner()


def _eval(*args):
    return runner.invoke(eval_app, [str(a) for a in args])


@pytest.fixture(scope="module")
def bfcl_run(tmp_path_factory, micro_model, bfcl_wheel):
    out = tmp_path_factory.mktemp("bfcl_run")
    res = _eval("--model", micro_model, "--bench", "bfcl", "--bfcl-data", bfcl_wheel, "--categories", ",".join(BFCL_ENTRIES),
                "--refine", "none",
                "--refine", "adaptive,fixed:1", "--max-rounds", "2", "--max-new-tokens", "10", "--confirm", "repeat",
                "--out", out / "eval", "--export-bfcl", out / "export", "--export-mode", "none",
                "--name", PROMPT_MODEL)
    assert res.exit_code == 0, res.output
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bfcl_eval_writes_every_file(bfcl_run):
    d = bfcl_run / "eval"
    for f in ("results.json", "results.md", "outputs.jsonl", "accuracy_by_category.png", "refinement.png"):
        assert (d / f).is_file() and (d / f).stat().st_size > 0, f
    res = json.loads((d / "results.json").read_text())
    assert res["modes"] == ["none", "adaptive", "fixed:1"]
    assert res["n_entries"] == N_BFCL and res["checker_mode"] == "bfcl" and res["confirm"] == "repeat"
    assert res["confirm_bias"] == 0.0  # only confirm=token biases the confirmation
    assert res["prompt_style"] == "auto -> template"  # what the embedded model's folder records
    for m in res["modes"]:
        s = res["by_mode"][m]
        assert list(s["categories"]) == list(BFCL_ENTRIES)  # BFCL's order
        assert set(s["aggregates"]) == {"non_live", "live", "hallucination", "relevance"}
        assert not s["aggregates"]["non_live"]["complete"]  # parallel_multiple is not in the fixture
        assert 0 <= s["well_formed"] <= 1 and s["well_formed_irrelevance"] is not None
        assert sum(s["errors"].values()) == s["n"] - s["overall"]["correct"]
        assert res["timing"]["modes"][m]["entries_per_s"] > 0
    assert res["by_mode"]["none"]["mean_rounds"] == 0
    assert res["by_mode"]["fixed:1"]["mean_rounds"] == 1
    assert 1 <= res["by_mode"]["adaptive"]["mean_rounds"] <= 2
    # a mode's tokens include the shared first pass
    assert res["by_mode"]["fixed:1"]["mean_tokens"] > res["by_mode"]["none"]["mean_tokens"]
    md = (d / "results.md").read_text()
    assert "| simple_python | 2 |" in md and "**hallucination**" in md and "## Cost" in md
    rows = _rows(d / "outputs.jsonl")
    assert len(rows) == N_BFCL * 3
    assert {"id", "mode", "functions", "output", "possible_answer", "category", "valid", "error_type"} <= set(rows[0])
    # BFCL's own docs are what gets checked ("dict" types), not our normalised copy
    assert rows[0]["functions"][0]["parameters"]["type"] == "dict"


def test_results_equal_toolace_r_score_of_outputs(bfcl_run, tmp_path):
    """Acceptance: for every mode, `toolace-r score` on that mode's rows of outputs.jsonl gives
    the same verdicts and the same per-category scores as results.json."""
    d = bfcl_run / "eval"
    res = json.loads((d / "results.json").read_text())
    rows = _rows(d / "outputs.jsonl")
    import typer

    score_app = typer.Typer()
    score_app.command()(score)
    for mode in res["modes"]:
        mine = [r for r in rows if r["mode"] == mode]
        inp = tmp_path / f"{mode.replace(':', '')}.jsonl"
        inp.write_text("".join(json.dumps(r) + "\n" for r in mine))
        out = tmp_path / f"{mode.replace(':', '')}.verdicts.jsonl"
        r = runner.invoke(score_app, [str(inp), "-o", str(out)])
        assert r.exit_code == 0, r.output
        verdicts = _rows(out)
        assert [v["valid"] for v in verdicts] == [x["valid"] for x in mine]
        assert [v["error_type"] for v in verdicts] == [x["error_type"] for x in mine]
        table = summarize(mine, verdicts)
        assert table.pop("overall") == res["by_mode"][mode]["overall"]
        assert table == res["by_mode"][mode]["categories"]


def test_export_in_bfcl_result_layout(bfcl_run):
    exp = bfcl_run / "export"
    # one mode (--export-mode), under BFCL's folder name for the model ("/" as "_")
    assert sorted(p.name for p in exp.iterdir()) == ["acme_micro-tool"]
    assert json.loads((bfcl_run / "eval" / "results.json").read_text())["export_bfcl"] == {
        "dir": str(exp), "model": PROMPT_MODEL, "mode": "none"}
    rows = {(r["mode"], r["id"]): r for r in _rows(bfcl_run / "eval" / "outputs.jsonl")}
    for cat, pairs in BFCL_ENTRIES.items():
        group = "live" if cat.startswith("live") else "non_live"
        f = exp / "acme_micro-tool" / group / f"BFCL_v4_{cat}_result.json"
        lines = _rows(f)
        assert [x["id"] for x in lines] == [e["id"] for e, _ in pairs]
        for x in lines:
            assert x["result"] == rows[("none", x["id"])]["output"]


def test_eval_on_sample_jsonl_reports_seen_and_unseen(tmp_path, micro_model, samples_file):
    out = tmp_path / "eval"
    res = _eval("--model", micro_model, "--bench", samples_file, "--refine", "none", "--max-new-tokens", "8",
                "--mode", "strict", "--out", out)
    assert res.exit_code == 0, res.output
    r = json.loads((out / "results.json").read_text())
    s = r["by_mode"]["none"]
    assert r["bench_kind"] == "samples" and r["checker_mode"] == "strict"
    assert list(s["categories"]) == ["simple", "multiple", "irrelevance"]
    assert s["groups"]["template/unseen"]["total"] == 2 and s["groups"]["tools/unseen"]["total"] == 1
    assert "aggregates" not in s
    rows = _rows(out / "outputs.jsonl")
    assert [x["sample_category"] for x in rows][:5] == ["simple"] * 4 + ["multiple"]
    # rows carry the checker category, so `toolace-r score --mode strict` re-scores them identically
    from toolace_r.scoring import score_rows

    assert [v["valid"] for v in score_rows(rows, "strict")] == [x["valid"] for x in rows]
    assert s["overall"]["correct"] == sum(x["valid"] for x in rows)
    lim = _eval("--model", micro_model, "--bench", samples_file, "--refine", "none", "--max-new-tokens", "4",
                "--categories", "simple", "--limit", "3", "--out", tmp_path / "lim")
    assert lim.exit_code == 0, lim.output
    assert json.loads((tmp_path / "lim" / "results.json").read_text())["n_entries"] == 3


def test_compare_prints_side_by_side_with_deltas(bfcl_run, tmp_path):
    a = bfcl_run / "eval"
    b = tmp_path / "b"
    b.mkdir()
    res = json.loads((a / "results.json").read_text())
    res["name"] = "better"
    res["by_mode"]["none"]["categories"]["multiple"]["accuracy"] = 1.0
    res["by_mode"]["none"]["accuracy"] = res["by_mode"]["none"]["accuracy"] + 0.1
    (b / "results.json").write_text(json.dumps(res))
    r = runner.invoke(eval_app, ["compare", str(a), str(b), "--refine", "none"], env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.output
    assert "micro" in r.output and "better" in r.output and "Δ" in r.output
    multiple = next(line for line in r.output.splitlines() if "multiple" in line and "parallel" not in line)
    old = json.loads((a / "results.json").read_text())["by_mode"]["none"]["categories"]["multiple"]["accuracy"]
    assert f"{100 * (1.0 - old):+.2f}" in multiple
    assert "+10.00" in next(line for line in r.output.splitlines() if "overall" in line)
    r2 = runner.invoke(eval_app, ["compare", str(a), str(b)], env={"COLUMNS": "160"})
    assert r2.exit_code == 0 and r2.output.count("refinement") == 3
    bad = runner.invoke(eval_app, ["compare", str(a), str(tmp_path / "missing")])
    assert bad.exit_code == 2 and "no results.json" in bad.output


@pytest.mark.parametrize("args, message", [
    (["--bfcl-data", "/nonexistent/bfcl"], "--bfcl-data /nonexistent/bfcl does not exist"),
    (["--categories", "simple_python,bogus"], "unknown BFCL category 'bogus'"),
    (["--refine", "sometimes"], "unknown refinement mode 'sometimes'"),
    (["--refine", "fixed:0"], "bad refinement mode 'fixed:0'"),
    (["--mode", "loose"], "--mode must be 'bfcl' or 'strict'"),
    (["--limit", "0"], "--limit must be >= 1"),
    (["--confirm", "nod"], "--confirm must be token or repeat"),
])
def test_bad_bfcl_inputs_give_one_line_errors(args, message, bfcl_wheel, tmp_path):
    base = ["--model", str(tmp_path / "no-model"), "--bench", "bfcl", "--out", str(tmp_path / "o")]
    if "--bfcl-data" not in args:
        base += ["--bfcl-data", str(bfcl_wheel)]
    r = runner.invoke(eval_app, base + args)
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.startswith("error: ") and r.output.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_other_bad_inputs(tmp_path, samples_file, bfcl_wheel):
    r = _eval("--model", tmp_path, "--bench", tmp_path / "missing.jsonl")
    assert r.exit_code == 2 and "--bench must be 'bfcl' or a JSONL file" in r.output
    r = _eval("--model", tmp_path, "--bench", samples_file, "--export-bfcl", tmp_path / "x")
    assert r.exit_code == 2 and "are for --bench bfcl" in r.output
    r = _eval("--model", tmp_path, "--bench", samples_file, "--categories", "simple_python")
    assert r.exit_code == 2 and "unknown sample category 'simple_python'" in r.output
    r = _eval("--model", tmp_path / "absent", "--bench", "bfcl", "--bfcl-data", bfcl_wheel, "--limit", "1",
              "--categories", "simple_python")
    assert r.exit_code == 2 and "does not exist here" in r.output
    r = _eval("--model", tmp_path, "--bench", "bfcl", "--bfcl-data", bfcl_wheel, "--limit", "1",
              "--categories", "simple_python")
    assert r.exit_code == 2 and "holds no config.json" in r.output
    r = _eval("--model", tmp_path, "--bench", "bfcl", "--bfcl-data", bfcl_wheel)
    assert r.exit_code == 2 and "has no BFCL_v4_parallel_multiple.json (pass --categories" in r.output
    (tmp_path / "afile").write_text("x")
    r = _eval("--model", tmp_path, "--bench", samples_file, "--out", tmp_path / "afile")
    assert r.exit_code == 2 and "is a file, not a folder" in r.output
    r = _eval("--bench", "bfcl")
    assert r.exit_code == 2 and "--model and --bench are required" in r.output
    r = _eval()
    assert "--model" in r.output and "compare" in r.output  # bare `eval` shows its help
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    r = _eval("--model", tmp_path, "--bench", bad)
    assert r.exit_code == 2 and "bad.jsonl:1" in r.output


@pytest.mark.parametrize("args,message", [
    (["--refine", "none,adaptive"], "--export-bfcl writes one refinement mode (BFCL scores one output per entry): "
                                    "pass --export-mode, one of none, adaptive"),
    (["--refine", "none", "--export-mode", "adaptive"], "--export-mode 'adaptive' is not among the modes run (none)"),
    (["--refine", "none", "--name", "acme/micro-tool-FC"], "--name 'acme/micro-tool-FC' is a function-calling (-FC) BFCL name"),
    (["--refine", "none", "--name", "acme/fc-only"], "--name 'acme/fc-only' is a function-calling (FC) model in BFCL's model list"),
    (["--refine", "none", "--name", "my-model"], "register yours: add a prompt-mode entry"),
    (["--refine", "none"], "--model (pass --name to export under a BFCL model name)"),
])
def test_export_bfcl_checks_the_name_and_the_mode_first(args, message, bfcl_wheel, tmp_path):
    r = _eval("--model", tmp_path, "--bench", "bfcl", "--bfcl-data", bfcl_wheel, "--categories", "simple_python",
              "--out", tmp_path / "o", "--export-bfcl", tmp_path / "x", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.startswith("error: ") and r.output.count("\n") == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "x").exists()


def test_export_name_may_be_bfcl_result_folder_name(bfcl_wheel, bfcl_unpacked):
    from toolace_r import bfcl
    from toolace_r.bfcl_results import check_export_name

    src = bfcl.from_path(bfcl_wheel)
    assert check_export_name("acme_micro-tool", src) == (PROMPT_MODEL, None)
    # data without bfcl-eval's model list: the name cannot be checked, and a note says so
    name, note = check_export_name("anything", bfcl.from_path(bfcl_unpacked))
    assert name == "anything" and "could not check --name 'anything'" in note
