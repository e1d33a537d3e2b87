"""The bootstrap of toolace_r.stats: small cases whose exact bootstrap distribution is enumerated
by hand, and the properties every interval must have."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import numpy as np
import pytest

from toolace_r import stats
from toolace_r.stats import StatsError, mean_ci, paired_diff, paired_ratio, stack_seeds

B = 10_000


def _replicates(values, resample_seeds=True, resamples=B, seed=0):
    x = stats.as_matrix(values)
    w = stats.draw_weights(*x.shape, resamples, np.random.default_rng(seed), resample_seeds)
    return stats.replicate_means(x, w)


def test_paired_diff_matches_the_enumerated_bootstrap():
    # a - b per sample is d = [1, 0, 0, 0]: a replicate's difference is k/4, k = how often sample 0
    # is drawn in 4 draws, k ~ Binomial(4, 1/4): P(k) = 81, 108, 54, 12, 1 (/256). Cumulative 81, 189,
    # 243, 255, 256: the 2.5% point (6.4 of 256) is k = 0, the 97.5% point (249.6) is k = 3.
    a, b = [1, 1, 0, 0], [0, 1, 0, 0]
    exact = Counter(sum(1 for i in draw if i == 0) for draw in itertools.product(range(4), repeat=4))
    assert [exact[k] for k in range(5)] == [81, 108, 54, 12, 1]
    est = paired_diff(a, b, resamples=B)
    assert (est.value, est.low, est.high) == (0.25, 0.0, 0.75)
    # the Monte Carlo replicates follow the exact distribution (within 4 standard errors)
    reps = _replicates(np.subtract(a, b))
    for k in range(5):
        p = exact[k] / 256
        assert abs(np.mean(np.isclose(reps, k / 4)) - p) < 4 * np.sqrt(p * (1 - p) / B), k


def test_one_sample_draw_applies_to_every_seed():
    # two seeds with the same verdicts: drawing the samples once for both gives the one-seed
    # distribution exactly (independent draws per seed would average out and narrow it)
    one = mean_ci([1, 0, 0, 0], resamples=B, seed=3)
    assert (one.low, one.high) == (0.0, 0.75)
    for resample_seeds in (True, False):
        two = mean_ci([[1, 0, 0, 0], [1, 0, 0, 0]], resamples=B, seed=3, resample_seeds=resample_seeds)
        assert (two.value, two.low, two.high) == (one.value, one.low, one.high)
        assert two.n_seeds == 2 and two.n_samples == 4


def test_resampling_seeds_covers_the_seed_to_seed_spread():
    # seed 0 right on both samples, seed 1 wrong on both: the samples' draw changes nothing; the
    # seeds' draw gives 1, 1/2, 0 with probabilities 1/4, 1/2, 1/4
    x = [[1, 1], [0, 0]]
    est = mean_ci(x, resamples=B)
    assert (est.value, est.low, est.high) == (0.5, 0.0, 1.0)
    reps = _replicates(x)
    for v, p in ((1.0, 0.25), (0.5, 0.5), (0.0, 0.25)):
        assert abs(np.mean(np.isclose(reps, v)) - p) < 4 * np.sqrt(p * (1 - p) / B)
    fixed = mean_ci(x, resamples=B, resample_seeds=False)  # given these two seeds: no doubt left
    assert (fixed.low, fixed.high) == (0.5, 0.5)


def test_paired_ratio_by_hand():
    # b is 1 everywhere, so a replicate's ratio is a's mean over the draw: 1, 2, 3 w.p. 1/4, 1/2, 1/4
    est = paired_ratio([1, 3], [1, 1], resamples=B)
    assert (est.value, est.low, est.high) == (2.0, 1.0, 3.0)
    assert est.times() == "2.00x [1.00, 3.00]"
    with pytest.raises(StatsError, match="positive mean"):
        paired_ratio([1, 2], [0, 0])
    # one zero in the denominator is fine: only a replicate drawing it alone has no ratio
    assert paired_ratio([1, 1], [0, 2], resamples=B).high == np.inf


def _correlated(rng, seeds=3, n=300, flip=0.08):
    a = (rng.random((seeds, n)) < 0.4).astype(float)
    b = np.where(rng.random((seeds, n)) < flip, 1 - a, a)  # b agrees with a on most samples
    return a, b


@pytest.mark.parametrize("seed", range(5))
def test_intervals_contain_the_point_estimate(seed):
    rng = np.random.default_rng(seed)
    a, b = _correlated(rng, seeds=1 + seed % 3, n=20 + 50 * seed)
    tokens_a, tokens_b = rng.integers(10, 60, a.shape), rng.integers(5, 30, a.shape)
    for est in (mean_ci(a, seed=seed), paired_diff(a, b, seed=seed), paired_diff(a, b, seed=seed, paired=False),
                paired_ratio(tokens_a, tokens_b, seed=seed), mean_ci(a, seed=seed, resample_seeds=False)):
        assert est.low <= est.value <= est.high
        assert est.low < est.high  # real spread in the data: a real interval


def test_paired_interval_is_narrower_on_correlated_data():
    a, b = _correlated(np.random.default_rng(7))
    paired, unpaired = paired_diff(a, b), paired_diff(a, b, paired=False)
    assert paired.value == unpaired.value
    assert (paired.high - paired.low) < 0.6 * (unpaired.high - unpaired.low)


def test_identical_arms_differ_by_exactly_zero():
    a, _ = _correlated(np.random.default_rng(1))
    est = paired_diff(a, a.copy())
    assert (est.value, est.low, est.high) == (0.0, 0.0, 0.0)
    assert not est.above_zero()
    assert est.points() == "+0.0 [+0.0, +0.0]"
    assert mean_ci(np.ones(7)).to_dict() == {"value": 1.0, "low": 1.0, "high": 1.0, "level": 0.95, "n_seeds": 1,
                                             "n_samples": 7, "resamples": stats.RESAMPLES}


def test_deterministic_given_the_seed():
    a, b = _correlated(np.random.default_rng(2))
    assert paired_diff(a, b, seed=5) == paired_diff(a, b, seed=5)
    assert mean_ci(a, seed=5) != mean_ci(a, seed=6)  # another seed, other draws


def test_interval_level_and_bad_input():
    a, _ = _correlated(np.random.default_rng(4))
    wide, narrow = mean_ci(a, level=0.99), mean_ci(a, level=0.5)
    assert wide.low < narrow.low < narrow.high < wide.high
    with pytest.raises(StatsError, match="same seeds and samples"):
        paired_diff(np.ones((2, 5)), np.ones((1, 5)))
    with pytest.raises(StatsError, match="non-empty"):
        mean_ci([])
    with pytest.raises(StatsError, match="finite"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(StatsError, match="level"):
        mean_ci([1, 0], level=1.0)


def test_stack_seeds_aligns_by_sample_id():
    x = stack_seeds([{"a": 1, "b": 0}, {"b": 1, "a": 0}], ["a", "b"])
    assert x.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(StatsError, match="seed 1 has no value for sample 'b'"):
        stack_seeds([{"a": 1, "b": 0}, {"a": 1}], ["a", "b"])


def test_default_bootstrap_is_fast():
    a, b = _correlated(np.random.default_rng(0), seeds=3, n=400)
    t0 = time.perf_counter()
    for _ in range(10):
        paired_diff(a, b)
    assert (time.perf_counter() - t0) / 10 < 1.0  # ~50 ms on one core; generous for a shared machine
