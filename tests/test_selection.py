import pytest

from edgeshrink.host.runs import VariantResult
from edgeshrink.host.select import select
from edgeshrink.shared.decision import FAIL, PASS, UNKNOWN
from edgeshrink.shared.measurement import (Fidelity, LatencyPass, LatencyStats, MemoryPass, Thermal,
                                           ThrottleVerdict, VariantError, VariantMeasurement)
from edgeshrink.shared.types import Constraints

NO_SOURCE = "no readable source"


def variant(name, p90, size_mb=1.0, rss=50.0, accuracy=0.98, agreement=1.0, ok=True, throttled=False, n=500,
            fidelity=None):
    manifest = {"size_bytes": int(size_mb * 2 ** 20)}
    if not ok:
        return VariantResult(name, manifest, VariantMeasurement(
            variant=name, ok=False, error=VariantError("model", "cannot load")))
    stats = LatencyStats(n=n, p50_ms=p90 * 0.9, p90_ms=p90 if n >= 10 else None,
                         p99_ms=p90 * 1.1 if n >= 100 else None)
    fidelity = fidelity or Fidelity(measured=True, accuracy=accuracy, top1_agreement=agreement)
    verdict = ThrottleVerdict(throttled=throttled, reason=NO_SOURCE if throttled is None else None)
    return VariantResult(name, manifest, VariantMeasurement(
        variant=name, ok=True, memory=MemoryPass(peak_rss_mb=rss), thermal=Thermal(verdict=verdict),
        latency_pass=LatencyPass(latency=stats, fidelity=fidelity)))


def by_name(decision):
    return {v.name: v for v in decision.variants}


def verdicts(candidate):
    return {c.constraint: c.verdict for c in candidate.checks}


def test_fastest_feasible_wins_and_others_say_why():
    decision = select([variant("fp32", 10.0, 6), variant("int8", 4.0, 1.6, accuracy=0.95),
                       variant("fp16", 6.0, 3)], Constraints(max_latency_ms=8, max_accuracy_drop=0.01))
    assert decision.chosen == "fp16"
    rows = by_name(decision)
    assert verdicts(rows["fp32"])["max_latency_ms"] == FAIL
    assert "p90 10 ms > limit 8 ms (over by 2 ms, 25%)" in rows["fp32"].reason
    assert "accuracy drop 3.00 points" in rows["int8"].reason
    assert rows["fp16"].reason.startswith("chosen")
    assert verdicts(rows["fp16"]) == {"max_latency_ms": PASS, "max_accuracy_drop": PASS, "throttling": PASS}


def test_no_feasible_variant_gives_no_choice_and_every_reason():
    decision = select([variant("fp32", 10.0, 6, rss=300), variant("int8", 9.0, 2, rss=200)],
                      Constraints(max_latency_ms=5, max_peak_memory_mb=100, max_model_size_mb=1))
    assert decision.chosen is None
    for row in decision.variants:
        assert not row.feasible
        assert {c.constraint for c in row.checks_with(FAIL)} == {"max_latency_ms", "max_peak_memory_mb",
                                                                  "max_model_size_mb"}


def test_near_tie_goes_to_the_smaller_file():
    decision = select([variant("fp32", 5.00, 6), variant("small", 5.05, 1)], Constraints())
    assert decision.chosen == "small"
    assert "tied with small" in by_name(decision)["fp32"].reason


def test_failed_and_throttled_variants_are_never_chosen():
    decision = select([variant("fp32", 10.0), variant("hot", 1.0, throttled=True),
                       variant("broken", 0.1, ok=False)], Constraints())
    rows = by_name(decision)
    assert decision.chosen == "fp32"
    assert "throttled" in rows["hot"].reason
    assert rows["broken"].reason == "failed on the device: model: cannot load"


