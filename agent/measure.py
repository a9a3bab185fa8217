"""Measuring one variant, inside a fresh child process of the agent.

A fresh process per pass means one model's memory or warmed caches never count
for another. The parent sends one job (JSON) on stdin; the child answers with
protocol frames on stdout: progress events, then one result or error.

Passes:
    memory   load the model, run it a few times on one sample; peak RSS from the
             kernel's high-water mark (no sampler thread to disturb anything)
    latency  load time, first inference, warm-up, timed runs (count + time floor
             and ceiling), then fidelity/accuracy over the evaluation samples
    check    load and run once on inputs made from the model's input spec
    profile  per-operator times from the runtime's profiler, beside the same runs unprofiled
"""

import json
import os
import sys
import time

from ..shared import protocol
from ..shared.errors import EdgeshrinkError, ModelError
from ..shared.evaluation import EvaluationFile
from ..shared.fidelity import compare_outputs
from ..shared.measurement import (Fidelity, HealthCheck, LatencyPass, LatencyStats, MemoryPass, RoundSummary,
                                  round_samples)
from ..shared.types import BenchSettings
from . import backends, op_profile, profiler_cost, stats

PROGRESS_INTERVAL_S = 0.5
# The precision stop: how often the median's CI is checked, and the fewest runs it trusts
# (enough for the batch medians of agent/stats.py).
PRECISION_CHECK_S = 0.1
PRECISION_MIN_RUNS = stats.BATCHES * stats.MIN_BATCH_RUNS
PRECISION = "precision"
# Outputs returned for a host-side (custom) metric must fit well inside one frame.
RETURNED_OUTPUTS_CAP = 2 * 1024 * 1024


def _proc_status_kb(key):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb():
    kb = _proc_status_kb("VmRSS")
    return round(kb / 1024.0, 2) if kb is not None else None


def peak_rss_mb():
    kb = _proc_status_kb("VmHWM")
    if kb is None:
        import resource  # ru_maxrss is in KiB on Linux
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024.0, 2)


def feeds_from_spec(specs):
    """Deterministic inputs shaped like the model's, for runs with no data."""
    import numpy as np

    rng = np.random.RandomState(0)
    feeds = {}
    for spec in specs:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec["shape"]]
        dtype = spec["dtype"]
        if dtype.startswith("float"):
            feeds[spec["name"]] = rng.standard_normal(shape).astype(dtype)
        elif dtype == "bool":
            feeds[spec["name"]] = np.zeros(shape, dtype=bool)
        else:
            feeds[spec["name"]] = np.zeros(shape, dtype=dtype)
    return feeds


def probe_feeds(data, specs):
    return data.probe(specs) or feeds_from_spec(specs)


