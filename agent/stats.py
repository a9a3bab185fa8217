"""Summaries of a latency sample: percentiles, spread, and a CI for the median.

Pure Python so it runs wherever the agent does, numpy or not.
"""

import math

from ..shared.quantiles import Z95, quantile_ci, spread_half_width
from ..shared.types import MIN_SAMPLES_FOR

# The drift-aware CI: the timed runs in this many consecutive batches, each at least
# this long, so a batch median is itself a steady figure.
BATCHES = 10
MIN_BATCH_RUNS = 5
ORDER_STATISTICS = "order statistics"
BATCH_MEDIANS = "batch medians"
ROUND_MEDIANS = "round medians"


def percentile(ordered, q):
    """Linear-interpolated percentile (like numpy's default) of a sorted list."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    low = int(math.floor(pos))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median_ci(ordered, z=Z95):
    """Order-statistic 95% confidence interval of the median (no normality assumed);
    None when the sample is too small to bound it."""
    return quantile_ci(ordered, 0.5, z)


def summarize(samples_ms):
    """p50/p90/p99, mean, std, CoV and the median CI of latencies in ms.

    A percentile is reported only when the sample has enough runs to resolve it
    (MIN_SAMPLES_FOR); otherwise it is None rather than a disguised maximum.
    """
    ordered = sorted(samples_ms)
    n = len(ordered)
    mean = sum(ordered) / n if n else None
    std = math.sqrt(sum((x - mean) ** 2 for x in ordered) / (n - 1)) if n > 1 else None
    summary = {
        "n": n,
        "mean_ms": mean,
        "std_ms": std,
        "cov": (std / mean) if (std is not None and mean) else None,
        "min_ms": ordered[0] if n else None,
        "max_ms": ordered[-1] if n else None,
        "median_ci95_ms": median_ci(ordered) if n else None,
    }
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        enough = n >= MIN_SAMPLES_FOR[name]
        summary[name + "_ms"] = percentile(ordered, q) if enough else None
    summary["ci_half_width_pct"], summary["ci_basis"] = ci_half_width_pct(samples_ms, ordered)
    return summary


def batch_medians(samples):
    """Medians of BATCHES consecutive stretches of the runs in time order; [] when the
    runs are too few for batches of MIN_BATCH_RUNS."""
    size = len(samples) // BATCHES
    if size < MIN_BATCH_RUNS:
        return []
    return [percentile(sorted(samples[i * size:(i + 1) * size]), 50) for i in range(BATCHES)]


def ci_half_width_pct(samples, ordered=None):
    """Half the median's 95% CI in % of the median, and what bounded it; (None, None)
    when the runs are too few.

    The wider of two: the order-statistic interval, exact only when each run is
    independent of the last, and a t-interval over batch medians, which carries slow
    drift within the window. A precision stop on the first alone stopped early on a
    drifting board; on the second alone, whose width is itself noisy, a stop checked
    every 0.1 s would catch it on a narrow moment.
    """
    ordered = sorted(samples) if ordered is None else ordered
    ci = median_ci(ordered) if ordered else None
    middle = percentile(ordered, 50)
    if ci is None or not middle:
        return None, None
    width, basis = 100.0 * (ci[1] - ci[0]) / 2.0 / middle, ORDER_STATISTICS
    spread = spread_half_width(batch_medians(samples))
    if spread is not None and 100.0 * spread / middle > width:
        width, basis = 100.0 * spread / middle, BATCH_MEDIANS
    return width, basis
