"""Multi-process helpers: who am I in a launched job, which items are mine, and putting the
per-rank results back together in pool order.

A job started by ``accelerate launch`` or ``torchrun`` gives every process ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment; a plain ``python`` process is rank 0 of 1.
Work over a list (the probe pool, an evaluation split) is split with :func:`shard`: rank ``r`` of
``w`` takes the items at positions ``r, r + w, r + 2w, ...`` (a strided split: the pool is often
ordered by category, so every rank gets a similar mix and similar lengths). Each rank returns
``(position, result)`` pairs and :func:`gather_in_order` puts them back in position order on
every rank (``all_gather_object`` over a gloo group: CPU-side, so it works on GPU jobs too and
stays clear of the NCCL group that training or vLLM use).

Generation draws its random numbers per prompt from ``(seed, position)``
(:func:`toolace_r.models.generation.prompt_seed`), so a sharded probe gives exactly the answers of
a single-process one.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Sequence, TypeVar

T = TypeVar("T")

# The gather waits for the slowest rank; generation on an unlucky shard can take hours.
GATHER_TIMEOUT = timedelta(hours=int(os.environ.get("TOOLACE_R_GATHER_TIMEOUT_H", "24")))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def shard(items: Sequence[T], rank_: int | None = None, world: int | None = None) -> tuple[list[int], list[T]]:
    """(positions, items) of this rank's share: positions ``rank, rank + world, ...``."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    if not 0 <= r < w:
        raise ValueError(f"rank {r} is outside a world of {w} processes")
    positions = list(range(r, len(items), w))
    return positions, [items[i] for i in positions]


def merge_in_order(parts: Sequence[Sequence[tuple[int, T]]], n: int) -> list[T]:
    """The per-rank ``(position, result)`` lists as one list in position order; every position
    from 0 to n - 1 must be there exactly once."""
    out: list[Any] = [None] * n
    seen = [False] * n
    for part in parts:
        for pos, value in part:
            if not 0 <= pos < n or seen[pos]:
                raise ValueError(f"position {pos} is out of range or given twice")
            out[pos], seen[pos] = value, True
    missing = [i for i, s in enumerate(seen) if not s]
    if missing:
        raise ValueError(f"{len(missing)} positions have no result, e.g. {missing[:5]}")
    return out


def _gloo_group() -> Any:
    """A gloo group over the job's processes: the default group when it is gloo (CPU training),
    else a new gloo group (the default group may be NCCL, which cannot move Python objects
    without a CUDA device per rank)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=GATHER_TIMEOUT)
        return None
    return None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo", timeout=GATHER_TIMEOUT)


def gather_in_order(local: Sequence[tuple[int, T]], n: int) -> list[T]:
    """Every rank's ``(position, result)`` pairs, merged in position order, on every rank.
    With one process this is just :func:`merge_in_order` (no torch.distributed needed)."""
    if world_size() == 1:
        return merge_in_order([local], n)
    import torch.distributed as dist

    group = _gloo_group()
    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, list(local), group=group)
    return merge_in_order(parts, n)


def barrier() -> None:
    """Wait for every process of the job (no-op in a single process)."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    group = _gloo_group()
    dist.barrier(group=group)


def release() -> None:
    """Tear the process group down before exit (quiets torch's warning about a leaked group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
