"""The serving engine: one worker that owns the generator, a bounded queue in front of it.

Requests become :class:`Job` objects in a bounded :class:`asyncio.Queue`; :meth:`Engine.submit`
raises :class:`QueueFull` at once when it is full (the server answers 429) and
:class:`EngineClosed` while shutting down (503). A single worker task takes the job at the head
of the queue together with every job waiting behind it a moment later (``batch_wait``, 5 ms by
default; up to ``max_batch`` jobs), and runs
them in one thread, so that only that thread ever touches the generator. Jobs with the same
sampling settings and refinement mode form one group, run by one :func:`toolace_r.refine.refine`
call: the first pass is a single batched ``generator.generate`` call (n samples per prompt), then
all of the group's answers are refined together, one batched call per round. The algorithm does not know which
backend runs it: a local transformers or vLLM model, or, in upstream mode, an
:class:`~toolace_r.models.generation.OpenAIGenerator` pointed at another server.

Isolation: one request never fails another. Each job's prompt is built and measured on its own
(a job whose content cannot be prompted, e.g. text the tokenizer refuses, fails alone with
:class:`BadInput`, a 400); when a group's generation raises, the group is run again in halves until
the failing job stands alone, and only that job gets the error. Every refinement pass is checked
against the model's context (``refine(fits=...)``): an answer whose next pass would not fit keeps
its last answer. Failures are logged through a :class:`~toolace_r.serving.safe.FailureLog`
(a bounded traceback once per kind).

:meth:`Engine.wait` bounds the time a request may take, queueing included; a job whose client gave
up (timed out, or disconnected: :meth:`Engine.cancel`) is skipped if it has not started, and its
answers get no further refinement rounds if it has (``cut_short``); a pass already generating runs
to its end (its batch holds other requests' answers).
:meth:`Engine.close` stops taking jobs and lets the queue drain, so that in-flight requests are
answered before the process exits.

Python use (inside an event loop)::

    engine = Engine(make_generator("hf", "models/tiny-sft"), queue_size=64, max_batch=16)
    await engine.start()
    job = engine.submit(sample, plan)
    result = await engine.wait(job, timeout=60)   # JobResult: refine results, first-pass and prompt tokens
    await engine.close()
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from toolace_r.models.constrain import constraint_for
from toolace_r.models.context import context_limit, fits_check, prompt_length
from toolace_r.models.prompting import build_messages
from toolace_r.refine import DEFAULT_CONFIRM_BIAS, RefineResult, Sampling, check_confirm, check_confirm_bias, refine
from toolace_r.serving.safe import FailureLog, clean_text, short

log = logging.getLogger("toolace_r.serve")


class QueueFull(RuntimeError):
    """The request queue is full: try again later."""


class EngineClosed(RuntimeError):
    """The engine is shutting down and takes no new requests."""


class ContextTooLong(ValueError):
    """The prompt plus ``max_tokens`` does not fit the model's context window."""


class BadInput(ValueError):
    """The request's own content could not be made into a prompt (the server answers 400)."""


@dataclass
class JobResult:
    results: list[RefineResult]  # one per choice
    first_tokens: list[int]  # tokens of each choice's first pass
    prompt_tokens: int  # tokens of the request's prompt (0 where the backend does not say)


@dataclass
class Job:
    sample: Any
    plan: Any  # protocol.Plan: n, temperature, top_p, max_tokens, seed, mode, max_rounds
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)
    gone: bool = False  # the client gave up: skip the job if it has not run (read by the engine thread)

    def group_key(self) -> tuple:
        p = self.plan
        greedy = p.temperature == 0
        # Greedy decoding ignores the seed and top_p: such jobs batch together whatever they say.
        return (p.n, p.temperature, 1.0 if greedy else p.top_p, p.max_tokens, None if greedy else p.seed,
                p.mode, p.max_rounds)


