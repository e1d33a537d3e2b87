"""vLLM engine flags (--tensor-parallel-size, --gpu-memory-utilization, --max-model-len) on `eval`,
`serve` and `model generate`: parsed, checked with one-line errors, and handed to the vllm backend's
constructor, where vllm is first imported. vllm itself is not needed: a stand-in takes the engine's place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolace_r.cli import app
from toolace_r.data.io import write_samples
from toolace_r.data.schema import Message, Sample, ToolSpec
from toolace_r.models import generation
from toolace_r.models.backend import Completion, Generator
from toolace_r.models.generation import vllm_engine_kw
from toolace_r.models.prompting import PromptConfig

runner = CliRunner()
FLAGS = ["--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.5", "--max-model-len", "4096"]
ENGINE_KW = {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.5, "max_model_len": 4096}


class FakeVLLM(Generator):
    """Stands in for VLLMGenerator: records its constructor's keywords, answers no call."""

    made: list[dict] = []

    def __init__(self, model_path, **kw):
        FakeVLLM.made.append({"model": str(model_path), **kw})
        self.prompt_config = PromptConfig()

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None):
        return [[Completion("[]", 1) for _ in range(n)] for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    FakeVLLM.made = []
    monkeypatch.setattr(generation, "VLLMGenerator", FakeVLLM)
    return FakeVLLM.made


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    samples = [Sample(id=f"s{i}", tools=[ToolSpec(name="f")], messages=[Message(role="user", content="hi")],
                      answer=[], category="irrelevance") for i in range(3)]
    write_samples(tmp_path / "test.jsonl", samples)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")  # a model folder by models.refs' rule; the fake engine loads nothing
    return {"bench": tmp_path / "test.jsonl", "model": tmp_path / "model", "out": tmp_path / "eval"}


def _one_line_error(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_engine_kw_checks_and_keeps_only_what_is_given():
    assert vllm_engine_kw("vllm") == {} and vllm_engine_kw("hf") == {}
    assert vllm_engine_kw("vllm", **ENGINE_KW) == ENGINE_KW
    assert vllm_engine_kw("vllm", gpu_memory_utilization=1.0) == {"gpu_memory_utilization": 1.0}
    for kw, needle in (({"tensor_parallel_size": 0}, "--tensor-parallel-size must be >= 1"),
                       ({"gpu_memory_utilization": 0.0}, r"--gpu-memory-utilization must be in \(0, 1\]"),
                       ({"gpu_memory_utilization": 1.2}, r"--gpu-memory-utilization must be in \(0, 1\]"),
                       ({"max_model_len": 0}, "--max-model-len must be >= 1")):
        with pytest.raises(ValueError, match=needle):
            vllm_engine_kw("vllm", **kw)
    with pytest.raises(ValueError, match="--tensor-parallel-size, --max-model-len are for --backend vllm, not hf"):
        vllm_engine_kw("hf", tensor_parallel_size=2, max_model_len=10)


def test_eval_hands_the_flags_to_the_vllm_engine(fake_vllm, files):
    r = runner.invoke(app, ["eval", "--model", str(files["model"]), "--bench", str(files["bench"]), "--backend",
                            "vllm", *FLAGS, "--refine", "none", "--out", str(files["out"])])
    assert r.exit_code == 0, r.output
    assert fake_vllm == [{"model": str(files["model"]), **ENGINE_KW}]
    results = json.loads((files["out"] / "results.json").read_text())
    assert results["vllm"] == ENGINE_KW and results["by_mode"]["none"]["accuracy"] == 1.0


def test_model_generate_hands_the_flags_to_the_vllm_engine(fake_vllm, files):
    r = runner.invoke(app, ["model", "generate", "--model", str(files["model"]), "--data", str(files["bench"]),
                            "--backend", "vllm", *FLAGS, "--limit", "2"])
    assert r.exit_code == 0, r.output
    assert fake_vllm == [{"model": str(files["model"]), **ENGINE_KW}]
    assert r.stdout.count("  = ") == 2  # "[]" is right for an irrelevance sample


def test_serve_hands_the_flags_to_the_vllm_engine(fake_vllm, files, monkeypatch):
    import toolace_r.cli.serve as serve_cli

    def fake_run_server(settings, factory, **kw):  # build the generator the server would, and stop
        factory()

    monkeypatch.setattr(serve_cli, "run_server", fake_run_server)
    r = runner.invoke(app, ["serve", "--model", str(files["model"]), "--backend", "vllm", *FLAGS])
    assert r.exit_code == 0, r.output
    assert fake_vllm == [{"model": str(files["model"]), **ENGINE_KW}]


@pytest.mark.parametrize("command", [
    ["eval", "--bench", "BENCH", "--out", "OUT"], ["model", "generate", "--data", "BENCH"], ["serve"]])
@pytest.mark.parametrize("flags, needle", [
    (["--backend", "vllm", "--tensor-parallel-size", "0"], "--tensor-parallel-size must be >= 1"),
    (["--backend", "vllm", "--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization must be in (0, 1]"),
    (["--backend", "vllm", "--max-model-len", "-1"], "--max-model-len must be >= 1"),
    (["--gpu-memory-utilization", "0.5"], "--gpu-memory-utilization is for --backend vllm, not hf"),
])
def test_bad_engine_flags_give_one_line(fake_vllm, files, command, flags, needle):
    where = {"BENCH": str(files["bench"]), "OUT": str(files["out"])}
    args = [where.get(a, a) for a in command] + ["--model", str(files["model"]), *flags]
    assert needle in _one_line_error(runner.invoke(app, args))
    assert fake_vllm == []  # stopped before any engine is made