class Child:
    def __init__(self, job, out):
        self.job = job
        self.out = out
        self.request_id = job.get("request_id")
        self.variant = job.get("variant", "")

    def emit(self, frame):
        self.out.write(protocol.encode(frame))
        self.out.flush()

    def progress(self, phase, **data):
        data.update(variant=self.variant, phase=phase)
        self.emit(protocol.event(self.request_id, "progress", data))

    def load(self, settings):
        backend = backends.get(self.job.get("runtime", "onnxruntime"))
        start = time.perf_counter()
        runner = backend.load(self.job["model_path"], settings.threads, self.job.get("io_names"))
        return runner, (time.perf_counter() - start) * 1000.0

    def run(self):
        settings = BenchSettings.from_dict(self.job.get("settings"))
        affinity = None
        if settings.cpu_affinity and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, settings.cpu_affinity)
        if hasattr(os, "sched_getaffinity"):
            affinity = sorted(os.sched_getaffinity(0))
        mode = self.job["mode"]
        handler = {"memory": self.memory_pass, "latency": self.latency_pass,
                   "check": self.check_pass, "sustained": self.sustained_pass,
                   "profile": self.profile_pass}.get(mode)
        if handler is None:
            raise ModelError("unknown measurement pass %r" % mode)
        record = handler(settings)
        if hasattr(record, "cpu_affinity"):
            record.cpu_affinity = affinity
        return record.to_dict() if hasattr(record, "to_dict") else record

    def memory_pass(self, settings):
        # Said before the silent part: the host can tell a long memory pass from a hang.
        self.progress("memory", runs=max(1, settings.warmup_runs))
        data = EvaluationFile(self.job.get("data_path"))
        # Import the runtime first: its own footprint belongs to the baseline, not the model.
        backends.get(self.job.get("runtime", "onnxruntime")).preload()
        baseline = rss_mb()
        runner, load_ms = self.load(settings)
        feeds = probe_feeds(data, runner.input_specs())
        after_load = rss_mb()
        for _ in range(max(1, settings.warmup_runs)):
            runner.run(feeds)
        peak = peak_rss_mb()
        return MemoryPass(baseline_rss_mb=baseline, rss_after_load_mb=after_load, peak_rss_mb=peak,
                          model_peak_delta_mb=round(peak - baseline, 2), runtime_settings=runner.settings)

    def latency_pass(self, settings):
        data = EvaluationFile(self.job.get("data_path"))
        self.progress("load")
        runner, load_ms = self.load(settings)
        specs = runner.input_specs()
        feeds = probe_feeds(data, specs)
        run = runner.run

        start = time.perf_counter()
        run(feeds)
        first_ms = (time.perf_counter() - start) * 1000.0

        self.progress("warmup", total=settings.warmup_runs)
        start = time.perf_counter()
        for _ in range(settings.warmup_runs):
            run(feeds)
        warmup_ms = (time.perf_counter() - start) * 1000.0

        window_start = time.monotonic()
        samples, stop_reason = self.timed_runs(run, feeds, settings)
        window = [window_start, time.monotonic()]
        if self.job.get("fidelity", True):
            fidelity, returned = self.fidelity_pass(runner, data, specs, settings)
        else:
            fidelity, returned = Fidelity(reason="judged in the first round"), None
        summary = stats.summarize(samples)
        return LatencyPass(load_ms=load_ms, first_inference_ms=first_ms, warmup_runs=settings.warmup_runs,
                           warmup_total_ms=warmup_ms, stop_reason=stop_reason,
                           latency=LatencyStats.from_dict(summary),
                           samples_ms=round_samples(samples), runtime_settings=runner.settings,
                           input_specs=specs, fidelity=fidelity, returned_outputs=returned,
                           rounds=[RoundSummary(round=self.job.get("round", 1), position=self.job.get("position", 0),
                                                n=len(samples), median_ms=summary["p50_ms"], stop_reason=stop_reason,
                                                window_monotonic=window)],
                           precision_target_pct=settings.precision_pct or None,
                           precision_reached=(stop_reason == PRECISION) if settings.precision_pct else None)

    def timed_runs(self, run, feeds, settings):
        """Run until a count and a time floor are both met (and, with a precision target,
        the median's CI is narrow enough), or a ceiling is hit.

        The precision is checked at the progress reports, never per run: sorting the
        samples between two timed runs would be work inside the timed loop's rhythm.
        """
        samples = []
        clock = time.perf_counter
        began = clock()
        next_report = began + PROGRESS_INTERVAL_S
        next_check = began + PRECISION_CHECK_S
        floors_met = False
        while True:
            t0 = clock()
            run(feeds)
            t1 = clock()
            samples.append((t1 - t0) * 1000.0)
            elapsed = t1 - began
            n = len(samples)
            # The floors first: a fixed window (min_time_s == max_time_s) ends because its
            # floors were met, not because it hit a ceiling.
            if not floors_met and n >= settings.min_runs and elapsed >= settings.min_time_s:
                floors_met = True
                if not settings.precision_pct:
                    reason = "min_runs_and_min_time"
                    break
                next_check = t1   # check at once: the floors may already give the precision
            if n >= settings.max_runs:
                reason = "max_runs"
                break
            if elapsed >= settings.max_time_s:
                reason = "max_time"
                break
            if floors_met and t1 >= next_check and n >= PRECISION_MIN_RUNS:
                width, _ = stats.ci_half_width_pct(samples)
                if width is not None and width <= settings.precision_pct:
                    reason = PRECISION
                    break
                next_check = clock() + PRECISION_CHECK_S
            if t1 >= next_report:
                self.progress("timed", done=n, elapsed_s=round(elapsed, 2),
                              max_time_s=settings.max_time_s)
                next_report = t1 + PROGRESS_INTERVAL_S
        self.progress("timed", done=len(samples), elapsed_s=round(clock() - began, 2),
                      max_time_s=settings.max_time_s)
        return samples, reason

    def fidelity_pass(self, runner, data, specs, settings):
        """Every output of every evaluation sample against the original's, each output
        judged by its task metric; outputs a host-side metric needs are sent back."""
        import numpy as np

        samples, references = data.samples(specs), data.references()
        if samples is None or not references:
            return Fidelity(measured=False, reason="no evaluation data was sent"), None
        count = samples.count
        if settings.fidelity_samples:
            count = min(count, settings.fidelity_samples)
        self.progress("fidelity", total=count)
        names = runner.output_names()
        per_output = {name: [] for name in names}
        for i in range(count):
            for name, value in zip(names, runner.run(samples.feeds(i))):
                per_output[name].append(np.asarray(value))
        outputs = {name: np.stack(values) for name, values in per_output.items()}
        references = {name: ref[:count] for name, ref in references.items()}
        metric_specs = data.metric_specs()
        labels = data.labels()
        fidelity = compare_outputs(outputs, references, metric_specs, None if labels is None else labels[:count])
        custom = [s.output for s in metric_specs if s.kind == "custom" and s.output in outputs]
        return fidelity, self.returned_outputs(fidelity, {n: outputs[n] for n in custom})

    @staticmethod
    def returned_outputs(fidelity, outputs):
        """The outputs a host-side metric needs, as base64 of an .npz; None when none
        does or they are too large (the metric then says so)."""
        if not outputs:
            return None
        import base64
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **outputs)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        if len(encoded) <= RETURNED_OUTPUTS_CAP:
            return encoded
        for name in outputs:
            fidelity.output(name).reason = ("its outputs on the evaluation samples are %.1f MiB, over the %d MiB "
                                            "that can travel back for a host-side metric (lower "
                                            "bench.fidelity_samples)" % (len(encoded) / 2.0 ** 20,
                                                                         RETURNED_OUTPUTS_CAP // 2 ** 20))
        return None

    def sustained_pass(self, settings):
        """Run continuously for ``duration_s``, one latency bucket per ``bucket_s``: how the
        latency moves as the board heats (the parent samples temperature and frequency)."""
        duration = float(self.job["duration_s"])
        bucket_s = float(self.job["bucket_s"])
        data = EvaluationFile(self.job.get("data_path"))
        runner, load_ms = self.load(settings)
        feeds = probe_feeds(data, runner.input_specs())
        run = runner.run
        for _ in range(settings.warmup_runs):
            run(feeds)
        clock = time.perf_counter
        buckets, samples = [], []
        began = bucket_start = clock()
        mono_start = time.monotonic()
        while True:
            t0 = clock()
            run(feeds)
            t1 = clock()
            samples.append((t1 - t0) * 1000.0)
            if t1 - bucket_start >= bucket_s or t1 - began >= duration:
                ordered = sorted(samples)
                buckets.append({"t0_s": round(bucket_start - began, 4), "t1_s": round(t1 - began, 4),
                                "n": len(ordered), "p50_ms": stats.percentile(ordered, 50),
                                "p90_ms": stats.percentile(ordered, 90)})
                self.progress("sustained", elapsed_s=round(t1 - began, 1), duration_s=duration,
                              p50_ms=buckets[-1]["p50_ms"])
                samples, bucket_start = [], t1
                if t1 - began >= duration:
                    break
        return {"load_ms": load_ms, "monotonic_start": mono_start, "buckets": buckets,
                "runtime_settings": runner.settings}

    def timed(self, runner, feeds, runs):
        clock, times = time.perf_counter, []
        for _ in range(runs):
            t0 = clock()
            runner.run(feeds)
            times.append((clock() - t0) * 1000.0)
        return times

    def profile_pass(self, settings):
        """Per-operator times from the runtime's profiler (agent/op_profile.py), beside the
        same runs unprofiled in this process, so the profiler's own cost is known; that
        cost per node is measured here too (agent/profiler_cost.py), unless the job
        brings one measured earlier in the same request with the same settings."""
        backend = backends.get(self.job.get("runtime", "onnxruntime"))
        if backend.profile_unavailable:
            return {"available": False, "reason": backend.profile_unavailable}
        runs = int(self.job["runs"])
        data = EvaluationFile(self.job.get("data_path"))
        runner, _ = self.load(settings)
        feeds = probe_feeds(data, runner.input_specs())
        self.progress("profile", done=0, total=2 * runs, stage="unprofiled")
        self.timed(runner, feeds, settings.warmup_runs)
        plain = self.timed(runner, feeds, runs)
        self.progress("profile", done=runs, total=2 * runs, stage="profiled")
        del runner
        profiled = backend.load(self.job["model_path"], settings.threads, self.job.get("io_names"),
                                profile_prefix=self.job["profile_prefix"])
        # The first run is dropped from the profile (op_profile.aggregate); warm-up beyond
        # it would only grow the file.
        self.timed(profiled, feeds, 1)
        timed = self.timed(profiled, feeds, runs)
        events = op_profile.profile_events(profiled)
        runtime_settings = dict(profiled.settings)
        del profiled
        cost, cost_reason = self.job.get("profiler_cost"), None
        if cost is None:
            self.progress("profile", done=2 * runs, total=2 * runs, stage="profiler cost")
            cost, cost_reason = profiler_cost.measure(backend, settings.threads, runs, self.job["profile_prefix"],
                                                      self.timed)
        summary = op_profile.aggregate(events, cost=cost)
        if summary is None:
            return {"available": False, "reason": "the runtime's profile recorded no model run"}
        summary.update(available=True, plain_p50_ms=stats.percentile(sorted(plain), 50),
                       profiled_p50_ms=stats.percentile(sorted(timed), 50), runtime_settings=runtime_settings,
                       profiler_cost=cost, profiler_cost_reason=cost_reason)
        summary["overhead"] = summary["profiled_p50_ms"] / summary["plain_p50_ms"] if summary["plain_p50_ms"] else None
        # The operators are also set against the same runs unprofiled: a check of the
        # profiler's cost taken out of them that owes nothing to the profiler.
        summary["plain_mean_ms"] = sum(plain) / len(plain) if plain else None
        summary["unprofiled_coverage"] = (summary["op_sum_ms"] / summary["plain_mean_ms"]
                                          if summary["plain_mean_ms"] else None)
        return summary

    def check_pass(self, settings):
        import numpy as np

        runner, load_ms = self.load(settings)
        specs = runner.input_specs()
        data = EvaluationFile(self.job.get("data_path"))
        real_feeds = data.probe(specs)
        outputs = runner.run(real_feeds or feeds_from_spec(specs))
        finite = all(np.isfinite(np.asarray(o, dtype=np.float64)).all()
                     for o in outputs if np.asarray(o).dtype.kind in "fc")
        if not finite:
            raise ModelError("the model ran but produced non-finite outputs")
        return HealthCheck(ok=True, load_ms=load_ms, outputs=len(outputs), real_sample=real_feeds is not None)


def child_main():
    """Entry point of ``agent --child``: one job in, frames out, exit code 0 or 1."""
    out = sys.stdout.buffer
    job = json.loads(sys.stdin.readline())
    child = Child(job, out)
    try:
        data = child.run()
    except EdgeshrinkError as exc:
        child.emit(protocol.error(child.request_id, exc.code, exc.message))
        return 1
    except Exception as exc:  # report, never hang the parent
        child.emit(protocol.error(child.request_id, "remote", "%s: %s" % (type(exc).__name__, exc)))
        return 1
    child.emit(protocol.result(child.request_id, data))
    return 0
