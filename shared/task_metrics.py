"""Task metrics: how to judge one model output of a variant against the original's.

A metric fits the output's meaning, not only its numbers. Argmax of a flattened
probability map, or a "72-point accuracy drop" for a recogniser that decodes the very
same text, are what one generic figure gives; so each output gets its own metric:

- ``classification``: top-1 agreement over the class axis (and accuracy with labels);
- ``sequence``: argmax over the class axis at every position; per-position agreement,
  and exact-sequence agreement (the score), after CTC greedy decoding when ``blank``
  is given (repeats collapsed, blanks dropped); integer outputs are tokens already;
- ``map``: IoU of the output above ``threshold`` with the original above it, per sample;
- ``cosine``: regression values and embeddings, cosine similarity (SQNR alongside);
- ``custom``: a user's ``module:function(reference, output) -> score in [0, 1]``,
  computed on the host from the outputs the board returns.

Arrays here are stacked per sample: ``(samples, *output_shape)``, where output_shape
is what one run of the model returned (its batch axis, of size 1, included). Axes in a
spec count in output_shape. numpy is imported when a metric runs: the agent starts
without it.

The default for an output comes from its shape and name (``default_spec``) and says
why it was chosen; a metric that does not fit the shape is refused (``misfit``), never
applied silently.
"""

import math
from dataclasses import dataclass
from typing import Optional

from .measurement import OutputFidelity
from .records import Record

KINDS = ("classification", "sequence", "map", "cosine", "custom")
ALIASES = {"regression": "cosine", "embedding": "cosine", "ctc": "sequence", "segmentation": "map"}
# Outputs whose names say they carry state, features or coordinates are compared as vectors.
VECTOR_NAME_HINTS = ("state", "hidden", "h_n", "c_n", "hn", "cn", "embed", "feature", "box", "coord", "regress",
                     "landmark", "offset")


@dataclass
class MetricSpec(Record):
    output: str = ""
    kind: str = "cosine"
    axis: int = -1                      # class axis (classification, sequence)
    threshold: Optional[float] = None   # map: a value above it is "on"
    blank: Optional[int] = None         # sequence: CTC blank class; decode before comparing
    function: Optional[str] = None      # custom: module:function
    chosen_by: str = ""

    def describe(self):
        extra = {"classification": "top-1 over axis %d" % self.axis,
                 "sequence": "argmax over axis %d%s" % (self.axis, ", CTC blank %d" % self.blank
                                                        if self.blank is not None else ""),
                 "map": "IoU at threshold %g" % (self.threshold if self.threshold is not None else 0.5),
                 "cosine": "cosine similarity and SQNR", "custom": self.function or ""}[self.kind]
        return "%s (%s)" % (self.kind, extra)


def _non_singleton(shape):
    return [i for i, d in enumerate(shape) if d != 1]


def default_spec(name, shape, dtype, low=None, high=None):
    """The metric for an output of one run's ``shape`` and ``dtype`` (values seen within
    [low, high] on the reference outputs), with the reason in ``chosen_by``."""
    shape = list(shape)
    big = _non_singleton(shape)
    where = "default for output '%s' of shape %s" % (name, shape)
    if dtype.startswith("float") and any(h in name.lower() for h in VECTOR_NAME_HINTS):
        return MetricSpec(name, "cosine", chosen_by=where + ": its name says state, features or coordinates")
    if not dtype.startswith("float"):
        return MetricSpec(name, "sequence", axis=-1, chosen_by=where + ": integer values, compared as tokens")
    if not big:
        return MetricSpec(name, "cosine", chosen_by=where + ": one value per sample (regression)")
    if len(big) == 1 and len(shape) <= 2:
        return MetricSpec(name, "classification", axis=big[0],
                          chosen_by=where + ": one score vector per sample (for an embedding pass "
                          "--metric %s=cosine)" % name)
    if len(shape) >= 4:
        in_unit = low is not None and high is not None and low >= 0.0 and high <= 1.0
        threshold = 0.5 if in_unit else 0.0
        return MetricSpec(name, "map", threshold=threshold,
                          chosen_by=where + ": a dense map (threshold %g: values %s)"
                          % (threshold, "within [0, 1]" if in_unit else "are logits"))
    return MetricSpec(name, "sequence", axis=big[-1],
                      chosen_by=where + ": a sequence of score vectors (argmax over axis %d; "
                      "pass blank=K for CTC)" % big[-1])


