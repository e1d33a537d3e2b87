"""The real bfcl-eval wheel for the multi-turn tests: $TOOLACE_R_BFCL_WHEEL, else the project's cache,
else downloaded into the cache once (`pip download bfcl-eval`, as `toolace-r eval --bench bfcl` does);
the tests skip when none can be had."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _find_wheel() -> Path | None:
    from toolace_r import bfcl

    cands = [os.environ.get("TOOLACE_R_BFCL_WHEEL", "")]
    cands += [str(p) for p in sorted(bfcl.cache_dir().glob("bfcl_eval-*.whl"))] if bfcl.cache_dir().is_dir() else []
    for c in cands:
        if c and Path(c).is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def mt_source():
    pytest.importorskip("mpmath")  # BFCL's MathAPI needs it
    from toolace_r import bfcl

    wheel = _find_wheel()
    if wheel is not None:
        return bfcl.locate(wheel, download=False)
    from filelock import FileLock

    bfcl.cache_dir().parent.mkdir(parents=True, exist_ok=True)
    try:  # one download, whichever test worker comes first
        with FileLock(str(bfcl.cache_dir()) + ".lock"):
            return bfcl.locate(None, download=True)
    except bfcl.BfclError as e:
        pytest.skip(f"no bfcl-eval wheel (set TOOLACE_R_BFCL_WHEEL): {e}")


@pytest.fixture(scope="session")
def mt_classes(mt_source):
    from toolace_r.multiturn.envs import load_classes

    return load_classes(mt_source)


@pytest.fixture(scope="session")
def mt_base(mt_source):
    from toolace_r.multiturn.checker import load_category

    return load_category(mt_source, "multi_turn_base")


# The tiny models of tests/models (the embedded one and a random Qwen2 with the real Qwen2.5
# tokenizer and template), reused as tests/serving does.
def _models_conftest():
    import importlib.util

    spec = importlib.util.spec_from_file_location("mt_models_conftest", Path(__file__).parents[1] / "models" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_models = _models_conftest()
samples = _models.samples
tiny_model_dir = _models.tiny_model_dir
tiny_qwen = _models.tiny_qwen
