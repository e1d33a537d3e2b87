"""Progress bars for the long loops (the MAIT probe, evaluation, ``toolace-r model generate``).

:func:`progress` is a context manager that yields a ``tick(n=1)`` function: the loop calls it as
items finish. A bar (description, bar, ``done/total``, elapsed time, ETA) is drawn on stderr only
when stderr is a terminal and output is not quiet (``toolace-r --quiet`` or ``TOOLACE_R_QUIET=1``);
otherwise ``tick`` does nothing, so logs, pipes and tests stay clean. Inside a command that already
shows a live display (``toolace-r run`` registers its own with :func:`shared`), the bar is a task
of that display, removed when done, since a terminal holds one live display at a time.

Kept light: rich is imported when a bar is really drawn.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

Tick = Callable[..., None]

_shared: Optional[Any] = None  # the rich Progress of the running command, if it has one


def _noop(n: int = 1) -> None:
    return None


def quiet() -> bool:
    """Is output quiet (``--quiet`` / ``TOOLACE_R_QUIET``)?"""
    return os.environ.get("TOOLACE_R_QUIET", "").strip().lower() not in ("", "0", "false", "no")


def set_quiet(value: bool) -> None:
    """Make output quiet for this process and the processes it starts."""
    if value:
        os.environ["TOOLACE_R_QUIET"] = "1"


def enabled() -> bool:
    """Whether bars are drawn: stderr is a terminal and output is not quiet."""
    if quiet():
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


def columns() -> list[Any]:
    """The columns every bar uses: what, bar, done/total, elapsed, ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn()]


@contextmanager
def shared(progress: Any) -> Iterator[None]:
    """While inside, bars become tasks of ``progress`` (a live rich Progress) instead of their own."""
    global _shared
    previous, _shared = _shared, progress
    try:
        yield
    finally:
        _shared = previous


@contextmanager
def progress(description: str, total: Optional[int]) -> Iterator[Tick]:
    """A bar of ``total`` items (None: unknown); yields ``tick(n=1)``."""
    if _shared is not None:
        task = _shared.add_task(description, total=total)

        def tick_shared(n: int = 1) -> None:
            _shared.advance(task, n)

        try:
            yield tick_shared
        finally:
            _shared.remove_task(task)
        return
    if not enabled():
        yield _noop
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(*columns(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def generate_in_chunks(generator: Any, prompts: list[Any], description: str, *, chunk: int = 64,
                       seed: int = 0, **kw: Any) -> list[Any]:
    """``generator.generate(prompts, seed=seed, **kw)`` in chunks of ``chunk`` prompts behind a
    progress bar. The answers are the same as in one call: a prompt's sampling depends on the seed
    and its position in the whole list, which each chunk passes on."""
    outs: list[Any] = []
    with progress(description, total=len(prompts)) as tick:
        for lo in range(0, len(prompts), chunk):
            part = prompts[lo:lo + chunk]
            outs += generator.generate(part, seed=seed, positions=range(lo, lo + len(part)), **kw)
            tick(len(part))
    return outs
