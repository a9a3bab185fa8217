"""`regress`: measure a device now, store the run, check it against the device's history."""

from dataclasses import dataclass, field
import dataclasses
import time
from typing import List, Optional

from ...shared.errors import StoreError
from ...shared.types import MAX_TIME_LIMIT_S
from .. import spool
from ..deploy import ConnectOptions, measure, open_session
from .active import active_manifest, source_of, variant_of
from .check import NOT_MEASURED, WINDOW, FigureCheck, Floors, check_variant
from .compare import IMPROVEMENT, REGRESSION

STATUS = "regress"
# A nightly check times each variant longer than a deploy does. On a noisy board the
# spread of a median from one night to the next falls with the window (on the reference
# VM, a bare loop's median: 3.2% sd over 0.5 s, 2.1% over 5 s, 1.7% over 10 s), and only
# a spread well inside the 5% floor keeps false alarms away; fresh processes per round
# average out what one process's memory layout does. bench/regress_power.py measures it.
NIGHTLY_SECONDS = 10.0
NIGHTLY_ROUNDS = 4
NIGHTLY_MAX_RUNS = 100000


@dataclass
class RegressReport:
    device: str
    run_id: int
    checks: List[FigureCheck] = field(default_factory=list)
    baseline_set: bool = False
    measured_s: Optional[float] = None    # wall time the board spent on this check (session and measuring)

    @property
    def regressions(self):
        return [c for c in self.checks if c.verdict == REGRESSION]

    @property
    def improvements(self):
        return [c for c in self.checks if c.verdict == IMPROVEMENT]

    def to_dict(self):
        return {"device": self.device, "run_id": self.run_id, "baseline_set": self.baseline_set,
                "measured_s": self.measured_s,
                "regressions": len(self.regressions), "improvements": len(self.improvements),
                "checks": [c.to_dict() for c in self.checks]}


def nightly_settings(settings, regress_table, given=()):
    """``settings`` (BenchSettings) stretched to a nightly window: at least the device's
    ``[regress] seconds`` (default 10) of timing per variant in ``rounds`` (default 4),
    with room for the runs that takes. Names in ``given`` were set on the command line and
    are kept as they are."""
    seconds = float(regress_table.get("seconds", NIGHTLY_SECONDS))
    max_time = settings.max_time_s if "max_time_s" in given else min(
        MAX_TIME_LIMIT_S, max(settings.max_time_s, 2 * seconds))
    min_time = settings.min_time_s if "min_time_s" in given else min(max_time, max(settings.min_time_s, seconds))
    max_time = max(max_time, min_time)
    max_runs = settings.max_runs if "max_runs" in given else max(settings.max_runs, NIGHTLY_MAX_RUNS)
    rounds = settings.rounds if "rounds" in given else max(settings.rounds,
                                                          int(regress_table.get("rounds", NIGHTLY_ROUNDS)))
    return dataclasses.replace(settings, min_time_s=min_time, max_time_s=max_time, max_runs=max_runs, rounds=rounds)


def regress(device, source, variants, settings, store, set_baseline=False, window=WINDOW, on_event=None,
            options=None):
    """Measure ``variants`` on ``device``, store the run, and check each variant's figures
    against its history there. ``set_baseline`` accepts this run as the new baseline."""
    options = options or ConnectOptions()
    store.check_usable()
    started = time.monotonic()
    with open_session(device, options) as session:
        run = measure(session, source, variants, settings, on_event or (lambda *a: None), options.lock_timeout_s)
    return _checked(device, run, store, set_baseline, window, time.monotonic() - started)


def regress_active(device, settings, store, set_baseline=False, window=WINDOW, on_event=None, options=None,
                   log=None):
    """``regress`` of the device's active deployment (regress/active.py)."""
    options = options or ConnectOptions()
    store.check_usable()
    quiet = log or (lambda message: None)
    started = time.monotonic()
    with open_session(device, options) as session:
        manifest = active_manifest(session)
        source, variant = source_of(manifest, quiet), variant_of(manifest)
        # Measured with the runtime it was installed for, whatever the device lists now.
        run = measure(session, source, [variant], settings, on_event or (lambda *a: None), options.lock_timeout_s,
                      runtimes=[variant.runtime])
    return _checked(device, run, store, set_baseline, window, time.monotonic() - started)


def _checked(device, run, store, set_baseline, window, measured_s):
    run.status = STATUS
    try:
        run.run_id = store.save_run(run)
    except StoreError as failure:
        raise spool.keep_run(store, run, failure) from None
    floors = Floors(**{k: v for k, v in device.regress.items() if k in Floors.__dataclass_fields__})
    report = RegressReport(device.name, run.run_id, measured_s=measured_s)
    for result in run.variants:
        sha = result.manifest.get("sha256")
        if not sha:
            report.checks.append(FigureCheck(device.name, result.name, "all", NOT_MEASURED,
                                             "the variant could not be made: %s" % result.manifest.get("failure")))
            continue
        runtime = result.measurement.environment.runtime or result.manifest.get("runtime") or "onnxruntime"
        report.checks.extend(check_variant(
            device.name, result, run, store.history(device.name, sha), floors,
            int(device.regress.get("window", window)), device.constraints.latency_percentile,
            store.baseline_run(device.name, sha, runtime)))
        if set_baseline and result.measurement.ok:
            store.set_baseline(device.name, sha, runtime, run.run_id)
            report.baseline_set = True
    return report
