"""`toolace-r run`: the ToolACE-R method end to end, as resumable stages.

Stages, in order (each writes into ``RUN_DIR/stages/<name>/`` through a temporary folder that is
renamed when the stage is complete, then records itself as done in ``RUN_DIR/state.json``)::

    data                   synthesise the corpus, or take train/dev/test from data.source (a folder; one
                           .jsonl file or a data set split as toolace_r.data.split does: .hub); samples
                           the base model was trained on are dropped (toolace_r.models.base)
    init                   model.init=scratch only: tokenizer + randomly initialised Llama model
                           (the embedded default starts from the base model shipped in the package)
    warmup                 warm-up SFT of M_0 (train.warmup_steps > 0 only; scratch needs it)
    eval/base              M_0 on the test split, single pass: where every arm starts from
    dev/base               M_0 on the dev split: the line the rounds' dev accuracy is read against
    for each training seed i in 0 .. seeds-1:           # P = "" for seed 0, "s<i>/" after
      for each arm in (plain, mait, mait_refine):       # the ablation, same optimizer steps
        for t in 0 .. T-1:                              # one MAIT round: toolace_r.mait
          P probe/<model>    k answers per pool item from the current model, scored (arms that
                             probe; shared when two arms probe the same model, e.g. M_0 at t = 0)
          P <arm>/r<t>/train select D_t, build the refinement corpus R_t (arms with one),
                             SFT for train.steps_per_round steps on D_t + R_t + the round's
                             train.replay_size fresh train samples (the same for every arm)
          P <arm>/r<t>/dev   greedy dev accuracy of the new model; then the stop rule
        P eval/<arm>         test split with the arm's best round on dev: none / adaptive / fixed:N
    report                 report.md, results.json, plots, metrics.jsonl

This module keeps the stages and their files (the run folder, its state and lock are
:mod:`toolace_r.run_folder`'s); every decision of a round (the arm's policy, the selection and its
fallback, the refinement corpus, the stop rule, the best round) is made by :mod:`toolace_r.mait`,
whose docstring describes the round and the arms.

A killed or interrupted run (Ctrl-C included) is continued with ``toolace-r run --resume RUN_DIR``:
finished stages are skipped and the unfinished one starts again from its inputs; an SFT stage with
a trainer checkpoint (``train.save_steps``) continues from it instead of step 0. Every stage
derives its seeds from the run seed and its own name, so a resumed run ends with the same results
as an uninterrupted one. Before it continues, resume checks that ``state.json`` is what a run
writes and that every finished stage's folder is there, and says in one line how to recover if
not. One process at a time works on a run folder: it holds a lock on ``RUN_DIR/run.lock`` (an OS
file lock, released when the process ends, also when it crashes or is killed), and a second
``toolace-r run`` on the folder stops with an error.

Training seeds (``seeds``, ``toolace-r run --seeds N``): the data, the initial model and the
warm-up are shared (the base model the arms start from, as a pretrained model would be); every
training seed runs all arms again (probes, selection, refinement corpus, SFT, dev, evaluation) under
stage names prefixed with ``s<i>/`` (none for seed 0). As every seed derives from the stage name, the
prefix gives seed i its own probe, selection and SFT seeds, and seed 0 is exactly a one-seed run.
The report (:mod:`toolace_r.results`) gives every accuracy and arm difference as the mean over
seeds with a bootstrap interval over test samples and seeds.

Arms (:data:`toolace_r.mait.ARMS`): (a) ``plain``: plain SFT rounds on the whole pool (policy
``all``, no refinement data); (b) ``mait``: model-aware selection (``mait.policy``); (c)
``mait_refine``: (b) plus the self-refinement corpus. All start from the same warm-up model and
train the same number of steps per round.

Side by side (``launch.jobs``; auto: 2 on a CPU-only machine with 2 or more cores): after the
warm-up, the base evaluations and every (seed, arm) run as threads of this process, and their SFT,
probe and evaluation stages go to ``jobs`` long-lived worker processes (:class:`toolace_r.launch.Workers`)
first for the arm with the most work left, then in the order they are asked for. The stage seeds
come from the stage names, so the results are those of the stages one after another with the
workers' thread count; a probe two arms share runs once (:meth:`Run.claim`). Why on 2 cores: a
2.3M-parameter model spends much of a stage in Python between small kernels, so two stages at one
thread each get more done than one at two threads (benchmarks/README.md, "Stages side by side").

Scale-out (``launch``, docs/scale.md): with ``launch.launcher`` ``accelerate`` or ``torchrun``, every
SFT, probe and evaluation stage runs as a job of ``launch.num_processes`` processes
(:mod:`toolace_r.launch`): SFT data parallel (or FSDP / DeepSpeed from ``launch.accelerate_config``),
the probe and the evaluation split over the processes and merged back in sample order. This
process stays the driver: it keeps ``state.json`` and the resume semantics, and holds no model.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from toolace_r import launch
from toolace_r.config import RunConfig, load_config
from toolace_r.data import hub
from toolace_r.data.io import read_samples, write_json, write_jsonl
from toolace_r.data.schema import Sample
from toolace_r.data.split import split_file
from toolace_r.data.synth import parse_shares, write_corpus
from toolace_r.evaluation import run_summary
from toolace_r.mait import (Arm, ArmRounds, ProbeItem, arms, p_histogram, replay_draw, round_lr, round_refinement,
                             round_selection)
from toolace_r.models.base import BASE_DIR, base_available, read_seen, seen_filter
from toolace_r.models.embedded import init_model
from toolace_r.models.refs import ModelRefError, resolve_model
from toolace_r.models.checkpoints import CHECKPOINTS
from toolace_r.models.sft import SFTSettings
from toolace_r.report import write_report
from toolace_r.run_folder import (LOCK_FILE, STATE_FILE, Run, RunError, default_run_dir, lock_run_dir, open_run,
                                  seed_prefix, stage_seed)
from toolace_r.tasks import EvalTask, ProbeTask, SFTTask

__all__ = ["LOCK_FILE", "STATE_FILE", "SFT_CHECKPOINTS", "Run", "RunError", "default_run_dir", "lock_run_dir",
           "open_run", "planned_stages", "run", "run_pipeline", "seed_prefix", "stage_seed", "start_model"]
# where an SFT stage's trainer checkpoints lie in its folder (train.save_steps; kept when a killed stage restarts)
SFT_CHECKPOINTS = f"model/{CHECKPOINTS}"


def run(config: RunConfig | str | Path | None = None, out: str | Path | None = None, *,
        overrides: list[str] | None = None, resume: bool = False, force: bool = False,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole method from Python, as ``toolace-r run`` does it: ``config`` is a
    :class:`RunConfig`, a YAML path or None (the embedded default), ``overrides`` ``key=value``
    strings; ``resume=True`` continues the run in ``out``. Returns the run's results: ``seeds``
    (per training seed, ``arms``: each arm's evaluated model, round and dev accuracy), ``arms`` (seed
    0's), ``results`` (what ``results.json`` holds: accuracies and paired differences with their
    intervals, the goals) and ``seconds``."""
    if resume:
        if out is None or config is not None or overrides:
            raise RunError("resume continues the run in `out` with its saved config: give out only")
        return _run_and_close(open_run(Path(out), None, resume=True, force=False, log=log))
    cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
    return _run_and_close(open_run(Path(out) if out else default_run_dir(), cfg, resume=False, force=force, log=log))


