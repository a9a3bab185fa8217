"""Why a variant won or lost on this board, from measured evidence only.

Every sentence names its evidence: the measured speed ratio at p50, the variant's own
per-operator profile (which operator takes its time, how that operator compares with
the baseline's main operator, what operators the variant added), for an fp16 variant
whether its main operator really ran on float16 tensors (the input types its profile
recorded: a runtime without a float16 kernel converts back to float32 around it), and
the CPU features the board reported that bear on its technique (int8 dot product for
int8 variants, fp16 arithmetic for fp16 ones). Where a piece of evidence is missing, the
sentence says so instead of guessing.
"""

from ..agent.cpu_features import INFERENCE_FEATURES

# The features that decide a technique's speed, per CPU family.
INT8_FEATURES = {"x86": ("avx512_vnni", "avx_vnni", "amx_int8"), "arm": ("asimddp", "i8mm")}
FP16_FEATURES = {"x86": ("avx512_fp16",), "arm": ("fphp", "asimdhp")}
# An added operator type is worth naming from this share of the variant's operator time.
ADDED_SHARE = 0.05
MEANINGS = {name: meaning for family in INFERENCE_FEATURES.values() for name, meaning in family}


def _kind(technique):
    technique = technique or ""
    if "int8" in technique or "int4" in technique or "q8" in technique:
        return "int8", INT8_FEATURES
    if "fp16" in technique:
        return "fp16", FP16_FEATURES
    return None, None


def feature_evidence(technique, cpu_features):
    """The CPU-feature clause for a technique, or None when none bears on it."""
    kind, table = _kind(technique)
    if kind is None:
        return None
    features = cpu_features or {}
    family = features.get("family")
    if family not in table or not (features.get("present") or features.get("absent")):
        return "this CPU's %s features are not known (%s)" % (kind, features.get("source") or "not reported")
    have = [name for name in table[family] if name in (features.get("present") or [])]
    if have:
        return "this CPU has %s" % ", ".join("%s (%s)" % (name, MEANINGS.get(name, "?")) for name in have)
    what = "int8 dot-product" if kind == "int8" else "fp16 arithmetic"
    return "this CPU has no %s instructions (none of %s)" % (what, ", ".join(table[family]))


def _usable(measurement):
    profile = measurement.operators if measurement is not None else None
    return profile if profile is not None and profile.available and profile.by_op_type else None


def _type_words(types):
    return [{"float": "float32", "double": "float64"}.get(name, name) for name in types]


def precision_evidence(technique, variant):
    """For an fp16 variant: whether its main operator ran on float16 tensors, from the
    input types its profile recorded; None when it is not fp16 or the profile does not say."""
    kind, _ = _kind(technique)
    profile = _usable(variant)
    if kind != "fp16" or profile is None or not profile.by_op_type[0].input_types:
        return None
    top = profile.by_op_type[0]
    if top.input_types == ["float16"]:
        return "its %s ran on float16 tensors (the profile's input types)" % top.op
    if "float16" in top.input_types:
        return "its %s ran partly on float16 tensors (inputs of %s, the profile's input types)" % (
            top.op, ", ".join(_type_words(top.input_types)))
    return ("its %s ran on %s tensors, not float16 (the profile's input types): the runtime converted back "
            "around it, so fp16 instructions did not apply to it" % (top.op, "/".join(_type_words(top.input_types))))


def profile_evidence(variant, baseline, baseline_name):
    """The operator clause: the variant's main operator against the baseline's, and what
    it added; or why there is no profile to speak from."""
    mine, theirs = _usable(variant), _usable(baseline)
    if mine is None:
        reason = variant.operators.reason if variant.operators is not None else "no profile was taken"
        return "no per-operator evidence (%s)" % reason
    top = mine.by_op_type[0]
    clause = "%s is %.0f%% of its operator time (%.3f ms per run" % (top.op, 100 * (top.share or 0), top.ms_per_run)
    if theirs is not None:
        main = theirs.by_op_type[0]
        clause += " vs %s's %.3f ms in %s)" % (main.op, main.ms_per_run, baseline_name)
        # Operators the variant added besides its main one (which the clause above already
        # set against the baseline's): conversions, scaling, layout changes.
        known = {row.op for row in theirs.by_op_type} | {top.op}
        added = [row for row in mine.by_op_type if row.op not in known]
        share = sum(row.share or 0 for row in added)
        if added and share >= ADDED_SHARE:
            clause += "; other operators %s does not have (%s) take %.0f%%" % (
                baseline_name, ", ".join(row.op for row in added[:4]) + (", ..." if len(added) > 4 else ""),
                100 * share)
    else:
        clause += "; %s has no profile to compare with)" % baseline_name
    return clause


def explain(result, baseline_result, cpu_features):
    """One sentence for a measured variant against the baseline (host/runs.VariantResult)."""
    name, technique = result.name, result.manifest.get("technique", "")
    mine, theirs = result.measurement.figure("p50_ms"), baseline_result.measurement.figure("p50_ms")
    if not mine.known or not theirs.known:
        return "%s: not explained: its p50 or %s's was not measured" % (name, baseline_result.name)
    speed = theirs.value / mine.value
    head = "%s %.2fx %s than %s at p50 (%.3f vs %.3f ms)" % (
        name, speed if speed >= 1 else 1 / speed, "faster" if speed >= 1 else "slower", baseline_result.name,
        mine.value, theirs.value)
    clauses = [profile_evidence(result.measurement, baseline_result.measurement, baseline_result.name),
               precision_evidence(technique, result.measurement), feature_evidence(technique, cpu_features)]
    clauses = [clause for clause in clauses if clause]
    return head + ": " + "; ".join(clauses)


def annotate(decision, results, facts):
    """Set each measured non-baseline verdict's ``explanation`` (decision from select)."""
    by_name = {r.name: r for r in results}
    baseline = by_name.get(decision.baseline)
    if baseline is None or not baseline.measurement.ok:
        return decision
    cpu_features = (facts.to_dict() if hasattr(facts, "to_dict") else facts or {}).get("cpu_features")
    for verdict in decision.variants:
        result = by_name.get(verdict.name)
        if verdict.name != baseline.name and result is not None and result.measurement is not None \
                and result.measurement.ok:
            verdict.explanation = explain(result, baseline, cpu_features)
    return decision