class Engine:
    """Queue + single worker around a :class:`~toolace_r.models.generation.Generator`."""

    def __init__(self, generator: Any, *, queue_size: int = 64, max_batch: int = 16, batch_wait: float = 0.005,
                 confirm: str = "token", confirm_bias: float = DEFAULT_CONFIRM_BIAS, failures: FailureLog | None = None):
        if queue_size < 1 or max_batch < 1 or batch_wait < 0:
            raise ValueError("queue_size and max_batch must be >= 1, batch_wait >= 0")
        self.generator = generator
        self.confirm = check_confirm(confirm)  # how the served model keeps an answer (refine.confirm)
        self.confirm_bias = check_confirm_bias(confirm_bias)  # refine.confirm_bias
        self.queue_size, self.max_batch, self.batch_wait = queue_size, max_batch, batch_wait
        self.context_limit = context_limit(generator)
        self._queue: asyncio.Queue[Job] | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolace-r-engine")
        self.closing = False
        self.running = 0  # jobs in the batch being generated now
        self.served = 0
        self.rejected = 0
        self.dropped = 0  # jobs skipped because their client had gone
        self.cut_short = 0  # jobs whose refinement stopped because their client went meanwhile
        self.failures = failures or FailureLog(log)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        self._worker = asyncio.create_task(self._work(), name="toolace-r-engine")

    async def close(self, drain_timeout: float = 30.0) -> None:
        """Stop taking jobs, finish the queued and running ones (up to ``drain_timeout`` s), stop."""
        self.closing = True
        if self._queue is not None:
            try:
                await asyncio.wait_for(self._queue.join(), drain_timeout)
            except asyncio.TimeoutError:
                log.warning("shutdown: %d queued request(s) not finished after %.0f s", self._queue.qsize(), drain_timeout)
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if not job.future.done():
                    job.future.set_exception(EngineClosed("the server shut down before this request ran"))
        self._executor.shutdown(wait=True)
        self.generator.close()

    @property
    def queued(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    # --- requests ------------------------------------------------------------------------

    def submit(self, sample: Any, plan: Any) -> Job:
        """Queue a request; :class:`QueueFull` or :class:`EngineClosed` when it cannot be taken."""
        if self.closing or self._queue is None:
            raise EngineClosed("the server is shutting down")
        job = Job(sample, plan, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.rejected += 1
            raise QueueFull(f"the request queue is full ({self.queue_size} waiting); retry later") from None
        return job

    async def wait(self, job: Job, timeout: float) -> JobResult:
        """The job's result; :class:`asyncio.TimeoutError` after ``timeout`` s (the job is then dropped
        if it has not started, and its result discarded if it has)."""
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.cancel(job)
            raise

    def cancel(self, job: Job) -> None:
        """The client is gone: the job is not run if it has not started, its result discarded if it has."""
        job.gone = True
        job.future.cancel()

    # --- the worker ----------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            if self.batch_wait > 0 and self._queue.qsize() + 1 < self.max_batch:
                # Requests that clients send as soon as the previous batch answers them arrive a
                # few milliseconds apart: wait that long for them rather than run a tiny batch.
                await asyncio.sleep(self.batch_wait)
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [j for j in batch if not j.future.done()]  # skip jobs whose client gave up
            self.dropped += len(batch) - len(live)
            try:
                if live:
                    self.running = len(live)
                    outcomes = await loop.run_in_executor(self._executor, self._run_batch, live)
                    for job, out in zip(live, outcomes):
                        if job.future.done():
                            continue
                        if isinstance(out, BaseException):
                            job.future.set_exception(out)
                        else:
                            job.future.set_result(out)
                            self.served += 1
            except Exception as e:  # pragma: no cover - _run_batch catches per job
                self.failures("engine batch failed", e)
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(e)
            finally:
                self.running = 0
                for _ in batch:
                    self._queue.task_done()

    def _run_batch(self, jobs: list[Job]) -> list[JobResult | BaseException]:
        """Runs in the engine thread: group compatible jobs, run each group; one outcome per job."""
        t0 = time.perf_counter()
        groups: dict[tuple, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.group_key(), []).append(i)
        outcomes: list[JobResult | BaseException] = [RuntimeError("not run")] * len(jobs)
        for idx in groups.values():
            for i, out in zip(idx, self._run_isolated([jobs[i] for i in idx])):
                outcomes[i] = out
        log.debug("batch: %d request(s) in %d group(s), %.2f s", len(jobs), len(groups), time.perf_counter() - t0)
        return outcomes

    def _run_isolated(self, jobs: list[Job]) -> list[JobResult | BaseException]:
        """:meth:`_run_group`; when it raises, the halves again (recursively), so that a failure
        reaches only the job(s) that cause it. Jobs whose client has gone are not run."""
        outcomes: list[JobResult | BaseException] = [EngineClosed("the client gave up")] * len(jobs)
        todo = [i for i, job in enumerate(jobs) if not job.gone]
        if not todo:
            return outcomes
        failed: Exception | None = None
        try:
            results = self._run_group([jobs[i] for i in todo])
        except Exception as e:
            failed = e
        if failed is not None:  # (out of the except block: the halves' errors are not chained to this one)
            if len(todo) == 1:
                self.failures("generation failed for a request", failed)
                results = [failed]
            else:
                log.warning("generation failed for a group of %d requests (%s: %s); running it again in halves "
                            "to find the request(s) at fault", len(todo), type(failed).__name__,
                            short(clean_text(str(failed)), 200))
                half = len(todo) // 2
                group = [jobs[i] for i in todo]
                results = self._run_isolated(group[:half]) + self._run_isolated(group[half:])
        for i, out in zip(todo, results):
            outcomes[i] = out
        return outcomes

    def _fits(self, max_tokens: int):
        """The context check of every refinement pass, where the model's context is known."""
        return fits_check(self.generator, max_tokens, self.context_limit)

    def _run_group(self, jobs: list[Job]) -> list[JobResult | BaseException]:
        gen = self.generator
        cfg = gen.prompt_config
        plan = jobs[0].plan
        outcomes: list[JobResult | BaseException | None] = [None] * len(jobs)
        lengths, ok = [], []
        for i, job in enumerate(jobs):
            try:  # one job's content must not fail the others: prompt and measure each on its own
                n_prompt = prompt_length(gen, build_messages(job.sample, cfg))
            except Exception as e:
                self.failures("a request could not be prompted", e, logging.WARNING)
                outcomes[i] = BadInput(f"the request could not be made into a prompt for the model "
                                       f"({type(e).__name__}: {short(str(e), 200)})")
                continue
            if self.context_limit and n_prompt is not None and n_prompt + plan.max_tokens > self.context_limit:
                outcomes[i] = ContextTooLong(
                    f"the prompt has {n_prompt} tokens; with max_tokens {plan.max_tokens} that is over the "
                    f"model's context of {self.context_limit} tokens")
                continue
            lengths.append(n_prompt or 0)
            ok.append(i)
        if not ok:
            return outcomes  # type: ignore[return-value]
        seed = plan.seed if plan.seed is not None else random.randrange(2**31)
        # tool_choice per request: the same constraint on its first pass and every refinement pass
        constraints = [constraint_for(jobs[i].sample.tools, "required", cfg.tool_format, jobs[i].plan.parallel)
                       if getattr(jobs[i].plan, "constrain", False) else None for i in ok]
        # a client that goes while its answers are refined: no further rounds for them
        job_of = {id(jobs[i].sample): jobs[i] for i in ok}
        cut: set[int] = set()

        def wanted(sample: Any) -> bool:
            job = job_of[id(sample)]
            if job.gone and id(job) not in cut:
                cut.add(id(job))
                self.cut_short += 1
            return not job.gone

        # n sampled choices per request, each refined on its own: the group's n x jobs answers at once
        results = refine(gen, [jobs[i].sample for i in ok], plan.mode, max_rounds=plan.max_rounds, prompt_cfg=cfg,
                         max_new_tokens=plan.max_tokens, confirm=self.confirm, confirm_bias=self.confirm_bias,
                         fits=self._fits(plan.max_tokens),
                         sampling=Sampling(n=plan.n, temperature=plan.temperature, top_p=plan.top_p, seed=seed),
                         constraints=constraints, wanted=wanted)
        for k, i in enumerate(ok):
            mine = results[k * plan.n:(k + 1) * plan.n]
            outcomes[i] = JobResult(mine, [r.first_tokens for r in mine], lengths[k])
        return outcomes  # type: ignore[return-value]