def _run_and_close(run: Run) -> dict[str, Any]:
    try:
        return run_pipeline(run)
    finally:
        run.close()


def planned_stages(cfg: RunConfig) -> int:
    """How many stages a full run has (for the progress bar; early stops make it fewer)."""
    # data, eval/base, dev/base (+ init from scratch, + warm-up)
    n = 3 + (cfg.model.init == "scratch") + (cfg.train.warmup_steps > 0)
    probing = [a for a in arms(cfg.arms) if a.probes]
    probes = (1 if probing else 0) + len(probing) * (cfg.mait.rounds - 1)
    return n + cfg.seeds * (probes + len(cfg.arms) * (2 * cfg.mait.rounds + 1))


def run_pipeline(run: Run) -> dict[str, Any]:
    cfg = run.cfg
    t_start = time.time()
    start = start_model(cfg)
    splits = _stage_data(run, start)
    model0 = start or _stage_init(run, splits["train"])
    warm = _stage_warmup(run, model0, splits["train"])
    jobs = run_jobs(cfg)
    if jobs == 1:
        _run_base(run, warm, splits)
        # every training seed starts from the same warm-up model and meets the same dev and test samples
        by_seed = [{arm.name: _run_arm(run, i, arm, warm, splits) for arm in arms(cfg.arms)} for i in range(cfg.seeds)]
    else:
        by_seed = _run_side_by_side(run, jobs, warm, splits)
    per_seed = [{"seed": i, "arms": a} for i, a in enumerate(by_seed)]
    results = write_report(run)
    return {"seeds": per_seed, "arms": per_seed[0]["arms"], "results": results,
            "seconds": round(time.time() - t_start, 1)}


