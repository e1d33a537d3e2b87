"""The multi-turn loop on real BFCL entries: a scripted model that answers each turn's ground-truth
calls passes the checker in every category and format, batched across entries and refined per
step; withheld functions arrive at their turn; the step limit force-quits; and `toolace-r eval`
runs multi-turn categories end to end with the tiny models, writing well-formed files."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from scripted_mt import DONE, NO_FUNCTION, GroundTruthModel
from typer.testing import CliRunner

from toolace_r import bfcl
from toolace_r.cli.eval import eval_app
from toolace_r.evaluation.multiturn import trajectory_row
from toolace_r.models.generation import Completion, Generator
from toolace_r.models.prompting import PromptConfig, native_config
from toolace_r.multiturn.checker import CATEGORIES, FORCE_TERMINATED, check_entry
from toolace_r.multiturn.loop import ADDED_FUNCTIONS_PROMPT, MAX_STEPS, load_entries, run_loop


def _scripted(entries, classes, cfg=None):
    g = GroundTruthModel(classes=classes, prompt_config=cfg or PromptConfig())
    for e in entries:
        g.add(e.raw, e.ground_truth)
    return g


def test_constants_are_bfcls(mt_source):
    """The step limit and the added-functions message, read from the wheel's own constants."""
    with zipfile.ZipFile(mt_source.path) as z:
        text = z.read("bfcl_eval/constants/default_prompts.py").decode()
    assert int(re.search(r"^MAXIMUM_STEP_LIMIT = (\d+)", text, re.M).group(1)) == MAX_STEPS
    assert f'"{ADDED_FUNCTIONS_PROMPT}"' in text


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("mode", ["none", "adaptive"])
def test_ground_truth_answers_pass(mt_source, mt_classes, category, mode):
    entries = load_entries(mt_source, category, limit=6)
    g = _scripted(entries, mt_classes)
    trajs = run_loop(g, entries, mode, classes=mt_classes)
    assert g.n_prompts[0] == len(entries)  # one batched generate per step of every entry in progress
    for e, tr in zip(entries, trajs):
        assert tr.stop == "" and len(tr.turns) == len(e.ground_truth)
        for steps, gt in zip(tr.turns, e.ground_truth):
            # a turn with calls: the calls, then text after seeing the results; else text at once
            assert [s.output for s in steps][-1] == (DONE if gt else NO_FUNCTION)
            assert len(steps) == (2 if gt else 1) and len(steps[0].calls) == len(gt)
            if gt:
                assert len(steps[0].results) == len(gt) and not any(r.startswith("Error") for r in steps[0].results)
            if mode == "adaptive":  # every step refined once: the model confirmed it
                assert all(s.rounds == 1 and s.confirmed for s in steps)
        v = check_entry(e.raw, e.ground_truth, tr.model_turns(), classes=mt_classes)
        assert v.valid, (e.id, v)
        row = trajectory_row(e, tr, mode, classes=mt_classes)
        assert row["valid"] and row["well_formed"] and row["n_turns"] == len(e.ground_truth)
        assert [t["verdict"] for t in row["turns"]] == ["valid" if gt else "unchecked" for gt in e.ground_truth]
        assert row["tokens"] == tr.total("tokens") > 0
        json.dumps(row)  # a JSONL line


@pytest.mark.parametrize("fmt", ["hermes", "llama3_json"])
def test_native_formats(mt_source, mt_classes, fmt):
    entries = load_entries(mt_source, "multi_turn_base", limit=3)
    g = _scripted(entries, mt_classes, native_config(fmt))
    trajs = run_loop(g, entries, "none", prompt_cfg=g.prompt_config, classes=mt_classes)
    for e, tr in zip(entries, trajs):
        assert check_entry(e.raw, e.ground_truth, tr.model_turns(), classes=mt_classes).valid
    # earlier calls reach the model as structured tool calls, their results as tool messages
    messages, tools = g.seen[-1]
    assert tools is not None and any(m.get("tool_calls") for m in messages)
    assert any(m["role"] == "tool" and m.get("name") for m in messages)


