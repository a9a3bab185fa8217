"""`regress`: measure a device now, store the run, check it against the device's history."""

from dataclasses import dataclass, field
from typing import List

from ...shared.errors import StoreError
from .. import spool
from ..deploy import ConnectOptions, measure, open_session
from .active import active_manifest, source_of, variant_of
from .check import NOT_MEASURED, WINDOW, FigureCheck, Floors, check_variant
from .compare import IMPROVEMENT, REGRESSION

STATUS = "regress"


@dataclass
class RegressReport:
    device: str
    run_id: int
    checks: List[FigureCheck] = field(default_factory=list)
    baseline_set: bool = False

    @property
    def regressions(self):
        return [c for c in self.checks if c.verdict == REGRESSION]

    @property
    def improvements(self):
        return [c for c in self.checks if c.verdict == IMPROVEMENT]

    def to_dict(self):
        return {"device": self.device, "run_id": self.run_id, "baseline_set": self.baseline_set,
                "regressions": len(self.regressions), "improvements": len(self.improvements),
                "checks": [c.to_dict() for c in self.checks]}


def regress(device, source, variants, settings, store, set_baseline=False, window=WINDOW, on_event=None,
            options=None):
    """Measure ``variants`` on ``device``, store the run, and check each variant's figures
    against its history there. ``set_baseline`` accepts this run as the new baseline."""
    options = options or ConnectOptions()
    store.check_usable()
    with open_session(device, options) as session:
        run = measure(session, source, variants, settings, on_event or (lambda *a: None), options.lock_timeout_s)
    return _checked(device, run, store, set_baseline, window)


def regress_active(device, settings, store, set_baseline=False, window=WINDOW, on_event=None, options=None,
                   log=None):
    """``regress`` of the device's active deployment (regress/active.py)."""
    options = options or ConnectOptions()
    store.check_usable()
    quiet = log or (lambda message: None)
    with open_session(device, options) as session:
        manifest = active_manifest(session)
        source, variant = source_of(manifest, quiet), variant_of(manifest)
        # Measured with the runtime it was installed for, whatever the device lists now.
        run = measure(session, source, [variant], settings, on_event or (lambda *a: None), options.lock_timeout_s,
                      runtimes=[variant.runtime])
    return _checked(device, run, store, set_baseline, window)


def _checked(device, run, store, set_baseline, window):
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
        report.checks.extend(check_variant(
            device.name, result, run, store.history(device.name, sha), floors,
            int(device.regress.get("window", window)), device.constraints.latency_percentile,
            store.baseline_run(device.name, sha, runtime)))
        if set_baseline and result.measurement.ok:
            store.set_baseline(device.name, sha, runtime, run.run_id)
            report.baseline_set = True
    return report
