"""A run folder of `toolace-r run`: its stages' folders, its record of finished stages
(``state.json``, ``metrics.jsonl``) and the lock that keeps a second process out.

:class:`Run` runs stages (:meth:`Run.stage`): a stage writes into ``stages/<name>.partial/``,
which is renamed into place when the stage is complete; only then is the stage recorded as done,
with its wall time and memory. Stages of different arms and seeds may run side by side in threads
of the driver (``launch.jobs``): the record is written under a lock, and :meth:`Run.claim` lets a
stage that two of them need (a shared probe) run once while the other waits for it.
:func:`open_run` opens a folder for a new run or, with ``resume``, checks the run recorded there
(its state, its config, every finished stage's folder) and says in one line how to recover when
something is wrong. The stages
themselves and their order are :mod:`toolace_r.pipeline`'s.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from toolace_r import jsonin, launch, memory
from toolace_r.config import ConfigError, RunConfig, config_from_dict, save_config, to_dict
from toolace_r.data.io import write_json, write_jsonl

STATE_FILE = "state.json"
LOCK_FILE = "run.lock"


class RunError(RuntimeError):
    pass


def stage_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:4], "little")


def seed_prefix(i: int) -> str:
    """The stage-name prefix of training seed ``i``: none for seed 0, so a one-seed run keeps its
    stage names (and so its stage seeds), ``s<i>/`` for the others."""
    return f"s{i}/" if i else ""


@dataclass
class Run:
    """A run folder and its record of finished stages."""

    dir: Path
    cfg: RunConfig
    state: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print
    lock: FileLock | None = field(default=None, repr=False)
    # where the model stages run when launch.jobs > 1 (the pipeline sets it for the run's length)
    workers: launch.Workers | None = field(default=None, repr=False)
    _record_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _claims: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def close(self) -> None:
        """Give the run folder back to other processes (the end of the process does it too)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @property
    def stages_dir(self) -> Path:
        return self.dir / "stages"

    def stage_dir(self, name: str) -> Path:
        return self.stages_dir / name

    def done(self, name: str) -> dict[str, Any] | None:
        return self.state["stages"].get(name)

    def seed_stage(self, i: int, name: str) -> str:
        """The name of stage ``name`` (e.g. ``eval/plain``) for training seed ``i``."""
        return seed_prefix(i) + name

    @contextmanager
    def claim(self, name: str) -> Iterator[None]:
        """Hold stage ``name`` while checking and running it: a second thread that needs the same
        stage waits here, then finds it done."""
        with self._record_lock:
            lock = self._claims.setdefault(name, threading.Lock())
        with lock:
            yield

    def _save_state(self) -> None:
        write_json(self.dir / STATE_FILE, self.state)
        # metrics.jsonl is derived from the state, so a crash never leaves it half-written or duplicated
        write_jsonl(self.dir / "metrics.jsonl", [{"stage": k, **v} for k, v in self.state["stages"].items()])

    @contextmanager
    def stage(self, name: str, keep: str | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Run a stage: yields (temporary output folder, metrics dict to fill). On success the
        folder is renamed into place and the stage recorded as done, with its wall time. A
        temporary folder left by a killed attempt is emptied, but for ``keep`` (a path in it, e.g.
        an SFT's checkpoints, which the SFT continues from when they are its own)."""
        final = self.stage_dir(name)
        tmp = final.with_name(final.name + ".partial")
        if tmp.exists():
            _empty_but(tmp, keep)
        if final.exists():  # left by a crash between rename and state write: redo cleanly
            shutil.rmtree(final)
        tmp.mkdir(parents=True, exist_ok=True)
        metrics: dict[str, Any] = {}
        memory.reset_peak()
        launch.take_queued_seconds()
        t0 = time.time()
        yield tmp, metrics
        queued = launch.take_queued_seconds()  # stages side by side: time spent waiting for a worker
        metrics["seconds"] = round(time.time() - t0 - queued, 2)
        if queued:
            metrics["queued_seconds"] = round(queued, 2)
        # the stage's peak in this process (a launched job's processes report their own), and what
        # stays resident once the stage's objects and caches are given back
        metrics["peak_rss_mb"] = memory.peak_rss_mb()
        job_peak = launch.job_peak_rss_mb(tmp / "job")
        if job_peak is not None:
            metrics["job_peak_rss_mb"] = job_peak
        memory.release()
        metrics["rss_after_mb"] = memory.rss_mb()
        gpu = memory.gpu_used_mb()  # what the next stage (e.g. a vLLM engine) will not have
        if gpu is not None:
            metrics["gpu_used_after_mb"] = gpu
        tmp.rename(final)
        with self._record_lock:
            self.state["stages"][name] = metrics
            self._save_state()
        self.log(f"[done] {name} ({metrics['seconds']:.1f}s)")


def open_run(run_dir: Path, cfg: RunConfig | None, *, resume: bool, force: bool, log: Callable[[str], None] = print) -> Run:
    """The run folder ``run_dir``, locked for this process: a new run (``cfg``; ``force`` empties a
    folder that is not empty) or, with ``resume``, the run recorded there, checked. Every problem is
    a :class:`RunError` in one line that says how to go on."""
    if resume:
        if not (run_dir / STATE_FILE).is_file():
            raise RunError(f"{run_dir} is not a run folder to resume (no {STATE_FILE}); start a new run with --out")
        lock = lock_run_dir(run_dir)
        try:
            state, saved = _load_state(run_dir)
            if cfg is not None and to_dict(cfg) != to_dict(saved):
                raise RunError("--resume continues a run with its own saved config; do not pass --config or overrides")
            _check_stage_folders(run_dir, state)
        except BaseException:
            lock.release()
            raise
        return Run(run_dir, saved, state, log, lock)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a run folder; choose another --out")
    if run_dir.exists() and any(run_dir.iterdir()):
        if not force:
            if (run_dir / LOCK_FILE).is_file():
                lock_run_dir(run_dir).release()  # a live run says so, rather than suggest --force
            raise RunError(f"run folder {run_dir} exists and is not empty; pass --force to overwrite it, "
                           f"or --resume {run_dir} to continue it")
        lock = lock_run_dir(run_dir)  # never empty a folder another process is working in
        _empty_but_lock(run_dir)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = lock_run_dir(run_dir)
    assert cfg is not None
    run = Run(run_dir, cfg, {"config": to_dict(cfg), "stages": {}}, log, lock)
    save_config(cfg, run_dir / "config.yaml")
    run._save_state()
    return run


def lock_run_dir(run_dir: Path) -> FileLock:
    """Hold ``run_dir/run.lock`` for this process, or :class:`RunError` when another process holds
    it. An OS lock (flock): it goes with the process, however that ends."""
    lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunError(f"run folder {run_dir} is in use by another toolace-r process; wait for it to end "
                       "(or stop it), or use another --out") from None
    except OSError as e:
        raise RunError(f"cannot lock run folder {run_dir}: {e.strerror or e}") from None
    return lock


def _empty_but(folder: Path, keep: str | None) -> None:
    """Remove ``folder`` (with ``keep``: all in it but the path ``keep`` and the folders above it)."""
    kept = folder / keep if keep else None
    if kept is None or not kept.exists():
        shutil.rmtree(folder)
        return
    for p in folder.iterdir():
        if p == kept:
            continue
        if p.is_dir() and not p.is_symlink() and p in kept.parents:
            _empty_but(p, str(kept.relative_to(p)))
        elif p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _empty_but_lock(run_dir: Path) -> None:
    """Remove everything in ``run_dir`` but the lock file this process holds."""
    for p in run_dir.iterdir():
        if p.name == LOCK_FILE:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _load_state(run_dir: Path) -> tuple[dict[str, Any], RunConfig]:
    """``state.json`` and its config, checked: :class:`RunError` saying what is wrong and how to go on."""
    path = run_dir / STATE_FILE
    restart = (f"start the run again with  toolace-r run --config {run_dir / 'config.yaml'} --out {run_dir} "
               "--force" if (run_dir / "config.yaml").is_file() else f"start a new run with --out {run_dir} --force")
    try:
        state = jsonin.loads(path.read_bytes())
    except (jsonin.JsonInputError, OSError) as e:
        raise RunError(f"{path} cannot be read ({e}): the run's record of finished stages is lost; {restart}") from None
    problem = _state_problem(state)
    if problem is None:
        try:
            return state, config_from_dict(state["config"])
        except (ConfigError, TypeError, ValueError) as e:
            problem = f"its config is not valid ({e})"
    raise RunError(f"{path} is not a run's state: {problem}; {restart}")


def _state_problem(state: Any) -> str | None:
    """What makes ``state`` unlike what :class:`Run` writes (None: nothing)."""
    if not isinstance(state, dict):
        return f"expected a JSON object, got {type(state).__name__}"
    if not isinstance(state.get("config"), dict):
        return "'config' is missing or not an object"
    stages = state.get("stages")
    if not isinstance(stages, dict):
        return "'stages' is missing or not an object"
    bad = [name for name, m in stages.items()
           if not isinstance(m, dict) or not name or name.startswith("/") or ".." in name.split("/")]
    if bad:
        return f"stage entry {bad[0]!r} is not a stage name with an object of metrics"
    return None


def _check_stage_folders(run_dir: Path, state: dict[str, Any]) -> None:
    """Every stage that ``state.json`` records as finished has its folder: a missing one (deleted
    by hand, or a disk cleaned up) would fail the later stages that read it, or go unnoticed."""
    for name in state["stages"]:
        folder = run_dir / "stages" / name
        if not folder.is_dir():
            raise RunError(f"stage {name!r} is recorded as finished in {run_dir / STATE_FILE} but its folder "
                           f"{folder} is missing; to redo it, delete its entry (and those of the stages after it) "
                           f"from 'stages' in {STATE_FILE} and resume again, or start again with --force")


def default_run_dir() -> Path:
    return Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
