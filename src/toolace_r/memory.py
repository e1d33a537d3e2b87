"""Memory of this process: what a stage took at its peak, and giving it back afterwards.

A run's driver (``toolace-r run`` with ``launch.launcher=none``) runs every heavy stage in its own
process, one after the other, so whatever a stage leaves behind is carried into the next one: on a
GPU, an SFT stage's model, optimizer state and CUDA cache followed by a vLLM engine that wants 85%
of the memory is the classic out-of-memory of self-improvement loops. :func:`release` is called
after every stage: it collects Python's reference cycles (a Trainer and its callbacks form some),
empties the CUDA cache, and asks glibc to return its freed heap pages to the system
(``malloc_trim``), which it otherwise keeps for reuse: resident memory then falls back to what is
really in use.

Peaks are read from Linux's ``/proc/self/status`` (``VmHWM``, the high-water mark of resident
memory); :func:`reset_peak` restarts it (``/proc/self/clear_refs``), so each stage records its own
peak. Elsewhere the figures are ``None``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release() -> None:
    """Give back what finished work left: cycles collected, the CUDA cache emptied (when torch is
    loaded and has CUDA), freed heap returned to the system."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def gpu_used_mb() -> float | None:
    """Memory in use on this process's CUDA device, by every process (a vLLM engine runs in its own),
    in MiB; None without a loaded torch that sees CUDA (never imports torch itself)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return round((total - free) / 2**20, 1)
