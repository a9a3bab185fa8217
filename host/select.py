"""Choosing the variant to install, and saying why every other one lost.

The objective (``objective`` in devices.toml, or ``--objective``) says what "best"
means among the variants that meet every constraint: ``latency`` (the default), the
lowest latency at the device's constrained percentile (p90 unless devices.toml says
otherwise); ``energy``, the least energy per inference (gross, as the source saw it;
a variant whose energy is unknown cannot be ranked); ``size``, the smallest file.
Under ``energy`` and ``size`` a tie (within ``TIE_FRACTION``, or the energy's own
uncertainty) goes to the lower latency.
Variants inside the measurement noise of the fastest are a tie: their 95% confidence
intervals of that percentile (order statistics of the raw samples) overlap, or, without
samples to bound them, they are within ``TIE_FRACTION``. A tie goes to the smaller
file, then to the lower accuracy drop (less risk), and the reason says so. A chosen
latency whose interval is wider than ``NOISY_FRACTION`` of it gets a note asking for
more runs. Sizes and memory are MiB.

Every constraint is checked as pass, fail or unknown (shared/decision.py states the
policy). The accuracy drop is measured against the fp32 baseline on the same device
in the same run, output by output with each output's task metric (shared/
task_metrics.py): accuracy on the labels for the labelled classification output,
otherwise the drop in its task score (top-1 agreement, exact-sequence agreement, IoU,
cosine); the variant's drop is the largest over its outputs, and the decision names
the output and the figure. An output whose metric could not be measured makes the
drop unknown; so does a baseline that failed on the device.
"""

from dataclasses import dataclass
from typing import Optional

from ..shared.decision import FAIL, OBJECTIVES, PASS, UNKNOWN, CandidateVerdict, ConstraintCheck, Decision
from ..shared.quantiles import quantile_ci

TIE_FRACTION = 0.02
NOISY_FRACTION = 0.10   # a CI half-width beyond 10% of the value: too noisy to rank with confidence
PERCENTILE_Q = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
BASELINE = "fp32"
# Techniques that leave the model as it was: the ONNX original, and the original as
# TensorFlow Lite (converted in float32, or the .tflite the user gave).
UNCHANGED = ("fp32", "tflite")
THROTTLING = "throttling"
# Constraints devices.toml can set, with the figure each reads and how it is worded.
LIMITS = {
    "max_peak_memory_mb": ("peak_rss_mb", " MiB", "peak RSS"),
    "max_power_w": ("power_w", " W", "mean power"),
    "max_energy_mj": ("energy_mj", " mJ", "energy per inference"),
}


def _over(name, value, limit, unit, label):
    by = value - limit
    return ConstraintCheck(name, FAIL, limit, value, "%s %.3g%s > limit %.3g%s (over by %.3g%s, %.0f%%)"
                           % (label, value, unit, limit, unit, by, unit, 100.0 * by / limit if limit else 0))


def _upper_bound(name, figure, limit, unit, label):
    if not figure.known:
        return ConstraintCheck(name, UNKNOWN, limit, None, "%s unknown: %s" % (label, figure.missing))
    if figure.value > limit:
        return _over(name, figure.value, limit, unit, label)
    return ConstraintCheck(name, PASS, limit, figure.value, "%s %.3g%s <= %.3g%s" % (label, figure.value, unit,
                                                                                  limit, unit))


