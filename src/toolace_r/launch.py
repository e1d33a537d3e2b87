"""The heavy stages of `toolace-r run` (SFT, probe, evaluation) as tasks that run either in the
driver process or as a multi-process job started by ``accelerate launch`` / ``torchrun``.

A task is a typed object of :mod:`toolace_r.tasks` (``SFTTask``, ``ProbeTask``, ``EvalTask``;
the file format is documented there): what to do, and where its inputs and outputs lie in the run
folder.

:func:`run_task` runs one in every process of the job: SFT is data parallel (or FSDP / DeepSpeed,
from the accelerate config) through the Trainer; the probe and the evaluation split their samples
over the processes (:func:`toolace_r.distributed.shard`), each process runs its own generation
backend on its share, and the results are gathered back in sample order, so that the output equals
a single-process run's. Rank 0 writes the outputs and ``result.json``.

With ``launcher == "none"`` the driver calls :func:`run_task` itself. Otherwise it writes
``task.json`` and runs ``<launcher> -m toolace_r worker task.json`` as a child process (its output
goes to ``launch.log`` next to the task; rank 0 writes ``result.json`` there), which also keeps a vLLM engine or a training job's GPU
memory out of the driver: when the child exits, the memory is free for the next stage.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from toolace_r import distributed, memory
from toolace_r.data.io import read_samples, write_jsonl
from toolace_r.mait import probe
from toolace_r.models.generation import Generator, make_generator
from toolace_r.models.prompting import load_prompt_config
from toolace_r.models.sft import train_sft
from toolace_r.tasks import EvalTask, ProbeTask, SFTTask, Task, TaskError, read_task, write_task

if TYPE_CHECKING:
    from toolace_r.config import LaunchConfig
    from toolace_r.data.schema import Sample

# torchrun's variables: a vLLM engine must not mistake the job for its own distributed setup.
_LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")


class LaunchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_argv(launcher: str, num_processes: int, accelerate_config: str = "", port: int | None = None) -> list[str]:
    """The command (up to the task file) that runs ``toolace_r worker`` in ``num_processes``
    processes on this machine. Launchers run as modules of this interpreter, so the job uses the
    same environment as the driver."""
    port = port or free_port()
    if launcher == "accelerate":
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes),
               "--main_process_port", str(port)]
        if accelerate_config:
            cmd += ["--config_file", accelerate_config]
        else:
            # No config file: plain data parallel (accelerate's "multi_gpu" mode is torchrun, on GPUs
            # or, without CUDA, on the CPU over gloo).
            cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
            if num_processes > 1:
                cmd.append("--multi_gpu")
    elif launcher == "process":
        if num_processes != 1:
            raise ValueError("launcher 'process' runs one child process; use accelerate or torchrun for more")
        cmd = [sys.executable]
    elif launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(num_processes),
               "--master_addr", "127.0.0.1", "--master_port", str(port)]
    else:
        raise ValueError(f"unknown launcher {launcher!r}")
    return cmd + ["-m", "toolace_r", "worker"]


def run_launched(task: Task, work: Path, launch: LaunchConfig) -> dict[str, Any]:
    """Run ``task`` as a launched job; its files go to ``work``. Returns what rank 0 wrote as the
    task's result."""
    work.mkdir(parents=True, exist_ok=True)
    task_file, log_file, result_file = work / "task.json", work / "launch.log", work / "result.json"
    write_task(task, task_file)
    result_file.unlink(missing_ok=True)
    argv = launch_argv(launch.launcher, launch.num_processes, launch.accelerate_config) + [str(task_file)]
    env = dict(os.environ)
    # each process gets its share of the cores (torch would otherwise start one thread per core in each)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // launch.num_processes)))
    with log_file.open("w", encoding="utf-8") as log:
        log.write(" ".join(argv) + "\n")
        log.flush()
        rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0 or not result_file.is_file():
        tail = "".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-40:])
        raise LaunchError(f"the {task.kind} job ({launch.launcher}, {launch.num_processes} processes) failed "
                          f"with exit code {rc}; the end of {log_file}:\n{tail}")
    return json.loads(result_file.read_text(encoding="utf-8"))


def run(task: Task, work: Path, launch: LaunchConfig) -> dict[str, Any]:
    """Run ``task`` here (launcher ``none``) or as a launched job."""
    if launch.launcher == "none":
        return run_task(task)
    return run_launched(task, work, launch)


# ------------------------------------------------------------------------------------------
# what every process of a job does


