"""Today's samples against the baseline window's: a verdict a performance engineer signs.

Both must hold to flag a figure: the difference is real (Mann-Whitney U on the raw
samples, two-sided, below ``alpha``, and the 95% bootstrap interval of the median
ratio excludes 1) and it matters (the median ratio is at least ``min_effect`` away from
1). A board's samples within one night are many, so a rank test alone calls a 0.5%
shift significant; the effect floor is what keeps a noisy board from crying wolf, and
the interval is what the report quotes.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

ALPHA = 0.01
MIN_EFFECT = 0.05
RESAMPLES = 2000
# Bootstrap draws are made from at most this many samples per side (chosen evenly): the
# interval of a median needs no more, and a 100000-run history stays fast.
MAX_BOOTSTRAP_SAMPLES = 2000

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Comparison:
    verdict: str                    # regression, improvement or unchanged
    ratio: float                    # median today / median baseline
    ci: Tuple[float, float]         # 95% bootstrap interval of the ratio
    p_value: Optional[float]        # Mann-Whitney U, two-sided (None for once-a-night figures)
    today_median: float
    baseline_median: float
    today_n: int
    baseline_n: int
    min_effect: float
    why: str                        # one line: what decided the verdict

    @property
    def change(self):
        return self.ratio - 1.0

    def to_dict(self):
        return {"verdict": self.verdict, "ratio": self.ratio, "ci": list(self.ci), "p_value": self.p_value,
                "today_median": self.today_median, "baseline_median": self.baseline_median,
                "today_n": self.today_n, "baseline_n": self.baseline_n, "min_effect": self.min_effect,
                "why": self.why}


def _thinned(values):
    if len(values) <= MAX_BOOTSTRAP_SAMPLES:
        return values
    return values[np.linspace(0, len(values) - 1, MAX_BOOTSTRAP_SAMPLES).astype(int)]


def ratio_ci(today, baseline, quantile=0.5, resamples=RESAMPLES, seed=0):
    """95% percentile-bootstrap interval of quantile(today) / quantile(baseline) (the
    median by default), each side resampled on its own; seeded, so a rerun on the same
    data prints the same interval."""
    rng = np.random.default_rng(seed)
    a, b = _thinned(np.sort(today)), _thinned(np.sort(baseline))
    ratios = (np.quantile(rng.choice(a, (resamples, len(a))), quantile, axis=1)
              / np.quantile(rng.choice(b, (resamples, len(b))), quantile, axis=1))
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def compare(today, baseline, higher_is_worse=True, min_effect=MIN_EFFECT, alpha=ALPHA, quantile=0.5,
            resamples=RESAMPLES, seed=0) -> Optional[Comparison]:
    """Today's raw samples against the baseline's, by the ratio of a ``quantile`` (the
    median by default; 0.9 for a p90 limit); None when either side is empty or the
    baseline's value is not positive (no ratio to speak of)."""
    from scipy.stats import mannwhitneyu

    today = np.asarray(today, dtype=float)
    baseline = np.asarray(baseline, dtype=float)
    if not len(today) or not len(baseline):
        return None
    today_median, baseline_median = float(np.quantile(today, quantile)), float(np.quantile(baseline, quantile))
    if baseline_median <= 0:
        return None
    ratio = today_median / baseline_median
    ci = ratio_ci(today, baseline, quantile, resamples, seed)
    p_value = float(mannwhitneyu(today, baseline, alternative="two-sided", method="asymptotic").pvalue) \
        if np.ptp(np.concatenate([today, baseline])) > 0 else 1.0
    worse = ratio > 1 if higher_is_worse else ratio < 1
    significant = p_value < alpha and not ci[0] <= 1.0 <= ci[1]
    large = abs(ratio - 1.0) >= min_effect
    if significant and large:
        verdict = REGRESSION if worse else IMPROVEMENT
        why = "%+.1f%% (95%% CI %+.1f%% to %+.1f%%, Mann-Whitney p = %.2g), beyond the %.0f%% floor" % (
            100 * (ratio - 1), 100 * (ci[0] - 1), 100 * (ci[1] - 1), p_value, 100 * min_effect)
    elif significant:
        verdict = UNCHANGED
        why = "%+.1f%% is real (p = %.2g) but within the %.0f%% floor" % (100 * (ratio - 1), p_value, 100 * min_effect)
    else:
        verdict = UNCHANGED
        why = "%+.1f%% is within the noise (p = %.2g, 95%% CI %+.1f%% to %+.1f%%)" % (
            100 * (ratio - 1), p_value, 100 * (ci[0] - 1), 100 * (ci[1] - 1))
    return Comparison(verdict, ratio, ci, p_value, today_median, baseline_median, len(today), len(baseline),
                      min_effect, why)


def within_nights(comparison, night_values):
    """``comparison`` downgraded to unchanged when today's value lies within the range the
    baseline nights' own values spanned (three nights or more). Samples within one night
    share its conditions, so their interval misses what changes between nights (the
    process, the heap, the board's temperature); the nights' spread is that measure, and
    a value inside it is not a change, however significant within the night."""
    values = [v for v in night_values if v is not None]
    if comparison is None or comparison.verdict == UNCHANGED or len(values) < 3:
        return comparison
    low, high = min(values), max(values)
    if not low <= comparison.today_median <= high:
        return comparison
    why = "%+.1f%% but within the %d baseline nights' own spread (%.4g to %.4g)" % (
        100 * (comparison.ratio - 1), len(values), low, high)
    return Comparison(UNCHANGED, comparison.ratio, comparison.ci, comparison.p_value, comparison.today_median,
                      comparison.baseline_median, comparison.today_n, comparison.baseline_n, comparison.min_effect,
                      why)


def compare_values(today, baseline_values, higher_is_worse=True, min_effect=MIN_EFFECT) -> Optional[Comparison]:
    """A figure measured once per night (peak memory, accuracy, energy) against the
    baseline nights' values. It is flagged when it is beyond the floor from their median
    and outside the range they spanned (with at least three of them; with fewer, the
    floor alone decides and the reason says so). The interval is that range, as ratios."""
    values = np.asarray([v for v in baseline_values if v is not None], dtype=float)
    if today is None or not len(values):
        return None
    reference = float(np.median(values))
    if reference <= 0:
        return None
    ratio = float(today) / reference
    low, high = float(values.min()) / reference, float(values.max()) / reference
    worse = ratio > 1 if higher_is_worse else ratio < 1
    outside = len(values) < 3 or not low <= ratio <= high
    large = abs(ratio - 1.0) >= min_effect
    if outside and large:
        verdict = REGRESSION if worse else IMPROVEMENT
        why = "%+.1f%% vs the median of %d night(s)%s, beyond the %.0f%% floor" % (
            100 * (ratio - 1), len(values), "" if len(values) >= 3 else " (too few nights for a range)",
            100 * min_effect)
    else:
        verdict = UNCHANGED
        why = "%+.1f%% (baseline nights spanned %+.1f%% to %+.1f%%; floor %.0f%%)" % (
            100 * (ratio - 1), 100 * (low - 1), 100 * (high - 1), 100 * min_effect)
    return Comparison(verdict, ratio, (low, high), None, float(today), reference, 1, len(values),
                      min_effect, why)