def _accuracy_checks(result, constraints, drop, baseline):
    checks = []
    if constraints.min_accuracy is not None:
        accuracy = result.measurement.figure("accuracy")
        limit = constraints.min_accuracy
        if not accuracy.known:
            checks.append(ConstraintCheck("min_accuracy", UNKNOWN, limit, None, accuracy.missing))
        elif accuracy.value < limit:
            checks.append(ConstraintCheck("min_accuracy", FAIL, limit, accuracy.value,
                                          "accuracy %.2f%% < minimum %.2f%% (short by %.2f points)"
                                          % (100 * accuracy.value, 100 * limit, 100 * (limit - accuracy.value))))
        else:
            checks.append(ConstraintCheck("min_accuracy", PASS, limit, accuracy.value,
                                          "accuracy %.2f%% >= %.2f%%" % (100 * accuracy.value, 100 * limit)))
    if constraints.max_accuracy_drop is not None:
        limit = constraints.max_accuracy_drop
        value = drop.value
        if value is None:
            checks.append(ConstraintCheck("max_accuracy_drop", UNKNOWN, limit, None,
                                          "accuracy drop unknown: %s" % drop.missing))
        elif value > limit + 1e-12:
            checks.append(ConstraintCheck("max_accuracy_drop", FAIL, limit, value,
                                          "accuracy drop %.2f points vs %s > limit %.2f points (%s)"
                                          % (100 * value, baseline, 100 * limit, drop.basis)))
        else:
            checks.append(ConstraintCheck("max_accuracy_drop", PASS, limit, value,
                                          "accuracy drop %.2f points <= %.2f (%s)" % (100 * value, 100 * limit,
                                                                                    drop.basis)))
    return checks


def _throttling_check(result, constraints):
    throttled = result.measurement.figure("throttled")
    if not throttled.known:
        check = ConstraintCheck(THROTTLING, UNKNOWN, None, None, throttled.missing)
        check.let_through = not constraints.require_thermal_evidence
        if constraints.require_thermal_evidence:
            check.text += " (the device sets require_thermal_evidence = true)"
        return check
    if throttled.value:
        evidence = result.measurement.thermal.verdict.evidence
        return ConstraintCheck(THROTTLING, FAIL, 0, 1, "the board throttled during this measurement (%s); its "
                               "numbers are not comparable (cool the board and re-run)"
                               % ("; ".join(evidence) or "no detail"))
    return ConstraintCheck(THROTTLING, PASS, 0, 0, "not throttled")


def check(result, constraints, drop, baseline):
    """Every constraint on one measured variant, as pass / fail / unknown checks."""
    percentile = constraints.latency_percentile
    checks = []
    if constraints.max_latency_ms is not None:
        checks.append(_upper_bound("max_latency_ms", result.measurement.figure(percentile + "_ms"),
                                   constraints.max_latency_ms, " ms", percentile))
    if constraints.max_model_size_mb is not None:
        size = result.size_mb
        limit = constraints.max_model_size_mb
        checks.append(_over("max_model_size_mb", size, limit, " MiB", "file size") if size > limit else
                      ConstraintCheck("max_model_size_mb", PASS, limit, size, "file size %.3g MiB" % size))
    for name, (figure, unit, label) in LIMITS.items():
        limit = getattr(constraints, name)
        if limit is not None:
            checks.append(_upper_bound(name, result.measurement.figure(figure), limit, unit, label))
    checks.extend(_accuracy_checks(result, constraints, drop, baseline))
    checks.append(_throttling_check(result, constraints))
    for c in checks:
        if c.verdict == UNKNOWN and c.constraint in constraints.allow_unknown:
            c.let_through = True
            c.text += " (let through: allow_unknown names %s)" % c.constraint
    return checks


@dataclass(frozen=True)
class Drop:
    """How much worse than the baseline a variant judges, by the worst output's task metric."""

    value: Optional[float] = None
    missing: Optional[str] = None     # why unknown
    basis: Optional[str] = None       # which figure of which output it is


def _output_drop(record, base_record, labelled):
    """The drop of one output, or a reason it is unknown."""
    if record is None or not record.measured or record.score is None:
        return None, "output '%s': %s" % (getattr(record, "output", "?"),
                                         getattr(record, "reason", None) or "not judged")
    if base_record is None or not base_record.measured or base_record.score is None:
        return None, "output '%s' of the baseline was not judged" % record.output
    if record.output == labelled and record.accuracy is not None and base_record.accuracy is not None:
        return (base_record.accuracy - record.accuracy, "accuracy of output '%s' (labels)" % record.output), None
    return (base_record.score - record.score, "%s of output '%s'" % (record.score_name, record.output)), None