def test_miss_func_functions_arrive_at_their_turn(mt_source, mt_classes):
    entry = load_entries(mt_source, "multi_turn_miss_func", limit=1)[0]
    (turn, held), = entry.missed.items()
    names = {f["name"] for f in entry.functions}
    assert held and not names & {f["name"] for f in held}
    # the shown docs are those of the involved classes, less the withheld ones (BFCL's population)
    all_docs = {json.loads(x)["name"] for cls in entry.raw["involved_classes"]
                for x in mt_source.read(f"multi_turn_func_doc/{_doc_file(cls)}").splitlines() if x.strip()}
    assert names | {f["name"] for f in held} == all_docs
    g = _scripted([entry], mt_classes)
    tr = run_loop(g, [entry], "none", classes=mt_classes)[0]
    assert check_entry(entry.raw, entry.ground_truth, tr.model_turns(), classes=mt_classes).valid
    users = 0
    for messages, _ in g.seen:  # system prompt style: the tools are listed in the system message
        n_users = sum(m["role"] == "user" for m in messages)
        listed = f'"name": "{held[0]["name"]}"' in messages[0]["content"]
        assert listed == (n_users > turn), n_users
        users = max(users, n_users)
        if n_users == turn + 1:
            assert [m for m in messages if m["role"] == "user"][-1]["content"] == ADDED_FUNCTIONS_PROMPT
    assert users == len(entry.question)


def _doc_file(cls):
    from toolace_r.multiturn.envs import CLASS_FILES

    return f"{CLASS_FILES[cls]}.json"


class AlwaysCalls(Generator):
    """A model that never stops calling: ``ls`` at every step."""

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None, constraints=None):
        return [[Completion("[ls(a=True)]", 4)] * n for _ in prompts]


def test_step_limit_force_quits(mt_source, mt_classes):
    entries = load_entries(mt_source, "multi_turn_base", limit=2)
    trajs = run_loop(AlwaysCalls(), entries, "none", max_steps=3, classes=mt_classes)
    for e, tr in zip(entries, trajs):
        # steps past the limit: BFCL quits after step max_steps + 1 and runs no further turn
        assert tr.stop == "step_limit" and len(tr.turns) == 1 and len(tr.turns[0]) == 4
        v = check_entry(e.raw, e.ground_truth, tr.model_turns(), classes=mt_classes)
        assert v.error_type == FORCE_TERMINATED
        row = trajectory_row(e, tr, "none", classes=mt_classes)
        assert row["turns"][0]["verdict"] == "unchecked" and row["turns"][1]["verdict"] == "not_run"
    budget = run_loop(AlwaysCalls(), entries[:1], "none", max_entry_tokens=10, classes=mt_classes)[0]
    assert budget.stop == "token_budget" and budget.total("tokens") == 12


class CallsFor(Generator):
    """``ls`` at steps 0 .. k-1 of the turns in ``turns`` (every step when k is None), then text; text elsewhere."""

    def __init__(self, turns, k=None):
        self.turns, self.k = turns, k

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None, constraints=None):
        out = []
        for messages, _tools in prompts:
            turn = sum(m["role"] == "user" for m in messages) - 1
            users = [i for i, m in enumerate(messages) if m["role"] == "user"]
            step = sum(m["role"] == "assistant" for m in messages[users[-1]:])
            calls = turn in self.turns and (self.k is None or step < self.k)
            out.append([Completion("[ls(a=True)]" if calls else DONE, 4)] * n)
        return out


def test_step_limit_boundary_and_last_turn(mt_source, mt_classes):
    """As BFCL's loop (checked against it by benchmarks/multiturn_loop_differential.py): exactly
    max_steps executed steps do not force-quit; one more does, and in the last turn that leaves
    every turn run, so the checker judges the turns as they are (no force_terminated)."""
    (e,) = load_entries(mt_source, "multi_turn_base", limit=1)
    last = len(e.question) - 1
    (tr,) = run_loop(CallsFor({0}, k=3), [e], "none", max_steps=3, classes=mt_classes)
    assert tr.stop == "" and len(tr.turns) == len(e.question)
    assert [bool(s.calls) for s in tr.turns[0]] == [True] * 3 + [False]
    g = _scripted([e], mt_classes)
    g.__class__ = NeverStopsLast
    (tr,) = run_loop(g, [e], "none", max_steps=3, classes=mt_classes)
    assert tr.stop == "step_limit" and len(tr.turns) == len(e.question) and len(tr.turns[last]) == 4
    v = check_entry(e.raw, e.ground_truth, tr.model_turns(), classes=mt_classes)
    assert v.turn == last and v.error_type != FORCE_TERMINATED  # the earlier turns (ground truth) passed