def misfit(spec, shape, dtype):
    """Why ``spec`` cannot judge an output of ``shape``/``dtype``; None when it fits."""
    rank = len(shape)
    if spec.kind in ("classification", "sequence") and dtype.startswith("float"):
        if not -rank <= spec.axis < rank:
            return "axis %d is outside output '%s' of shape %s" % (spec.axis, spec.output, list(shape))
        if shape[spec.axis] < 2:
            return ("axis %d of output '%s' (shape %s) has %d class; argmax over it means nothing"
                    % (spec.axis, spec.output, list(shape), shape[spec.axis]))
        positions = 1
        for i, d in enumerate(shape):
            if i != spec.axis % rank:
                positions *= d
        if spec.kind == "classification" and positions != 1:
            return ("output '%s' of shape %s has %d positions besides the class axis: use sequence "
                    "(per position) or map, not classification" % (spec.output, list(shape), positions))
    if spec.kind == "map" and rank < 2:
        return "output '%s' of shape %s is not a map" % (spec.output, list(shape))
    if spec.kind == "map" and not dtype.startswith("float") and dtype != "bool":
        return "output '%s' holds %s values, not a probability or logit map" % (spec.output, dtype)
    return None


def _generic(np, out, ref, record):
    """Cosine per sample, SQNR and the largest error: reported for every output."""
    flat_out = out.reshape(len(out), -1).astype(np.float64)
    flat_ref = ref.reshape(len(ref), -1).astype(np.float64)
    if flat_out.shape[1] == 1:
        # One value per sample: its cosine is ±1; the cosine over the samples says more.
        flat_out, flat_ref = flat_out.T, flat_ref.T
    dot = (flat_out * flat_ref).sum(axis=1)
    norms = np.linalg.norm(flat_out, axis=1) * np.linalg.norm(flat_ref, axis=1)
    # Two zero vectors agree perfectly; one zero vector against a non-zero one does not.
    both_zero = np.abs(flat_out).sum(axis=1) + np.abs(flat_ref).sum(axis=1) == 0
    cosine = np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), np.where(both_zero, 1.0, 0.0))
    noise = float(((flat_out - flat_ref) ** 2).sum())
    signal = float((flat_ref ** 2).sum())
    record.cosine_mean = float(cosine.mean())
    record.identical = noise == 0.0
    # identical outputs: infinite SQNR, which JSON cannot carry (None with identical=True)
    record.sqnr_db = None if noise == 0.0 or signal <= 0 else 10.0 * math.log10(signal / noise)
    record.max_abs_error = float(np.abs(flat_out - flat_ref).max()) if flat_out.size else 0.0
    return cosine


def _tokens(np, values, axis):
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = values.argmax(axis=axis + 1 if axis >= 0 else axis)
    return values.reshape(len(values), -1)


def _decoded(row, blank):
    if blank is None:
        return list(row)
    out, previous = [], None
    for token in row:
        if token != previous and token != blank:
            out.append(int(token))
        previous = token
    return out


def _classification(np, spec, out, ref, labels, record):
    got, want = _tokens(np, out, spec.axis)[:, 0], _tokens(np, ref, spec.axis)[:, 0]
    record.score_name = "top-1 agreement"
    record.score = float((got == want).mean())
    if labels is not None:
        record.accuracy = float((got == np.asarray(labels).reshape(len(labels), -1)[:, 0]).mean())


def _sequence(np, spec, out, ref, record):
    got, want = _tokens(np, out, spec.axis), _tokens(np, ref, spec.axis)
    record.position_agreement = float((got == want).mean())
    same = [_decoded(a, spec.blank) == _decoded(b, spec.blank) for a, b in zip(got, want)]
    record.score_name = "exact-sequence agreement" + (" (CTC-decoded)" if spec.blank is not None else "")
    record.score = float(np.mean(same))


def _map(np, spec, out, ref, record):
    threshold = 0.5 if spec.threshold is None else spec.threshold
    got = out.reshape(len(out), -1) > threshold
    want = ref.reshape(len(ref), -1) > threshold
    union = (got | want).sum(axis=1)
    # Two empty maps agree: nothing detected by either is a perfect match.
    iou = np.where(union > 0, (got & want).sum(axis=1) / np.maximum(union, 1), 1.0)
    record.score_name = "IoU@%g" % threshold
    record.score = float(iou.mean())
    record.iou_min = float(iou.min())


def judge(spec, outputs, reference, labels=None):
    """An OutputFidelity for one output; ``custom`` specs are left to the host."""
    import numpy as np

    record = OutputFidelity(output=spec.output, metric=spec.kind, chosen_by=spec.chosen_by)
    out, ref = np.asarray(outputs), np.asarray(reference)
    if out.shape != ref.shape:
        record.reason = "the variant's output shape %s differs from the original's %s" % (
            list(out.shape[1:]), list(ref.shape[1:]))
        return record
    if len(out) == 0:
        record.reason = "no evaluation samples"
        return record
    cosine = _generic(np, out, ref, record)
    if spec.kind == "classification":
        _classification(np, spec, out, ref, labels, record)
    elif spec.kind == "sequence":
        _sequence(np, spec, out, ref, record)
    elif spec.kind == "map":
        _map(np, spec, out, ref, record)
    elif spec.kind == "cosine":
        record.score_name = "cosine"
        record.score = max(0.0, float(cosine.mean()))   # opposite vectors agree no less than unrelated ones
    else:
        record.reason = "computed on the host from the outputs the board returns"
        return record
    record.measured = True
    return record
