"""The ``bench`` op: every variant measured in fresh processes, results streamed.

Order is fair: with ``rounds`` > 1 every variant is timed once per round (A B C,
C B A, ...; a new random order per round with ``shuffle``), each round in a fresh
process, and the rounds' samples are pooled. The memory pass and the fidelity pass
run once, in the first round. Power, temperature and frequency are sampled by this
process (agent/power_sampler.py) while the children time, and integrated over the
windows they report.
"""

import platform
import random
import time

from ..shared.conventions import EventKind
from ..shared.errors import EdgeshrinkError, ProtocolError
from ..shared.measurement import (SCHEMA_VERSION, Environment, LatencyPass, LatencyStats, MemoryPass, Power,
                                  Thermal, ThrottleVerdict, VariantError, VariantMeasurement, round_samples)
from ..shared.op_profile import OperatorProfile
from ..shared.quantiles import spread_half_width
from ..shared.types import BenchSettings
from . import AGENT_VERSION, backends, stats
from .children import run_child
from .op_profile import profile_job
from .layout import check_name, check_sha
from .power import PowerPlan, idle_baseline, variant_power, wait_reporting
from .sensors import Sensors, combine_verdicts, throttling_verdict

# Generous: a slow board can take long to load a model; the time ceiling bounds the rest.
CHILD_OVERHEAD_S = 300
COOLDOWN_TO_C_LIMIT_S = 600.0


def bench(root, request_id, args, send_event):
    """args: {variants: [{name, blob, runtime?, io_names?}], data_blob?, runtime?, settings, lock_timeout_s?,
    power?}; a variant's runtime overrides the request's."""
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
        if not isinstance(variant.get("runtime") or "", str):
            raise ProtocolError("a variant's runtime must be a name, got %r" % (variant.get("runtime"),))
    data_path = root.require_blob(args["data_blob"]) if args.get("data_blob") else None
    runtime = args.get("runtime", "onnxruntime")
    sensors = Sensors()

    def log(message):
        send_event(request_id, EventKind.LOG, {"message": message})

    with root.locked(float(args.get("lock_timeout_s", 600)), lambda holder: log(
            "waiting for the device lock (%s)" % holder)):
        plan = PowerPlan.from_args(args.get("power"), settings, sensors)
        sampler = plan.start_sampler()
        try:
            idle = idle_baseline(plan, sampler, settings.idle_s, log)

            def finished(measurement):
                # Streamed as soon as the variant's last round ends, each in its own event, so
                # one frame never holds every variant's raw samples; the result only lists names.
                measurement.power = variant_power(plan, sampler, measurement, idle)
                send_event(request_id, EventKind.MEASUREMENT, measurement.to_dict())

            runs = Runs(root, request_id, variants, data_path, runtime, settings, send_event, sampler)
            runs.measure_all(sensors, log, finished)
            idle_after = idle_baseline(plan, sampler, settings.idle_s, log, when="after")
        finally:
            sampler.stop()
    return {"measured": runs.order_of_names, "settings": settings.to_dict(), "runtime": runtime,
            "schema": SCHEMA_VERSION, "idle": {"before": idle.to_dict(), "after": idle_after.to_dict()},
            "power_source": plan.describe(), "round_orders": runs.round_orders, "shuffle_seed": runs.seed}


def environment(runtime, settings):
    probe = backends.probe_all().get(runtime) or {}
    return Environment(runtime=runtime, runtime_version=probe.get("version"), threads=settings.threads,
                       cpu_affinity=settings.cpu_affinity, python=platform.python_version(),
                       agent_version=AGENT_VERSION)


