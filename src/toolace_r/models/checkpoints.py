"""Trainer checkpoints of an SFT and continuing a killed SFT from its last one.

With ``save_steps > 0`` the Trainer writes ``checkpoint-<step>/`` into ``<out>/checkpoints/`` every
``save_steps`` optimizer steps, keeping only the newest (``save_total_limit=1``): weights (or the
LoRA adapter), optimizer, scheduler, random states and ``trainer_state.json``. Beside them this
module keeps ``fingerprint.json``, a hash of everything that decides the training (the start model,
the settings, the rendered examples, the number of processes). :func:`train_sft` continues from the
newest complete checkpoint only when the fingerprint is the one of the SFT it is asked to do, and
otherwise clears the folder, so an old checkpoint never leaks into a different SFT. A checkpoint is
complete once its ``trainer_state.json`` reads back (the Trainer writes it last); a folder cut off
while being written is passed over for the one before it.

The Trainer does not keep the running sum of the training loss in a checkpoint; each process writes
its own next to it (``loss_sum.<rank>.json``), so that the resumed SFT reports the same mean
training loss as an uninterrupted one. ``train_log.jsonl`` is written again from the checkpoint's
log history and continued. Once the model is saved the checkpoints are removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"
FINGERPRINT = "fingerprint.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


def fingerprint(model: str, settings: dict[str, Any], ids: list[list[int]], masks: list[list[int]],
                world_size: int) -> str:
    """A hash of what decides an SFT's result (not its logging or progress display)."""
    quiet = {"progress", "plot", "logging_steps", "report_to", "save_steps"}
    h = hashlib.sha256()
    h.update(json.dumps({"model": model, "world_size": world_size,
                         "settings": {k: v for k, v in sorted(settings.items()) if k not in quiet}},
                        sort_keys=True, default=str).encode())
    for row, mask in zip(ids, masks):
        h.update(json.dumps([row, mask]).encode())
    return h.hexdigest()


def _step_of(folder: Path) -> int | None:
    """The step of a complete checkpoint folder, else None."""
    m = _CKPT.match(folder.name)
    if not m or not folder.is_dir():
        return None
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return int(m.group(1)) if isinstance(state, dict) and state.get("global_step") == int(m.group(1)) else None


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-<step>`` in ``ckpt_dir`` (None: none)."""
    if not ckpt_dir.is_dir():
        return None
    done = [(step, p) for p in ckpt_dir.iterdir() if (step := _step_of(p)) is not None]
    return max(done)[1] if done else None


def resumable(ckpt_dir: Path, fp: str) -> Path | None:
    """The checkpoint to continue from: the newest complete one, when ``ckpt_dir`` was written by
    the SFT whose fingerprint is ``fp``."""
    try:
        recorded = json.loads((ckpt_dir / FINGERPRINT).read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None
    return last_checkpoint(ckpt_dir) if recorded == fp else None


def start_fresh(ckpt_dir: Path, fp: str) -> None:
    """Empty ``ckpt_dir`` and record that its checkpoints will be those of the SFT ``fp``."""
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    ckpt_dir.mkdir(parents=True)
    (ckpt_dir / FINGERPRINT).write_text(json.dumps({"fingerprint": fp}) + "\n", encoding="utf-8")


def step_of(checkpoint: Path) -> int:
    return int(_CKPT.match(checkpoint.name).group(1))  # type: ignore[union-attr]


def write_loss_sum(checkpoint: Path, rank: int, loss_sum: float) -> None:
    """This process's sum of the per-step training losses up to the checkpoint."""
    checkpoint.mkdir(parents=True, exist_ok=True)
    (checkpoint / f"loss_sum.{rank}.json").write_text(json.dumps({"loss_sum": loss_sum}), encoding="utf-8")


def read_loss_sum(checkpoint: Path, rank: int) -> float | None:
    try:
        return float(json.loads((checkpoint / f"loss_sum.{rank}.json").read_text(encoding="utf-8"))["loss_sum"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def log_until(checkpoint: Path, path: Path) -> list[dict[str, Any]]:
    """Write ``train_log.jsonl`` (``path``) anew with the records up to ``checkpoint``, from the log
    history its ``trainer_state.json`` keeps (a resumed SFT logs the rest); the records."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    records = [{"step": r["step"], "epoch": r.get("epoch"), **{k: v for k, v in r.items() if k != "step"}}
               for r in state.get("log_history", []) if isinstance(r, dict) and "step" in r]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return records
