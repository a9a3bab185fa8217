"""How far a variant's outputs are from the original model's.

The agent measures it on the board and the host on its own CPU (while compressing),
with these functions. Outputs are numpy arrays stacked per sample, ``(samples,
*output_shape)``, one per model output, beside the original model's outputs on the
same inputs. Each output is judged by its task metric (shared/task_metrics.py); the
Fidelity record summarises them. numpy is imported when called.
"""

from .measurement import Fidelity, OutputFidelity
from .task_metrics import default_spec, judge


def summarize(fidelity):
    """Fill the top-level figures of ``fidelity`` from its per-output records."""
    outputs = fidelity.outputs
    scored = [o for o in outputs if o.measured and o.score is not None]
    fidelity.measured = bool(outputs) and any(o.cosine_mean is not None for o in outputs)
    if not fidelity.measured:
        fidelity.reason = fidelity.reason or "; ".join("%s: %s" % (o.output, o.reason) for o in outputs
                                                       if o.reason) or "no output was compared"
        return fidelity
    compared = [o for o in outputs if o.cosine_mean is not None]
    worst_cosine = min(compared, key=lambda o: o.cosine_mean)
    fidelity.cosine_mean = worst_cosine.cosine_mean
    fidelity.identical = all(o.identical for o in compared)
    finite = [o.sqnr_db for o in compared if o.sqnr_db is not None]
    fidelity.sqnr_db = min(finite) if finite else None
    fidelity.max_abs_error = max(o.max_abs_error or 0.0 for o in compared)
    top1 = [o.score for o in scored if o.metric == "classification"]
    fidelity.top1_agreement = min(top1) if top1 else None
    if scored:
        worst = min(scored, key=lambda o: o.score)
        fidelity.agreement, fidelity.worst_output = worst.score, worst.output
    else:
        fidelity.agreement = fidelity.worst_output = None
    labelled = fidelity.output(fidelity.labelled_output) if fidelity.labelled_output else None
    fidelity.accuracy = labelled.accuracy if labelled is not None else None
    return fidelity


def labelled_output(specs):
    """Labels belong to the first output judged as classification."""
    return next((s.output for s in specs if s.kind == "classification"), None)


def compare_outputs(outputs, references, specs, labels=None):
    """A Fidelity record over every output named in ``specs``."""
    labelled = labelled_output(specs) if labels is not None else None
    records = []
    for spec in specs:
        if spec.output not in outputs or spec.output not in references:
            records.append(OutputFidelity(output=spec.output, metric=spec.kind, chosen_by=spec.chosen_by,
                                          reason="output '%s' is missing from the %s" % (
                                              spec.output, "variant" if spec.output not in outputs
                                              else "reference outputs")))
            continue
        records.append(judge(spec, outputs[spec.output], references[spec.output],
                             labels if spec.output == labelled else None))
    samples = min((len(v) for v in outputs.values()), default=0)
    return summarize(Fidelity(samples=samples, labelled_output=labelled, outputs=records))


def compare(outputs, reference, labels=None, name="output"):
    """One output's comparison, judged by the default metric for its shape."""
    import numpy as np

    out, ref = np.asarray(outputs), np.asarray(reference)
    if out.shape != ref.shape:
        return Fidelity(measured=False, reason="the variant's output shape %s differs from the reference's %s"
                        % (tuple(out.shape), tuple(ref.shape)))
    spec = default_spec(name, list(ref.shape[1:]), str(ref.dtype))
    return compare_outputs({name: out}, {name: ref}, [spec], labels)