def worker_main(task_file: Path) -> None:
    """Entry point of ``toolace-r worker``: run the task, rank 0 writes its result next to it.
    A task file that does not validate stops every process with one line naming the field."""
    try:
        task = read_task(task_file)
    except TaskError as e:
        raise SystemExit(f"error: {e}") from None
    result = run_task(task)
    if distributed.is_main():
        Path(task_file).with_name("result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    # every process's own peak, which the driver cannot see: the stage records the largest
    Path(task_file).with_name(f"peak_rss.{distributed.rank()}.txt").write_text(str(memory.peak_rss_mb()), encoding="utf-8")
    distributed.release()


def job_peak_rss_mb(work: Path) -> float | None:
    """The largest peak resident memory of a launched job's processes (None: no job ran there)."""
    peaks = []
    for f in work.glob("peak_rss.*.txt"):
        try:
            peaks.append(float(f.read_text(encoding="utf-8")))
        except ValueError:
            pass
    return max(peaks) if peaks else None


def run_task(task: Task) -> dict[str, Any]:
    """Run ``task`` in this process (one of a job's, or the driver itself); its result."""
    memory.tune_malloc()  # TOOLACE_R_MMAP_THRESHOLD: large tensors go back to the system when freed
    memory.limit_kernel_caches()  # before the task's first CPU kernel (a job process's own start)
    if isinstance(task, SFTTask):
        return _sft(task)
    if isinstance(task, ProbeTask):
        return _probe(task)
    if isinstance(task, EvalTask):
        return _eval(task)
    raise TypeError(f"not a task: {type(task).__name__} (toolace_r.tasks.SFTTask, ProbeTask or EvalTask)")


def _samples(task: Task) -> list[Sample]:
    assert task.samples is not None
    samples = read_samples(task.samples)
    return samples[: task.limit] if task.limit is not None else samples


def _sft(task: SFTTask) -> dict[str, Any]:
    examples: list[Sample | dict[str, Any]] = list(_samples(task)) if task.samples is not None else []
    if task.examples is not None:  # rendered-later examples, e.g. the refinement corpus ({messages, tools, target})
        lines = task.examples.read_text(encoding="utf-8").splitlines()
        examples += [json.loads(line) for line in lines if line.strip()]
    # auto: train_sft reads the format off the model once it has resolved the reference (a hub id too)
    given = load_prompt_config(task.model, task.tool_format) if task.tool_format != "auto" else None
    metrics = train_sft(task.model, examples, task.out, task.settings, prompt_cfg=given)
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}


@contextmanager
def _generator(task: ProbeTask | EvalTask) -> Iterator[Generator]:
    """This process's generation backend: hf on this rank's GPU (or the CPU); vllm on this rank's
    ``tensor_parallel_size`` GPUs, started outside the job's distributed setup."""
    kw = dict(task.backend_kw)
    backend = task.backend
    if backend == "hf":
        kw.setdefault("device", _hf_device())
        gen = make_generator("hf", task.model, **kw)
    elif backend == "vllm" and distributed.world_size() > 1:
        with _vllm_rank_env(int(kw.get("tensor_parallel_size", 1))):
            gen = make_generator("vllm", task.model, **kw)
    else:
        gen = make_generator(backend, task.model, **kw)
    if task.tool_format != "auto":
        gen.prompt_config = load_prompt_config(task.model, task.tool_format)
    try:
        yield gen
    finally:
        gen.close()  # a vLLM engine frees its GPU memory here


def _hf_device() -> str:
    import torch

    return f"cuda:{distributed.local_rank()}" if torch.cuda.is_available() else "cpu"


@contextmanager
def _vllm_rank_env(tp: int) -> Iterator[None]:
    """While a rank starts its vLLM engine: show it only this rank's GPUs (local rank r of a node
    gets GPUs r*tp .. r*tp + tp - 1) and hide torchrun's variables, so that vLLM sets up its own
    tensor-parallel group instead of joining the job's. The engine process inherits this."""
    saved = {k: os.environ[k] for k in (*_LAUNCH_VARS, "CUDA_VISIBLE_DEVICES") if k in os.environ}
    visible = saved.get("CUDA_VISIBLE_DEVICES")
    first = distributed.local_rank() * tp
    devices = visible.split(",")[first:first + tp] if visible else [str(i) for i in range(first, first + tp)]
    if len(devices) < tp:
        raise LaunchError(f"local rank {distributed.local_rank()} needs {tp} GPUs but CUDA_VISIBLE_DEVICES={visible}")
    for k in _LAUNCH_VARS:
        os.environ.pop(k, None)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    try:
        yield
    finally:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        os.environ.update(saved)


def _probe(task: ProbeTask) -> dict[str, Any]:
    pool = _samples(task)
    positions, mine = distributed.shard(pool)
    with _generator(task) as gen:
        items = probe(gen, mine, k=task.k, temperature=task.temperature, top_p=task.top_p,
                      max_new_tokens=task.max_new_tokens, seed=task.seed, positions=positions, greedy=task.greedy)
    merged = distributed.gather_in_order(list(zip(positions, [it.to_dict() for it in items])), len(pool))
    if distributed.is_main():
        write_jsonl(task.out, merged)
    return {"n": len(merged), "processes": distributed.world_size()}


def _eval(task: EvalTask) -> dict[str, Any]:
    """Evaluate the task's samples in its refinement modes, scored in strict mode; rank 0 writes
    ``outputs.jsonl`` (rows mode by mode, :mod:`toolace_r.evaluation`) and ``summary.json``
    (summary by mode). Returns the summary."""
    from toolace_r.data.io import write_json, write_jsonl
    from toolace_r.evaluation import add_wall_seconds, evaluate, sample_items, summarize_modes

    samples = _samples(task)
    modes = list(task.modes)
    positions, mine = distributed.shard(samples)
    with _generator(task) as gen:
        rows, timing = evaluate(gen, sample_items(mine), modes, checker_mode="strict", max_rounds=task.max_rounds,
                                max_new_tokens=task.max_new_tokens, confirm=task.confirm,
                                confirm_bias=task.confirm_bias)
    # gathered per sample (its row in every mode), then laid out mode by mode as one process writes them
    per_sample = [rows[k::len(mine)] for k in range(len(mine))]
    merged = distributed.gather_in_order(list(zip(positions, per_sample)), len(samples))
    rows = [group[j] for j in range(len(modes)) for group in merged]
    summary = summarize_modes(rows, modes)
    # a job's wall time per mode is its slowest process's
    timings = distributed.gather_in_order([(distributed.rank(), timing)], distributed.world_size())
    add_wall_seconds(summary, timings)
    if distributed.is_main():
        out = Path(task.out)
        out.mkdir(parents=True, exist_ok=True)
        write_jsonl(out / "outputs.jsonl", rows)
        write_json(out / "summary.json", summary)
    return summary
