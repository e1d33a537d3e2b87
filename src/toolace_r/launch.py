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

import heapq
import itertools
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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


def run(task: Task, work: Path, launch: LaunchConfig, workers: Workers | None = None) -> dict[str, Any]:
    """Run ``task`` here (launcher ``none``), in one of ``workers`` (``launch.jobs`` > 1), or as a
    launched job."""
    if workers is not None:
        return workers.run(task, work)
    if launch.launcher == "none":
        return run_task(task)
    return run_launched(task, work, launch)


class Workers:
    """``jobs`` long-lived worker processes that run tasks side by side (``launch.jobs``), each
    with ``threads`` torch threads. Kept for the whole run, so a stage does not pay for a fresh
    interpreter and torch import (~5 s here). A task goes to a worker as one frees up: first the
    waiting task of the lowest :meth:`set_priority` (of the thread that asks), then the one that
    asked first. :meth:`stop` lets no waiting task start (a failed or interrupted run)."""

    def __init__(self, jobs: int, threads: int) -> None:
        # spawn: a fork of a driver that has started threads (and maybe torch) is not safe
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init, initargs=(threads, os.getpid()))
        self.stopped = False
        self._free = jobs
        self._waiting: list[tuple[float, int]] = []  # a heap of (priority, arrival)
        self._arrivals = itertools.count()
        self._turn = threading.Condition()
        self._mine = threading.local()

    def set_priority(self, priority: float) -> None:
        """The priority of the tasks this thread submits from now on (lower goes first; default 0)."""
        self._mine.priority = priority

    def run(self, task: Task, work: Path) -> dict[str, Any]:
        asked = time.time()
        ticket = (getattr(self._mine, "priority", 0.0), next(self._arrivals))
        with self._turn:
            heapq.heappush(self._waiting, ticket)
            while not self.stopped and not (self._free and self._waiting[0] == ticket):
                self._turn.wait()
            if self.stopped:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                raise LaunchError("the run is stopping: no new stage starts")
            heapq.heappop(self._waiting)
            self._free -= 1
        try:
            work.mkdir(parents=True, exist_ok=True)
            started, result = self.pool.submit(_worker_task, task, work).result()
        except BrokenProcessPool:
            raise LaunchError(f"a worker process died during the {task.kind} task (killed, e.g. out of memory?); "
                              "the finished stages are kept: continue with toolace-r run --resume RUN_DIR") from None
        finally:
            with self._turn:
                self._free += 1
                self._turn.notify_all()
        # a stage's time is its work, not its wait for a free worker: Run.stage takes the wait off
        _queued.seconds = getattr(_queued, "seconds", 0.0) + max(0.0, started - asked)
        return result

    def stop(self) -> None:
        # Nothing waits inside the pool (a task is submitted only to a free worker), so stopping is
        # refusing the waiting tasks; the running ones end (Ctrl-C reaches the workers too) or finish
        # and are recorded, and close() then waits for them.
        with self._turn:
            self.stopped = True
            self._turn.notify_all()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _worker_init(threads: int, driver: int) -> None:
    from toolace_r import progress

    # a driver killed outright (kill -9) cannot stop its workers, and they keep each other's queue ends
    # open, so they would wait for work forever: each leaves when it finds itself orphaned
    threading.Thread(target=_exit_with, args=(driver,), daemon=True, name="driver-watch").start()

    progress.set_quiet(True)  # bars of processes side by side would tear each other on the terminal
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()


def _exit_with(driver: int) -> None:
    while os.getppid() == driver:
        time.sleep(1.0)
    os._exit(1)


_queued = threading.local()


def take_queued_seconds() -> float:
    """The seconds this thread's tasks waited for a free worker since the last call."""
    seconds = getattr(_queued, "seconds", 0.0)
    _queued.seconds = 0.0
    return seconds


def _worker_task(task: Task, work: Path) -> tuple[float, dict[str, Any]]:
    """One task in a :class:`Workers` process: when it started, and its result; its peak memory
    goes next to it, as a job's does."""
    started = time.time()
    memory.reset_peak()
    try:
        return started, run_task(task)
    finally:
        (work / "peak_rss.0.txt").write_text(str(memory.peak_rss_mb()), encoding="utf-8")
        memory.release()


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
