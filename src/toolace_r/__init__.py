"""toolace-r: the ToolACE-R method (model-aware iterative training, self-refinement corpus,
adaptive self-refinement) for tool-calling LLMs, with a BFCL-compatible checker.

The public Python API (each name is imported on first use, so ``import toolace_r`` stays light)::

    from toolace_r import check, parse_calls, score_answer        # scoring
    from toolace_r import convert, read_samples, write_samples    # data
    from toolace_r import EvalOptions, run_eval, evaluate         # evaluation
    from toolace_r import RunConfig, load_config, run             # the method end to end
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

try:  # the installed distribution's version (pyproject.toml), so there is one place to bump it
    __version__ = importlib.metadata.version("toolace-r")
except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

# public name -> the module that defines it
_API = {
    "check": "toolace_r.checker",
    "parse_calls": "toolace_r.calls",
    "score_answer": "toolace_r.scoring",
    "convert": "toolace_r.data.convert",
    "read_samples": "toolace_r.data.io",
    "write_samples": "toolace_r.data.io",
    "evaluate": "toolace_r.evaluation",
    "EvalOptions": "toolace_r.evaluation",
    "run_eval": "toolace_r.evaluation",
    "RunConfig": "toolace_r.config",
    "load_config": "toolace_r.config",
    "run": "toolace_r.pipeline",
}

__all__ = ["__version__", *_API]

if TYPE_CHECKING:
    from toolace_r.calls import parse_calls
    from toolace_r.checker import check
    from toolace_r.data.convert import convert
    from toolace_r.data.io import read_samples, write_samples
    from toolace_r.config import RunConfig, load_config
    from toolace_r.evaluation import EvalOptions, evaluate, run_eval
    from toolace_r.pipeline import run
    from toolace_r.scoring import score_answer


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562) and cache the name here."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'toolace_r' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