def _variant_drop(measurement, base):
    """The largest drop over every output (all must be judged), against the baseline's
    judgement of the same outputs: the baseline is the original model on this device."""
    fidelity, base_fidelity = measurement.latency_pass.fidelity, base.latency_pass.fidelity
    if not fidelity.measured:
        return Drop(missing="fidelity not measured: %s" % (fidelity.reason or "no reason given"))
    worst = None
    for record in fidelity.outputs:
        found, missing = _output_drop(record, base_fidelity.output(record.output), fidelity.labelled_output)
        if missing:
            return Drop(missing=missing)
        if worst is None or found[0] > worst[0]:
            worst = found
    return Drop(max(0.0, worst[0]), basis=worst[1]) if worst else Drop(missing="no output was compared")


def _legacy_drop(measurement, base):
    """Measurements from before per-output metrics (schema <= 2): accuracy, else top-1."""
    base_accuracy, accuracy = base.figure("accuracy"), measurement.figure("accuracy")
    agreement = measurement.figure("top1_agreement")
    if base_accuracy.known and accuracy.known:
        return Drop(max(0.0, base_accuracy.value - accuracy.value), basis="accuracy (labels)")
    if agreement.known:
        return Drop(1.0 - agreement.value, basis="top-1 disagreement with the original model")
    return Drop(missing=accuracy.missing if not base_accuracy.known else agreement.missing)


def baseline_of(results):
    """The variant accuracy drops are against: ``fp32`` (the ONNX original) when it was
    made, else the first unchanged one (a TFLite-only run's float model)."""
    if any(r.name == BASELINE for r in results):
        return BASELINE
    unchanged = next((r.name for r in results if (r.manifest or {}).get("technique") in UNCHANGED), None)
    return unchanged or BASELINE


def accuracy_drops(results, baseline_name):
    """name -> Drop, and the notes the decision shows about them."""
    base = next((r for r in results if r.name == baseline_name), None)
    if base is None or not base.measurement.ok:
        why = ("the '%s' baseline failed on the device" % baseline_name if base is not None
               else "no '%s' baseline was measured" % baseline_name)
        return {r.name: Drop(missing=why) for r in results}, ["accuracy drop is unknown: " + why]
    drops = {}
    for r in results:
        if r is base:
            drops[r.name] = Drop(0.0, basis="the baseline itself")  # never a drop against itself
        elif not r.measurement.ok or r.measurement.latency_pass is None:
            drops[r.name] = Drop(missing=r.measurement.figure("agreement").missing)
        elif r.measurement.latency_pass.fidelity.outputs and base.measurement.latency_pass.fidelity.outputs:
            drops[r.name] = _variant_drop(r.measurement, base.measurement)
        else:
            drops[r.name] = _legacy_drop(r.measurement, base.measurement)
    return drops, _metric_notes(base.measurement, baseline_name)


def _metric_notes(base, baseline_name):
    """Say once how each output was judged, so a drop is never read as something it is not."""
    fidelity = base.latency_pass.fidelity if base.latency_pass else None
    if fidelity is None or not fidelity.outputs:
        return [] if fidelity is None or fidelity.accuracy is not None else [
            "no labels: accuracy drop is top-1 disagreement with the original model"]
    notes = []
    for record in fidelity.outputs:
        labelled = record.output == fidelity.labelled_output and record.accuracy is not None
        notes.append("output '%s' judged by %s%s (%s)" % (
            record.output, record.score_name or record.metric, " and accuracy on the labels" if labelled else "",
            record.chosen_by or "given"))
    notes.append("the accuracy drop is the largest drop over the outputs, vs the %s baseline on this device"
                 % baseline_name)
    return notes