def run_jobs(cfg: RunConfig) -> int:
    """How many stages run at once: ``launch.jobs``, or for 0 (auto) 2 where the stages would
    otherwise share a CPU-only machine's cores in one process (launcher none, backend hf, >= 2
    cores, no GPU), else 1."""
    if cfg.launch.jobs:
        return cfg.launch.jobs
    if cfg.launch.launcher != "none" or cfg.model.backend != "hf" or (os.cpu_count() or 1) < 2:
        return 1
    import torch

    return 1 if torch.cuda.is_available() else 2


def _run_base(run: Run, warm: Path, splits: dict[str, list[Sample]]) -> None:
    """M_0 on test and dev: where every arm starts, and the line its rounds are read against."""
    _stage_eval_base(run, warm, splits["test"])
    _stage_dev(run, "", "", "base", warm, splits["dev"])


def _run_side_by_side(run: Run, jobs: int, warm: Path, splits: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    """The base evaluations and every (seed, arm) as a thread of this process, their model stages
    run by ``jobs`` worker processes (by arm priority, below, then in the order they are asked
    for), so a worker is idle only when no thread has a stage ready. Each stage's seed comes from
    its name, so the results are those of running the same stages one after another (with the
    workers' thread count). The first failure (or Ctrl-C) lets no further stage start; the finished
    ones stay recorded for ``--resume``."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    cfg = run.cfg
    # A free worker takes the waiting stage of the arm with the most work left first (the refinement
    # arm's evaluation has the most modes, plain SFT has no probes), so the run does not end with one
    # long arm alone on one core; the base evaluations, which nothing waits for, fill the gaps.
    order = {name: rank for rank, name in enumerate(("mait_refine", "mait", "plain"))}
    chains: list[tuple[float, Callable[..., Any], tuple[Any, ...]]] = [(len(order), _run_base, (run, warm, splits))]
    chains += [(order.get(arm.name, len(order)), _run_arm, (run, i, arm, warm, splits))
               for i in range(cfg.seeds) for arm in arms(cfg.arms)]
    # What the threads load lazily (a refinement corpus reads the model's tokenizer) is loaded here
    # first: code that looks a module up in sys.modules (toolace_r.memory) could see it half imported
    import importlib

    importlib.import_module("torch")
    getattr(importlib.import_module("transformers"), "AutoTokenizer")  # transformers resolves its names lazily

    workers = run.workers = launch.Workers(jobs, threads=max(1, (os.cpu_count() or 1) // jobs))
    run.log(f"stages side by side in {jobs} worker processes (launch.jobs)")

    def chain(priority: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        workers.set_priority(priority)
        return fn(*args)

    threads = ThreadPoolExecutor(max_workers=len(chains), thread_name_prefix="arm")
    try:
        futures = [threads.submit(chain, *c) for c in chains]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        # the first failure, not the "no new stage starts" of the threads stopped after it
        first = next((f.exception() for f in futures if f in done and f.exception() is not None), None)
        if first is not None:
            workers.stop()
            wait(futures)
            raise first
    except BaseException:
        workers.stop()
        raise
    finally:
        threads.shutdown(wait=True)
        workers.close()
        run.workers = None
    per_chain = iter(f.result() for f in futures[1:])
    return [{arm.name: next(per_chain) for arm in arms(cfg.arms)} for _ in range(cfg.seeds)]


def _run_arm(run: Run, i: int, arm: Arm, warm: Path, splits: dict[str, list[Sample]]) -> dict[str, Any]:
    """``arm``'s rounds and test evaluation for training seed ``i`` (stage names prefixed with
    :func:`seed_prefix`): the evaluated model, its round and its dev accuracy."""
    cfg = run.cfg
    prefix = seed_prefix(i)
    pool = splits["train"][: cfg.data.pool_size]
    model = warm
    rounds = ArmRounds(arm, arm.selection_policy(cfg.mait.policy), cfg.mait.stop_when_unchanged, best_model=warm)
    for t in range(cfg.mait.rounds):
        items = (_stage_probe(run, prefix, _model_tag(model, warm), model, pool, _probe_greedy(cfg, arm, model == warm))
                 if arm.probes else None)
        base = model if cfg.train.continue_from == "previous" else warm
        # the round's fresh samples are drawn per seed and round, not per arm: every arm gets the same
        replay = replay_draw(splits["train"][len(pool):], cfg.train.replay_size,
                             stage_seed(cfg.seed, f"{prefix}r{t}/replay"))
        selected = _stage_train(run, prefix, arm, t, base, pool, items, replay)
        model = run.stage_dir(f"{prefix}{arm.name}/r{t}/train") / "model"
        stop = rounds.record(t, model, selected, _stage_dev(run, prefix, arm.name, t, model, splits["dev"]))
        if stop:
            run.log(f"{prefix}{arm.name}: stopping after round {t}: {stop}")
            break
    # every arm is evaluated with its best round on dev (the stop rule's "keep the best M_t")
    _stage_eval(run, prefix, arm.name, rounds.best_model, splits["test"], rounds.best_round)
    return {"model": str(rounds.best_model), "round": rounds.best_round, "dev_accuracy": rounds.best_dev}


def _model_tag(model: Path, warm: Path) -> str:
    if model == warm:
        return "m0"
    return f"{model.parents[2].name}_{model.parents[1].name}"  # stages/[s<i>/]<arm>/r<t>/train/model -> <arm>_r<t>


def _stage_data(run: Run, start: Path | None) -> dict[str, list[Sample]]:
    cfg = run.cfg
    name = "data"
    if not run.done(name):
        with run.stage(name) as (out, m):
            if cfg.data.source == "synth":
                write_corpus(out / "corpus", n=cfg.data.synth_n, seed=cfg.seed,
                             shares=parse_shares(cfg.data.synth_shares) or None)
                src = out / "corpus"
            elif cfg.data.source.endswith(".jsonl"):  # one converted file: split here, the split recorded
                src = out / "split"
                m["split"] = split_file(cfg.data.source, src, seed=stage_seed(cfg.seed, "data/split")).info()
            elif hub.is_dataset_source(cfg.data.source):  # org/name[:config], or a save_to_disk folder
                src = out / "split"
                m["dataset"] = hub.write_splits(cfg.data.source, src, seed=stage_seed(cfg.seed, "data/split"))
            else:
                src = Path(cfg.data.source)
                for split in ("train", "dev", "test"):
                    if not (src / f"{split}.jsonl").is_file():
                        raise RunError(f"data.source {src} must hold train.jsonl, dev.jsonl and test.jsonl")
            limits = {"train": None, "dev": cfg.data.dev_size, "test": cfg.data.test_size}
            # the base must not have seen the pool, dev or test: drop what it was trained on
            seen = read_seen(start) if start else set()
            for split, limit in limits.items():
                samples = [s for s in read_samples(src / f"{split}.jsonl") if s.answer is not None]
                samples, m[f"n_{split}_seen_by_base"] = seen_filter(samples, seen)
                if limit is not None and len(samples) > limit:
                    # a seeded sample, not a prefix: split files may be ordered (e.g. seen before unseen)
                    keep = set(random.Random(stage_seed(cfg.seed, f"data/{split}")).sample(range(len(samples)), limit))
                    samples = [s for i, s in enumerate(samples) if i in keep]
                write_jsonl(out / f"{split}.jsonl", samples)
                m[f"n_{split}"] = len(samples)
    d = run.stage_dir(name)
    splits = {s: read_samples(d / f"{s}.jsonl") for s in ("train", "dev", "test")}
    if len(splits["train"]) < run.cfg.data.pool_size:
        run.log(f"note: the pool is the whole train split ({len(splits['train'])} samples), fewer than data.pool_size")
    return splits


def start_model(cfg: RunConfig) -> Path | None:
    """The folder of M_0 (the shipped base for model.init=embedded, a folder, or a hub id resolved
    through the HF cache), or None for model.init=scratch, whose M_0 the init stage makes. Checked
    before any stage runs: a bad reference is a one-line :class:`RunError`."""
    if cfg.model.init == "scratch":
        return None
    if cfg.model.init == "embedded":
        if not base_available():
            raise RunError(f"the embedded base model is missing from the package ({BASE_DIR}): reinstall "
                           "toolace-r, or make one with `toolace-r model base --out DIR` and set model.init=DIR")
        return BASE_DIR
    try:
        return resolve_model(cfg.model.init, what="model.init")
    except ModelRefError as e:
        raise RunError(str(e)) from None


def _stage_init(run: Run, train: list[Sample]) -> Path:
    """M_0 from random weights (model.init=scratch): the embedded tokenizer and model, made on ``train``."""
    cfg = run.cfg
    name = "init"
    if not run.done(name):
        with run.stage(name) as (out, m):
            info = init_model(train, out / "model", size=cfg.model.size, seed=stage_seed(cfg.seed, name))
            m.update({k: v for k, v in info.items() if k != "out_dir"})
    return run.stage_dir(name) / "model"


def _sft_settings(run: Run, name: str, steps: int, lr: float) -> SFTSettings:
    cfg = run.cfg
    tc, mc = cfg.train, cfg.model
    # batch_size is the global batch: each of the launched processes takes its share of it, in
    # gradient_accumulation_steps micro-batches
    per_process = max(1, tc.batch_size // (cfg.launch.num_processes * tc.gradient_accumulation_steps))
    return SFTSettings(max_steps=steps, lr=lr, batch_size=per_process, grad_accum=tc.gradient_accumulation_steps,
                       seed=stage_seed(cfg.seed, name), lora=mc.lora, merge_lora=mc.lora and mc.merge_lora,
                       lora_r=mc.lora_r, lora_alpha=mc.lora_alpha, lora_target_modules=list(mc.lora_target_modules),
                       max_length=tc.max_length, gradient_checkpointing=tc.gradient_checkpointing,
                       report_to=list(tc.report_to), save_steps=tc.save_steps, progress=False, plot=False,
                       logging_steps=25, precision=tc.precision)


def _train(run: Run, name: str, base: Path, out: Path, steps: int, lr: float, *, samples: Path,
           limit: int | None = None, examples: Path | None = None) -> dict[str, Any]:
    """SFT of ``base`` into ``out/model`` on the first ``limit`` of ``samples`` (all: None) plus
    the rendered-later ``examples`` (a JSONL of {messages, tools, target}); its metrics."""
    task = SFTTask(model=str(base), out=out / "model", settings=_sft_settings(run, name, steps, lr),
                   samples=samples, limit=limit, examples=examples, tool_format=run.cfg.model.tool_format)
    return launch.run(task, out / "job", run.cfg.launch, run.workers)


def _stage_warmup(run: Run, model0: Path, train: list[Sample]) -> Path:
    cfg = run.cfg
    name = "warmup"
    if cfg.train.warmup_steps == 0:
        return model0
    if not run.done(name):
        with run.stage(name, keep=SFT_CHECKPOINTS) as (out, m):
            warm_set = train[: cfg.data.warmup_size or len(train)]
            m.update(_train(run, name, model0, out, cfg.train.warmup_steps, cfg.train.warmup_lr,
                            samples=_split_file(run, "train"), limit=len(warm_set)))
            m["n_examples"] = len(warm_set)
    return run.stage_dir(name) / "model"


def _split_file(run: Run, split: str) -> Path:
    return run.stage_dir("data") / f"{split}.jsonl"


def _generation(run: Run, model: Path) -> dict[str, Any]:
    """The generation part of a probe or evaluation task: model, backend and its settings."""
    cfg = run.cfg
    kw: dict[str, Any] = {}
    if cfg.model.backend == "vllm":
        kw = {"tensor_parallel_size": cfg.vllm.tensor_parallel_size,
              "gpu_memory_utilization": cfg.vllm.gpu_memory_utilization}
        if cfg.vllm.max_model_len:
            kw["max_model_len"] = cfg.vllm.max_model_len
    return {"model": str(model), "backend": cfg.model.backend, "backend_kw": kw, "tool_format": cfg.model.tool_format}


def _stage_probe(run: Run, prefix: str, tag: str, model: Path, pool: list[Sample], greedy: bool) -> list[ProbeItem]:
    cfg = run.cfg
    name = f"{prefix}probe/{tag}"
    with run.claim(name):  # two arms probe M_0: the second waits for the first's probe
        if not run.done(name):
            with run.stage(name) as (out, m):
                task = ProbeTask(**_generation(run, model), samples=_split_file(run, "train"), limit=len(pool),
                                 k=cfg.mait.k, temperature=cfg.mait.temperature, top_p=cfg.mait.top_p,
                                 max_new_tokens=cfg.mait.max_new_tokens, seed=stage_seed(cfg.seed, name),
                                 greedy=greedy, out=out / "probe.jsonl")
                launch.run(task, out / "job", cfg.launch, run.workers)
                items = _read_probe(out / "probe.jsonl")
                m["p_histogram"] = p_histogram(items, cfg.mait.k)
                m["pass_at_k"] = sum(any(it.correct) for it in items) / max(1, len(items))
                m["mean_p"] = sum(it.p for it in items) / max(1, len(items))
                m["generated_tokens"] = sum(it.tokens for it in items)
    return _read_probe(run.stage_dir(name) / "probe.jsonl")


def _probe_greedy(cfg: RunConfig, arm: Arm, shared: bool) -> bool:
    """Whether ``arm``'s probe also records greedy answers: only the refinement corpus reads them,
    so M_0's probe (``shared`` by the arms) records them when some arm builds one, a later probe
    only for that arm (the sampled answers do not depend on it: each row's stream is seeded by its
    prompt and sample index)."""
    return "mait_refine" in cfg.arms and cfg.refine_corpus.greedy_share > 0 and (shared or arm.refine_corpus)


def _read_probe(path: Path) -> list[ProbeItem]:
    return [ProbeItem.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]


def _stage_train(run: Run, prefix: str, arm: Arm, t: int, base: Path, pool: list[Sample],
                 items: list[ProbeItem] | None, replay: list[Sample]) -> list[str]:
    """Round ``t`` of ``arm``: D_t (+ R_t) and the SFT of ``base`` on it plus the round's fresh
    ``replay`` samples; the selected ids."""
    cfg = run.cfg
    name = f"{prefix}{arm.name}/r{t}/train"
    if not run.done(name):
        with run.stage(name, keep=SFT_CHECKPOINTS) as (out, m):
            sel = round_selection(arm, items, [s.id for s in pool], cfg.mait, seed=stage_seed(cfg.seed, name),
                                  top_up_seed=stage_seed(cfg.seed, name + "/top_up"))
            if sel.fallback:
                run.log(f"{name}: the policy selected nothing; training on the whole pool this round")
            by_id = {s.id: s for s in pool}
            selected = [by_id[i] for i in sel.ids]
            m.update({"policy": sel.policy, "n_selected": len(selected), "n_refine": 0,
                      "selected_by_category": dict(sorted(Counter(s.category for s in selected).items()))})
            corpus = round_refinement(arm, len(selected), by_id, items, cfg.refine_corpus,
                                      seed=stage_seed(cfg.seed, name + "/refine"), model=base,
                                      confirm=cfg.refine.confirm, tool_format=cfg.model.tool_format)
            if corpus is not None:
                refs, info = corpus
                m.update(info)
                m["n_refine"] = len(refs)
                write_jsonl(out / "refine.jsonl", refs)
            write_json(out / "selected.json", sel.ids)
            write_jsonl(out / "train_samples.jsonl", selected + replay)
            m["n_replay"] = len(replay)
            lr = round_lr(cfg.train.lr, cfg.train.round_lr_decay, t)
            m["lr"] = lr
            train_m = _train(run, name, base, out, cfg.train.steps_per_round, lr,
                             samples=out / "train_samples.jsonl",
                             examples=out / "refine.jsonl" if m["n_refine"] else None)
            # the SFT's own metrics, under train_ (TRL's train_loss stays train_loss)
            m.update({k if k.startswith("train_") else f"train_{k}": v for k, v in train_m.items()})
            m["selected_ids_sha"] = hashlib.sha256("\n".join(sel.ids).encode()).hexdigest()[:12]
    return json.loads((run.stage_dir(name) / "selected.json").read_text(encoding="utf-8"))


def _evaluate(run: Run, model: Path, split: str, n: int, modes: list[str], out: Path) -> dict[str, Any]:
    """Evaluate ``model`` on the first ``n`` samples of ``split`` (scored in strict mode); writes
    outputs.jsonl (one row per sample and mode) and summary.json into ``out``; returns the summary
    by mode (:mod:`toolace_r.evaluation`)."""
    cfg = run.cfg
    task = EvalTask(**_generation(run, model), samples=_split_file(run, split), limit=n, modes=list(modes),
                    max_rounds=cfg.eval.max_rounds, confirm=cfg.refine.confirm, confirm_bias=cfg.refine.confirm_bias,
                    max_new_tokens=cfg.eval.max_new_tokens, out=out)
    return launch.run(task, out / "job", cfg.launch, run.workers)


def _stage_dev(run: Run, prefix: str, arm: str, t: int | str, model: Path, dev: list[Sample]) -> float:
    """Greedy dev accuracy of ``model``: round ``t`` of ``arm``, or (``t="base"``, no arm) of M_0,
    the line every round is measured against."""
    name = f"{prefix}{arm}/r{t}/dev" if arm else "dev/base"
    if not run.done(name):
        with run.stage(name) as (out, m):
            summary = _evaluate(run, model, "dev", len(dev), ["none"], out)
            m.update({"arm": arm, "round": t, "dev_accuracy": summary["none"]["accuracy"],
                      "dev_well_formed": summary["none"]["well_formed"]})
    return float(run.done(name)["dev_accuracy"])  # type: ignore[index]


def _stage_eval_base(run: Run, model: Path, test: list[Sample]) -> None:
    """M_0's single-pass test accuracy: the starting point every arm is measured against."""
    name = "eval/base"
    if not run.done(name):
        with run.stage(name) as (out, m):
            summary = _evaluate(run, model, "test", len(test), ["none"], out)
            m["summary"] = {mode: run_summary(s) for mode, s in summary.items()}


def eval_modes(cfg: RunConfig, arm: str) -> list[str]:
    """The modes ``arm`` is evaluated in: all of ``eval.modes`` for the arms of ``eval.refine_arms``,
    single pass only for the others."""
    return list(cfg.eval.modes) if arm in cfg.eval.refine_arms else ["none"]


def _stage_eval(run: Run, prefix: str, arm: str, model: Path, test: list[Sample], round_: int) -> dict[str, Any]:
    """Evaluate the arm's chosen model on the test split in its modes (:func:`eval_modes`); state.json
    records the headline numbers per mode, summary.json the whole summary by mode."""
    cfg = run.cfg
    name = f"{prefix}eval/{arm}"
    if not run.done(name):
        with run.stage(name) as (out, m):
            summary = _evaluate(run, model, "test", len(test), eval_modes(cfg, arm), out)
            m["arm"] = arm
            m["round"] = round_  # the round whose model is evaluated (best on dev)
            m["summary"] = {mode: run_summary(s) for mode, s in summary.items()}
    return json.loads((run.stage_dir(name) / "summary.json").read_text(encoding="utf-8"))
