"""Every stage gives back what it took (issue: one GPU must run SFT and a vLLM probe back to back): here
on the heap directly; that the driver's resident memory does not grow from stage to stage of a run
is tested with the run's resume in tests/test_pipeline_resume.py, and that a stage in a child process
gives the same files in tests/models/test_scale.py."""

from __future__ import annotations


import pytest

from toolace_r import memory

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


@linux
def test_tune_malloc_gives_large_blocks_back_when_freed():
    # in a fresh interpreter: the threshold is process-wide, and glibc's default raises it once a
    # large block is freed, after which blocks of that size stay on the heap when freed
    import os
    import subprocess
    import sys

    script = """
import sys
from toolace_r import memory
if sys.argv[1] == "tuned":
    assert memory.tune_malloc(1 << 20)
del_big = bytearray(16 * 2**20); del del_big  # freed: the default threshold rises to 16 MiB
base = memory.rss_mb()
blocks, pins = [], []
for _ in range(40):  # 320 MiB of 8 MiB blocks, each followed by a small block that stays
    blocks.append(bytearray(8 * 2**20)); blocks[-1][::4096] = b"x" * 2048
    pins.append(bytearray(4096))
del blocks
print(memory.rss_mb() - base)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != memory.THRESHOLD_ENV}
    kept = {mode: float(subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                                       check=True, env=env).stdout)
            for mode in ("default", "tuned")}
    assert kept["default"] > 100  # glibc's default: the freed blocks stay resident
    assert kept["tuned"] < 40  # tuned: each went back to the system with its free


def test_refinement_keeps_no_prefix_cache_for_a_single_pass():
    from toolace_r.models.generation import Generator
    from toolace_r.refine import refine_modes

    class Recording(Generator):
        prefix_reuse = True
        max_batch_rows = 64

        def __init__(self) -> None:
            self.caches: list[object] = []

        def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                     cache=None):
            from toolace_r.models.generation import Completion

            self.caches.append(cache)
            return [[Completion(self.confirm_text, 1, (1,))] * n for _ in prompts]

    from toolace_r.data.schema import Sample

    samples = [Sample(id=f"s{i}", category="simple", messages=[{"role": "user", "content": "hi"}], answer=[]) for i in range(3)]
    gen = Recording()
    refine_modes(gen, samples, ["none"], max_new_tokens=4)
    assert gen.caches == [None]  # one batch, no rounds: nothing would read a cache
    gen = Recording()
    refine_modes(gen, samples, ["none", "adaptive"], max_new_tokens=4)
    assert len(gen.caches) == 2 and gen.caches[0] is not None and gen.caches[0] is gen.caches[1]


def test_lean_logprob_tiles_give_the_same_numbers(monkeypatch):
    # TRL's chunked LM-head kernel on the CPU, its tiles folded 100 rows at a time: the log-probs,
    # the metrics and the gradients are the very same as with whole tiles
    torch = pytest.importorskip("torch")
    ck = pytest.importorskip("trl.kernels.chunked_logprob")
    from toolace_r.models import trainer_parts

    def run():
        g = torch.Generator().manual_seed(0)
        hidden = torch.randn(700, 16, generator=g, requires_grad=True)
        weight = torch.randn(300, 16, generator=g, requires_grad=True)
        targets = torch.randint(0, 300, (700,), generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = ck.ChunkedLogProbFunction.apply(hidden, weight, None, targets, 1.0, 128, None, 1.0,
                                                  ("entropy", "is_top1"))
        out[0].sum().backward()
        return [out[0], out[1], out[4], hidden.grad, weight.grad]

    monkeypatch.setattr(ck, "TOKEN_CHUNK_SIZE", 512)
    monkeypatch.setattr(ck, "_forward_tile", ck._forward_tile)
    monkeypatch.setattr(ck, "_backward_tile", ck._backward_tile)
    whole = run()
    assert trainer_parts.lean_logprob_tiles(rows=100)
    assert trainer_parts.lean_logprob_tiles(rows=100)  # once is enough: not wrapped twice
    assert ck._forward_tile._toolace_inner is not ck._forward_tile
    folded = run()
    assert all(torch.equal(a, b) for a, b in zip(whole, folded))


_KERNELS = """
import os, sys
from toolace_r import memory
if sys.argv[1] == "limit":
    memory.limit_kernel_caches()
import torch
torch.set_num_threads(1)
w = torch.randn(512, 256)
memory.release()
base = memory.rss_mb()
with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
    for n in range(1, 300):  # a new input shape each time, as generation and SFT batches have
        torch.nn.functional.linear(torch.randn(n * 3, 256), w)
memory.release()
print(os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"], memory.rss_mb() - base)
"""


@linux
def test_capped_kernel_caches_keep_little_per_input_shape():
    """CPU bf16 matmuls of 300 input shapes: with oneDNN's default cache every shape's kernel and
    its buffers stay resident (some 200 MiB on the machine we measured on); limit_kernel_caches()
    keeps that small. A variable already set is left alone."""
    import os
    import subprocess
    import sys

    def kept(arm: str, **env: str) -> tuple[str, float]:
        clean = {k: v for k, v in os.environ.items() if k not in memory.KERNEL_CACHE_ENV}
        out = subprocess.run([sys.executable, "-c", _KERNELS, arm], env={**clean, **env}, capture_output=True,
                             text=True, check=True, timeout=300).stdout.split()
        return out[0], float(out[1])

    cap, capped = kept("limit")
    default, uncapped = kept("limit", ONEDNN_PRIMITIVE_CACHE_CAPACITY="1024", LRU_CACHE_CAPACITY="1024")
    assert (cap, default) == (str(memory.KERNEL_CACHE), "1024")
    if uncapped < 60:
        pytest.skip(f"this CPU's bf16 kernels keep little per shape ({uncapped:.0f} MiB for 300)")
    assert capped < uncapped / 3, (capped, uncapped)