def _pareto(verdicts):
    """Non-dominated on (latency, size, memory, lower drop): better in one, no worse in all."""
    def key(v):
        return (v.latency_ms, v.size_mb, v.peak_rss_mb or 0.0, v.accuracy_drop or 0.0)

    measured = [v for v in verdicts if v.ok and v.latency_ms is not None]
    for v in measured:
        kv = key(v)
        v.pareto = not any(all(a <= b for a, b in zip(key(o), kv)) and key(o) != kv for o in measured)


def _candidate(result, percentile, drop):
    m = result.measurement
    latency = m.figure(percentile + "_ms")
    error = "%s: %s" % (m.error.code, m.error.message) if m.error and not m.failed_in_compression else \
        (m.error.message if m.error else None)
    samples = sorted(m.samples_ms)
    ci = quantile_ci(samples, PERCENTILE_Q[percentile]) if samples and latency.known else None
    energy = m.figure("energy_mj")
    return CandidateVerdict(
        power_w=m.figure("power_w").value, energy_mj=energy.value, net_energy_mj=m.figure("net_energy_mj").value,
        energy_uncertainty_mj=m.power.uncertainty_mj, energy_missing=energy.missing,
        name=result.name, ok=m.ok, latency_ms=latency.value, latency_ci_ms=ci, samples=m.latency_pass.latency.n if m.latency_pass
        else 0, size_mb=result.size_mb, peak_rss_mb=m.figure("peak_rss_mb").value,
        accuracy=m.figure("accuracy").value, top1_agreement=m.figure("top1_agreement").value,
        agreement=m.figure("agreement").value, accuracy_drop=drop.value, drop_basis=drop.basis, throttled=m.figure("throttled").value, error=error,
        made=not m.failed_in_compression,
        flags=["%s: %s" % (f.get("flag"), f.get("text")) for f in result.manifest.get("flags") or []])


def select(results, constraints, baseline=None, objective="latency"):
    """Decide among measured variants (host/runs.VariantResult). Returns a Decision.
    ``baseline``: the variant accuracy drops are against (default: baseline_of)."""
    if objective not in OBJECTIVES:
        raise ValueError("objective must be one of %s" % ", ".join(OBJECTIVES))
    baseline = baseline or baseline_of(results)
    percentile = constraints.latency_percentile
    drops, notes = accuracy_drops(results, baseline)
    verdicts = []
    for r in results:
        verdict = _candidate(r, percentile, drops[r.name])
        if verdict.ok:
            verdict.checks = check(r, constraints, drops[r.name], baseline)
            verdict.feasible = not any(c.blocks for c in verdict.checks)
        verdicts.append(verdict)
    _pareto(verdicts)
    feasible = sorted((v for v in verdicts if v.feasible and v.latency_ms is not None), key=lambda v: v.latency_ms)
    chosen, tied = None, []
    if objective != "latency":
        chosen, tied = _by_objective(feasible, objective)
    elif feasible:
        tied = [v for v in feasible if _tie(v, feasible[0])]
        chosen = min(tied, key=lambda v: (v.size_mb, v.accuracy_drop or 0.0, v.latency_ms))
    for v in verdicts:
        v.reason = (_reason(v, chosen, percentile, tied) if objective == "latency" or not v.feasible
                    or v.latency_ms is None else _objective_reason(v, chosen, objective, percentile, tied))
        if v.flags and v.ok:
            # Never offered as what its recipe asked for: a missed target, a cut-short
            # training, a quantized file larger or slower than its source shows here.
            v.reason += " [flagged when made: %s]" % "; ".join(flag.split(" (")[0] for flag in v.flags)
    return Decision(
        chosen=chosen.name if chosen else None, percentile=percentile, ranked_by=objective,
        objective=_objective_text(objective, percentile),
        baseline=baseline, constraints=constraints.to_dict(),
        notes=notes + _unknown_notes(verdicts) + _noise_notes(chosen, percentile) + _flag_notes(verdicts),
        missing_evidence=_missing_evidence(verdicts), variants=verdicts)


