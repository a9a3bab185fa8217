"""One regress run against each variant's history on the device: a FigureCheck per figure.

The history of a variant is keyed by device, the variant file's sha256 and its runtime
(the model hash is in the file's hash). The runtime's version is deliberately not part
of the key: an upgrade that makes a board slower must be compared with what came before
it, and the version change is then named among the facts that changed. The baseline
window is the latest ``window`` good measurements before today, from the accepted
baseline on (``regress --set-baseline``) when there is one.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import List, Optional

from .change_points import e_divisive
import numpy as np

from .compare import MIN_EFFECT, REGRESSION, compare, compare_values, within_nights

WINDOW = 7
NO_HISTORY = "no history"
NOT_MEASURED = "not measured"
# A figure the first measurement flagged and the second (regress/job.py) did not.
UNCONFIRMED = "unconfirmed"
# The status of a run whose every flag went unconfirmed: a disturbed night, left out of
# later baseline windows.
UNCONFIRMED_STATUS = "regress-unconfirmed"
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


@dataclass
class FigureCheck:
    device: str
    variant: str
    figure: str
    verdict: str                          # regression, improvement, unchanged, unconfirmed, no history, not measured
    why: str
    today: Optional[float] = None
    baseline: Optional[float] = None
    ratio: Optional[float] = None
    ci: Optional[list] = None
    p_value: Optional[float] = None
    baseline_runs: List[int] = field(default_factory=list)
    facts_changed: List[str] = field(default_factory=list)
    since: Optional[str] = None           # the latest change point in the history, when one is found

    def to_dict(self):
        return dict(self.__dict__)


@dataclass(frozen=True)
class Floors:
    """The smallest change worth flagging, per figure (devices.toml [devices.X.regress])."""

    latency: float = MIN_EFFECT
    memory: float = MIN_EFFECT
    accuracy: float = 0.01
    energy: float = MIN_EFFECT


def _samples(measurement):
    return list(measurement.samples_ms) if measurement.ok else []


def _accuracy(measurement):
    """The task figure a night is judged on: accuracy on the labels, else agreement."""
    for name in ("accuracy", "agreement"):
        figure = measurement.figure(name)
        if figure.known:
            return name, figure.value
    return None, None


# Facts that say why a board measures differently; the rest (free memory, disk) move
# every night and explain nothing.
def _explaining_facts(facts, settings):
    runtimes = facts.get("runtimes") or {}
    flat = {"kernel": facts.get("kernel"), "python": facts.get("python"), "numpy": facts.get("numpy"),
            "agent version": facts.get("agent_version"), "board": facts.get("board"),
            "CPUs allowed": facts.get("cpus_allowed"), "governors": ",".join(facts.get("governors") or []) or None,
            "cgroup CPU limit": (facts.get("limits") or {}).get("cpu_cores"),
            "cgroup memory limit MiB": (facts.get("limits") or {}).get("memory_mb"),
            "threads": settings.get("threads")}
    for name, probe in runtimes.items():
        flat["%s version" % name] = (probe or {}).get("version")
    return flat


def facts_diff(before, after):
    """'key: before -> now' for every explaining fact that differs."""
    old, new = _explaining_facts(*before), _explaining_facts(*after)
    return ["%s: %s -> %s" % (key, old.get(key), new.get(key)) for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)]


def _since(entries, today_value):
    """'since run #N (date)' for the latest change point in the nightly medians."""
    series = [e.measurement.figure("p50_ms").value for e in entries] + [today_value]
    if any(v is None for v in series):
        return None
    points = e_divisive(series)
    if not points:
        return None
    point = points[-1]
    if point.index >= len(entries):
        return "today"
    entry = entries[point.index]
    return "run #%d (%s, %+.1f%%)" % (entry.run_id, datetime.fromtimestamp(entry.started_at).strftime("%Y-%m-%d"),
                                      100 * (point.relative_change or 0.0))


def check_variant(device, result, run, history, floors=Floors(), window=WINDOW, percentile="p90",
                  baseline_from=None):
    """The FigureChecks of one measured variant (host/runs.VariantResult) of ``run``
    against its ``history`` (store.history, oldest first)."""
    name, m = result.name, result.measurement
    runtime = m.environment.runtime or result.manifest.get("runtime") or "onnxruntime"
    past = [e for e in history if e.run_id != run.run_id and e.measurement.ok and e.runtime == runtime
            and e.status != UNCONFIRMED_STATUS
            and (baseline_from is None or e.run_id >= baseline_from)]
    window_entries = past[-window:]
    if not m.ok:
        return [FigureCheck(device, name, "all", NOT_MEASURED, "the variant failed today: %s"
                            % (m.error.message if m.error else "unknown"))]
    if not window_entries:
        return [FigureCheck(device, name, "all", NO_HISTORY, "no earlier measurement of this file with %s on this "
                            "device%s" % (runtime, " since the accepted baseline" if baseline_from else ""))]
    latest = window_entries[-1]
    changed = facts_diff((latest.facts, latest.settings), (run.facts.to_dict(), run.settings))
    runs = [e.run_id for e in window_entries]
    checks = []

    def add(figure, comparison, missing=None, since=None):
        if comparison is None:
            checks.append(FigureCheck(device, name, figure, NOT_MEASURED, missing or "not measured today or in the "
                                      "baseline nights", baseline_runs=runs))
            return
        checks.append(FigureCheck(device, name, figure, comparison.verdict, comparison.why, comparison.today_median,
                                  comparison.baseline_median, comparison.ratio, list(comparison.ci),
                                  comparison.p_value, runs, changed if comparison.verdict == REGRESSION else [],
                                  since))

    baseline_samples = [s for e in window_entries for s in _samples(e.measurement)]
    for level in dict.fromkeys(("p50", percentile)):
        quantile = QUANTILES[level]
        nights = [float(np.quantile(_samples(e.measurement), quantile)) for e in window_entries
                  if _samples(e.measurement)]
        latency = within_nights(compare(_samples(m), baseline_samples, min_effect=floors.latency, quantile=quantile),
                                nights)
        add("latency " + level, latency, since=_since(past, m.figure("p50_ms").value) if latency and level == "p50"
            else None)
    add("peak memory", compare_values(m.figure("peak_rss_mb").value,
                                      [e.measurement.figure("peak_rss_mb").value for e in window_entries],
                                      min_effect=floors.memory))
    kind, value = _accuracy(m)
    add(kind or "accuracy", None if kind is None else compare_values(
        value, [e.measurement.figure(kind).value for e in window_entries], higher_is_worse=False,
        min_effect=floors.accuracy), missing="no labels or references were measured")
    energy = m.figure("energy_mj")
    if energy.known:
        add("energy", compare_values(energy.value, [e.measurement.figure("energy_mj").value for e in window_entries],
                                     min_effect=floors.energy))
    return checks
