"""`toolace-r data split` and :mod:`toolace_r.data.split`: disjoint splits that cover the file,
stratified by category, dialogues kept whole, seeded; one-line errors; data.source as one file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolace_r.cli import app
from toolace_r.data.io import read_samples, write_samples
from toolace_r.data.schema import Message, Sample, ToolSpec
from toolace_r.data.split import SplitError, check_size, parse_size, split_samples

runner = CliRunner()
TOOLS = [ToolSpec(name="f"), ToolSpec(name="g")]


def _sample(sid: str, category: str, **meta) -> Sample:
    answer = {"irrelevance": [], "parallel": [{"f": {}}, {"f": {}}]}.get(category, [{"f": {}}])
    tools = TOOLS[:1] if category in ("simple", "parallel") else TOOLS
    return Sample(id=sid, tools=tools, messages=[Message(role="user", content=f"request {sid}")], answer=answer,
                  category=category, source="test", meta=meta)


def _corpus() -> list[Sample]:
    """600 single samples over four categories (300/150/100/50) and 40 three-turn dialogues."""
    out = []
    for cat, n in (("simple", 300), ("multiple", 150), ("irrelevance", 100), ("parallel", 50)):
        out += [_sample(f"{cat}-{i}", cat) for i in range(n)]
    for d in range(40):
        out += [_sample(f"d{d}-{k}", "multiple" if k == 0 else "multi_turn", dialogue=f"d{d}", turn=k)
                for k in range(3)]
    return out


def _ids(samples: list[Sample]) -> list[str]:
    return [s.id for s in samples]


def test_splits_are_disjoint_cover_the_input_and_keep_its_order():
    samples = _corpus()
    parts = split_samples(samples, dev=0.1, test=0.2, seed=3).splits
    seen = [i for name in ("train", "dev", "test") for i in _ids(parts[name])]
    assert sorted(seen) == sorted(_ids(samples)) and len(set(seen)) == len(seen)
    position = {s.id: i for i, s in enumerate(samples)}
    for part in parts.values():
        assert [position[i] for i in _ids(part)] == sorted(position[i] for i in _ids(part))


def test_sizes_are_stratified_by_category():
    singles = [s for s in _corpus() if "dialogue" not in s.meta]
    parts = split_samples(singles, dev=0.1, test=60, seed=0).splits
    assert (len(parts["dev"]), len(parts["test"]), len(parts["train"])) == (60, 60, 480)
    for name, share in (("dev", 0.1), ("test", 0.1)):
        counts = Counter(s.category for s in parts[name])
        assert counts == {"simple": 30, "multiple": 15, "irrelevance": 10, "parallel": 5}, (name, counts)


def test_every_category_gets_its_share_by_largest_remainder():
    samples = [_sample(f"a{i}", "simple") for i in range(5)] + [_sample(f"b{i}", "irrelevance") for i in range(5)]
    parts = split_samples(samples, dev=1, test=3, seed=0).splits
    assert len(parts["dev"]) == 1 and len(parts["test"]) == 3
    assert sorted(Counter(s.category for s in parts["test"]).values()) == [1, 2]


def test_a_dialogue_stays_in_one_split():
    parts = split_samples(_corpus(), dev=0.15, test=0.15, seed=1).splits
    where = {}
    for name, part in parts.items():
        for s in part:
            if "dialogue" in s.meta:
                assert where.setdefault(s.meta["dialogue"], name) == name, s.meta["dialogue"]
    assert set(where.values()) == {"train", "dev", "test"}  # dialogues reach every split
    assert Counter(where.values())["train"] < 40


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    samples = _corpus()
    a, b = split_samples(samples, seed=7), split_samples(samples, seed=7)
    assert all(_ids(a.splits[n]) == _ids(b.splits[n]) for n in a.splits)
    c = split_samples(samples, seed=8)
    assert _ids(a.splits["test"]) != _ids(c.splits["test"])


def test_sizes_parse_as_counts_or_fractions():
    assert parse_size("200", "--dev") == 200 and isinstance(parse_size("200", "--dev"), int)
    assert parse_size("0.25", "--dev") == 0.25 and parse_size("0", "--dev") == 0
    for bad, needle in (("abc", "count of samples"), ("-3", "count >= 0"), ("1.0", r"in \(0, 1\)"),
                        ("0.0", r"in \(0, 1\)"), ("12.5", "whole number")):
        with pytest.raises(SplitError, match=needle):
            parse_size(bad, "--test")
    with pytest.raises(SplitError):
        check_size(True, "dev")


def test_sizes_that_leave_nothing_to_train_on_are_refused():
    samples = [_sample(f"s{i}", "simple") for i in range(10)]
    with pytest.raises(SplitError, match="take 10 of the 10 samples"):
        split_samples(samples, dev=5, test=0.5)
    with pytest.raises(SplitError, match="no samples"):
        split_samples([])


# ------------------------------------------------------------------------------------------
# the command


def _run(*args: str):
    return runner.invoke(app, ["data", "split", *args])


def _one_line_error(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "all.jsonl"
    write_samples(path, _corpus())
    return path


def test_command_writes_three_files_and_a_summary(corpus_file: Path, tmp_path: Path):
    out = tmp_path / "split"
    r = _run(str(corpus_file), "--out", str(out), "--dev", "60", "--test", "0.1", "--seed", "4")
    assert r.exit_code == 0, r.output
    parts = {n: read_samples(out / f"{n}.jsonl") for n in ("train", "dev", "test")}
    assert sum(len(p) for p in parts.values()) == 720
    assert f"{out}: train {len(parts['train'])}, dev {len(parts['dev'])}, test {len(parts['test'])}" in r.stderr
    assert "720 samples, 640 dialogues, seed 4" in r.stderr
    again = tmp_path / "again"
    assert _run(str(corpus_file), "--out", str(again), "--dev", "60", "--test", "0.1", "--seed", "4").exit_code == 0
    for n in parts:
        assert (again / f"{n}.jsonl").read_bytes() == (out / f"{n}.jsonl").read_bytes()


def test_command_refuses_to_overwrite_without_force(corpus_file: Path, tmp_path: Path):
    out = tmp_path / "split"
    assert _run(str(corpus_file), "--out", str(out)).exit_code == 0
    before = (out / "test.jsonl").read_bytes()
    line = _one_line_error(_run(str(corpus_file), "--out", str(out), "--seed", "1"))
    assert "already exist" in line and "--force" in line
    assert (out / "test.jsonl").read_bytes() == before
    assert _run(str(corpus_file), "--out", str(out), "--seed", "1", "--force").exit_code == 0
    assert (out / "test.jsonl").read_bytes() != before


@pytest.mark.parametrize("args, needle", [
    (["missing.jsonl"], "no such file"),
    (["ALL", "--dev", "0.6", "--test", "0.5"], "leaving none to train on"),
    (["ALL", "--dev", "lots"], "--dev must be a count of samples"),
    (["ALL", "--test", "2.5"], "--test as a fraction must be in (0, 1)"),
    (["ALL", "--dev", "1000"], "take 1072 of the 720 samples"),
])
def test_command_bad_input_gives_one_line(corpus_file: Path, tmp_path: Path, args: list[str], needle: str):
    args = [str(corpus_file) if a == "ALL" else str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
    line = _one_line_error(_run(*args, "--out", str(tmp_path / "out")))
    assert needle in line
    assert not (tmp_path / "out").exists()


def test_command_names_a_file_given_as_out(corpus_file: Path):
    assert "is a file" in _one_line_error(_run(str(corpus_file), "--out", str(corpus_file)))


# ------------------------------------------------------------------------------------------
# a run's data.source as one file


def test_run_data_stage_splits_one_file(corpus_file: Path, tmp_path: Path):
    from toolace_r.config import load_config
    from toolace_r.pipeline import _stage_data, open_run, stage_seed, start_model

    cfg = load_config(None, [f"data.source={corpus_file}", "data.dev_size=1000", "data.test_size=1000"])
    run = open_run(tmp_path / "run", cfg, resume=False, force=False, log=lambda _: None)
    splits = _stage_data(run, start_model(cfg))
    metrics = run.done("data")
    expected = split_samples(read_samples(corpus_file), seed=stage_seed(cfg.seed, "data/split"))
    assert metrics["split"] == expected.info()
    assert metrics["split"]["n"] == {"train": 576, "dev": 72, "test": 72}
    for name in ("train", "dev", "test"):
        assert _ids(splits[name]) == _ids(expected.splits[name])
