"""The real bfcl-eval wheel for the multi-turn tests: $TOOLACE_R_BFCL_WHEEL, the project's cache, or
the copy this machine keeps in /tmp/us2_bfcl; the tests skip when none is present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _find_wheel() -> Path | None:
    from toolace_r import bfcl

    cands = [os.environ.get("TOOLACE_R_BFCL_WHEEL", "")]
    cands += [str(p) for p in sorted(bfcl.cache_dir().glob("bfcl_eval-*.whl"))] if bfcl.cache_dir().is_dir() else []
    cands += [str(p) for p in sorted(Path("/tmp/us2_bfcl").glob("bfcl_eval-*.whl"))]
    for c in cands:
        if c and Path(c).is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def mt_source():
    pytest.importorskip("mpmath")  # BFCL's MathAPI needs it
    from toolace_r import bfcl

    wheel = _find_wheel()
    if wheel is None:
        pytest.skip("no bfcl-eval wheel (set TOOLACE_R_BFCL_WHEEL)")
    return bfcl.locate(wheel, download=False)


@pytest.fixture(scope="session")
def mt_classes(mt_source):
    from toolace_r.multiturn.envs import load_classes

    return load_classes(mt_source)


@pytest.fixture(scope="session")
def mt_base(mt_source):
    from toolace_r.multiturn.checker import load_category

    return load_category(mt_source, "multi_turn_base")
