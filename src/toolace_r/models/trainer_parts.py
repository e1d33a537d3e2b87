"""The pieces :func:`toolace_r.models.sft.train_sft` adds around TRL's ``SFTTrainer``: a
log callback that writes ``train_log.jsonl`` (:class:`JsonlLog`), the loss plot, the trainer class
whose length-grouped batches are the same for 1 and N processes and across a resume
(:func:`trainer_class`), and the memory fix for TRL's LM-head kernel on the CPU
(:func:`lean_logprob_tiles`). Each imports torch / transformers / TRL only when called.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolace_r import distributed
from toolace_r.models import checkpoints


class JsonlLog:
    """A TrainerCallback (built lazily) that appends every log record to train_log.jsonl (rank 0
    writes; every rank keeps the records, which the Trainer has already averaged over ranks)."""

    @staticmethod
    def make(path: Path) -> Any:
        from transformers import TrainerCallback

        class Callback(TrainerCallback):
            def __init__(self) -> None:
                # train_sft empties the file, or cuts it back to the checkpoint it resumes from
                self.records: list[dict[str, Any]] = []

            def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
                rec = {"step": state.global_step, "epoch": state.epoch, **(logs or {})}
                self.records.append(rec)
                if state.is_world_process_zero:
                    with path.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(rec) + "\n")

        return Callback()


def plot_loss(records: list[dict[str, Any]], out: Path) -> None:
    pts = [(r["step"], r["loss"]) for r in records if "loss" in r]
    if len(pts) < 2:
        return
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(*zip(*pts))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (answer tokens)")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def trainer_class(base: type) -> type:
    """``SFTTrainer`` whose length grouping works on the global batch, as one process would: the
    Trainer groups by the per-process batch, so the batches (and the loss) would change with the
    number of processes. With this, N processes train on exactly the single-process batches.

    The order of epoch e is the (e+1)-th permutation of a generator seeded with the seed, made from
    (seed, e) alone, so an SFT resumed from a checkpoint in epoch e sees the batches an
    uninterrupted one sees. A checkpoint also records this process's running loss sum."""
    import torch
    from torch.utils.data import Sampler
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class EpochOrder(Sampler):  # type: ignore[type-arg]
        def __init__(self, inner: LengthGroupedSampler, seed: int) -> None:
            self.inner, self.seed, self.epoch = inner, seed, 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __len__(self) -> int:
            return len(self.inner)

        def __iter__(self) -> Any:
            g = torch.Generator().manual_seed(self.seed)
            for _ in range(self.epoch):  # the draws of the epochs before
                torch.randperm(len(self.inner.lengths), generator=g)
            self.inner.generator = g
            return iter(self.inner)

    class Trainer(base):  # type: ignore[misc, valid-type]
        def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
            sampler = super()._get_train_sampler(*args, **kwargs)
            if isinstance(sampler, LengthGroupedSampler):
                args = self.args
                sampler.batch_size = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
                # its own seeded generator: each epoch's shuffle then does not depend on what else
                # drew from torch's global generator (which differs between 1 and N processes)
                sampler = EpochOrder(sampler, args.data_seed if args.data_seed is not None else args.seed)
                self._epoch_samplers = [*getattr(self, "_epoch_samplers", []), sampler]
            return sampler

        def _run_epoch(self, *args: Any, **kwargs: Any) -> Any:
            for sampler in getattr(self, "_epoch_samplers", []):
                sampler.set_epoch(kwargs["epoch"] if "epoch" in kwargs else args[1])
            return super()._run_epoch(*args, **kwargs)

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            pending = getattr(self, "_tr_loss", None)
            loss_sum = getattr(self, "_total_loss_scalar", 0.0) + (float(pending.item()) if pending is not None else 0.0)
            checkpoints.write_loss_sum(folder, distributed.rank(), loss_sum)
            super()._save_checkpoint(model, trial)

    return Trainer


# Rows of TRL's LM-head tile (4,096 tokens x the vocabulary) folded at a time by its torch fallback.
TILE_ROWS = 1024


def lean_logprob_tiles(rows: int = TILE_ROWS) -> bool:
    """Make TRL's chunked log-probability kernel fold its tiles ``rows`` rows at a time on devices
    without Triton (the CPU). TRL projects 4,096 tokens onto the whole vocabulary in one tile, then
    its torch fallback works on that tile in float32 with a handful of full-size temporaries (about
    7 x 44 MB in the backward for the embedded model's 2,695 words): some 250 MB of an SFT step's
    peak. Every operation of the fold is per row (per token), so folding row blocks of the same
    tile gives the very same numbers; the projection and the gradient products stay whole-tile, as
    TRL does them. True when TRL's kernel is the one this was written for (else nothing changes)."""
    try:
        from trl.kernels import chunked_logprob as ck
    except ImportError:
        return False
    fwd, bwd = getattr(ck, "_forward_tile", None), getattr(ck, "_backward_tile", None)
    if fwd is None or bwd is None:
        return False
    if getattr(fwd, "_toolace_rows", None) == rows:
        return True
    fwd, bwd = getattr(fwd, "_toolace_inner", fwd), getattr(bwd, "_toolace_inner", bwd)
    import inspect

    if (list(inspect.signature(fwd).parameters)[:12] != ["tile", "tile_stride", "targets", "running_max", "sum_exp",
                                                         "x_sum_exp", "sq_sum_exp", "z_sum", "max_before_target",
                                                         "target_logit", "vocab_start", "n_cols"]
            or list(inspect.signature(bwd).parameters)[:9] != ["tile", "tile_stride", "targets", "log_z", "entropy",
                                                               "grad_logprobs", "grad_entropy", "vocab_start",
                                                               "n_cols"]):
        return False

    def forward_tile(tile, tile_stride, *per_row_and_rest, **kw):  # type: ignore[no-untyped-def]
        per_row, rest = per_row_and_rest[:8], per_row_and_rest[8:]
        for r in range(0, tile.shape[0], rows):
            fwd(tile[r:r + rows], tile_stride, *(t[r:r + rows] for t in per_row), *rest, **kw)

    def backward_tile(tile, tile_stride, *per_row_and_rest, **kw):  # type: ignore[no-untyped-def]
        per_row, rest = per_row_and_rest[:5], per_row_and_rest[5:]
        for r in range(0, tile.shape[0], rows):
            bwd(tile[r:r + rows], tile_stride, *(t[r:r + rows] for t in per_row), *rest, **kw)

    for f, inner in ((forward_tile, fwd), (backward_tile, bwd)):
        f._toolace_rows, f._toolace_inner = rows, inner  # type: ignore[attr-defined]
    ck._forward_tile, ck._backward_tile = forward_tile, backward_tile
    return True
