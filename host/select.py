"""Choosing the variant to install, and saying why every other one lost.

Default objective: among variants that meet every constraint, the lowest latency at
the device's constrained percentile (p90 unless devices.toml says otherwise); when
two are within ``TIE_FRACTION`` of each other, the smaller file wins. Sizes and
memory are MiB. Accuracy drop is measured against the fp32 baseline on the same
device in the same run; without labels, top-1 disagreement with the original model
stands in for it (it bounds the accuracy drop) and the decision says so.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from ..shared.types import MIN_SAMPLES_FOR

TIE_FRACTION = 0.02
BASELINE = "fp32"
MIB = float(2 ** 20)


@dataclass
class Violation:
    constraint: str
    limit: float
    value: Optional[float]
    text: str

    def to_dict(self):
        return {"constraint": self.constraint, "limit": self.limit, "value": self.value, "text": self.text}


@dataclass
class Candidate:
    name: str
    ok: bool
    latency_ms: Optional[float]
    samples: int
    size_mb: float
    peak_rss_mb: Optional[float]
    accuracy: Optional[float]
    agreement: Optional[float]
    throttled: Optional[bool]
    error: Optional[str] = None
    accuracy_drop: Optional[float] = None
    violations: List[Violation] = field(default_factory=list)
    pareto: bool = False
    reason: str = ""

    @property
    def feasible(self):
        return self.ok and not self.violations

    def to_dict(self):
        return {"name": self.name, "ok": self.ok, "feasible": self.feasible, "pareto": self.pareto,
                "latency_ms": self.latency_ms, "samples": self.samples, "size_mb": self.size_mb,
                "peak_rss_mb": self.peak_rss_mb, "accuracy": self.accuracy,
                "top1_agreement": self.agreement, "accuracy_drop": self.accuracy_drop,
                "throttled": self.throttled, "error": self.error,
                "violations": [v.to_dict() for v in self.violations], "reason": self.reason}


def candidate(variant, percentile):
    """Flatten one stored/streamed variant result into what selection compares."""
    m = variant["measurement"]
    latency_pass = m.get("latency_pass") or {}
    latency = latency_pass.get("latency") or {}
    fidelity = latency_pass.get("fidelity") or {}
    error = m.get("error")
    return Candidate(
        name=variant["name"], ok=bool(m.get("ok")),
        latency_ms=latency.get(percentile + "_ms"), samples=latency.get("n", 0),
        size_mb=variant["manifest"]["size_bytes"] / MIB,
        peak_rss_mb=(m.get("memory") or {}).get("peak_rss_mb"),
        accuracy=fidelity.get("accuracy"), agreement=fidelity.get("top1_agreement"),
        throttled=((m.get("thermal") or {}).get("verdict") or {}).get("throttled"),
        error=("%s: %s" % (error.get("code"), error.get("message"))) if error else None)


def _over(name, value, limit, unit, label):
    by = value - limit
    return Violation(name, limit, value, "%s %.3g%s > limit %.3g%s (over by %.3g%s, %.0f%%)"
                     % (label, value, unit, limit, unit, by, unit, 100.0 * by / limit if limit else 0))


def _check(c, constraints, percentile, baseline):
    if constraints.max_latency_ms is not None:
        if c.latency_ms is None:
            c.violations.append(Violation("max_latency_ms", constraints.max_latency_ms, None,
                                          "%s not measurable from %d runs (needs >= %d; raise bench.min_runs)"
                                          % (percentile, c.samples, MIN_SAMPLES_FOR[percentile])))
        elif c.latency_ms > constraints.max_latency_ms:
            c.violations.append(_over("max_latency_ms", c.latency_ms, constraints.max_latency_ms,
                                      " ms", percentile))
    if constraints.max_model_size_mb is not None and c.size_mb > constraints.max_model_size_mb:
        c.violations.append(_over("max_model_size_mb", c.size_mb, constraints.max_model_size_mb,
                                  " MiB", "file size"))
    if constraints.max_peak_memory_mb is not None:
        if c.peak_rss_mb is None:
            c.violations.append(Violation("max_peak_memory_mb", constraints.max_peak_memory_mb, None,
                                          "peak memory was not measured"))
        elif c.peak_rss_mb > constraints.max_peak_memory_mb:
            c.violations.append(_over("max_peak_memory_mb", c.peak_rss_mb, constraints.max_peak_memory_mb,
                                      " MiB", "peak RSS"))
    if constraints.min_accuracy is not None:
        if c.accuracy is None:
            c.violations.append(Violation("min_accuracy", constraints.min_accuracy, None,
                                          "accuracy not measured (no labelled data)"))
        elif c.accuracy < constraints.min_accuracy:
            c.violations.append(Violation("min_accuracy", constraints.min_accuracy, c.accuracy,
                                          "accuracy %.2f%% < minimum %.2f%% (short by %.2f points)"
                                          % (100 * c.accuracy, 100 * constraints.min_accuracy,
                                             100 * (constraints.min_accuracy - c.accuracy))))
    if constraints.max_accuracy_drop is not None and c.accuracy_drop is not None \
            and c.accuracy_drop > constraints.max_accuracy_drop + 1e-12:
        c.violations.append(Violation("max_accuracy_drop", constraints.max_accuracy_drop, c.accuracy_drop,
                                      "accuracy drop %.2f points vs %s > limit %.2f points"
                                      % (100 * c.accuracy_drop, baseline, 100 * constraints.max_accuracy_drop)))
    if c.throttled:
        c.violations.append(Violation("throttling", 0, 1, "the board throttled during this measurement; "
                                      "its numbers are not comparable (cool the board and re-run)"))


def _accuracy_drops(candidates, baseline_name):
    base = next((c for c in candidates if c.name == baseline_name and c.ok), None)
    notes = []
    if base is None:
        notes.append("no measured '%s' baseline: accuracy drop is not computed" % baseline_name)
        return notes
    for c in candidates:
        if c.accuracy is not None and base.accuracy is not None:
            c.accuracy_drop = max(0.0, base.accuracy - c.accuracy)
        elif c.agreement is not None:
            c.accuracy_drop = 1.0 - c.agreement
    if base.accuracy is None:
        notes.append("no labels: accuracy drop is top-1 disagreement with the original model")
    return notes


def _mark_pareto(candidates):
    """Non-dominated on (latency, size, memory, lower drop): better in one, no worse in all."""
    def key(c):
        return (c.latency_ms, c.size_mb, c.peak_rss_mb or 0.0, c.accuracy_drop or 0.0)

    measured = [c for c in candidates if c.ok and c.latency_ms is not None]
    for c in measured:
        kc = key(c)
        c.pareto = not any(all(a <= b for a, b in zip(key(o), kc)) and key(o) != kc for o in measured)


def select(variants, constraints, baseline=BASELINE):
    """Decide among measured variants. Returns a JSON-able decision dict."""
    percentile = constraints.latency_percentile
    candidates = [candidate(v, percentile) for v in variants]
    notes = _accuracy_drops(candidates, baseline)
    for field_name in ("max_power_w", "max_energy_mj"):
        if getattr(constraints, field_name) is not None:
            notes.append("%s is not enforced: power is not measured on this device" % field_name)
    for c in candidates:
        if c.ok:
            _check(c, constraints, percentile, baseline)
    _mark_pareto(candidates)
    feasible = sorted((c for c in candidates if c.feasible and c.latency_ms is not None),
                      key=lambda c: c.latency_ms)
    chosen = None
    if feasible:
        fastest = feasible[0].latency_ms
        tied = [c for c in feasible if c.latency_ms <= fastest * (1 + TIE_FRACTION)]
        chosen = min(tied, key=lambda c: (c.size_mb, c.latency_ms))
    for c in candidates:
        c.reason = _reason(c, chosen, percentile)
    return {
        "chosen": chosen.name if chosen else None,
        "percentile": percentile,
        "objective": "lowest %s latency among feasible variants; within %d%%, the smaller file"
                     % (percentile, round(100 * TIE_FRACTION)),
        "baseline": baseline,
        "constraints": constraints.to_dict(),
        "notes": notes,
        "variants": [c.to_dict() for c in candidates],
    }


def _reason(c, chosen, percentile):
    if not c.ok:
        return "failed on the device: %s" % (c.error or "unknown error")
    if c.violations:
        return "infeasible: " + "; ".join(v.text for v in c.violations)
    if chosen is None:
        return "feasible but not measurable at %s" % percentile
    if c is chosen:
        return "chosen: fastest feasible at %s (%.3f ms)" % (percentile, c.latency_ms)
    if c.latency_ms <= chosen.latency_ms * (1 + TIE_FRACTION):
        return "tied with %s on %s latency (%.3f vs %.3f ms) but larger (%.2f vs %.2f MiB)" % (
            chosen.name, percentile, c.latency_ms, chosen.latency_ms, c.size_mb, chosen.size_mb)
    return "feasible, but %s %.3f ms is %.0f%% slower than %s (%.3f ms)" % (
        percentile, c.latency_ms, 100 * (c.latency_ms / chosen.latency_ms - 1), chosen.name, chosen.latency_ms)