class NeverStopsLast(GroundTruthModel):
    """The scripted model, but calling ``ls`` at every step of the entry's last turn."""

    def _answer(self, messages):
        users = [m for m in messages if m["role"] == "user"]
        if len(users) == len(next(iter(self.script.values()))):
            return "[ls(a=True)]"
        return super()._answer(messages)


class Counted(GroundTruthModel):
    """The scripted model with a length: one token per character of the prompt's JSON."""

    def encode(self, prompt):
        return list(json.dumps(prompt))


@pytest.mark.parametrize("mode", ["none", "adaptive"])
def test_a_conversation_past_the_context_force_quits(mt_source, mt_classes, mode):
    from toolace_r.models.context import prompt_length

    entries = load_entries(mt_source, "multi_turn_base", limit=1)

    def counted():
        g = _scripted(entries, mt_classes)
        g.__class__ = Counted
        return g

    roomy = counted()  # with room (the scripted model's own prompts carry no context), it runs to its end
    assert run_loop(roomy, entries, mode, max_new_tokens=64, classes=mt_classes)[0].stop == ""
    limit = prompt_length(roomy, roomy.seen[0]) + 64  # room for the first step's prompt and answer only
    g = counted()
    (tr,) = run_loop(g, entries, mode, max_new_tokens=64, classes=mt_classes, max_context=limit)
    # step 0 ran (its calls executed); the prompt after their results no longer fits: force-quit
    assert tr.stop == "context_limit" and len(tr.turns) == 1 and len(tr.turns[0]) == 1
    assert tr.turns[0][0].calls and tr.turns[0][0].rounds == 0  # its refinement prompt did not fit either
    assert all(prompt_length(g, p) + 64 <= limit for p in g.seen)  # nothing over the context was generated
    v = check_entry(entries[0].raw, entries[0].ground_truth, tr.model_turns(), classes=mt_classes)
    assert v.error_type == FORCE_TERMINATED


# --------------------------------------------------------------------------------------
# toolace-r eval, end to end with the tiny models


