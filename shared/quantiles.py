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
