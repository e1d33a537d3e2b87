"""Session fixtures built once even when parallel workers (``pytest -n``) run the suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import pytest


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that ``build`` fills once per test session. Alone, a fresh temp folder; under
    pytest-xdist the first worker to ask builds it (under a file lock) in the temp folder all workers
    share, and the others wait for it and reuse it. The folder is read-only to its users."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        out = tmp_path_factory.mktemp(name)
        build(out)
        return out
    from filelock import FileLock

    out = tmp_path_factory.getbasetemp().parent / name
    with FileLock(str(out) + ".lock"):
        if not (out / ".built").is_file():
            shutil.rmtree(out, ignore_errors=True)  # a build that failed in another worker
            out.mkdir()
            build(out)
            (out / ".built").touch()
    return out
