"""Peak resident memory of `toolace-r run` and of its stages (run by hand; figures in README.md here).

    python benchmarks/memory.py --config configs/quick.yaml --launchers none,process --out /tmp/membench
    python benchmarks/memory.py --launchers none --out /tmp/membench          # the default run (~12 min)
    python benchmarks/memory.py --stages-alone --out /tmp/membench           # train sft and eval on their own

For each launcher it runs `toolace-r run` under GNU time (``/usr/bin/time -v``: the peak resident
memory of the largest process of the tree, and the wall time) and prints the per-stage table the
run itself records in state.json: the driver's peak during the stage (``peak_rss_mb``), a launched
job's largest process (``job_peak_rss_mb``) and what the driver keeps afterwards (``rss_after_mb``).
With launcher ``process`` the driver and one stage process are alive together, so the machine's
peak is about the driver's resident memory plus the job's peak.

On a CUDA machine, ``--gpu MODEL`` also runs an SFT stage followed by a vLLM probe on that small
model in one driver (``model.init=MODEL model.backend=vllm``) and prints the GPU memory in use
after each stage (``gpu_used_after_mb``: what the next stage, e.g. the vLLM engine, cannot have).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the largest process, stderr) of a command under GNU time."""
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
    rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1)) / 1024
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", res.stderr).group(1)
    wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(m.split(":"))))
    return wall, rss, res.stderr


def stage_table(run_dir: Path) -> list[str]:
    stages = json.loads((run_dir / "state.json").read_text())["stages"]
    lines = ["| stage | seconds | driver peak MiB | job peak MiB | driver after MiB | GPU used after MiB |",
             "|---|---:|---:|---:|---:|---:|"]
    fmt = lambda x: "-" if x is None else f"{x:.0f}"  # noqa: E731
    for name, m in stages.items():
        lines.append(f"| {name} | {m['seconds']:.1f} | {fmt(m.get('peak_rss_mb'))} | {fmt(m.get('job_peak_rss_mb'))} "
                     f"| {fmt(m.get('rss_after_mb'))} | {fmt(m.get('gpu_used_after_mb'))} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=None, help="run config (default: the embedded default)")
    ap.add_argument("--launchers", default="none", help="comma list of launch.launcher values to compare")
    ap.add_argument("--stages-alone", action="store_true", help="also time train sft and eval on their own")
    ap.add_argument("--gpu", default=None, help="a small HF model for the SFT -> vLLM probe check (CUDA only)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "toolace_r", "run"] + (["--config", args.config] if args.config else [])
    print(f"# toolace-r run ({args.config or 'embedded default'})\n")
    print("| launcher | wall s | peak RSS MiB (largest process) |\n|---|---:|---:|")
    tables = {}
    for launcher in args.launchers.split(","):
        run_dir = args.out / f"run-{launcher}"
        shutil.rmtree(run_dir, ignore_errors=True)
        wall, rss, _ = timed(base + ["--out", str(run_dir), f"launch.launcher={launcher}"])
        print(f"| {launcher} | {wall:.0f} | {rss:.0f} |")
        tables[launcher] = stage_table(run_dir)
    for launcher, lines in tables.items():
        print(f"\n## stages, launcher {launcher}\n")
        print("\n".join(lines))
    if args.stages_alone:
        run_dir = args.out / f"run-{args.launchers.split(',')[0]}"
        model = run_dir / "stages" / "warmup" / "model"
        data = run_dir / "stages" / "data"
        cli = [sys.executable, "-m", "toolace_r"]
        print("\n## stages on their own\n\n| command | wall s | peak RSS MiB |\n|---|---:|---:|")
        wall, rss, _ = timed(cli + ["train", "sft", "--model", str(model), "--data", str(data / "train.jsonl"),
                                    "--out", str(args.out / "sft-alone"), "--max-steps", "50", "--batch-size", "16"])
        print(f"| train sft, 50 steps, batch 16 | {wall:.0f} | {rss:.0f} |")
        wall, rss, _ = timed(cli + ["eval", "--model", str(model), "--bench", str(data / "test.jsonl"), "--mode",
                                    "strict", "--refine", "none", "--max-new-tokens", "48",
                                    "--out", str(args.out / "eval-alone")])
        print(f"| eval, test split, no refinement | {wall:.0f} | {rss:.0f} |")
        wall, rss, _ = timed([sys.executable, "-c", "import torch, transformers, trl"])
        print(f"| import torch + transformers + trl | {wall:.1f} | {rss:.0f} |")
    if args.gpu:
        run_dir = args.out / "gpu"
        shutil.rmtree(run_dir, ignore_errors=True)
        wall, rss, _ = timed(base + ["--out", str(run_dir), f"model.init={args.gpu}", "model.backend=vllm",
                                     "arms=[mait]", "mait.rounds=1"])
        print(f"\n## SFT then vLLM probe on {args.gpu}: {wall:.0f} s\n")
        print("\n".join(stage_table(run_dir)))


if __name__ == "__main__":
    main()
