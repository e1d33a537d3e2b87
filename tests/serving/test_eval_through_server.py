"""`toolace-r eval --backend openai --base-url http://127.0.0.1:PORT/v1` evaluates through the server,
with the same verdicts as evaluating the model directly."""

from __future__ import annotations

import json

import pytest
from servefixtures import serve_model
from typer.testing import CliRunner

from toolace_r.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def bench(tmp_path_factory, samples):
    f = tmp_path_factory.mktemp("serve_bench") / "test.jsonl"
    f.write_text("".join(s.model_dump_json() + "\n" for s in samples if s.answer is not None))
    return f


def _eval(*args) -> dict:
    res = runner.invoke(app, ["eval", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res


def _rows(out):
    return {(r["id"], r["mode"]): r for r in map(json.loads, (out / "outputs.jsonl").read_text().splitlines())}


def test_eval_through_the_server_matches_the_local_model(trained_model_dir, bench, tmp_path):
    # The server refines nothing itself: eval drives refinement, one request per generation.
    with serve_model(trained_model_dir, refine="none") as url:
        _eval("--backend", "openai", "--base-url", url, "--model", "tiny", "--bench", bench, "--prompt-style", "template",
              "--refine", "none,adaptive", "--max-new-tokens", "64", "--out", tmp_path / "served")
    _eval("--model", trained_model_dir, "--bench", bench, "--refine", "none,adaptive", "--max-new-tokens", "64",
          "--out", tmp_path / "local")
    served, local = _rows(tmp_path / "served"), _rows(tmp_path / "local")
    assert served.keys() == local.keys() and len(served) == 2 * 9
    for key in local:
        assert served[key]["valid"] == local[key]["valid"], (key, served[key]["output"], local[key]["output"])
        assert served[key]["rounds"] == local[key]["rounds"], key
    res = json.loads((tmp_path / "served" / "results.json").read_text())
    assert res["backend"] == "openai" and res["n_entries"] == 9
    assert res["by_mode"]["none"]["overall"]["accuracy"] >= 0.5  # the model memorised most fixture answers
