"""Suite-wide settings for parallel runs (``pytest -n auto``: pytest-xdist, ``--dist loadfile``).

- Each worker gets an equal share of the CPU cores for torch (set before anything imports torch,
  and inherited by the runs the tests start), so that two workers do not fight over the same cores.
- The tests of one file run in one worker (module fixtures are built once); the long end-to-end runs
  of `toolace-r run` are one file each (tests/test_pipeline_*.py) so that workers take them side by
  side, and session fixtures that train a model are built once for all workers (tests/workers.py).
- Files with slow tests are handed out first, the end-to-end runs before the rest, so that no long
  test starts last; pyproject.toml keeps that order (--no-loadscope-reorder). (--dist loadgroup would
  group finer, but pytest-xdist 3.8 cannot rename the node ids of pytest 9.)
"""

from __future__ import annotations

import os

import pytest

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def path(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    slow = {path(i) for i in items if i.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        p = path(item)
        return 0 if p.startswith("tests/test_pipeline_") else 1 if p in slow else 2

    items.sort(key=rank)  # stable: the collection order within a rank
