"""Change points in a history of medians: e-divisive means with a permutation test.

The method Apache Otava and MongoDB use for performance histories (Matteson and James,
2014): the split of a series that maximizes the energy distance between its two sides
is a change point when a permutation test says no reshuffle of the same values
separates as well. Accepted points split the series, and each side is searched again.
One noisy night cannot make a change point: a split needs both sides to differ as
distributions, each with at least ``min_size`` points.

apache-otava itself was not taken as a dependency: it pins numpy 2.2 and scipy < 1.17
and brings BigQuery and Slack clients; this is the part of it edgeshrink needs.
"""

from dataclasses import dataclass
from typing import List

import numpy as np

MIN_SIZE = 3
PERMUTATIONS = 199
ALPHA = 0.01


@dataclass(frozen=True)
class ChangePoint:
    index: int             # the first point of the new regime
    p_value: float         # of the permutation test that accepted it
    mean_before: float     # means of the segments on either side, within its parent segment
    mean_after: float

    @property
    def relative_change(self):
        return self.mean_after / self.mean_before - 1.0 if self.mean_before else None


def _block_sums(distances):
    """Prefix sums over both axes, padded, so any block's sum is four lookups."""
    padded = np.zeros((distances.shape[0] + 1, distances.shape[1] + 1))
    padded[1:, 1:] = distances.cumsum(axis=0).cumsum(axis=1)
    return padded


def _block(sums, rows, columns):
    (r0, r1), (c0, c1) = rows, columns
    return sums[r1, c1] - sums[r0, c1] - sums[r1, c0] + sums[r0, c0]


def _best_split(values, min_size):
    """(index, statistic) of the split maximizing the scaled energy distance."""
    n = len(values)
    sums = _block_sums(np.abs(values[:, None] - values[None, :]))
    best = (None, -np.inf)
    for tau in range(min_size, n - min_size + 1):
        m, k = tau, n - tau
        between = _block(sums, (0, tau), (tau, n))
        within_left = _block(sums, (0, tau), (0, tau)) / 2.0     # each pair counted twice
        within_right = _block(sums, (tau, n), (tau, n)) / 2.0
        energy = (2.0 * between / (m * k) - within_left / (m * (m - 1) / 2.0)
                  - within_right / (k * (k - 1) / 2.0))
        statistic = m * k / float(n) * energy
        if statistic > best[1]:
            best = (tau, statistic)
    return best


def _significance(values, observed, min_size, permutations, rng):
    """Share of reshuffles (plus the observed order) whose best split is as strong."""
    as_strong = 1
    for _ in range(permutations):
        if _best_split(rng.permutation(values), min_size)[1] >= observed:
            as_strong += 1
    return as_strong / float(permutations + 1)


def e_divisive(series, alpha=ALPHA, permutations=PERMUTATIONS, min_size=MIN_SIZE, seed=0) -> List[ChangePoint]:
    """Change points of ``series`` (oldest first), in order. Seeded: the same history
    always gives the same answer."""
    values = np.asarray(series, dtype=float)
    rng = np.random.default_rng(seed)
    found = []
    pending = [(0, len(values))]
    while pending:
        start, end = pending.pop()
        segment = values[start:end]
        if len(segment) < 2 * min_size or np.ptp(segment) == 0:
            continue
        split, statistic = _best_split(segment, min_size)
        p_value = _significance(segment, statistic, min_size, permutations, rng)
        if p_value >= alpha:
            continue
        index = start + split
        found.append(ChangePoint(index, p_value, float(segment[:split].mean()), float(segment[split:].mean())))
        pending.extend([(start, index), (index, end)])
    return sorted(found, key=lambda point: point.index)