class Runs:
    """Every variant's passes, in rounds; failures are results about a variant."""

    def __init__(self, root, request_id, variants, data_path, runtime, settings, send_event, sampler):
        self.root, self.request_id, self.variants = root, request_id, variants
        self.data_path, self.runtime, self.settings = data_path, runtime, settings
        self.send_event, self.sampler = send_event, sampler
        self.order_of_names = [v["name"] for v in variants]
        self.measurements = {}
        self.passes = {v["name"]: [] for v in variants}
        self.thermal = {v["name"]: [] for v in variants}
        self.cooldowns = {v["name"]: [] for v in variants}
        self.round_orders = []
        self.profiler_costs = {}
        self.seed = random.SystemRandom().randrange(2 ** 31) if settings.shuffle else None

    def _relay(self, frame):
        self.send_event(self.request_id, frame["kind"], frame["data"])

    def _runtime(self, variant):
        """A variant may name its own runtime (one deploy can compare runtimes)."""
        return variant.get("runtime") or self.runtime

    def _job(self, variant, mode, **extra):
        job = {"request_id": self.request_id, "variant": variant["name"], "runtime": self._runtime(variant),
               "model_path": self.root.require_blob(variant["blob"]), "data_path": self.data_path,
               "settings": self.settings.round_share().to_dict(), "mode": mode,
               "io_names": variant.get("io_names")}
        job.update(extra)
        return job

    def _order(self, round_number):
        """A B C in odd rounds, C B A in even ones: each variant's mean place is the same,
        so a drift that is linear over the rounds favours none. Or shuffled, seeded."""
        order = list(range(len(self.variants)))
        if self.seed is not None:
            random.Random(self.seed + round_number).shuffle(order)
        elif round_number % 2 == 0:
            order.reverse()
        return order

    def measure_all(self, sensors, log, finished):
        """Every round in turn; ``finished(measurement)`` as each variant's last round ends."""
        timeout = self.settings.round_share().max_time_s + CHILD_OVERHEAD_S
        first = True
        for round_number in range(1, self.settings.rounds + 1):
            last_round = round_number == self.settings.rounds
            order = self._order(round_number)
            self.round_orders.append([self.variants[i]["name"] for i in order])
            for position, index in enumerate(order):
                variant = self.variants[index]
                name = variant["name"]
                if name not in self.measurements or self.measurements[name].ok:
                    # (a variant that failed in an earlier round has nothing more to tell)
                    self.send_event(self.request_id, EventKind.PROGRESS, {
                        "variant": name, "phase": "start", "index": position, "count": len(self.variants),
                        "round": round_number, "rounds": self.settings.rounds})
                    if not first:
                        self._cool_down(sensors, log, name, round_number)
                    first = False
                    self._measure_round(variant, round_number, position, sensors, timeout)
                if last_round:
                    self._finish(name)
                    finished(self.measurements[name])

    def _cool_down(self, sensors, log, name, round_number):
        settings = self.settings
        if settings.cooldown_s:
            wait_reporting(settings.cooldown_s, log, "cooling down before %s" % name)
            self.cooldowns[name].append({"round": round_number, "waited_s": settings.cooldown_s})
        if settings.cooldown_to_c:
            began = time.monotonic()
            hottest = sensors.hottest_c()
            while hottest is not None and hottest > settings.cooldown_to_c:
                if time.monotonic() - began > COOLDOWN_TO_C_LIMIT_S:
                    break
                log("cooling down before %s: %.1f C > %.1f C" % (name, hottest, settings.cooldown_to_c))
                time.sleep(1.0)
                hottest = sensors.hottest_c()
            self.cooldowns[name].append({
                "round": round_number, "waited_s": round(time.monotonic() - began, 1), "temp_c": hottest,
                "reached": None if hottest is None else hottest <= settings.cooldown_to_c})

    def _measure_round(self, variant, round_number, position, sensors, timeout):
        name = variant["name"]
        measurement = self.measurements.get(name)
        if measurement is None:
            measurement = self.measurements[name] = VariantMeasurement(
                variant=name, blob=variant["blob"], ok=True, schema=SCHEMA_VERSION, started_at=time.time(),
                power=Power(), environment=environment(self._runtime(variant), self.settings))
        try:
            if round_number == 1:
                # Memory first, in its own process: nothing else has warmed or grown it.
                measurement.memory = MemoryPass.from_dict(run_child(self._job(variant, "memory"), self._relay,
                                                                    timeout))
            before = sensors.snapshot()
            latency = LatencyPass.from_dict(run_child(
                self._job(variant, "latency", round=round_number, position=position, fidelity=round_number == 1),
                self._relay, timeout))
            after = sensors.snapshot()
            if round_number == 1 and self.settings.profile_runs:
                measurement.operators = self._profile(variant, timeout)
            self.passes[name].append(latency)
            self.thermal[name].append((round_number, before, after, latency.windows()))
        except EdgeshrinkError as exc:
            # One variant failing to load or run is a result about that variant, not the run.
            measurement.ok = False
            measurement.error = VariantError(code=exc.code, message=exc.message)

    def _profile(self, variant, timeout):
        """Its per-operator profile, or why there is none: a profile that cannot be taken
        (no profiler in the runtime, no room for its file) does not fail the variant."""
        job = self._job(variant, "profile")
        job.update(profile_job(self.root, self.settings.profile_runs))
        # The profiler's own cost depends on the board, the runtime and the settings, not
        # the model: measured with a runtime's first variant, it is reused for the others.
        runtime = self._runtime(variant)
        job["profiler_cost"] = self.profiler_costs.get(runtime)
        try:
            profile = OperatorProfile.from_dict(run_child(job, self._relay, timeout))
        except EdgeshrinkError as exc:
            return OperatorProfile(available=False, reason=exc.message)
        if runtime not in self.profiler_costs and profile.profiler_cost is not None:
            self.profiler_costs[runtime] = profile.profiler_cost.to_dict()
        return profile

    def _finish(self, name):
        measurement = self.measurements[name]
        passes = self.passes[name]
        if passes:
            measurement.latency_pass = merge_rounds(passes, self.settings)
            measurement.environment.cpu_affinity = measurement.latency_pass.cpu_affinity
            measurement.environment.providers = list(measurement.latency_pass.runtime_settings.get("providers")
                                                     or [])
            measurement.thermal = self._thermal(name)
        measurement.finished_at = time.time()
        measurement.wall_s = round(measurement.finished_at - measurement.started_at, 3)

    def _thermal(self, name):
        readings = self.thermal[name]
        verdicts = [(r, throttling_verdict(before, after)) for r, before, after, _ in readings]
        trace = []
        for round_number, _, _, windows in readings:
            for (t0, t1), _ in windows:
                trace.extend([round_number] + row for row in self.sampler.thermal_trace(t0, t1))
        return Thermal(before=readings[0][1], after=readings[-1][2],
                       verdict=ThrottleVerdict.from_dict(combine_verdicts(verdicts)), trace=trace,
                       cooldowns=self.cooldowns[name])