def test_percentile_without_enough_samples_is_unknown_not_a_guess():
    decision = select([variant("fp32", 2.0, n=50)], Constraints(max_latency_ms=10, latency_percentile="p99"))
    assert decision.chosen is None
    row = by_name(decision)["fp32"]
    assert verdicts(row)["max_latency_ms"] == UNKNOWN
    assert "needs >= 100" in row.reason and "not chosen without evidence" in row.reason
    assert any("needs >= 100" in line for line in decision.missing_evidence)


def test_without_labels_disagreement_stands_for_accuracy_drop():
    decision = select([variant("fp32", 3.0, accuracy=None), variant("int8", 1.0, accuracy=None, agreement=0.9)],
                      Constraints(max_accuracy_drop=0.05))
    assert decision.chosen == "fp32"
    assert any("top-1 disagreement" in note for note in decision.notes)


def test_fp32_against_itself_is_never_a_drop():
    decision = select([variant("fp32", 3.0, accuracy=None, agreement=None)], Constraints(max_accuracy_drop=0.0))
    assert decision.chosen == "fp32"
    assert by_name(decision)["fp32"].accuracy_drop == 0.0


def test_pareto_front_excludes_dominated_variants():
    decision = select([variant("a", 1.0, 1.0), variant("b", 2.0, 2.0), variant("c", 0.5, 3.0)], Constraints())
    rows = by_name(decision)
    assert rows["a"].pareto and rows["c"].pareto and not rows["b"].pareto


def test_unmeasured_power_limit_is_unknown_and_refused_unless_allowed():
    refused = select([variant("fp32", 1.0)], Constraints(max_power_w=3))
    assert refused.chosen is None
    row = by_name(refused)["fp32"]
    assert verdicts(row)["max_power_w"] == UNKNOWN and "power not measured" in row.reason
    allowed = select([variant("fp32", 1.0)], Constraints(max_power_w=3, allow_unknown=["max_power_w"]))
    assert allowed.chosen == "fp32"
    assert "let through: allow_unknown" in by_name(allowed)["fp32"].reason
    assert any("allow_unknown" in note for note in allowed.notes)


def test_accuracy_drop_is_unknown_when_the_baseline_failed():
    decision = select([variant("fp32", 3.0, ok=False), variant("int8", 1.0, accuracy=0.5)],
                      Constraints(max_accuracy_drop=0.01))
    assert decision.chosen is None
    row = by_name(decision)["int8"]
    assert verdicts(row)["max_accuracy_drop"] == UNKNOWN
    assert "baseline failed" in row.reason
    assert any("baseline failed" in note for note in decision.notes)


def test_a_fidelity_comparison_that_failed_is_not_measured():
    broken = Fidelity(measured=False, reason="the variant's output shape (4, 10) differs from the reference's (4, 3)")
    decision = select([variant("fp32", 3.0), variant("odd", 1.0, fidelity=broken)],
                      Constraints(min_accuracy=0.5))
    row = by_name(decision)["odd"]
    assert verdicts(row)["min_accuracy"] == UNKNOWN and "output shape" in row.reason
    assert decision.chosen == "fp32"


@pytest.mark.parametrize("require, chosen", [(False, "cool"), (True, None)])
def test_unknown_throttling_passes_with_a_note_unless_evidence_is_required(require, chosen):
    decision = select([variant("cool", 1.0, throttled=None)], Constraints(require_thermal_evidence=require))
    row = by_name(decision)["cool"]
    assert verdicts(row)["throttling"] == UNKNOWN
    assert decision.chosen == chosen
    if require:
        assert "require_thermal_evidence" in row.reason
    else:
        assert any("throttling could not be checked" in note for note in decision.notes)


def sampled(name, samples, size_mb=1.0, accuracy=0.98):
    """A variant measured with real raw samples, so the p90 CI comes from them."""
    from edgeshrink.agent import stats

    result = variant(name, 1.0, size_mb=size_mb, accuracy=accuracy)
    result.measurement.latency_pass.latency = LatencyStats.from_dict(stats.summarize(samples))
    result.measurement.latency_pass.samples_ms = list(samples)
    return result


