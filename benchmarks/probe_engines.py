"""Probe throughput of the generation engines: ``vllm`` vs ``hf`` on the same model and prompts.

The MAIT probe (k answers per pool prompt at temperature > 0, each scored by the checker) is the
dominant cost of a round. This benchmark runs it, through :func:`toolace_r.mait.probe`, once
per engine on the same model, pool and settings, each engine in its own process (so that one
engine's GPU memory never limits the other), and reports generated tokens per second, the
engine's start-up time and the share of right answers (a check that both sample the same model).
The issue's target is vllm >= 5x hf on a GPU.

Model: ``--model DIR`` (a local model folder: the GPU machines here have no internet, so a hub
model must have been copied there), or by default the embedded model (``--size``), initialised and
briefly trained on the built-in corpus of ``benchmarks/sampling.py`` so that its answers end at the
end-of-turn token.

Run (on a GPU, with the vllm extra installed)::

    python benchmarks/probe_engines.py                        # prints the table
    python benchmarks/probe_engines.py --size small --prompts 512 --k 8 --write-readme
    python benchmarks/probe_engines.py --model /models/Qwen2.5-7B-Instruct --max-new-tokens 128

``--engines hf`` runs the hf side alone (e.g. on a CPU, to try the script).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sampling import builtin_corpus, machine, update_readme  # noqa: E402

HEADING = "## Probe engines (vllm vs hf)"


def one_engine(a: argparse.Namespace) -> dict:
    """Runs in its own process: start the engine, warm it up, time one probe of the pool."""
    import torch

    from toolace_r.data.io import read_samples
    from toolace_r.mait import probe
    from toolace_r.models.generation import make_generator

    pool = read_samples(a.pool)
    kw = {"gpu_memory_utilization": a.gpu_memory_utilization, "tensor_parallel_size": a.tp} if a.one == "vllm" else {}
    t0 = time.perf_counter()
    gen = make_generator(a.one, a.model, **kw)
    start = time.perf_counter() - t0
    probe_kw = dict(k=a.k, temperature=a.temperature, top_p=a.top_p, max_new_tokens=a.max_new_tokens)
    probe(gen, pool[:4], seed=a.seed + 1, **probe_kw)  # warm-up: kernels, CUDA graphs, allocator
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    items = probe(gen, pool, seed=a.seed, **probe_kw)
    secs = time.perf_counter() - t0
    gen.close()
    tokens = sum(it.tokens for it in items)
    answers = sum(len(it.correct) for it in items)
    return {"engine": a.one, "start_s": start, "seconds": secs, "tokens": tokens, "answers": answers,
            "right": sum(sum(it.correct) for it in items) / max(1, answers),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}


def build_model(a: argparse.Namespace, corpus: list, tmp: Path) -> tuple[Path, str]:
    from toolace_r.models.embedded import init_model
    from toolace_r.models.sft import SFTSettings, train_sft

    init_model(corpus, tmp / "init", size=a.size, seed=a.seed)
    m = train_sft(tmp / "init", corpus, tmp / "model",
                  SFTSettings(max_steps=a.train_steps, batch_size=32, progress=False, plot=False, logging_steps=50))
    return tmp / "model", f"embedded {a.size} model ({m['n_params'] / 1e6:.1f}M parameters), trained {a.train_steps} steps"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="local model folder (default: build the embedded model)")
    ap.add_argument("--size", default="tiny", help="embedded model size when --model is not given: tiny or small")
    ap.add_argument("--data", help="JSONL of samples (default: the built-in corpus of benchmarks/sampling.py)")
    ap.add_argument("--engines", default="hf,vllm")
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.6)
    ap.add_argument("--tp", type=int, default=1, help="vllm tensor_parallel_size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one engine in this process
    ap.add_argument("--pool", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.one:
        Path(a.json).write_text(json.dumps(one_engine(a)), encoding="utf-8")
        return

    from toolace_r.data.io import read_samples, write_samples

    tmp = Path(tempfile.mkdtemp(prefix="toolace_engines_"))
    corpus = read_samples(a.data) if a.data else builtin_corpus(1200, a.seed)
    pool = random.Random(a.seed).sample(corpus, min(a.prompts, len(corpus)))
    write_samples(tmp / "pool.jsonl", pool)
    model, what = (Path(a.model), str(a.model)) if a.model else build_model(a, corpus, tmp)

    results = []
    for engine in a.engines.split(","):
        out = tmp / f"{engine}.json"
        cmd = [sys.executable, __file__, "--one", engine, "--model", str(model), "--pool", str(tmp / "pool.jsonl"),
               "--json", str(out), "--k", str(a.k), "--temperature", str(a.temperature), "--top-p", str(a.top_p),
               "--max-new-tokens", str(a.max_new_tokens), "--seed", str(a.seed), "--tp", str(a.tp),
               "--gpu-memory-utilization", str(a.gpu_memory_utilization)]
        rc = subprocess.run(cmd, env=os.environ).returncode
        if rc != 0:
            sys.exit(f"the {engine} run failed (exit code {rc})")
        results.append(json.loads(out.read_text()))

    hf = next((r for r in results if r["engine"] == "hf"), None)
    lines = [
        HEADING, "",
        "One MAIT probe (k answers per prompt, scored) per engine, on the same model and pool, each engine",
        "in its own process after a short warm-up; measured in one run of `benchmarks/probe_engines.py`.", "",
        f"- Machine: {machine()}; GPU: {results[0]['device']}",
        f"- Model: {what}",
        f"- Workload: {len(pool)} prompts, k={a.k}, temperature {a.temperature}, top_p {a.top_p}, "
        f"at most {a.max_new_tokens} new tokens", "",
        "| engine | start-up s | probe s | new tokens | tokens/s | right answers | vs hf |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = r["tokens"] / r["seconds"]
        vs = f"{rate / (hf['tokens'] / hf['seconds']):.1f}x" if hf else "-"
        lines.append(f"| {r['engine']} | {r['start_s']:.0f} | {r['seconds']:.1f} | {r['tokens']} | {rate:.0f} | "
                     f"{r['right']:.1%} | {vs} |")
    cmd = "python benchmarks/probe_engines.py" + "".join(
        f" --{k.replace('_', '-')} {getattr(a, k)}" for k in ("model", "size", "prompts", "k", "max_new_tokens")
        if getattr(a, k) is not None)
    lines += ["", f"Command: `{cmd} --write-readme`.", ""]
    section = "\n".join(lines) + "\n"
    print(section)
    if a.write_readme:
        update_readme(section, HEADING)
        print(f"updated {HERE / 'README.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
