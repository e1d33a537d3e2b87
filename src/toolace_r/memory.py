"""Memory of this process: what a stage took at its peak, and giving it back afterwards.

A run's driver (``toolace-r run`` with ``launch.launcher=none``) runs every heavy stage in its own
process, one after the other, so whatever a stage leaves behind is carried into the next one: on a
GPU, an SFT stage's model, optimizer state and CUDA cache followed by a vLLM engine that wants 85%
of the memory is the classic out-of-memory of self-improvement loops. :func:`release` is called
after every stage: it collects Python's reference cycles (a Trainer and its callbacks form some),
empties the CUDA cache, and asks glibc to return its freed heap pages to the system
(``malloc_trim``), which it otherwise keeps for reuse: resident memory then falls back to what is
really in use.

:func:`limit_kernel_caches` caps the CPU kernel caches of oneDNN, which otherwise keep a compiled
kernel (and its buffers) per operation and input shape, up to 1,024 of them, from stage to stage.

:func:`trim` gives the heap's free pages back within a stage too (the refinement loop calls it after
each chunk of samples). :func:`tune_malloc` (called by :func:`toolace_r.launch.run_task` and the
CLI) can fix glibc's mmap threshold, so that every block from that size up has its own mapping and
goes back to the system when freed: by default glibc raises the threshold on the fly, up to 32 MiB,
once a large block is freed, and from then on serves the KV caches and activations of generation
and training (1-30 MiB tensors, new ones at every decoding step) from its heap, which keeps freed
pages. It is off unless ``TOOLACE_R_MMAP_THRESHOLD`` (bytes, e.g. 1048576) is set: a dev
evaluation then peaks 0.16 GB lower but takes about 1.5x the time, every decoding step faulting its
new pages in (docs/run.md, "Memory").

Peaks are read from Linux's ``/proc/self/status`` (``VmHWM``, the high-water mark of resident
memory); :func:`reset_peak` restarts it (``/proc/self/clear_refs``), so each stage records its own
peak. Elsewhere the figures are ``None``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_mb(key: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def rss_mb() -> float | None:
    """Resident memory of this process now, in MiB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float | None:
    """The most resident memory this process has held since start or :func:`reset_peak`, in MiB."""
    return _status_mb("VmHWM")


def reset_peak() -> None:
    """Restart the peak at the current resident memory (Linux >= 4.0; a no-op elsewhere)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


# mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
THRESHOLD_ENV = "TOOLACE_R_MMAP_THRESHOLD"


def tune_malloc(mmap_threshold: int | None = None) -> bool:
    """Fix glibc's mmap threshold at ``mmap_threshold`` bytes (default: ``TOOLACE_R_MMAP_THRESHOLD``,
    unset or 0: leave glibc alone), which also stops its dynamic raising of the threshold and of the
    trim threshold; see the module docstring. Leaves a threshold set through glibc's own variable
    (``MALLOC_MMAP_THRESHOLD_``) alone. True when set (glibc on Linux)."""
    if mmap_threshold is None:
        try:
            mmap_threshold = int(os.environ.get(THRESHOLD_ENV, "0") or 0)
        except ValueError:
            raise ValueError(f"{THRESHOLD_ENV} must be a number of bytes, e.g. 1048576") from None
    if mmap_threshold <= 0 or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)))


# oneDNN (torch's CPU kernels) keeps up to 1,024 compiled primitives, one per operation and input
# shape, each with its buffers; generation (batch rows and lengths change at every step) and SFT
# (a batch shape per padded length) fill it with hundreds of MB that outlive their stage.
KERNEL_CACHE = 16
KERNEL_CACHE_ENV = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def limit_kernel_caches(capacity: int = KERNEL_CACHE) -> None:
    """Cap the CPU kernel caches at ``capacity`` entries (oneDNN's primitive cache and the ideep
    LRU cache in front of it), unless their variables are set already. Read when torch first runs
    a oneDNN kernel, so call it before that; job processes inherit it. Measured in
    benchmarks/README.md ("Kernel caches capped"): peaks ~0.1 GB lower, about 1.04x the time."""
    for name in KERNEL_CACHE_ENV:
        os.environ.setdefault(name, str(capacity))


def trim() -> None:
    """Return the heap's free pages to the system (glibc ``malloc_trim``; a no-op elsewhere)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def release() -> None:
    """Give back what finished work left: cycles collected, the CUDA cache emptied (when torch is
    loaded and has CUDA), freed heap returned to the system."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    trim()


def gpu_used_mb() -> float | None:
    """Memory in use on this process's CUDA device, by every process (a vLLM engine runs in its own),
    in MiB; None without a loaded torch that sees CUDA (never imports torch itself)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return round((total - free) / 2**20, 1)