def _objective_text(objective, percentile):
    if objective == "energy":
        return ("least energy per inference among feasible variants; a tie (within %d%% or the energy's "
                "uncertainty) goes to the lower %s latency" % (round(100 * TIE_FRACTION), percentile))
    if objective == "size":
        return ("smallest file among feasible variants; a tie (within %d%%) goes to the lower %s latency"
                % (round(100 * TIE_FRACTION), percentile))
    return ("lowest %s latency among feasible variants; a tie (overlapping 95%% CIs, or within %d%% without "
            "samples) goes to the smaller file, then the lower accuracy drop" % (percentile, round(100 * TIE_FRACTION)))


def _objective_value(v, objective):
    return v.energy_mj if objective == "energy" else v.size_mb


def _by_objective(feasible, objective):
    """The chosen variant and those tied with it, ranking by energy or size."""
    ranked = sorted((v for v in feasible if _objective_value(v, objective) is not None),
                    key=lambda v: _objective_value(v, objective))
    if not ranked:
        return None, []
    best = ranked[0]
    band = _objective_value(best, objective) * TIE_FRACTION
    if objective == "energy":
        band = max(band, (best.energy_uncertainty_mj or 0.0) * 2)
    tied = [v for v in ranked if _objective_value(v, objective) - _objective_value(best, objective) <= band]
    return min(tied, key=lambda v: (v.latency_ms, v.size_mb)), tied


def _objective_reason(v, chosen, objective, percentile, tied):
    """Why a feasible variant won or lost under the energy or size objective."""
    unit, what = (" mJ", "energy per inference") if objective == "energy" else (" MiB", "file size")
    value = _objective_value(v, objective)
    if value is None:
        return "feasible but its energy is unknown (%s): cannot be ranked by energy" % (
            v.energy_missing or "not measured")
    if chosen is None:
        return "feasible but not ranked"
    best = _objective_value(chosen, objective)
    if v is chosen:
        others = [t.name for t in tied if t is not v]
        tie = (", tied with %s and faster at %s" % (", ".join(others), percentile)) if others else ""
        return "chosen: least %s among feasible variants (%.4g%s; %s %.3f ms)%s" % (
            what if objective == "energy" else "file size", value, unit, percentile, v.latency_ms, tie)
    if v in tied:
        return "tied with %s on %s (%.4g vs %.4g%s) but slower at %s (%.3f vs %.3f ms)" % (
            chosen.name, what, value, best, unit, percentile, v.latency_ms, chosen.latency_ms)
    return "feasible, but its %s %.4g%s is %.0f%% more than %s (%.4g%s)%s" % (
        what, value, unit, 100 * (value / best - 1) if best else 0, chosen.name, best, unit,
        (" though %.0f%% faster at %s" % (100 * (1 - v.latency_ms / chosen.latency_ms), percentile))
        if v.latency_ms < chosen.latency_ms else "")


def _tie(a, b):
    """Inside the measurement noise of each other: overlapping CIs, or the 2% band."""
    if a.latency_ci_ms and b.latency_ci_ms:
        return a.latency_ci_ms[0] <= b.latency_ci_ms[1] and b.latency_ci_ms[0] <= a.latency_ci_ms[1]
    low, high = sorted((a.latency_ms, b.latency_ms))
    return high <= low * (1 + TIE_FRACTION)


def _noise(v):
    if v.latency_ci_ms:
        return "95%% CI [%.3f, %.3f] ms" % tuple(v.latency_ci_ms)
    return "no CI (too few raw samples), within %d%%" % round(100 * TIE_FRACTION)


def _flag_notes(verdicts):
    kinds = ("missed_target", "cut_short")
    return ["%s was made differently than its recipe asked: %s" % (v.name, flag) for v in verdicts
            for flag in v.flags if flag.startswith(kinds)]


def _noisy(v):
    """The CI half-width is beyond NOISY_FRACTION of the value: too wide to rank on."""
    if not v.latency_ci_ms or not v.latency_ms:
        return False
    low, high = v.latency_ci_ms
    return (high - low) / 2.0 > NOISY_FRACTION * v.latency_ms


