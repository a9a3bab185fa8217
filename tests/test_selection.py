from edgeshrink.host.select import select
from edgeshrink.shared.types import Constraints


def variant(name, p90, size_mb=1.0, rss=50.0, accuracy=0.98, agreement=1.0, ok=True, throttled=False, n=500):
    if not ok:
        return {"name": name, "manifest": {"size_bytes": int(size_mb * 2 ** 20)},
                "measurement": {"ok": False, "error": {"code": "model", "message": "cannot load"}}}
    return {"name": name, "manifest": {"size_bytes": int(size_mb * 2 ** 20)},
            "measurement": {"ok": True, "memory": {"peak_rss_mb": rss},
                            "thermal": {"verdict": {"throttled": throttled}},
                            "latency_pass": {"latency": {"n": n, "p50_ms": p90 * 0.9, "p90_ms": p90,
                                                         "p99_ms": p90 * 1.1 if n >= 100 else None},
                                             "fidelity": {"accuracy": accuracy, "top1_agreement": agreement}}}}


def by_name(decision):
    return {v["name"]: v for v in decision["variants"]}


def test_fastest_feasible_wins_and_others_say_why():
    decision = select([variant("fp32", 10.0, 6), variant("int8", 4.0, 1.6, accuracy=0.95),
                       variant("fp16", 6.0, 3)], Constraints(max_latency_ms=8, max_accuracy_drop=0.01))
    assert decision["chosen"] == "fp16"
    rows = by_name(decision)
    assert "max_latency_ms" in [v["constraint"] for v in rows["fp32"]["violations"]]
    assert "p90 10 ms > limit 8 ms (over by 2 ms, 25%)" in rows["fp32"]["reason"]
    assert "accuracy drop 3.00 points" in rows["int8"]["reason"]
    assert rows["fp16"]["reason"].startswith("chosen")


def test_no_feasible_variant_gives_no_choice_and_every_reason():
    decision = select([variant("fp32", 10.0, 6, rss=300), variant("int8", 9.0, 2, rss=200)],
                      Constraints(max_latency_ms=5, max_peak_memory_mb=100, max_model_size_mb=1))
    assert decision["chosen"] is None
    for row in decision["variants"]:
        assert not row["feasible"]
        assert {v["constraint"] for v in row["violations"]} == {"max_latency_ms", "max_peak_memory_mb",
                                                                 "max_model_size_mb"}


def test_near_tie_goes_to_the_smaller_file():
    decision = select([variant("fp32", 5.00, 6), variant("small", 5.05, 1)], Constraints())
    assert decision["chosen"] == "small"
    assert "tied with small" in by_name(decision)["fp32"]["reason"]


def test_failed_and_throttled_variants_are_never_chosen():
    decision = select([variant("fp32", 10.0), variant("hot", 1.0, throttled=True),
                       variant("broken", 0.1, ok=False)], Constraints())
    rows = by_name(decision)
    assert decision["chosen"] == "fp32"
    assert "throttled" in rows["hot"]["reason"]
    assert rows["broken"]["reason"] == "failed on the device: model: cannot load"


def test_percentile_without_enough_samples_is_a_violation_not_a_guess():
    decision = select([variant("fp32", 2.0, n=50)], Constraints(max_latency_ms=10, latency_percentile="p99"))
    assert decision["chosen"] is None
    assert "needs >= 100" in by_name(decision)["fp32"]["reason"]


def test_without_labels_disagreement_stands_for_accuracy_drop():
    decision = select([variant("fp32", 3.0, accuracy=None), variant("int8", 1.0, accuracy=None, agreement=0.9)],
                      Constraints(max_accuracy_drop=0.05))
    assert decision["chosen"] == "fp32"
    assert any("top-1 disagreement" in note for note in decision["notes"])


def test_pareto_front_excludes_dominated_variants():
    decision = select([variant("a", 1.0, 1.0), variant("b", 2.0, 2.0), variant("c", 0.5, 3.0)], Constraints())
    rows = by_name(decision)
    assert rows["a"]["pareto"] and rows["c"]["pareto"] and not rows["b"]["pareto"]


def test_power_limits_are_reported_as_not_enforced():
    decision = select([variant("fp32", 1.0)], Constraints(max_power_w=3))
    assert decision["chosen"] == "fp32"
    assert any("max_power_w is not enforced" in note for note in decision["notes"])
