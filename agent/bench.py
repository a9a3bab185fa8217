"""The ``bench`` op: every variant measured in fresh processes, results streamed."""

import platform
import time

from ..shared.conventions import EventKind
from ..shared.errors import EdgeshrinkError, ProtocolError
from ..shared.measurement import (SCHEMA_VERSION, Environment, LatencyPass, MemoryPass, Power, Thermal,
                                  ThrottleVerdict, VariantError, VariantMeasurement)
from ..shared.types import BenchSettings
from . import AGENT_VERSION, backends
from .children import run_child
from .layout import check_name, check_sha
from .sensors import Sensors, throttling_verdict

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

    measured = []
    with root.locked(float(args.get("lock_timeout_s", 600)), on_wait):
        for index, variant in enumerate(variants):
            send_event(request_id, EventKind.PROGRESS, {"variant": variant["name"], "phase": "start",
                                                        "index": index, "count": len(variants)})
            measurement = measure_variant(root, request_id, variant, data_path, runtime,
                                          settings, sensors, send_event)
            # Each measurement travels in its own event, so one frame never has to hold
            # every variant's raw samples; the result only lists what was measured.
            send_event(request_id, EventKind.MEASUREMENT, measurement.to_dict())
            measured.append(variant["name"])
    return {"measured": measured, "settings": settings.to_dict(), "runtime": runtime,
            "schema": SCHEMA_VERSION}


def environment(runtime, settings):
    probe = backends.probe_all().get(runtime) or {}
    return Environment(runtime=runtime, runtime_version=probe.get("version"), threads=settings.threads,
                       cpu_affinity=settings.cpu_affinity, python=platform.python_version(),
                       agent_version=AGENT_VERSION)


def measure_variant(root, request_id, variant, data_path, runtime, settings, sensors, send_event):
    job = {"request_id": request_id, "variant": variant["name"], "runtime": runtime,
           "model_path": root.require_blob(variant["blob"]), "data_path": data_path,
           "settings": settings.to_dict()}
    timeout = settings.max_time_s + CHILD_OVERHEAD_S

    def relay(frame):
        send_event(request_id, frame["kind"], frame["data"])

    started = time.time()
    measurement = VariantMeasurement(variant=variant["name"], blob=variant["blob"], ok=True,
                                     schema=SCHEMA_VERSION, started_at=started, power=Power(),
                                     environment=environment(runtime, settings))
    try:
        # Memory first, in its own process: nothing else has warmed or grown it.
        measurement.memory = MemoryPass.from_dict(run_child(dict(job, mode="memory"), relay, timeout))
        before = sensors.snapshot()
        measurement.latency_pass = LatencyPass.from_dict(run_child(dict(job, mode="latency"), relay, timeout))
        after = sensors.snapshot()
        measurement.thermal = Thermal(before=before, after=after,
                                      verdict=ThrottleVerdict.from_dict(throttling_verdict(before, after)))
        measurement.environment.cpu_affinity = measurement.latency_pass.cpu_affinity
        measurement.environment.providers = list(measurement.latency_pass.runtime_settings.get("providers") or [])
    except EdgeshrinkError as exc:
        # One variant failing to load or run is a result about that variant, not the run.
        measurement.ok = False
        measurement.error = VariantError(code=exc.code, message=exc.message)
    measurement.finished_at = time.time()
    measurement.wall_s = round(measurement.finished_at - started, 3)
    return measurement
