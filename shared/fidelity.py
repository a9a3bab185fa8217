"""How far a variant's outputs are from the original model's.

The agent measures it on the board and the host on its own CPU (while compressing),
with this one function. Inputs are numpy arrays shaped (samples, ...) for the
variant's outputs and the reference outputs of the original model on the same inputs.
numpy is imported when called: the agent runs without it until it measures.
"""

import math

from .measurement import Fidelity


def compare(outputs, reference, labels=None):
    """A Fidelity record; not measured (with the reason) when the outputs cannot be compared."""
    import numpy as np

    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if out.shape != ref.shape:
        return Fidelity(measured=False, reason="the variant's output shape %s differs from the reference's %s"
                        % (tuple(out.shape), tuple(ref.shape)))
    dot = (out * ref).sum(axis=1)
    norms = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1)
    # Two zero vectors agree perfectly; one zero vector against a non-zero one does not.
    cosine = np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0),
                      np.where(np.abs(out).sum(axis=1) + np.abs(ref).sum(axis=1) == 0, 1.0, 0.0))
    noise = float(((out - ref) ** 2).sum())
    signal = float((ref ** 2).sum())
    if noise == 0.0:
        sqnr = None  # identical outputs: infinite SQNR, which JSON cannot carry
    else:
        sqnr = 10.0 * math.log10(signal / noise) if signal > 0 else None
    result = Fidelity(measured=True, samples=int(len(out)), cosine_mean=float(cosine.mean()),
                      cosine_min=float(cosine.min()), sqnr_db=sqnr, identical=noise == 0.0,
                      max_abs_error=float(np.abs(out - ref).max()))
    if out.shape[1] > 1:
        result.top1_agreement = float((out.argmax(axis=1) == ref.argmax(axis=1)).mean())
        if labels is not None:
            result.accuracy = float((out.argmax(axis=1) == np.asarray(labels)).mean())
    return result
