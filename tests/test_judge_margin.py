"""The pure parts of benchmarks/judge_margin.py (its README figures rest on them), on cases computed by hand."""

import importlib.util
import sys
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(_BENCH))  # as `python benchmarks/judge_margin.py` has it: its helper module beside it
_spec = importlib.util.spec_from_file_location("judge_margin", _BENCH / "judge_margin.py")
jm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(jm)


def test_auc_counts_pairs_and_half_ties():
    assert jm.auc([3.0, 2.0], [1.0, 0.0]) == 1.0
    assert jm.auc([0.0], [1.0]) == 0.0
    # pairs (1,0) win, (1,1) tie, (0,0) tie, (0,1) lose: (1 + 0.5 + 0.5) / 4
    assert jm.auc([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.5)
    assert jm.auc([], [1.0]) != jm.auc([], [1.0])  # nan: no pair to rank


def test_threshold_curve_by_hand():
    # margins, first answer right?, rewrite right?
    margins = [-2.0, -1.0, -1.0, 0.5, 3.0]
    first = [False, True, False, True, True]
    rewritten = [True, False, True, True, False]
    # below -2: nothing rewritten; below -1: item 0 fixed (+1); below 0.5: items 1 (broken) and 2 (fixed)
    # move together (+1); below 3: item 3 stays right (+1); above 3: item 4 broken (0)
    assert jm.threshold_curve(margins, first, rewritten) == [
        (float("-inf"), 0), (-1.0, 1), (0.5, 1), (3.0, 1), (float("inf"), 0)]
    assert jm.best_rule(margins, first, rewritten) == (-1.0, 1)  # the lowest threshold with the most


def test_threshold_curve_nothing_gains():
    assert jm.best_rule([0.0, 1.0], [True, True], [False, False]) == (float("-inf"), 0)