def _eval_cli(model, out, mt_source, *extra):
    res = CliRunner().invoke(eval_app, ["--model", str(model), "--bench", "bfcl", "--bfcl-data", str(mt_source.path),
                                        "--test-category", "multi_turn_base", "--limit", "2", "--max-new-tokens", "12",
                                        "--max-steps", "2", "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return json.loads((out / "results.json").read_text()), [json.loads(x) for x in (out / "multi_turn.jsonl").read_text().splitlines()]


def _check_files(results, rows, modes):
    assert results["modes"] == modes and results["n_entries"] == 2 and results["multi_turn"]["max_steps"] == 2
    for m in modes:
        s = results["by_mode"][m]
        assert s["categories"]["multi_turn_base"]["total"] == 2
        agg = s["aggregates"]
        assert agg["multi_turn"]["accuracy"] == s["categories"]["multi_turn_base"]["accuracy"]
        assert agg["bfcl_overall"]["accuracy"] == pytest.approx(0.3 * agg["multi_turn"]["accuracy"])
        assert not agg["bfcl_overall"]["complete"]
    assert [(r["id"], r["mode"]) for r in rows] == [(f"multi_turn_base_{i}", m) for m in modes for i in range(2)]
    for r in rows:
        assert r["category"] == "multi_turn_base" and isinstance(r["valid"], bool)
        assert r["valid"] or r["error_type"].startswith("multi_turn:")
        assert r["n_steps"] == sum(len(t["steps"]) for t in r["turns"]) >= 1, (r["stop"], r["n_turns"])
        assert r["tokens"] == sum(s["tokens"] for t in r["turns"] for s in t["steps"]) > 0
        for t in r["turns"]:
            assert t["verdict"] in ("valid", "invalid", "unchecked", "not_run")
            for s in t["steps"]:
                assert s["status"] in ("calls", "text", "malformed") and 1 <= s["tokens"] <= 12 * (1 + s["rounds"])
                assert len(s["calls"]) == len(s["results"])


@pytest.mark.slow
def test_eval_cli_embedded(tmp_path, mt_source):
    from toolace_r.models.base import BASE_DIR  # the shipped base: BFCL's prompts fit in its context of 1,024

    results, rows = _eval_cli(BASE_DIR, tmp_path / "ev", mt_source, "--refine", "none,adaptive", "--max-rounds", "1")
    _check_files(results, rows, ["none", "adaptive"])
    assert (tmp_path / "ev" / "outputs.jsonl").read_text() == ""  # no single-turn category ran
    md = (tmp_path / "ev" / "results.md").read_text()
    assert "| multi_turn_base | 2 |" in md and "**multi-turn** (partial)" in md and "**bfcl-overall** (partial)" in md
    assert "## Multi-turn" in md
    by = results["multi_turn"]["by_mode"]
    for m in ("none", "adaptive"):
        mine = [r for r in rows if r["mode"] == m]
        assert by[m]["entries"] == 2 and by[m]["mean_steps"] == sum(r["n_steps"] for r in mine) / 2
        assert sum(by[m]["turns"].values()) == sum(len(r["turns"]) for r in mine)


@pytest.mark.slow
def test_eval_cli_tiny_qwen(tmp_path, tiny_qwen, mt_source):
    folder, _ = tiny_qwen
    results, rows = _eval_cli(folder, tmp_path / "ev", mt_source, "--refine", "none")
    assert results["prompt_style"] == "auto -> template"  # hermes through the Qwen2.5 template
    # multi_turn_base_0's tool docs in Qwen's template and tokenizer take more than the tiny network's
    # context of 4,096 tokens: nothing is generated, the entry is force-quit and fails as BFCL fails it;
    # multi_turn_base_1's fit, and its steps run in hermes
    assert (rows[0]["stop"], rows[0]["n_steps"], rows[0]["error_type"]) == ("context_limit", 0, FORCE_TERMINATED)
    assert rows[1]["stop"] != "context_limit" and rows[1]["n_steps"] >= 1
    assert results["multi_turn"]["by_mode"]["none"]["force_quit"] == 1 + (rows[1]["stop"] != "")


def test_eval_rejects_bad_multi_turn_input(tmp_path, mt_source):
    res = CliRunner().invoke(eval_app, ["--model", "x", "--bench", "bfcl", "--test-category", "multi_turn_bse"])
    assert res.exit_code == 2 and "unknown BFCL category 'multi_turn_bse'" in res.output
    res = CliRunner().invoke(eval_app, ["--model", "x", "--bench", "bfcl", "--test-category", "multi_turn_base",
                                        "--max-steps", "-1"])
    assert res.exit_code == 2 and "--max-steps must be >= 0" in res.output
    with pytest.raises(bfcl.BfclError, match="run by `toolace-r eval`"):
        bfcl.parse_categories("multi_turn_base")  # `toolace-r score` keeps refusing them
    assert bfcl.parse_categories("multi_turn", multi_turn=True) == list(bfcl.MULTI_TURN)


@pytest.mark.slow
def test_eval_cli_single_and_multi_turn_together(tmp_path, tiny_model_dir, mt_source):
    out = tmp_path / "ev"
    res = CliRunner().invoke(eval_app, ["--model", str(tiny_model_dir), "--bench", "bfcl", "--bfcl-data", str(mt_source.path),
                                        "--test-category", "simple_python,multi_turn_miss_func", "--limit", "1",
                                        "--refine", "none", "--max-new-tokens", "8", "--max-steps", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    s = results["by_mode"]["none"]
    assert list(s["categories"]) == ["simple_python", "multi_turn_miss_func"] and s["n"] == 2
    assert {"non_live", "multi_turn", "bfcl_overall"} <= set(s["aggregates"])
    assert [json.loads(x)["category"] for x in (out / "outputs.jsonl").read_text().splitlines()] == ["simple_python"]
    assert [json.loads(x)["id"] for x in (out / "multi_turn.jsonl").read_text().splitlines()] == ["multi_turn_miss_func_0"]
