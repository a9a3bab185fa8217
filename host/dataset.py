"""Calibration and evaluation data for a model, and the evaluation file sent to boards.

Sources, in order of preference: the demo's held-out digits; a user's ``.npz`` whose
keys are the model's input names (optional ``labels``, optional ``calib__<input>``);
or, with a warning, synthetic inputs generated from the model's input spec.
"""

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from ..shared.errors import ModelError
from . import cas

SYNTHETIC_SAMPLES = 64
CALIBRATION_LIMIT = 128


@dataclass
class Dataset:
    inputs: Dict[str, np.ndarray]         # evaluation inputs, (N, ...) per model input
    calibration: Dict[str, np.ndarray]    # calibration inputs, (M, ...) per model input
    labels: Optional[np.ndarray] = None
    source: str = "synthetic"
    warnings: list = field(default_factory=list)

    @property
    def synthetic(self):
        return self.source == "synthetic"

    @property
    def count(self):
        return len(next(iter(self.inputs.values())))


def from_demo(demo):
    with np.load(demo.data_path) as data:
        name = demo.meta["input"]
        return Dataset(inputs={name: data["eval_x"]}, calibration={name: data["calib_x"]},
                       labels=data["eval_y"], source="demo digits (held-out split)")


def _concrete(shape):
    return [d if isinstance(d, int) and d > 0 else 1 for d in shape]


def synthetic(specs, samples=SYNTHETIC_SAMPLES, seed=0):
    rng = np.random.RandomState(seed)
    arrays = {}
    for spec in specs:
        shape = [samples] + _concrete(spec.shape)[1:]
        if spec.dtype.startswith("float"):
            arrays[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        elif spec.dtype == "bool":
            arrays[spec.name] = rng.randint(0, 2, size=shape).astype(bool)
        else:
            arrays[spec.name] = rng.randint(0, 8, size=shape).astype(spec.dtype)
    return Dataset(inputs=arrays, calibration=arrays, source="synthetic",
                   warnings=["no data given: fidelity is measured on synthetic inputs and "
                             "accuracy is not measured (pass --data file.npz)"])


def from_npz(path, specs):
    path = Path(path)
    if not path.is_file():
        raise ModelError("data file not found: %s" % path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as exc:
        raise ModelError("%s is not a readable .npz file: %s" % (path, exc))
    missing = [s.name for s in specs if s.name not in arrays]
    if missing:
        raise ModelError("%s lacks arrays for model inputs %s" % (path, ", ".join(missing)),
                         "save one array per input name, shaped (samples, ...)")
    inputs = {s.name: arrays[s.name].astype(s.dtype) for s in specs}
    counts = {len(v) for v in inputs.values()}
    if len(counts) != 1:
        raise ModelError("%s: input arrays have different sample counts %s" % (path, sorted(counts)))
    calibration = {s.name: arrays.get("calib__" + s.name, inputs[s.name][:CALIBRATION_LIMIT]).astype(s.dtype)
                   for s in specs}
    labels = arrays.get("labels")
    return Dataset(inputs=inputs, calibration=calibration, labels=labels, source=str(path))


def run_model(model_path, dataset, count=None):
    """A model's first output on the first ``count`` evaluation samples (all by default),
    one sample at a time with onnxruntime on the CPU; None when the model's inputs are
    not the dataset's."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError("onnxruntime cannot load %s: %s" % (model_path, str(exc).splitlines()[0]))
    names = [i.name for i in session.get_inputs()]
    if any(n not in dataset.inputs for n in names):
        return None
    count = dataset.count if count is None else count
    return np.concatenate([session.run(None, {n: dataset.inputs[n][i:i + 1] for n in names})[0]
                           for i in range(count)])


def reference_outputs(model_path, dataset):
    """The original model's first output on every evaluation sample."""
    return run_model(model_path, dataset)


def evaluation_file(model_path, dataset, folder):
    """Write the file the agent measures fidelity with; returns its path (named by hash).

    Keys: ``in__<input>`` (all samples), ``probe__<input>`` (one sample, for timing
    and the memory pass), ``ref`` (reference outputs), ``labels`` when known.
    """
    arrays = {}
    for name, values in dataset.inputs.items():
        arrays["in__" + name] = values
        arrays["probe__" + name] = values[:1]
    arrays["ref"] = reference_outputs(model_path, dataset)
    if dataset.labels is not None:
        arrays["labels"] = np.asarray(dataset.labels)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return cas.store_bytes(folder, buffer.getvalue(), ".npz")


def load_for(specs, data_path=None, demo=None):
    if data_path:
        return from_npz(data_path, specs)
    if demo is not None:
        return from_demo(demo)
    return synthetic(specs)