def spread(center, width, n=400, seed=0):
    import random

    rng = random.Random(seed)
    return [center * (1 + width * (rng.random() - 0.5)) for _ in range(n)]


def test_overlapping_intervals_are_a_tie_decided_by_size_even_beyond_two_percent():
    # 3% apart, but each spread +/-15% over 60 runs: the p90 intervals overlap, so it is noise.
    decision = select([sampled("fast-big", spread(10.0, 0.3, n=60), size_mb=6),
                       sampled("slow-small", spread(10.3, 0.3, n=60, seed=1), size_mb=2)], Constraints())
    rows = by_name(decision)
    assert rows["fast-big"].latency_ci_ms and rows["slow-small"].latency_ci_ms
    assert decision.chosen == "slow-small"
    assert rows["slow-small"].reason.startswith("chosen: tied for fastest at p90 with fast-big")
    assert "inside the noise) but larger (6.00 vs 2.00 MiB)" in rows["fast-big"].reason
    assert "95% CI [" in rows["fast-big"].reason


def test_separated_intervals_rank_even_within_two_percent():
    # 1% apart with almost no spread: a real difference, not a tie.
    decision = select([sampled("fast-big", spread(10.0, 0.001), size_mb=6),
                       sampled("slow-small", spread(10.1, 0.001, seed=1), size_mb=2)], Constraints())
    assert decision.chosen == "fast-big"
    assert by_name(decision)["slow-small"].reason.startswith("feasible, but p90")


def test_a_tie_of_equal_size_goes_to_the_lower_accuracy_drop():
    decision = select([sampled("fp32", spread(10.0, 0.3, n=60)),
                       sampled("risky", spread(10.0, 0.3, n=60, seed=2), accuracy=0.9),
                       sampled("safe", spread(10.1, 0.3, n=60, seed=3), accuracy=0.98)], Constraints())
    rows = by_name(decision)
    assert decision.chosen in ("fp32", "safe")
    assert "higher accuracy drop" in rows["risky"].reason


def test_a_noisy_winner_gets_a_note_asking_for_more_runs():
    import random

    rng = random.Random(0)
    heavy_tail = [10.0 * rng.lognormvariate(0, 1) for _ in range(100)]
    decision = select([sampled("only", heavy_tail)], Constraints())
    assert decision.chosen == "only"
    assert any("latency is noisy" in note and "--min-runs" in note for note in decision.notes)
    quiet = select([sampled("only", spread(10.0, 0.01))], Constraints())
    assert not any("noisy" in note for note in quiet.notes)


def test_a_winner_too_noisy_to_rank_is_measured_again_with_its_rivals():
    import random

    from edgeshrink.host.deploy import _more_samples
    from edgeshrink.host.select import too_noisy_to_decide
    from edgeshrink.shared.types import BenchSettings

    rng = random.Random(0)
    heavy = [10.0 * rng.lognormvariate(0, 1) for _ in range(100)]
    rival = [10.5 * rng.lognormvariate(0, 1) for _ in range(100)]
    decision = select([sampled("a", heavy), sampled("b", rival), sampled("far", spread(100.0, 0.01))],
                      Constraints())
    assert sorted(too_noisy_to_decide(decision)) == ["a", "b"]        # the winner and its overlapping rival
    assert too_noisy_to_decide(select([sampled("only", spread(10.0, 0.01))], Constraints())) == []
    wider = _more_samples(BenchSettings(min_runs=100, max_runs=2000, min_time_s=1.0, max_time_s=10.0))
    assert (wider.min_runs, wider.min_time_s) == (400, 4.0)
    capped = _more_samples(BenchSettings(min_runs=100, max_runs=150, min_time_s=1.0, max_time_s=2.0))
    assert (capped.min_runs, capped.min_time_s) == (150, 2.0)          # never past the limits
    assert _more_samples(BenchSettings(min_runs=50, max_runs=50, min_time_s=2.0, max_time_s=2.0)) is None


