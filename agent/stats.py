"""Summaries of a latency sample: percentiles, spread, and a CI for the median.

Pure Python so it runs wherever the agent does, numpy or not.
"""

import math

from ..shared.quantiles import Z95, quantile_ci
from ..shared.types import MIN_SAMPLES_FOR


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
    summary["ci_half_width_pct"] = ci_half_width_pct(ordered)
    return summary


def ci_half_width_pct(ordered):
    """Half the width of the median's 95% CI, in % of the median; None when unbounded."""
    ci = median_ci(ordered) if ordered else None
    middle = percentile(ordered, 50)
    if ci is None or not middle:
        return None
    return 100.0 * (ci[1] - ci[0]) / 2.0 / middle
