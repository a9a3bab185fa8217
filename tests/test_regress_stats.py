"""The statistics behind `regress`, on synthetic histories whose truth is known."""

import numpy as np
import pytest

from edgeshrink.host.regress.change_points import e_divisive
from edgeshrink.host.regress.compare import IMPROVEMENT, REGRESSION, UNCHANGED, compare


def night(rng, n=800, median=2.0, spread=0.05, shift=1.0):
    """One night's latency samples: log-normal around ``median``, times ``shift``."""
    return median * shift * rng.lognormal(0.0, spread, n)


def test_unchanged_nights_are_never_flagged():
    rng = np.random.default_rng(7)
    baseline = np.concatenate([night(rng, median=2.0 * rng.normal(1, 0.01)) for _ in range(5)])
    verdicts = [compare(night(rng, median=2.0 * rng.normal(1, 0.01)), baseline).verdict for _ in range(25)]
    assert verdicts.count(UNCHANGED) == 25


@pytest.mark.parametrize("shift, expected", [(1.10, REGRESSION), (1.20, REGRESSION), (0.85, IMPROVEMENT),
                                             (1.02, UNCHANGED), (0.98, UNCHANGED)])
def test_a_shift_is_flagged_only_beyond_the_effect_floor(shift, expected):
    rng = np.random.default_rng(3)
    baseline = np.concatenate([night(rng) for _ in range(5)])
    result = compare(night(rng, shift=shift), baseline)
    assert result.verdict == expected, result.why
    assert result.ci[0] <= result.ratio <= result.ci[1]
    if expected != UNCHANGED:
        assert abs(result.ratio - shift) < 0.02 and not result.ci[0] <= 1.0 <= result.ci[1]


def test_a_small_real_shift_is_reported_as_real_but_not_flagged():
    rng = np.random.default_rng(5)
    result = compare(night(rng, n=5000, shift=1.03), night(rng, n=5000))
    assert result.verdict == UNCHANGED and result.p_value < 0.01 and "within the 5% floor" in result.why


def test_for_accuracy_lower_is_worse_and_the_floor_is_per_figure():
    worse = compare([0.90] * 50 + [0.91] * 50, [0.97] * 50 + [0.96] * 50, higher_is_worse=False, min_effect=0.01)
    assert worse.verdict == REGRESSION
    assert compare([0.90] * 50 + [0.91] * 50, [0.97] * 50 + [0.96] * 50, higher_is_worse=False,
                   min_effect=0.10).verdict == UNCHANGED


def test_degenerate_inputs():
    assert compare([], [1.0, 2.0]) is None and compare([1.0], []) is None
    assert compare([1.0, 2.0], [0.0, 0.0]) is None            # no ratio to a zero baseline
    same = compare([2.0] * 30, [2.0] * 30)
    assert same.verdict == UNCHANGED and same.ratio == 1.0 and same.p_value == 1.0


def test_the_interval_is_reproducible():
    rng = np.random.default_rng(11)
    today, baseline = night(rng), night(rng)
    assert compare(today, baseline).ci == compare(today, baseline).ci


def history(rng, levels, spread=0.01):
    """Nightly medians: ``levels`` is [(nights, level), ...]."""
    return np.concatenate([level * rng.normal(1.0, spread, nights) for nights, level in levels])


def test_a_step_in_the_history_is_found_where_it_happened():
    rng = np.random.default_rng(1)
    (point,) = e_divisive(history(rng, [(25, 2.0), (15, 2.2)]))
    assert abs(point.index - 25) <= 1 and abs(point.relative_change - 0.10) < 0.02


def test_two_steps_are_both_found_in_order():
    rng = np.random.default_rng(2)
    points = e_divisive(history(rng, [(20, 2.0), (20, 2.3), (20, 2.1)]))
    assert [p.index for p in points] == pytest.approx([20, 40], abs=1)
    assert points[0].relative_change > 0 > points[1].relative_change


def test_pure_noise_and_a_single_bad_night_have_no_change_point():
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        assert e_divisive(history(rng, [(40, 2.0)], spread=0.02)) == [], seed
    rng = np.random.default_rng(9)
    spiky = history(rng, [(40, 2.0)])
    spiky[17] *= 1.5    # one noisy night
    assert e_divisive(spiky) == []


def test_short_or_flat_histories_have_no_change_point():
    assert e_divisive([2.0, 2.1, 2.0, 3.0, 3.1]) == []        # fewer than two segments of 3
    assert e_divisive([2.0] * 30) == []


def test_a_nightly_check_times_longer_than_a_deploy_but_keeps_what_the_command_line_set():
    from edgeshrink.host.regress.job import NIGHTLY_ROUNDS, NIGHTLY_SECONDS, nightly_settings
    from edgeshrink.shared.types import BenchSettings

    deploy_default = BenchSettings()
    nightly = nightly_settings(deploy_default, {})
    assert (nightly.min_time_s, nightly.rounds) == (NIGHTLY_SECONDS, NIGHTLY_ROUNDS)
    assert nightly.max_time_s >= nightly.min_time_s and nightly.max_runs > deploy_default.max_runs
    assert not nightly.validate()
    table = nightly_settings(deploy_default, {"seconds": 30.0, "rounds": 6})
    assert (table.min_time_s, table.max_time_s, table.rounds) == (30.0, 60.0, 6)
    # --min-time 0.1 --max-time 1 --rounds 1 on the command line win over the nightly window.
    quick = BenchSettings(min_time_s=0.1, max_time_s=1.0, rounds=1)
    kept = nightly_settings(quick, {"seconds": 30.0}, given={"min_time_s", "max_time_s", "rounds"})
    assert (kept.min_time_s, kept.max_time_s, kept.rounds) == (0.1, 1.0, 1)
    # A --max-time below the nightly window caps it instead of making the settings invalid.
    capped = nightly_settings(BenchSettings(max_time_s=3.0), {}, given={"max_time_s"})
    assert (capped.min_time_s, capped.max_time_s) == (3.0, 3.0) and not capped.validate()


def test_the_injected_slowdown_share_inverts_to_the_slowdown():
    from edgeshrink.host.lab.cpu_steal import share_for_slowdown

    for slowdown in (0.0, 0.05, 0.1, 0.2, 1.0):
        share = share_for_slowdown(slowdown)
        assert abs(1 / (1 - share) - (1 + slowdown)) < 1e-12
    with pytest.raises(ValueError):
        share_for_slowdown(-0.1)
