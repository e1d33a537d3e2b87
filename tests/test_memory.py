"""Every stage gives back what it took: the driver's resident memory does not grow from stage to
stage, and each stage records its peak (issue: one GPU must run SFT and a vLLM probe back to back)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from toolace_r import memory

ROOT = Path(__file__).resolve().parents[1]
linux = pytest.mark.skipif(memory.rss_mb() is None, reason="reads /proc/self/status (Linux)")


@linux
def test_peak_is_reset_and_release_gives_freed_heap_back():
    memory.release()
    base = memory.rss_mb()
    memory.reset_peak()
    # many small blocks: malloc serves them from its heap, which it keeps after free() until trimmed
    blocks = [bytes(1000) + bytes([i % 256]) for i in range(150_000)]
    held = memory.rss_mb()
    assert held > base + 100
    del blocks
    memory.release()
    assert memory.peak_rss_mb() >= held - 4  # the kernel updates its counters in batches
    assert memory.rss_mb() < base + 40  # the freed heap went back to the system
    memory.reset_peak()
    assert memory.peak_rss_mb() < held - 60


OVERRIDES = ["model.init=scratch", "model.size=micro", "arms=[mait]", "mait.rounds=1", "data.synth_n=400", "data.warmup_size=200",
             "data.pool_size=40", "data.dev_size=10", "data.test_size=10", "train.warmup_steps=30",
             "train.steps_per_round=20", "eval.modes=[none]", "train.precision=fp32"]


def _run(out: Path, *extra: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "toolace_r", "run", "--config", "configs/quick.yaml", "--out", str(out),
                          *OVERRIDES, *extra], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((out / "state.json").read_text())["stages"]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> Path:
    # data, init, warmup (SFT), probe/m0, mait/r0/train (SFT), mait/r0/dev, eval/mait: in one process
    out = tmp_path_factory.mktemp("mem") / "run"
    _run(out)
    return out


@linux
@pytest.mark.slow
def test_two_sft_stages_and_a_probe_leave_the_driver_where_the_first_left_it(in_process):
    stages = json.loads((in_process / "state.json").read_text())["stages"]
    order = list(stages)
    assert order.index("warmup") < order.index("probe/m0") < order.index("mait/r0/train")
    for name, m in stages.items():
        assert m["peak_rss_mb"] >= m["rss_after_mb"] > 0, name
    after_first = stages["warmup"]["rss_after_mb"]
    after_third = stages["mait/r0/train"]["rss_after_mb"]
    # within 48 MiB. (In this small fp32 setting glibc gives most memory back by itself; the bf16 quick
    # config without release kept 925-1,085 MiB between stages against 580-597 MiB with it:
    # benchmarks/README.md. What release does is tested above on the heap directly.)
    assert after_third - after_first < 48, (after_first, after_third)
    assert stages["warmup"]["peak_rss_mb"] > stages["warmup"]["rss_after_mb"]


@linux
@pytest.mark.slow
def test_stages_in_child_processes_give_the_same_results(in_process, tmp_path):
    stages = _run(tmp_path / "run", "launch.launcher=process")
    # the driver holds no model: its peak during a training stage is far below the job's
    assert stages["warmup"]["job_peak_rss_mb"] > stages["warmup"]["peak_rss_mb"]
    for rel in ("stages/probe/m0/probe.jsonl", "stages/mait/r0/train/selected.json",
                "stages/mait/r0/train/model/model.safetensors", "stages/eval/mait/outputs.jsonl"):
        assert (tmp_path / "run" / rel).read_bytes() == (in_process / rel).read_bytes(), rel
