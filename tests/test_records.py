"""The typed records that cross boundaries: round trips, older rows, the frame bound."""

import json

from edgeshrink.shared import protocol
from edgeshrink.shared.conventions import EventKind
from edgeshrink.shared.decision import Decision
from edgeshrink.shared.device_facts import DeviceFacts
from edgeshrink.shared.fidelity import compare
from edgeshrink.shared.measurement import (SCHEMA_VERSION, LatencyPass, LatencyStats, VariantMeasurement,
                                           round_samples)
from edgeshrink.shared.types import MAX_RUNS_LIMIT

# What agent 0.1.0 sent and stored (schema 1): untyped, no schema key, verdict without sources.
V1_MEASUREMENT = {
    "variant": "fp32", "blob": "ab" * 32, "ok": True, "started_at": 1.0, "finished_at": 2.0, "wall_s": 1.0,
    "memory": {"baseline_rss_mb": 20.0, "peak_rss_mb": 80.0, "rss_after_load_mb": 70.0,
               "model_peak_delta_mb": 60.0, "runtime_settings": {}, "cpu_affinity": [0]},
    "latency_pass": {"load_ms": 3.0, "first_inference_ms": 2.0, "warmup_runs": 10, "stop_reason": "max_runs",
                     "latency": {"n": 200, "p50_ms": 1.2, "p90_ms": 1.3, "p99_ms": 1.5, "max_ms": 1.6},
                     "samples_ms": [1.2] * 200,
                     "fidelity": {"measured": True, "samples": 360, "cosine_mean": 1.0, "identical": True,
                                  "sqnr_db": None, "top1_agreement": 1.0, "accuracy": 0.9861}},
    "thermal": {"before": {}, "after": {}, "verdict": {"throttled": None, "reason": "no throttling source"}},
    "power": {"measured": False, "reason": "no power sensor source in this agent version reads this board"},
}


def test_a_measurement_survives_the_round_trip_through_json():
    measurement = VariantMeasurement.from_dict(V1_MEASUREMENT)
    again = VariantMeasurement.from_dict(json.loads(json.dumps(measurement.to_dict())))
    assert again == measurement
    assert isinstance(again.latency_pass, LatencyPass) and isinstance(again.latency_pass.latency, LatencyStats)


def test_schema_1_rows_read_as_the_current_schema_with_defaults():
    measurement = VariantMeasurement.from_dict(V1_MEASUREMENT)
    assert measurement.schema == 1 and SCHEMA_VERSION == 4
    assert measurement.latency_pass.fidelity.outputs == []
    assert measurement.latency_pass.rounds == [] and measurement.latency_pass.windows() == []
    assert measurement.thermal.trace == [] and measurement.power.measured is False
    assert measurement.figure("agreement").value == measurement.figure("top1_agreement").value
    assert measurement.figure("p90_ms").value == 1.3
    assert measurement.figure("accuracy").value == 0.9861
    assert measurement.figure("sqnr_db").value == float("inf")   # identical outputs
    throttled = measurement.figure("throttled")
    assert not throttled.known and "no throttling source" in throttled.missing
    assert measurement.environment.runtime is None   # not recorded by schema 1


def test_every_unknown_figure_says_why():
    failed = VariantMeasurement.from_dict({"variant": "x", "ok": False,
                                           "error": {"code": "model", "message": "cannot load"}})
    for name in ("p50_ms", "peak_rss_mb", "accuracy", "throttled"):
        figure = failed.figure(name)
        assert figure.value is None and "cannot load" in figure.missing, name
    assert "power not measured" in failed.figure("energy_mj").missing
    few = VariantMeasurement.from_dict(dict(V1_MEASUREMENT, latency_pass={"latency": {"n": 5, "p50_ms": 1.0}}))
    assert few.figure("p99_ms").missing.startswith("p99 needs >= 100 timed runs, got 5")
    assert "no evaluation data" in VariantMeasurement.from_dict(dict(
        V1_MEASUREMENT, latency_pass={"fidelity": {"measured": False, "reason": "no evaluation data was sent"}})
    ).figure("accuracy").missing


def test_the_largest_allowed_sample_fits_in_one_frame():
    # Worst case: max_runs samples of slow, long-digit latencies in a single event.
    samples = round_samples([12345.678901234 + i * 1e-7 for i in range(MAX_RUNS_LIMIT)])
    measurement = VariantMeasurement.from_dict(dict(V1_MEASUREMENT, latency_pass=dict(
        V1_MEASUREMENT["latency_pass"], samples_ms=samples)))
    frame = protocol.encode(protocol.event(7, EventKind.MEASUREMENT, measurement.to_dict()))
    assert len(frame) < protocol.FRAME_CAP


def test_a_comparison_of_mismatched_outputs_is_not_measured():
    import numpy as np

    fidelity = compare(np.zeros((4, 10)), np.zeros((4, 3)))
    assert not fidelity.measured and "output shape" in fidelity.reason
    assert fidelity.accuracy is None


def test_device_facts_and_decisions_read_back_typed():
    facts = DeviceFacts.from_dict({"runtimes": {"onnxruntime": {"available": True, "version": "1.19.2"}},
                                   "cpu_count": 4, "a_future_key": 1})
    assert facts.runtimes["onnxruntime"].version == "1.19.2" and facts.cpu_count == 4
    decision = Decision.from_dict({"chosen": "a", "variants": [{"name": "a", "checks": [
        {"constraint": "max_latency_ms", "verdict": "pass"}]}]})
    assert decision.variant("a").checks[0].verdict == "pass"
    assert Decision.from_dict(decision.to_dict()) == decision


def test_a_run_document_reads_back_as_the_same_run():
    from edgeshrink.host.runs import Run, VariantResult

    run = Run(device="pi4", started_at=1.0, model_path="m.onnx", model_sha256="ab" * 32, settings={"threads": 1},
              constraints={"max_latency_ms": 5.0}, facts=DeviceFacts.from_dict({"cpu_count": 4}),
              variants=[VariantResult("fp32", {"size_bytes": 10}, VariantMeasurement.from_dict(V1_MEASUREMENT))],
              decision=Decision(chosen="fp32"), run_id=3, status="installed", finished_at=2.0)
    assert Run.from_dict(json.loads(json.dumps(run.to_dict()))) == run
