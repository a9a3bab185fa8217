"""The ``bench`` op: every variant measured in fresh processes, results streamed."""

import time

from ..shared.errors import EdgeshrinkError, ProtocolError
from ..shared.types import BenchSettings
from .children import run_child
from .layout import check_name, check_sha
from .sensors import POWER_NOT_MEASURED, Sensors, throttling_verdict

# Generous: a slow board can take long to load a model; the time ceiling bounds the rest.
CHILD_OVERHEAD_S = 300


def bench(root, request_id, args, send_event):
    """args: {variants: [{name, blob}], data_blob?, runtime?, settings, lock_timeout_s?}"""
    settings = BenchSettings.from_dict(args.get("settings"))
    problems = settings.validate()
    if problems:
        raise ProtocolError("bad benchmark settings: " + "; ".join(problems))
    variants = args.get("variants") or []
    if not variants:
        raise ProtocolError("bench needs at least one variant")
    for variant in variants:
        check_name(variant.get("name"))
        check_sha(variant.get("blob"))
    data_path = root.require_blob(args["data_blob"]) if args.get("data_blob") else None
    runtime = args.get("runtime", "onnxruntime")
    sensors = Sensors()

    def on_wait(holder):
        send_event(request_id, "log", {"message": "waiting for the device lock (%s)" % holder})

    measurements = []
    with root.locked(float(args.get("lock_timeout_s", 600)), on_wait):
        for index, variant in enumerate(variants):
            send_event(request_id, "progress", {"variant": variant["name"], "phase": "start",
                                                "index": index, "count": len(variants)})
            measurement = measure_variant(root, request_id, variant, data_path, runtime,
                                          settings, sensors, send_event)
            send_event(request_id, "measurement", measurement)
            measurements.append(measurement)
    return {"measurements": measurements, "settings": settings.to_dict(), "runtime": runtime}


def measure_variant(root, request_id, variant, data_path, runtime, settings, sensors, send_event):
    job = {"request_id": request_id, "variant": variant["name"], "runtime": runtime,
           "model_path": root.require_blob(variant["blob"]), "data_path": data_path,
           "settings": settings.to_dict()}
    timeout = settings.max_time_s + CHILD_OVERHEAD_S

    def relay(frame):
        send_event(request_id, frame["kind"], frame["data"])

    started = time.time()
    measurement = {"variant": variant["name"], "blob": variant["blob"], "ok": True, "started_at": started}
    try:
        # Memory first, in its own process: nothing else has warmed or grown it.
        memory = dict(job, mode="memory")
        measurement["memory"] = run_child(memory, relay, timeout)
        before = sensors.snapshot()
        measurement["latency_pass"] = run_child(dict(job, mode="latency"), relay, timeout)
        after = sensors.snapshot()
        measurement["thermal"] = {"before": before, "after": after,
                                  "verdict": throttling_verdict(before, after)}
    except EdgeshrinkError as exc:
        # One variant failing to load or run is a result about that variant, not the run.
        measurement.update(ok=False, error={"code": exc.code, "message": exc.message})
    measurement["power"] = dict(POWER_NOT_MEASURED)
    measurement["finished_at"] = time.time()
    measurement["wall_s"] = round(measurement["finished_at"] - started, 3)
    return measurement
