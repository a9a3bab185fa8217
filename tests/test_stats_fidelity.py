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


def test_the_median_interval_widens_when_the_board_drifts():
    rng = np.random.RandomState(2)
    steady = list(rng.normal(10, 0.5, 1000))
    width, _ = stats.ci_half_width_pct(steady)
    low, high = stats.median_ci(sorted(steady))
    order_width = 100.0 * (high - low) / 2 / np.median(steady)
    # Steady runs: never narrower than the order statistics', and the batch interval
    # (t with 9 degrees of freedom instead of z, and its own noise) not far wider.
    assert order_width <= width < 1.9 * order_width
    # The same noise on a board slowing by 6% across the window: the order statistics
    # barely move, the batch medians carry the trend.
    drifting = [x + 0.6 * i / 1000 for i, x in enumerate(steady)]
    low, high = stats.median_ci(sorted(drifting))
    width2, basis2 = stats.ci_half_width_pct(drifting)
    assert basis2 == stats.BATCH_MEDIANS
    assert width2 > 2.5 * 100.0 * (high - low) / 2 / np.median(drifting) and width2 > 1.5 * width
    assert stats.summarize(drifting)["ci_basis"] == stats.BATCH_MEDIANS
    # Too few runs for ten batches of five: the order statistics alone.
    assert stats.ci_half_width_pct(drifting[:49])[1] == stats.ORDER_STATISTICS


def test_spread_of_medians_is_a_t_interval():
    from edgeshrink.shared.quantiles import spread_half_width
    assert spread_half_width([1.0, 2.0, 3.0]) == pytest.approx(4.303 / math.sqrt(3))
    assert spread_half_width([5.0]) is None
    assert spread_half_width([2.0] * 40) == 0.0


class _Quiet:
    def progress(self, *args, **kwargs):
        pass


def _timed(settings, run_ms=lambda i: 1.0):
    """The child's timing loop on a fake model whose i-th run takes run_ms(i) ms."""
    import time as _time
    from edgeshrink.agent.measure import Child
    count = [0]

    def run(_feeds):
        _time.sleep(run_ms(count[0]) / 1000.0)
        count[0] += 1
    return Child.timed_runs(_Quiet(), run, None, settings)


def test_a_fixed_window_stops_because_its_floors_were_met():
    from edgeshrink.shared.types import BenchSettings
    samples, reason = _timed(BenchSettings(min_runs=1, max_runs=10 ** 6, min_time_s=0.05, max_time_s=0.05))
    assert reason == "min_runs_and_min_time" and samples


def test_the_precision_stop_waits_out_a_drift():
    from edgeshrink.shared.types import BenchSettings
    settings = BenchSettings(min_runs=1, max_runs=10 ** 6, min_time_s=0.0, max_time_s=1.5, precision_pct=1.0)
    steady, reason = _timed(settings)
    assert reason == "precision" and len(steady) >= 50
    # Every 10 runs 3% slower than the 10 before: the order statistics alone would stop as soon
    # as 50 runs were in; the batch medians see the climb and it runs to the ceiling.
    drifting, reason2 = _timed(settings, run_ms=lambda i: 1.0 * (1.03 ** (i // 10)))
    assert reason2 == "max_time"


def test_pooled_rounds_are_judged_by_the_spread_of_their_medians():
    from edgeshrink.agent.bench import merge_rounds
    from edgeshrink.shared.measurement import LatencyPass, LatencyStats, RoundSummary
    from edgeshrink.shared.types import BenchSettings
    rng = np.random.RandomState(3)
    passes = []
    for number, level in enumerate((10.0, 10.5, 10.2), start=1):
        samples = rng.normal(level, 0.05, 400).tolist()
        summary = stats.summarize(samples)
        passes.append(LatencyPass(latency=LatencyStats.from_dict(summary), samples_ms=samples,
                                  rounds=[RoundSummary(round=number, n=400, median_ms=summary["p50_ms"],
                                                       stop_reason="precision")]))
    # Each round alone is tight (about +/-0.1%); the processes differ by up to 5%.
    assert all(p.latency.ci_half_width_pct < 0.5 for p in passes)
    merged = merge_rounds(passes, BenchSettings(rounds=3, precision_pct=1.0))
    medians = [p.rounds[0].median_ms for p in passes]
    expected = 100 * 4.303 * np.std(medians, ddof=1) / math.sqrt(3) / merged.latency.p50_ms
    assert merged.latency.ci_basis == stats.ROUND_MEDIANS
    assert merged.latency.ci_half_width_pct == pytest.approx(expected)
    assert merged.precision_reached is False
