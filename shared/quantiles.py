"""Distribution-free confidence intervals for quantiles of a latency sample.

For the q-quantile of n ordered samples, the number of samples below it is
Binomial(n, q); the ranks n*q -/+ z*sqrt(n*q*(1-q)) bound it at the normal
approximation's confidence. No assumption about the latency distribution (which is
skewed and often multi-modal). Pure Python: the agent uses it too.
"""

import math

Z95 = 1.959964   # two-sided 95% normal quantile


def quantile_ci(ordered, q, z=Z95):
    """[low, high] bounding the q-quantile (0 < q < 1) of a sorted sample, or None when
    the sample is too small to bound it."""
    n = len(ordered)
    if n == 0:
        return None
    half_width = z * math.sqrt(n * q * (1.0 - q))
    low = int(math.floor(n * q - half_width))
    high = int(math.ceil(n * q + half_width))
    if low < 0 or high > n - 1:
        return None
    return [ordered[low], ordered[high]]


# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (scipy.stats.t.ppf);
# past 30 the 30's value stands, a hair wider than the exact one.
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
       2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
       2.045, 2.042)


def spread_half_width(medians):
    """Half the 95% t-interval of the mean of several medians (of batches of one run, or
    of rounds run in separate processes), or None for fewer than two.

    Order statistics assume every run is independent of the last; a board that drifts
    (heat, a neighbour's load) breaks that and their interval is too narrow. Medians of
    separate stretches carry the drift in their spread, so this interval widens with it.
    """
    k = len(medians)
    if k < 2:
        return None
    mean = sum(medians) / k
    sd = math.sqrt(sum((m - mean) ** 2 for m in medians) / (k - 1))
    return T95[min(k - 1, len(T95)) - 1] * sd / math.sqrt(k)