def too_noisy_to_decide(decision):
    """The variants to measure again when the winner's interval is too wide to trust:
    the winner and every feasible variant whose interval overlaps it. Empty when the
    decision stands."""
    chosen = decision.variant(decision.chosen) if decision.chosen else None
    if chosen is None or not _noisy(chosen):
        return []
    return [v.name for v in decision.variants if v.feasible and v.latency_ms is not None and
            (v is chosen or _tie(v, chosen))]


def _noise_notes(chosen, percentile):
    if chosen is None or not chosen.latency_ci_ms:
        return []
    low, high = chosen.latency_ci_ms
    half = (high - low) / 2.0
    if half <= NOISY_FRACTION * chosen.latency_ms:
        return []
    return ["%s %s latency is noisy (95%% CI [%.3f, %.3f] ms, +/-%.0f%%): the ranking may not hold; re-run with "
            "more runs (--min-runs, --min-time) or on a quieter board" % (
                chosen.name, percentile, low, high, 100 * half / chosen.latency_ms)]


def _missing_evidence(verdicts):
    """Each distinct piece of evidence that was missing, once, for the decision to name."""
    seen = []
    for v in verdicts:
        for c in v.checks_with(UNKNOWN):
            # Throttling's text already names it; others gain their constraint's name.
            line = c.text if c.text.startswith(c.constraint) else "%s: %s" % (c.constraint, c.text)
            if line not in seen:
                seen.append(line)
    return seen


def _unknown_notes(verdicts):
    notes = []
    let_through = sorted({c.constraint for v in verdicts for c in v.checks_with(UNKNOWN) if c.let_through})
    for name in let_through:
        if name == THROTTLING:
            notes.append("throttling could not be checked on this device; variants were not refused for it "
                         "(set require_thermal_evidence = true to refuse them)")
        else:
            notes.append("%s was unknown for some variants and let through by allow_unknown" % name)
    return notes


def _reason(v, chosen, percentile, tied):
    if not v.ok:
        where = "on the device" if v.made else "in compression"
        return "failed %s: %s" % (where, v.error or "unknown error")
    failed = v.checks_with(FAIL)
    unknown = [c for c in v.checks_with(UNKNOWN) if not c.let_through]
    if failed or unknown:
        parts = [c.text for c in failed] + ["%s unknown, not chosen without evidence: %s" % (c.constraint, c.text)
                                            for c in unknown]
        return "infeasible: " + "; ".join(parts)
    if v.latency_ms is None:
        return "feasible but %s latency is unknown: cannot be ranked" % percentile
    caveat = "".join("; %s" % c.text for c in v.checks_with(UNKNOWN) if c.let_through
                     and c.constraint != THROTTLING)
    if chosen is None:
        return "feasible but not measurable at %s" % percentile
    if v is chosen:
        if len(tied) > 1:
            return "chosen: tied for fastest at %s with %s (inside the noise), and the smallest (%.2f MiB)%s" % (
                percentile, ", ".join(t.name for t in tied if t is not v), v.size_mb, caveat)
        return "chosen: fastest feasible at %s (%.3f ms)%s" % (percentile, v.latency_ms, caveat)
    if v in tied:
        if v.size_mb != chosen.size_mb:
            why = "larger (%.2f vs %.2f MiB)" % (v.size_mb, chosen.size_mb)
        else:
            why = "the same size and a higher accuracy drop (%.2f vs %.2f points)" % (
                100 * (v.accuracy_drop or 0.0), 100 * (chosen.accuracy_drop or 0.0))
        return "tied with %s on %s latency (%.3f ms, %s, vs %.3f ms, %s: inside the noise) but %s%s" % (
            chosen.name, percentile, v.latency_ms, _noise(v), chosen.latency_ms, _noise(chosen), why, caveat)
    return "feasible, but %s %.3f ms is %.0f%% slower than %s (%.3f ms)%s" % (
        percentile, v.latency_ms, 100 * (v.latency_ms / chosen.latency_ms - 1), chosen.name, chosen.latency_ms,
        caveat)
