"""Calibration and evaluation data for a model, and the evaluation file sent to boards.

Sources, in order of preference: the demo's held-out digits; a user's ``.npz`` whose
keys are the model's input names (optional ``labels``, optional ``calib__<input>``);
or, with a warning, synthetic inputs generated from the model's input spec.

Calibration and evaluation never share samples: a model calibrated on the very rows
it is then scored on looks better than it is. Where only one set exists it is split,
and every Dataset records which rows calibrated and which evaluated (``DataSplit``),
which each variant's manifest keeps.
"""

import io
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..shared import conventions
from ..shared.errors import ModelError
from . import cas

SYNTHETIC_SAMPLES = 64
CALIBRATION_LIMIT = 128


class SplitMethod(str, Enum):
    CALIB_ARRAYS = "calib__ arrays"                   # the user gave calibration samples apart
    ONE_SET_SPLIT = "one set split"                   # last rows calibrate, the rest evaluate
    DEMO_SPLITS = "demo training and held-out splits"
    SYNTHETIC_SEEDS = "synthetic, separate seeds"


@dataclass(frozen=True)
class SampleRows:
    """Rows ``[start, stop)`` of the named arrays (one per model input), or generated from ``seed``."""

    arrays: Tuple[str, ...]
    start: int
    stop: int
    seed: Optional[int] = None

    @property
    def count(self):
        return self.stop - self.start

    def to_dict(self):
        return {"arrays": list(self.arrays), "start": self.start, "stop": self.stop, "count": self.count,
                "seed": self.seed}


@dataclass(frozen=True)
class DataSplit:
    """Which samples calibrated and which evaluated."""

    source: str
    method: SplitMethod
    calibration: SampleRows
    evaluation: SampleRows

    @property
    def calibration_from_calib_arrays(self):
        return self.method is SplitMethod.CALIB_ARRAYS

    def to_dict(self):
        return {"source": self.source, "method": self.method.value,
                "calibration_from_calib_arrays": self.calibration_from_calib_arrays,
                "calibration": self.calibration.to_dict(), "evaluation": self.evaluation.to_dict()}


@dataclass
class Dataset:
    inputs: Dict[str, np.ndarray]         # evaluation inputs, (N, ...) per model input
    calibration: Dict[str, np.ndarray]    # calibration inputs, (M, ...) per model input
    labels: Optional[np.ndarray] = None
    source: str = "synthetic"
    warnings: list = field(default_factory=list)
    # None only for a Dataset assembled by its caller, whose split this module cannot know.
    split: Optional[DataSplit] = None

    @property
    def synthetic(self):
        return self.source == "synthetic"

    @property
    def count(self):
        return len(next(iter(self.inputs.values())))


def from_demo(demo):
    with np.load(demo.data_path) as data:
        name = demo.meta["input"]
        source = "demo digits (held-out split)"
        # calib_x was drawn from the training split, eval_x is the held-out split.
        split = DataSplit(source, SplitMethod.DEMO_SPLITS, SampleRows(("calib_x",), 0, len(data["calib_x"])),
                          SampleRows(("eval_x",), 0, len(data["eval_x"])))
        return Dataset(inputs={name: data["eval_x"]}, calibration={name: data["calib_x"]},
                       labels=data["eval_y"], source=source, split=split)


def _concrete(shape):
    return [d if isinstance(d, int) and d > 0 else 1 for d in shape]


def _random_inputs(specs, samples, seed):
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
    return arrays


def synthetic(specs, samples=SYNTHETIC_SAMPLES, seed=0):
    """Evaluation inputs from ``seed``, calibration inputs from ``seed + 1``."""
    names = tuple(spec.name for spec in specs)
    split = DataSplit("synthetic", SplitMethod.SYNTHETIC_SEEDS, SampleRows(names, 0, samples, seed=seed + 1),
                      SampleRows(names, 0, samples, seed=seed))
    return Dataset(inputs=_random_inputs(specs, samples, seed),
                   calibration=_random_inputs(specs, samples, seed + 1), source="synthetic", split=split,
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
    total = _sample_count(path, inputs, "input")
    labels = arrays.get("labels")
    if labels is not None and len(labels) != total:
        raise ModelError("%s: 'labels' has %d rows but the inputs have %d samples" % (path, len(labels), total),
                         "save one label per sample")
    given = [s.name for s in specs if "calib__" + s.name in arrays]
    if given and len(given) != len(specs):
        raise ModelError("%s has calib__ arrays for %s but not for %s"
                         % (path, ", ".join(given), ", ".join(s.name for s in specs if s.name not in given)),
                         "give calib__<input> for every model input, or none to split the samples")
    if not given:
        return _split_one_set(path, inputs, labels, total)
    calibration = {s.name: arrays["calib__" + s.name].astype(s.dtype) for s in specs}
    names = tuple(inputs)
    split = DataSplit(str(path), SplitMethod.CALIB_ARRAYS,
                      SampleRows(tuple("calib__" + n for n in names), 0, _sample_count(path, calibration, "calib__")),
                      SampleRows(names, 0, total))
    return Dataset(inputs=inputs, calibration=calibration, labels=labels, source=str(path), split=split)


def _sample_count(path, arrays, kind):
    counts = {len(v) for v in arrays.values()}
    if len(counts) != 1:
        raise ModelError("%s: %s arrays have different sample counts %s" % (path, kind, sorted(counts)))
    return counts.pop()


def _split_one_set(path, inputs, labels, total):
    """No calib__ arrays: the last rows calibrate (at most CALIBRATION_LIMIT, at most half)
    and the first rows evaluate, so evaluation row i is still row i of the file."""
    if total < 2:
        raise ModelError("%s has %d sample(s): too few to split into calibration and evaluation samples"
                         % (path, total),
                         "save at least 2 samples, or give calibration samples as calib__<input> arrays")
    calibrating = min(CALIBRATION_LIMIT, total // 2)
    evaluating = total - calibrating
    names = tuple(inputs)
    split = DataSplit(str(path), SplitMethod.ONE_SET_SPLIT, SampleRows(names, evaluating, total),
                      SampleRows(names, 0, evaluating))
    return Dataset(inputs={n: a[:evaluating] for n, a in inputs.items()},
                   calibration={n: a[evaluating:] for n, a in inputs.items()},
                   labels=None if labels is None else labels[:evaluating], source=str(path), split=split,
                   warnings=["%s has no calib__ arrays: samples %d-%d calibrate and samples 0-%d are evaluated"
                             % (path, evaluating, total - 1, evaluating - 1)])


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

    Keys (shared/conventions.py): every sample per input, one probe sample per input
    (for timing and the memory pass), the reference outputs, and labels when known.
    """
    arrays = {}
    for name, values in dataset.inputs.items():
        arrays[conventions.input_key(name)] = values
        arrays[conventions.probe_key(name)] = values[:1]
    arrays[conventions.REFERENCE_KEY] = reference_outputs(model_path, dataset)
    if dataset.labels is not None:
        arrays[conventions.LABELS_KEY] = np.asarray(dataset.labels)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return cas.store_bytes(folder, buffer.getvalue(), ".npz")


def load_for(specs, data_path=None, demo=None):
    if data_path:
        return from_npz(data_path, specs)
    if demo is not None:
        return from_demo(demo)
    return synthetic(specs)
