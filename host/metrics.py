"""Which task metric judges each model output: parsed from ``--metric`` or a recipe's
``[metrics]`` table, checked against the outputs, and defaulted from their shapes.

Forms (``--metric`` repeats; a recipe's ``[metrics]`` maps output names to the same
text after ``=``):

    --metric logits=classification            top-1 over the last axis
    --metric logits=sequence,blank=0          per position; CTC-decoded exact match
    --metric prob_map=map,threshold=0.3       IoU of the map above 0.3
    --metric embedding=cosine                 regression and embeddings
    --metric boxes=mypackage.metrics:score    your function(reference, output) -> [0, 1]

Options: ``axis=K`` (class axis of classification and sequence), ``threshold=X``
(map), ``blank=K`` (sequence). Every output not named gets the default for its shape
(shared/task_metrics.default_spec), which says why it was chosen.
"""

import importlib
import math
import re
import sys
from typing import Dict, List

from ..shared.errors import UsageError
from ..shared.task_metrics import ALIASES, KINDS, MetricSpec, default_spec, misfit

FORM = ("--metric OUTPUT=KIND[,axis=K][,threshold=X][,blank=K] with KIND one of %s, or OUTPUT=module:function"
        % ", ".join(k for k in KINDS if k != "custom"))
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_OPTIONS = {"axis": int, "threshold": float, "blank": int}


def _option(spec_text, key, value):
    if key not in _OPTIONS:
        raise UsageError("%r: unknown metric option %r (known: axis, threshold, blank)" % (spec_text, key), FORM)
    try:
        number = _OPTIONS[key](value.strip())
    except ValueError:
        raise UsageError("%r: %s must be a %s" % (spec_text, key, "whole number" if _OPTIONS[key] is int
                                                  else "number"), FORM) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise UsageError("%r: %s must be finite" % (spec_text, key), FORM)
    return number


def parse_one(output, text, chosen_by):
    """A MetricSpec from ``KIND[,opt=value...]`` or ``module:function`` for ``output``."""
    whole = "%s=%s" % (output, text)
    text = text.strip()
    if _FUNCTION.match(text):
        return MetricSpec(output, "custom", function=text, chosen_by=chosen_by)
    kind, *options = [part.strip() for part in text.split(",")]
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS or kind == "custom":
        raise UsageError("%r: unknown metric %r" % (whole, kind), FORM)
    spec = MetricSpec(output, kind, chosen_by=chosen_by)
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise UsageError("%r: metric option %r needs a value (key=value)" % (whole, option), FORM)
        setattr(spec, key.strip(), _option(whole, key.strip(), value))
    if spec.threshold is not None and kind != "map" or spec.blank is not None and kind != "sequence":
        raise UsageError("%r: threshold is for map and blank for sequence" % whole, FORM)
    return spec


def parse(values, chosen_by="--metric"):
    """``--metric`` values (or recipe entries as OUTPUT=TEXT) -> {output: MetricSpec}."""
    given: Dict[str, MetricSpec] = {}
    for value in values or ():
        if not isinstance(value, str) or "=" not in value:
            raise UsageError("--metric %r: expected OUTPUT=KIND" % (value,), FORM)
        output, _, text = value.partition("=")
        output = output.strip()
        if not output or not text.strip():
            raise UsageError("--metric %r: the output name or the metric is empty" % value, FORM)
        if output in given:
            raise UsageError("--metric names output '%s' twice" % output, FORM)
        given[output] = parse_one(output, text, chosen_by)
    return given


def load_function(spec):
    """The user's metric function; a UsageError when it cannot be imported."""
    module_name, _, function_name = spec.function.partition(":")
    if "" not in sys.path:
        sys.path.insert(0, "")   # module:function names a module in the working directory too
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError("metric for output '%s': cannot import %s: %s: %s"
                         % (spec.output, module_name, type(exc).__name__, exc),
                         "give module:function of an importable module") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UsageError("metric for output '%s': %s has no function %s" % (spec.output, module_name,
                                                                            function_name))
    return function


def resolve(references, given):
    """One MetricSpec per model output, in output order.

    ``references`` are the original model's outputs stacked per sample; ``given`` the
    user's choices (``parse``), each checked to fit its output's shape.
    """
    unknown = sorted(set(given) - set(references))
    if unknown:
        raise UsageError("a metric names output(s) %s, which the model does not have (its outputs: %s)"
                         % (", ".join(unknown), ", ".join(references)), FORM)
    specs: List[MetricSpec] = []
    for name, stacked in references.items():
        shape, dtype = list(stacked.shape[1:]), str(stacked.dtype)
        if name in given:
            spec = given[name]
            problem = misfit(spec, shape, dtype) if spec.kind != "custom" else None
            if problem:
                raise UsageError("metric %s for output '%s' does not fit: %s" % (spec.kind, name, problem), FORM)
            if spec.kind == "custom":
                load_function(spec)
        else:
            spec = default_spec(name, shape, dtype, *_finite_range(stacked))
        specs.append(spec)
    return specs


def _finite_range(stacked):
    """The lowest and highest finite value of numeric outputs (a map's default threshold
    depends on whether it holds probabilities); (None, None) for others."""
    import numpy as np

    if stacked.dtype.kind not in "fiub":
        return None, None
    finite = stacked[np.isfinite(stacked)] if stacked.dtype.kind == "f" else stacked
    return (float(finite.min()), float(finite.max())) if finite.size else (None, None)


def custom_score(spec, reference, output, record):
    """Fill ``record`` (an OutputFidelity judged by ``judge``) with the user's metric."""
    record.score_name = spec.function
    try:
        value = load_function(spec)(reference, output)
    except UsageError as exc:
        record.reason = exc.message
        return record
    except Exception as exc:   # the user's code: its failure is a finding about the metric, not a crash
        record.reason = "%s raised %s: %s" % (spec.function, type(exc).__name__, exc)
        return record
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        record.reason = "%s returned %r; a metric returns a number in [0, 1] (1: same as the original)" % (
            spec.function, value)
        return record
    record.score, record.measured, record.reason = float(value), True, None
    return record


def apply_custom(measurement, specs, references):
    """Judge the outputs a board returned with the user's metrics, then drop them from
    the measurement (they were only carried for this)."""
    import base64
    import io

    import numpy as np

    from ..shared.fidelity import summarize

    latency = measurement.latency_pass
    if latency is None or not latency.returned_outputs:
        return measurement
    encoded, latency.returned_outputs = latency.returned_outputs, None
    with np.load(io.BytesIO(base64.b64decode(encoded)), allow_pickle=False) as returned:
        outputs = {name: returned[name] for name in returned.files}
    fidelity = latency.fidelity
    for spec in specs:
        record = fidelity.output(spec.output)
        if spec.kind == "custom" and record is not None and spec.output in outputs:
            custom_score(spec, references[spec.output][:len(outputs[spec.output])], outputs[spec.output], record)
    summarize(fidelity)
    return measurement
