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
from .check import NOT_MEASURED, UNCONFIRMED, UNCONFIRMED_STATUS, WINDOW, FigureCheck, Floors, check_variant
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
# A flagged variant is measured again after this pause, and a figure stays flagged only
# when both measurements flag it. What makes a quiet board slow for one measurement (a
# cron job, a neighbour on a shared host, a slow phase of a VM) seldom lasts; a real
# regression does. It costs board time only on nights that flag something.
CONFIRM_PAUSE_S = 30.0


@dataclass
class RegressReport:
    device: str
    run_id: int
    checks: List[FigureCheck] = field(default_factory=list)
    baseline_set: bool = False
    measured_s: Optional[float] = None    # wall time the board spent on this check (session and measuring)
    confirm_run_id: Optional[int] = None  # the second measurement of the flagged variants, when there was one

    @property
    def regressions(self):
        return [c for c in self.checks if c.verdict == REGRESSION]

    @property
    def improvements(self):
        return [c for c in self.checks if c.verdict == IMPROVEMENT]

    @property
    def unconfirmed(self):
        return [c for c in self.checks if c.verdict == UNCONFIRMED]

    def to_dict(self):
        return {"device": self.device, "run_id": self.run_id, "baseline_set": self.baseline_set,
                "measured_s": self.measured_s, "confirm_run_id": self.confirm_run_id,
                "regressions": len(self.regressions), "improvements": len(self.improvements),
                "unconfirmed": len(self.unconfirmed),
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


def confirm_pause_s(regress_table):
    """The device's ``[regress] confirm_pause_s``: seconds before the second measurement
    of a flagged variant; a negative value (-1) turns the confirmation off."""
    return float(regress_table.get("confirm_pause_s", CONFIRM_PAUSE_S))


def regress(device, source, variants, settings, store, set_baseline=False, window=WINDOW, on_event=None,
            options=None, sleep=time.sleep):
    """Measure ``variants`` on ``device``, store the run, and check each variant's figures
    against its history there; a flagged variant is measured again to confirm.
    ``set_baseline`` accepts this run as the new baseline."""
    options = options or ConnectOptions()
    store.check_usable()
    started = time.monotonic()
    with open_session(device, options) as session:
        def measure_now(chosen):
            return measure(session, source, chosen, settings, on_event or (lambda *a: None), options.lock_timeout_s)
        report = _measured_and_confirmed(device, variants, measure_now, store, set_baseline, window, sleep)
    report.measured_s = time.monotonic() - started
    return report


def regress_active(device, settings, store, set_baseline=False, window=WINDOW, on_event=None, options=None,
                   log=None, sleep=time.sleep):
    """``regress`` of the device's active deployment (regress/active.py)."""
    options = options or ConnectOptions()
    store.check_usable()
    quiet = log or (lambda message: None)
    started = time.monotonic()
    with open_session(device, options) as session:
        manifest = active_manifest(session)
        source, variant = source_of(manifest, quiet), variant_of(manifest)

        def measure_now(chosen):
            # Measured with the runtime it was installed for, whatever the device lists now.
            return measure(session, source, chosen, settings, on_event or (lambda *a: None), options.lock_timeout_s,
                           runtimes=[variant.runtime])
        report = _measured_and_confirmed(device, [variant], measure_now, store, set_baseline, window, sleep)
    report.measured_s = time.monotonic() - started
    return report


def _measured_and_confirmed(device, variants, measure_now, store, set_baseline, window, sleep):
    report = _checked(device, measure_now(variants), store, set_baseline, window)
    pause = confirm_pause_s(device.regress)
    flagged = {check.variant for check in report.regressions}
    if not flagged or set_baseline or pause < 0:
        return report
    sleep(pause)
    second = _checked(device, measure_now([v for v in variants if v.name in flagged]), store, False, window,
                      also_today=report.run_id)
    report.confirm_run_id = second.run_id
    again = {(check.variant, check.figure): check for check in second.checks}
    report.checks = [_confirmed(check, again.get((check.variant, check.figure)), pause) for check in report.checks]
    if not report.regressions:
        # Nothing held: the first measurement was a disturbed night, kept in the history
        # but out of every later baseline window.
        store.set_status(report.run_id, UNCONFIRMED_STATUS)
    return report


def _confirmed(first, second, pause):
    """The verdict of a figure flagged by the first measurement, given the second's."""
    if first.verdict != REGRESSION:
        return first
    if second is not None and second.verdict == REGRESSION:
        second.why += "; confirmed by a second measurement %.0f s later (the first: %+.1f%%)" % (
            pause, 100 * (first.ratio - 1))
        return second
    said = "not measured" if second is None or second.ratio is None else "%+.1f%% (%s)" % (
        100 * (second.ratio - 1), second.verdict)
    first.verdict = UNCONFIRMED
    first.why = "%s; not confirmed: measured again %.0f s later, %s" % (first.why, pause, said)
    first.facts_changed = []
    return first


def _checked(device, run, store, set_baseline, window, also_today=None):
    """Store ``run`` and check its variants against their histories (leaving out the run
    ``also_today``, this night's first measurement, when confirming it)."""
    run.status = STATUS
    try:
        run.run_id = store.save_run(run)
    except StoreError as failure:
        raise spool.keep_run(store, run, failure) from None
    floors = Floors(**{k: v for k, v in device.regress.items() if k in Floors.__dataclass_fields__})
    report = RegressReport(device.name, run.run_id)
    for result in run.variants:
        sha = result.manifest.get("sha256")
        if not sha:
            report.checks.append(FigureCheck(device.name, result.name, "all", NOT_MEASURED,
                                             "the variant could not be made: %s" % result.manifest.get("failure")))
            continue
        runtime = result.measurement.environment.runtime or result.manifest.get("runtime") or "onnxruntime"
        history = [e for e in store.history(device.name, sha) if e.run_id != also_today]
        report.checks.extend(check_variant(
            device.name, result, run, history, floors,
            int(device.regress.get("window", window)), device.constraints.latency_percentile,
            store.baseline_run(device.name, sha, runtime)))
        if set_baseline and result.measurement.ok:
            store.set_baseline(device.name, sha, runtime, run.run_id)
            report.baseline_set = True
    return report
