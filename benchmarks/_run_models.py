"""What the dev-split analyses of a finished run share (confirm_bias_sweep.py, rewrite_ceiling.py,
judge_margin.py): their common options, the split's items, and the model of the round each seed's
run evaluated for an arm."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from toolace_r.data.io import read_samples
from toolace_r.evaluation import sample_items
from toolace_r.evaluation.core import Item
from toolace_r.pipeline import seed_prefix


def run_parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by ``doc``'s first paragraph, with --run, --arm, --split and
    --max-new-tokens (the run's own answer budget by default)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished toolace-r run folder")
    ap.add_argument("--arm", default="mait_refine", help="plain | mait | mait_refine")
    ap.add_argument("--split", default="dev", help="dev (never tune on test)")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    return ap


def split_items(run: Path, split: str) -> list[Item]:
    """The run's ``split`` samples as evaluation items."""
    return sample_items(read_samples(run / "stages" / "data" / f"{split}.jsonl"))


def evaluated_models(run: Path, arm: str) -> Iterator[tuple[int, int, Path]]:
    """(seed index, round, model folder) of the round the run evaluated for ``arm``, seed by seed."""
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    for i, t in enumerate(results["evaluated_round"][arm]):
        yield i, t, run / "stages" / f"{seed_prefix(i)}{arm}" / f"r{t}" / "train" / "model"
