"""Every stage gives back what it took (issue: one GPU must run SFT and a vLLM probe back to back): here
on the heap directly; that the driver's resident memory does not grow from stage to stage of a run,
and that stages in child processes give the same files, is tested with the run's resume in
tests/test_pipeline.py."""

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
