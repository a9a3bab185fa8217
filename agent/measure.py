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
"""

import json
import os
import sys
import time

from ..shared import conventions, protocol
from ..shared.errors import EdgeshrinkError, ModelError
from ..shared.fidelity import compare
from ..shared.measurement import Fidelity, HealthCheck, LatencyPass, LatencyStats, MemoryPass, round_samples
from ..shared.types import BenchSettings
from . import backends, stats

PROGRESS_INTERVAL_S = 0.5


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


class Data:
    """The evaluation file (keys in shared/conventions.py): one probe sample per input,
    every evaluation sample per input, the original model's first output on them, and
    optional labels.

    np.load on an .npz reads a key only when asked, so the memory pass touches just
    the probe sample.
    """

    def __init__(self, path):
        import numpy as np

        self._npz = np.load(path, allow_pickle=False) if path else None

    def has(self, key):
        return self._npz is not None and key in self._npz.files

    def get(self, key):
        return self._npz[key]


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
    keys = {s["name"]: conventions.probe_key(s["name"]) for s in specs}
    if not all(data.has(key) for key in keys.values()):
        return feeds_from_spec(specs)
    return {s["name"]: data.get(keys[s["name"]]).astype(s["dtype"]) for s in specs}


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
        runner = backend.load(self.job["model_path"], settings.threads)
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
                   "check": self.check_pass}.get(mode)
        if handler is None:
            raise ModelError("unknown measurement pass %r" % mode)
        record = handler(settings)
        if hasattr(record, "cpu_affinity"):
            record.cpu_affinity = affinity
        return record.to_dict()

    def memory_pass(self, settings):
        # Said before the silent part: the host can tell a long memory pass from a hang.
        self.progress("memory", runs=max(1, settings.warmup_runs))
        data = Data(self.job.get("data_path"))
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
        data = Data(self.job.get("data_path"))
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

        samples, stop_reason = self.timed_runs(run, feeds, settings)
        return LatencyPass(load_ms=load_ms, first_inference_ms=first_ms, warmup_runs=settings.warmup_runs,
                           warmup_total_ms=warmup_ms, stop_reason=stop_reason,
                           latency=LatencyStats.from_dict(stats.summarize(samples)),
                           samples_ms=round_samples(samples), runtime_settings=runner.settings,
                           input_specs=specs, fidelity=self.fidelity_pass(run, data, specs, settings))

    def timed_runs(self, run, feeds, settings):
        """Run until a count and a time floor are both met, or a ceiling is hit."""
        samples = []
        clock = time.perf_counter
        began = clock()
        next_report = began + PROGRESS_INTERVAL_S
        while True:
            t0 = clock()
            run(feeds)
            t1 = clock()
            samples.append((t1 - t0) * 1000.0)
            elapsed = t1 - began
            n = len(samples)
            if n >= settings.max_runs:
                reason = "max_runs"
                break
            if elapsed >= settings.max_time_s:
                reason = "max_time"
                break
            if n >= settings.min_runs and elapsed >= settings.min_time_s:
                reason = "min_runs_and_min_time"
                break
            if t1 >= next_report:
                self.progress("timed", done=n, elapsed_s=round(elapsed, 2),
                              max_time_s=settings.max_time_s)
                next_report = t1 + PROGRESS_INTERVAL_S
        self.progress("timed", done=len(samples), elapsed_s=round(clock() - began, 2),
                      max_time_s=settings.max_time_s)
        return samples, reason

    def fidelity_pass(self, run, data, specs, settings):
        import numpy as np

        names = [s["name"] for s in specs]
        if not data.has(conventions.REFERENCE_KEY) or not all(data.has(conventions.input_key(n)) for n in names):
            return Fidelity(measured=False, reason="no evaluation data was sent")
        inputs = {s["name"]: data.get(conventions.input_key(s["name"])).astype(s["dtype"]) for s in specs}
        count = len(next(iter(inputs.values())))
        if settings.fidelity_samples:
            count = min(count, settings.fidelity_samples)
        self.progress("fidelity", total=count)
        outputs = []
        for i in range(count):
            outputs.append(np.asarray(run({n: inputs[n][i:i + 1] for n in names})[0]))
        labels = data.get(conventions.LABELS_KEY)[:count] if data.has(conventions.LABELS_KEY) else None
        return compare(np.concatenate(outputs), data.get(conventions.REFERENCE_KEY)[:count], labels)

    def check_pass(self, settings):
        import numpy as np

        runner, load_ms = self.load(settings)
        specs = runner.input_specs()
        data = Data(self.job.get("data_path"))
        real = bool(specs) and all(data.has(conventions.probe_key(spec["name"])) for spec in specs)
        outputs = runner.run(probe_feeds(data, specs))
        finite = all(np.isfinite(np.asarray(o, dtype=np.float64)).all()
                     for o in outputs if np.asarray(o).dtype.kind in "fc")
        if not finite:
            raise ModelError("the model ran but produced non-finite outputs")
        return HealthCheck(ok=True, load_ms=load_ms, outputs=len(outputs), real_sample=real)


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
