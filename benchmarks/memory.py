"""Peak resident memory of `toolace-r run` and of its stages (run by hand; figures in README.md here).

    python benchmarks/memory.py --config configs/quick.yaml --launchers none,process --out /tmp/membench
    python benchmarks/memory.py --launchers none --out /tmp/membench          # the default run (~12 min)
    python benchmarks/memory.py --stages-alone --out /tmp/membench           # train sft and eval on their own
    python benchmarks/memory.py --config configs/quick.yaml --set arms=[mait_refine] --set mait.rounds=1 --out /tmp/mb
    python benchmarks/memory.py --tasks-from runs/default --out /tmp/mb       # heaviest stages, one by one

``--set KEY=VALUE`` (repeatable) passes overrides to `toolace-r run`. ``--tasks-from RUN_DIR`` takes
a finished default run folder and runs its heaviest tasks again through ``launch.run_task``, in one
process as the driver would (launcher ``none``): the test evaluation of the mait_refine arm's last
round (modes none / adaptive / fixed:3 over the test split), its dev evaluation, then that round's
SFT (its own samples and refinement corpus, ``train`` settings of the run), each with its peak
(``VmHWM`` after :func:`toolace_r.memory.reset_peak`) and what stays resident afterwards; the
evaluation's ``outputs.jsonl`` is compared with the run's own when the round is the evaluated one.

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


def tasks_from(run_dir: Path, out: Path) -> None:
    """The heaviest stages of a finished run, again, one after the other in this process."""
    import time

    from toolace_r import launch, memory
    from toolace_r.config import load_config
    from toolace_r.pipeline import Run, _probe_greedy, _sft_settings, round_lr, stage_seed, start_model
    from toolace_r.tasks import EvalTask, ProbeTask, SFTTask

    cfg = load_config(run_dir / "config.yaml")
    stages = run_dir / "stages"
    arm = "mait_refine" if (stages / "mait_refine").is_dir() else cfg.arms[-1]
    last = max(int(p.name[1:]) for p in (stages / arm).glob("r*"))
    model = stages / arm / f"r{last}" / "train" / "model"
    run = Run(run_dir, cfg, {}, print)

    def measure(name: str, task: object) -> None:
        memory.release()
        memory.reset_peak()
        t0 = time.time()
        launch.run_task(task)
        secs, peak = time.time() - t0, memory.peak_rss_mb()
        memory.release()
        print(f"| {name} | {secs:.0f} | {peak:.0f} | {memory.rss_mb():.0f} |", flush=True)

    def evaluation(split: str, modes: list[str]) -> EvalTask:
        return EvalTask(model=str(model), backend="hf", samples=stages / "data" / f"{split}.jsonl", modes=modes,
                        max_rounds=cfg.eval.max_rounds, confirm=cfg.refine.confirm,
                        max_new_tokens=cfg.eval.max_new_tokens, out=out / f"eval-{split}")

    print(f"# heaviest stages of {run_dir}, one process (imports: {memory.rss_mb():.0f} MiB)\n")
    print("| task | seconds | peak RSS MiB | RSS after MiB |\n|---|---:|---:|---:|")
    measure(f"eval {arm} r{last}, test, {' / '.join(cfg.eval.modes)}", evaluation("test", list(cfg.eval.modes)))
    measure(f"eval {arm} r{last}, dev, none", evaluation("dev", ["none"]))
    name = f"{arm}/r{last}/train"
    train = stages / name
    warm = stages / "warmup" / "model" if (stages / "warmup").is_dir() else start_model(cfg)
    base = stages / arm / f"r{last - 1}" / "train" / "model" if last else warm
    sft = SFTTask(model=str(base), out=out / "sft" / "model",
                  settings=_sft_settings(run, name, cfg.train.steps_per_round, round_lr(cfg.train.lr, cfg.train.round_lr_decay, last)),
                  samples=train / "train_samples.jsonl",
                  examples=train / "refine.jsonl" if (train / "refine.jsonl").is_file() else None)
    measure(f"SFT {name}, {cfg.train.steps_per_round} steps of {cfg.train.batch_size}", sft)
    measure(f"eval {arm} r{last}, dev, none (after the SFT)", evaluation("dev", ["none"]))
    probes = sorted((stages / "probe").glob(f"{arm}_r*/probe.jsonl"))
    if probes:  # the stage the run peaked at: the probe of a trained round, after its SFT
        pool = sum(1 for _ in probes[-1].open(encoding="utf-8"))
        tag = probes[-1].parent.name
        probe = ProbeTask(model=str(stages / arm / f"r{tag.rsplit('_r', 1)[1]}" / "train" / "model"), backend="hf",
                          samples=stages / "data" / "train.jsonl", limit=pool, k=cfg.mait.k,
                          temperature=cfg.mait.temperature, top_p=cfg.mait.top_p,
                          max_new_tokens=cfg.mait.max_new_tokens, seed=stage_seed(cfg.seed, f"probe/{tag}"),
                          greedy=_probe_greedy(cfg), out=out / "probe.jsonl")
        measure(f"probe/{tag}, {pool} items, k={cfg.mait.k} (after the SFT)", probe)
        same = (out / "probe.jsonl").read_bytes() == probes[-1].read_bytes()
        print(f"\nprobe.jsonl {'==' if same else '!='} the run's {probes[-1]}")
    ours = out / "eval-test" / "outputs.jsonl"
    theirs = stages / "eval" / arm / "outputs.jsonl"
    if theirs.is_file():
        same = ours.read_bytes() == theirs.read_bytes()
        print(f"\neval outputs.jsonl {'==' if same else '!='} the run's {theirs} "
              f"({'same' if same else 'the run may have evaluated another round'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=None, help="run config (default: the embedded default)")
    ap.add_argument("--launchers", default="none", help="comma list of launch.launcher values to compare")
    ap.add_argument("--stages-alone", action="store_true", help="also time train sft and eval on their own")
    ap.add_argument("--gpu", default=None, help="a small HF model for the SFT -> vLLM probe check (CUDA only)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for the run")
    ap.add_argument("--tasks-from", type=Path, default=None, metavar="RUN_DIR",
                    help="only run the heaviest stages of this finished run again, in this process")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.tasks_from:
        tasks_from(args.tasks_from, args.out)
        return
    base = [sys.executable, "-m", "toolace_r", "run"] + (["--config", args.config] if args.config else [])
    print(f"# toolace-r run ({args.config or 'embedded default'}{''.join(' ' + o for o in args.set)})\n")
    # GNU time's figure is the largest process's high-water mark since the run's last
    # memory.reset_peak() (clear_refs resets it), so the run's peak is the largest stage peak
    print("| launcher | wall s | run peak MiB (largest stage peak) | GNU time max RSS MiB |\n|---|---:|---:|---:|")
    tables = {}
    for launcher in args.launchers.split(","):
        run_dir = args.out / f"run-{launcher}"
        shutil.rmtree(run_dir, ignore_errors=True)
        wall, rss, _ = timed(base + ["--out", str(run_dir), *args.set, f"launch.launcher={launcher}"])
        stages = json.loads((run_dir / "state.json").read_text())["stages"].values()
        peak = max(max(m.get("peak_rss_mb") or 0, m.get("job_peak_rss_mb") or 0) for m in stages)
        print(f"| {launcher} | {wall:.0f} | {peak:.0f} | {rss:.0f} |")
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