def merge_rounds(passes, settings):
    """One latency pass from a variant's rounds: samples pooled, the first round's load,
    first-inference and fidelity figures, every round's summary kept."""
    merged = LatencyPass.from_dict(passes[0].to_dict())
    merged.precision_target_pct = settings.precision_pct or None
    if len(passes) == 1:
        return merged
    samples = [s for p in passes for s in p.samples_ms]
    merged.samples_ms = round_samples(samples)
    merged.latency = LatencyStats.from_dict(stats.summarize(samples))
    merged.rounds = [r for p in passes for r in p.rounds]
    medians = [r.median_ms for r in merged.rounds if r.median_ms]
    if len(medians) > 1 and merged.latency.p50_ms:
        merged.round_spread_pct = 100.0 * (max(medians) - min(medians)) / merged.latency.p50_ms
        # Rounds run in separate processes at separate times: the spread of their medians
        # is the between-run variation no single round's interval can see.
        spread = spread_half_width(medians)
        width = 100.0 * spread / merged.latency.p50_ms
        if merged.latency.ci_half_width_pct is None or width > merged.latency.ci_half_width_pct:
            merged.latency.ci_half_width_pct, merged.latency.ci_basis = width, stats.ROUND_MEDIANS
    reasons = sorted({p.stop_reason for p in passes if p.stop_reason})
    merged.stop_reason = ", ".join(reasons)
    if merged.precision_target_pct is not None:
        # Judged on the pooled sample and the rounds' spread: each round aimed at a
        # proportionally wider target, which the spread between rounds can undo.
        width = merged.latency.ci_half_width_pct
        merged.precision_reached = width is not None and width <= merged.precision_target_pct
    return merged
