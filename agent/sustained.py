"""The ``sustained`` op: one variant run continuously while heat builds.

A cold board and a hot one are different machines: a Pi 4 without a heatsink holds
its clock for a minute, then throttles. Latency comes from the measuring child in
buckets; temperature, frequency and power from this process's sampler over the same
seconds (the shared monotonic clock lines them up).
"""

import statistics

from ..shared.sustained import FREQUENCY_DROP, SLOWDOWN_FRACTION, SustainedBucket, SustainedRun
from ..shared.types import accepts
from . import one_variant
from .bench import CHILD_OVERHEAD_S
from .children import run_child
from .power import PowerPlan
from .sensors import Sensors, throttling_verdict

MAX_DURATION_S = 4 * 3600
MIN_BUCKET_S, MAX_BUCKET_S = 0.1, 600.0


def _checked(args):
    problems = []
    duration, bucket = args.get("duration_s"), args.get("bucket_s")
    if not accepts(float, duration) or not 1 <= duration <= MAX_DURATION_S:
        problems.append("duration_s must be from 1 to %d seconds" % MAX_DURATION_S)
    if not accepts(float, bucket) or not MIN_BUCKET_S <= bucket <= MAX_BUCKET_S:
        problems.append("bucket_s must be from %g to %g seconds" % (MIN_BUCKET_S, MAX_BUCKET_S))
    settings, variant = one_variant.checked(args, "sustained-run", problems)
    return settings, float(duration), float(bucket), variant


def sustained(root, request_id, args, send_event):
    settings, duration, bucket_s, variant = _checked(args)
    sensors = Sensors()
    with one_variant.locked(root, request_id, args, send_event):
        plan = PowerPlan.from_args(args.get("power"), settings, sensors)
        sampler = plan.start_sampler()
        try:
            before = sensors.snapshot()
            job = one_variant.child_job(root, request_id, args, variant, settings, mode="sustained",
                                        duration_s=duration, bucket_s=bucket_s)
            result = run_child(job, lambda frame: send_event(request_id, frame["kind"], frame["data"]),
                               duration + CHILD_OVERHEAD_S)
            after = sensors.snapshot()
            if plan.reads_power:
                sampler.close_window(result["monotonic_start"] + result["buckets"][-1]["t1_s"])
        finally:
            sampler.stop()
    return summarize(variant["name"], duration, result, sampler, plan, before, after).to_dict()


def summarize(name, duration, result, sampler, plan, before, after):
    start = result["monotonic_start"]
    buckets = []
    for raw in result["buckets"]:
        bucket = SustainedBucket.from_dict(raw)
        rows = [r for r in sampler.thermal if start + bucket.t0_s <= r[0] <= start + bucket.t1_s]
        temps = [temp for _, temp, _ in rows if temp is not None]
        mhz = [min(freqs.values()) / 1000.0 for _, _, freqs in rows if freqs]
        bucket.temp_c = max(temps) if temps else None
        bucket.cpu_mhz = min(mhz) if mhz else None
        if plan.reads_power and bucket.t1_s > bucket.t0_s:
            energy, _ = sampler.energy(start + bucket.t0_s, start + bucket.t1_s)
            bucket.power_w = energy.joules / (bucket.t1_s - bucket.t0_s) if energy.known else None
        buckets.append(bucket)
    run = SustainedRun(variant=name, duration_s=duration, buckets=buckets, load_ms=result.get("load_ms"),
                       power_reason=None if plan.reads_power else plan.reason)
    _latency_drift(run)
    _throttling(run, before, after, sampler)
    return run


def _latency_drift(run):
    medians = [b.p50_ms for b in run.buckets if b.p50_ms is not None]
    if not medians:
        return
    run.cold_p50_ms = medians[0]
    run.steady_p50_ms = statistics.median(medians[-max(1, len(medians) // 4):])
    run.steady_vs_cold = run.steady_p50_ms / run.cold_p50_ms if run.cold_p50_ms else None
    slow = [b.p50_ms is not None and b.p50_ms > run.cold_p50_ms * (1 + SLOWDOWN_FRACTION) for b in run.buckets]
    for i, is_slow in enumerate(slow):
        if is_slow and (i + 1 == len(slow) or slow[i + 1]):
            run.slowdown_started_s = run.buckets[i].t0_s
            break


def _throttling(run, before, after, sampler):
    """When the clock was pulled down or a zone reached its passive trip, from the traces;
    the whole run's verdict from the usual before/after evidence."""
    verdict = throttling_verdict(before, after)
    run.throttling, run.throttling_evidence = verdict["throttled"], list(verdict["evidence"])
    trips = list((before.get("passive_trips_c") or {}).values())
    first_mhz = next((b.cpu_mhz for b in run.buckets if b.cpu_mhz), None)
    for bucket in run.buckets:
        clock_down = first_mhz and bucket.cpu_mhz and bucket.cpu_mhz < first_mhz * FREQUENCY_DROP
        tripped = trips and bucket.temp_c is not None and bucket.temp_c >= min(trips)
        if clock_down or tripped:
            run.throttling_started_s = bucket.t0_s
            run.throttling = True
            run.throttling_evidence.append(
                "at %.1f s: %s" % (bucket.t0_s, ("CPU clock %.0f MHz, below %.0f%% of the first %.0f MHz"
                                                % (bucket.cpu_mhz, 100 * FREQUENCY_DROP, first_mhz)) if clock_down
                                   else "%.1f C at or above the passive trip %.1f C" % (bucket.temp_c, min(trips))))
            break
    if run.throttling is None:
        run.throttling_reason = verdict.get("reason") or "no source could tell"