def with_power(result, watts, idle_w=2.0, uncertainty_mj=None):
    """The variant drawing ``watts`` while timed: energy per inference = watts x its mean latency."""
    from edgeshrink.shared.measurement import Power

    latency_s = result.measurement.latency_pass.latency.p50_ms / 1000.0
    result.measurement.power = Power(measured=True, reason=None, source="ina3221", rail="VDD_IN",
                                     boundary="module input", where="board", mean_w=watts, idle_w=idle_w,
                                     energy_per_inference_mj=watts * latency_s * 1000,
                                     net_energy_per_inference_mj=(watts - idle_w) * latency_s * 1000,
                                     uncertainty_mj=uncertainty_mj, window_s=1.0, inferences=100, samples=10,
                                     sample_rate_hz=10.0)
    return result


def test_the_energy_objective_can_choose_a_slower_variant_that_draws_less_power():
    # int8 is fastest but keeps every core busy; fp16 is slower at far lower power.
    results = [with_power(variant("fp32", 10.0, 6), 6.0), with_power(variant("int8", 4.0, 1.6), 9.0),
               with_power(variant("fp16", 5.0, 3), 4.0)]
    assert select(results, Constraints()).chosen == "int8"
    decision = select(results, Constraints(), objective="energy")
    assert decision.chosen == "fp16" and decision.ranked_by == "energy"
    assert decision.objective.startswith("least energy per inference")
    rows = by_name(decision)
    assert rows["fp16"].reason.startswith("chosen: least energy per inference among feasible variants (18")
    # int8: 9 W x 3.6 ms = 32.4 mJ; fp16: 4 W x 4.5 ms = 18 mJ
    assert rows["int8"].reason == ("feasible, but its energy per inference 32.4 mJ is 80% more than fp16 (18 mJ) "
                                   "though 20% faster at p90")
    assert rows["int8"].energy_mj == pytest.approx(32.4) and rows["fp16"].net_energy_mj == pytest.approx(9.0)


def test_the_energy_objective_never_ranks_an_unknown_energy_and_max_energy_is_enforced():
    results = [with_power(variant("fp32", 10.0, 6), 6.0), variant("int8", 4.0, 1.6)]
    decision = select(results, Constraints(), objective="energy")
    assert decision.chosen == "fp32"
    assert by_name(decision)["int8"].reason.startswith("feasible but its energy is unknown (power not measured")
    limited = select(results, Constraints(max_energy_mj=60.0))
    rows = by_name(limited)
    assert verdicts(rows["fp32"])["max_energy_mj"] == PASS
    assert verdicts(rows["int8"])["max_energy_mj"] == UNKNOWN and limited.chosen == "fp32"
    over = select([with_power(variant("fp32", 10.0, 6), 6.0)], Constraints(max_energy_mj=40.0, max_power_w=5.0))
    row = by_name(over)["fp32"]
    assert verdicts(row) == {"max_power_w": FAIL, "max_energy_mj": FAIL, "throttling": PASS}
    assert "energy per inference 54 mJ > limit 40 mJ" in row.reason


def test_an_energy_tie_inside_the_uncertainty_goes_to_the_faster_variant_and_size_ranks_by_file():
    results = [with_power(variant("a", 4.0, 2), 5.0, uncertainty_mj=0.5),
               with_power(variant("b", 5.0, 3), 3.92, uncertainty_mj=0.5)]   # 18 vs 17.64 mJ: +/-0.5 each
    decision = select(results, Constraints(), objective="energy")
    assert decision.chosen == "a"
    assert by_name(decision)["b"].reason.startswith("tied with a on energy per inference")
    sized = select([variant("fp32", 10.0, 6), variant("int8", 4.0, 1.6), variant("fp16", 5.0, 3)], Constraints(),
                   objective="size")
    assert sized.chosen == "int8" and by_name(sized)["fp16"].reason.startswith(
        "feasible, but its file size 3 MiB is 88% more than int8")
