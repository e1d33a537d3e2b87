"""The embedded base model M_0 that ships inside the package, and the recipe that made it.

What it is
----------
Real users start the method from an instruct model that already calls tools fairly well. The
embedded default does the same: ``model.init: embedded`` starts every arm from this base, a tiny
Llama (about 2.3M parameters, the embedded byte-level BPE tokenizer and chat template of
:mod:`toolace_r.models.embedded`) trained once on a synthetic corpus of its own and stored in
``toolace_r/assets/base`` (bf16 safetensors, about 5 MB). A run then spends its time on the method
(probe, select, refinement corpus, SFT rounds, evaluation) instead of a warm-up from random weights.

What the base has seen
----------------------
Only the train split of a synthetic corpus drawn with :data:`BASE_SEED`, a seed no run uses
(runs use their own ``seed``): plain tool-calling prompts and answers, no refinement examples. The
synthetic corpus holds the same tools out of train at every seed, so the base has never seen the
test split's unseen tools or unseen templates either. To be sure it has not seen a run's MAIT pool,
dev or test samples, the folder keeps the 64-bit hash of every training sample's key (request and
tool names, the synthetic generator's own de-duplication key) in ``seen.u64``; the run's data stage
drops any sample whose key is in it (:func:`seen_filter`).

The recipe
----------
:func:`train_base` (``toolace-r model base --out DIR``; the defaults are the shipped recipe):

1. ``write_corpus(n=corpus_n, seed=BASE_SEED)`` and keep its train split;
2. :func:`~toolace_r.models.embedded.init_model` (tokenizer and random weights) on it;
3. one SFT of ``steps`` optimizer steps (cosine schedule) through :func:`~toolace_r.models.sft.train_sft`;
4. the weights saved in bf16 (they load into fp32 for training), ``seen.u64``, and ``recipe.json``
   (the settings, wall time, machine, and the base's greedy accuracy on its own corpus's dev split).

It departs from the paper, whose M_0 is a pretrained instruct LLM: ours is trained by us on
synthetic data only, which is what lets the run guarantee it has not seen the evaluation data.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from array import array
from pathlib import Path
from typing import Any, Iterable

from toolace_r.data.schema import Sample

BASE_DIR = Path(__file__).resolve().parent.parent / "assets" / "base"
BASE_SEED = 1_000_003  # the corpus seed of the base; no run seed is this far out by default
SEEN_FILE = "seen.u64"
RECIPE_FILE = "recipe.json"


def sample_key(sample: Sample) -> str:
    """The key two samples share when they are the same request over the same tools."""
    request = "\n".join(m.content or "" for m in sample.messages if m.role == "user")
    return request.lower() + "|" + ",".join(sorted(t.name for t in sample.tools))


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def write_seen(path: Path, samples: Iterable[Sample]) -> int:
    hashes = array("Q", sorted({key_hash(sample_key(s)) for s in samples}))
    path.write_bytes(hashes.tobytes())
    return len(hashes)


def read_seen(model_dir: str | Path) -> set[int]:
    """The hashes of the samples the base at ``model_dir`` was trained on (empty: no record)."""
    f = Path(model_dir) / SEEN_FILE
    if not f.is_file():
        return set()
    hashes = array("Q")
    hashes.frombytes(f.read_bytes())
    return set(hashes)


def seen_filter(samples: list[Sample], seen: set[int]) -> tuple[list[Sample], int]:
    """``samples`` without the ones the base was trained on, and how many were dropped."""
    if not seen:
        return samples, 0
    kept = [s for s in samples if key_hash(sample_key(s)) not in seen]
    return kept, len(samples) - len(kept)


def base_available() -> bool:
    return (BASE_DIR / "config.json").is_file() and (BASE_DIR / "model.safetensors").is_file()


def dev_accuracy(model_dir: Path, samples: list[Sample], max_new_tokens: int = 64) -> dict[str, float]:
    """Greedy single-pass accuracy (strict) of the model on ``samples``, overall and by category."""
    from toolace_r.models.generation import make_generator
    from toolace_r.refine import first_pass
    from toolace_r.scoring import score_answer

    with make_generator("hf", model_dir) as gen:
        outs = first_pass(gen, samples, max_new_tokens=max_new_tokens)
    by_cat: dict[str, list[bool]] = {}
    for s, c in zip(samples, outs):
        by_cat.setdefault(s.category or "?", []).append(score_answer(s, c.text))
    flat = [v for vs in by_cat.values() for v in vs]
    out = {"accuracy": sum(flat) / max(1, len(flat))}
    out.update({f"accuracy/{k}": sum(v) / len(v) for k, v in sorted(by_cat.items())})
    return out


def train_base(out: str | Path, *, size: str = "tiny", corpus_n: int = 60000, steps: int = 6000,
               batch_size: int = 32, lr: float = 3e-3, seed: int = 0, dev_n: int = 400,
               progress: bool = True) -> dict[str, Any]:
    """Make a base model in ``out`` by the recipe above; returns what ``recipe.json`` records."""
    import torch

    from toolace_r.data.io import read_samples
    from toolace_r.data.synth import write_corpus
    from toolace_r.models.embedded import init_model
    from toolace_r.models.sft import SFTSettings, train_sft

    out = Path(out)
    work = out.with_name(out.name + ".work")
    t0 = time.time()
    write_corpus(work / "corpus", n=corpus_n, seed=BASE_SEED)
    train = read_samples(work / "corpus" / "train.jsonl")
    init_model(train, work / "init", size=size, seed=seed)
    settings = SFTSettings(max_steps=steps, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                           plot=True, logging_steps=50)
    metrics = train_sft(work / "init", train, work / "sft", settings)
    # bf16 halves the folder; SFT and generation load the weights back as fp32 on a CPU
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(work / "sft"), dtype=torch.float32).to(torch.bfloat16)
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(work / "sft")).save_pretrained(str(out))
    shutil.copy(work / "sft" / "toolace_r.json", out / "toolace_r.json")
    n_seen = write_seen(out / SEEN_FILE, train)
    dev = read_samples(work / "corpus" / "dev.jsonl")[:dev_n]
    recipe = {
        "command": f"toolace-r model base --out {out} --size {size} --corpus-n {corpus_n} --steps {steps} "
                   f"--batch-size {batch_size} --lr {lr} --seed {seed}",
        "corpus_seed": BASE_SEED, "corpus_n": corpus_n, "n_train": len(train), "n_seen_keys": n_seen,
        "size": size, "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
        "train_loss": metrics.get("train_loss"), "train_seconds": metrics.get("train_seconds"),
        "wall_seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        "dev": dev_accuracy(out, dev) | {"n": len(dev)},
    }
    (out / RECIPE_FILE).write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return recipe
