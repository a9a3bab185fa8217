"""Runs made up for exercising a results store (its backends, its concurrency, its speed).

Shaped like a real deploy's: one variant file per name with its manifest, a latency pass
with ``samples`` raw samples, fidelity and memory figures, and a decision. ``tag`` is
written into every variant's name and manifest, so a reader can tell whose run a
variant row belongs to.
"""

import random

from ...shared.decision import Decision
from ...shared.device_facts import DeviceFacts
from ...shared.measurement import VariantMeasurement
from ..runs import Run, VariantResult


def _measurement(name, rng, samples):
    latencies = sorted(round(rng.uniform(1.0, 1.6), 4) for _ in range(samples))
    return VariantMeasurement.from_dict({
        "variant": name, "blob": "%064x" % rng.getrandbits(256), "ok": True, "started_at": 1.0,
        "finished_at": 2.0, "wall_s": 1.0,
        "memory": {"baseline_rss_mb": 20.0, "peak_rss_mb": rng.uniform(60, 90), "rss_after_load_mb": 70.0,
                   "model_peak_delta_mb": 40.0, "runtime_settings": {}, "cpu_affinity": [0]},
        "latency_pass": {"load_ms": 3.0, "first_inference_ms": 2.0, "warmup_runs": 10, "stop_reason": "max_runs",
                         "latency": {"n": samples, "p50_ms": latencies[samples // 2],
                                     "p90_ms": latencies[int(samples * 0.9)], "p99_ms": latencies[int(samples * 0.99)],
                                     "max_ms": latencies[-1]},
                         "samples_ms": latencies,
                         "fidelity": {"measured": True, "samples": 360, "cosine_mean": 0.999, "identical": False,
                                      "sqnr_db": 31.5, "top1_agreement": 0.99, "accuracy": 0.97}},
        "thermal": {"before": {}, "after": {}, "verdict": {"throttled": None, "reason": "no throttling source"}},
        "power": {"measured": False, "reason": "made-up run"},
    })


def sample_run(device="bench-board", tag="a", variants=10, samples=500, seed=0):
    rng = random.Random(seed)
    results = []
    for index in range(variants):
        name = "%s-v%02d" % (tag, index)
        manifest = {"technique": "quantize", "sha256": "%064x" % rng.getrandbits(256), "size_bytes": 4096 + index,
                    "params": 1000, "macs": 20000, "tag": tag}
        results.append(VariantResult(name, manifest, _measurement(name, rng, samples)))
    return Run(device=device, started_at=1000.0 + seed, model_path="/models/%s.onnx" % tag,
               model_sha256="%064x" % rng.getrandbits(256), settings={"threads": 1}, constraints={},
               facts=DeviceFacts.from_dict({"cpu_count": 4}), variants=results,
               decision=Decision(chosen=results[0].name), status="measured", finished_at=2000.0 + seed)
