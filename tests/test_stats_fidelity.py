import math

import numpy as np
import pytest

from edgeshrink.agent import stats
from edgeshrink.shared import fidelity


def test_percentiles_match_numpy_linear_interpolation():
    rng = np.random.RandomState(0)
    samples = list(rng.lognormal(0, 0.3, 500))
    summary = stats.summarize(samples)
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        assert summary[name + "_ms"] == pytest.approx(np.percentile(samples, q))
    assert summary["mean_ms"] == pytest.approx(np.mean(samples))
    assert summary["std_ms"] == pytest.approx(np.std(samples, ddof=1))
    assert summary["cov"] == pytest.approx(np.std(samples, ddof=1) / np.mean(samples))


def test_median_interval_brackets_the_median_and_narrows_with_more_samples():
    rng = np.random.RandomState(1)
    small = sorted(rng.normal(10, 1, 50))
    large = sorted(rng.normal(10, 1, 5000))
    low, high = stats.median_ci(small)
    assert low <= np.median(small) <= high
    low2, high2 = stats.median_ci(large)
    assert (high2 - low2) < (high - low)
    assert stats.median_ci([1.0, 2.0]) is None


def test_percentiles_are_not_quoted_without_enough_samples():
    summary = stats.summarize([1.0] * 50)
    assert summary["p50_ms"] == 1.0 and summary["p90_ms"] == 1.0
    assert summary["p99_ms"] is None  # 50 runs cannot resolve a 1-in-100 tail


def test_fidelity_of_identical_outputs():
    ref = np.random.RandomState(0).standard_normal((20, 10))
    result = fidelity.compare(ref.copy(), ref, labels=ref.argmax(1))
    assert result.identical and result.sqnr_db is None
    assert result.cosine_mean == pytest.approx(1.0)
    assert result.top1_agreement == 1.0 and result.accuracy == 1.0


def test_fidelity_sqnr_of_known_noise():
    rng = np.random.RandomState(0)
    ref = rng.standard_normal((100, 10))
    noise = rng.standard_normal((100, 10)) * 0.1
    result = fidelity.compare(ref + noise, ref)
    expected = 10 * math.log10((ref ** 2).sum() / (noise ** 2).sum())
    assert result.sqnr_db == pytest.approx(expected)
    assert 0.99 < result.cosine_mean < 1.0


def test_fidelity_counts_disagreements_and_accuracy():
    ref = np.eye(4)
    out = np.eye(4)[[0, 1, 2, 0]]  # last sample predicts class 0 instead of 3
    result = fidelity.compare(out, ref, labels=np.array([0, 1, 3, 3]))
    assert result.top1_agreement == 0.75
    assert result.accuracy == 0.5
