"""Calibration and evaluation data for a model, and the evaluation file sent to boards.

Sources, in order of preference: the demo's held-out digits; a user's ``.npz``; or,
with a warning, synthetic inputs generated from the model's input spec.

The ``.npz`` a user gives (README, "Your data"), keys per model input:

- ``<input>``: the samples, stacked on axis 0, or on the axis ``axis__<input>`` names
  (a recurrent state shaped (layers, samples, hidden) has ``axis__state = 1``); each
  sample is fed as a batch of one at that axis;
- ``once__<input>``: instead, one value fed unchanged with every sample (a sample
  rate, an initial state);
- ``calib__<input>``: optional calibration samples, stacked like ``<input>``;
- ``labels``: optional, one per sample, for the first classification output.

Inside a Dataset every batched array is sample-first (``inputs[name][i]`` is sample
i with its batch axis removed) and ``axes`` says where the batch axis goes back.

Calibration and evaluation never share samples: a model calibrated on the very rows
it is then scored on looks better than it is. Where only one set exists it is split,
and every Dataset records which rows calibrated and which evaluated (``DataSplit``),
which each variant's manifest keeps.
"""

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..shared import evaluation
from ..shared.errors import ModelError
from ..shared.evaluation import Samples
from ..shared.tensor_types import ORT_TO_NUMPY
from . import cas, tflite_model

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
    inputs: Dict[str, np.ndarray]         # evaluation inputs, (N, ...) per batched model input
    calibration: Dict[str, np.ndarray]    # calibration inputs, (M, ...) per batched model input
    labels: Optional[np.ndarray] = None
    source: str = "synthetic"
    warnings: list = field(default_factory=list)
    # None only for a Dataset assembled by its caller, whose split this module cannot know.
    split: Optional[DataSplit] = None
    axes: Dict[str, int] = field(default_factory=dict)           # sample axis when not 0
    constants: Dict[str, np.ndarray] = field(default_factory=dict)  # inputs given once

    @property
    def synthetic(self):
        return self.source == "synthetic"

    @property
    def count(self):
        return len(next(iter(self.inputs.values())))

    def samples(self):
        """Feeds of evaluation sample i: ``samples().feeds(i)``."""
        return Samples(np, self.inputs, self._axes(), self.constants)

    def calibration_samples(self):
        return Samples(np, self.calibration, self._axes(), self.constants)

    def _axes(self):
        return {name: self.axes.get(name, 0) for name in self.inputs}

    def feed_shapes(self):
        """The exact shape each input is fed at: what the measurement runs."""
        feeds = self.samples().feeds(0)
        return {name: list(value.shape) for name, value in feeds.items()}


DEMO_SOURCE = "demo digits (held-out split)"


def from_demo(demo):
    with np.load(demo.data_path) as data:
        name = demo.meta["input"]
        source = DEMO_SOURCE
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


def _sample_bytes(specs):
    total = 0
    for spec in specs:
        elements = 1
        for dim in _concrete(spec.shape)[1:]:
            elements *= dim
        total += elements * np.dtype(spec.dtype).itemsize
    return total


def synthetic(specs, samples=SYNTHETIC_SAMPLES, seed=0):
    """Evaluation inputs from ``seed``, calibration inputs from ``seed + 1``; fewer samples
    when they are large, and a ModelError for a shape too large to be meant."""
    per_sample = _sample_bytes(specs)
    if per_sample > SYNTHETIC_SAMPLE_LIMIT_BYTES:
        raise ModelError("one sample of the model's inputs at shapes %s is %.1f GiB: too large to generate"
                         % ({s.name: s.shape for s in specs}, per_sample / 2.0 ** 30),
                         "check --input-shape, or give real samples with --data")
    samples = max(2, min(samples, SYNTHETIC_TOTAL_LIMIT_BYTES // max(1, 2 * per_sample)))
    names = tuple(spec.name for spec in specs)
    split = DataSplit("synthetic", SplitMethod.SYNTHETIC_SEEDS, SampleRows(names, 0, samples, seed=seed + 1),
                      SampleRows(names, 0, samples, seed=seed))
    return Dataset(inputs=_random_inputs(specs, samples, seed),
                   calibration=_random_inputs(specs, samples, seed + 1), source="synthetic", split=split,
                   warnings=["no data given: fidelity is measured on synthetic inputs and "
                             "accuracy is not measured (pass --data file.npz)"])


PREFIXES = ("calib__", "axis__", "once__")
FORMAT_HINT = ("save one array per input name, samples stacked on axis 0 (or on axis__<input>), "
               "or once__<input> for a value fed with every sample (README, \"Your data\")")


def _read_npz(path):
    path = Path(path)
    if not path.is_file():
        raise ModelError("data file not found: %s" % path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception as exc:
        raise ModelError("%s is not a readable .npz file: %s" % (path, str(exc).splitlines()[0] if str(exc) else
                                                                   type(exc).__name__))


def _sample_axis(path, arrays, spec):
    key = "axis__" + spec.name
    if key not in arrays:
        return 0
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in "iu":
        raise ModelError("%s: %s must be one whole number (the axis the samples are stacked on)" % (path, key),
                         FORMAT_HINT)
    axis, rank = int(value), arrays[spec.name].ndim
    if not 0 <= axis < rank:
        raise ModelError("%s: %s = %d, but '%s' has %d dimensions" % (path, key, axis, spec.name, rank),
                         FORMAT_HINT)
    return axis


def _check_fits(path, spec, feed_shape, what):
    """The feed of one sample must have the model's rank and its fixed dimensions."""
    if not spec.shape:
        return
    if len(feed_shape) != len(spec.shape):
        raise ModelError("%s: %s for input '%s' gives tensors of shape %s; the model takes %d dimensions %s"
                         % (path, what, spec.name, list(feed_shape), len(spec.shape), list(spec.shape)),
                         FORMAT_HINT)
    for axis, (want, got) in enumerate(zip(spec.shape, feed_shape)):
        if isinstance(want, int) and want > 0 and want != got:
            raise ModelError("%s: %s for input '%s' gives dimension %d = %d; the model fixes it at %d"
                             % (path, what, spec.name, axis, got, want), FORMAT_HINT)


def _cast(path, arrays, key, dtype):
    """The array at ``key`` as the model's dtype; text or other non-numbers are refused."""
    array = arrays[key]
    if array.dtype.kind not in "biuf":
        raise ModelError("%s: '%s' holds %s values; the model takes %s" % (path, key, array.dtype, dtype),
                         FORMAT_HINT)
    return array.astype(dtype)


def _batched(path, arrays, spec, key, axis):
    """A sample-first copy of the array at ``key`` stacked on ``axis``, checked against the model."""
    array = _cast(path, arrays, key, spec.dtype)
    if array.ndim <= axis:
        raise ModelError("%s: '%s' has %d dimensions; its samples are on axis %d" % (path, key, array.ndim, axis),
                         FORMAT_HINT)
    feed_shape = list(array.shape)
    feed_shape[axis] = 1
    _check_fits(path, spec, feed_shape, "'%s' (one sample, axis %d)" % (key, axis))
    return np.moveaxis(array, axis, 0)


def from_npz(path, specs):
    arrays = _read_npz(path)
    path = Path(path)
    names = {s.name for s in specs}
    strays = sorted(k for k in arrays if k.startswith(PREFIXES) and k.split("__", 1)[1] not in names)
    if strays:
        raise ModelError("%s has %s for inputs the model does not have (its inputs: %s)"
                         % (path, ", ".join(strays), ", ".join(s.name for s in specs)), FORMAT_HINT)
    constants, batched = {}, []
    for spec in specs:
        once = "once__" + spec.name
        if once in arrays:
            if spec.name in arrays or "axis__" + spec.name in arrays:
                raise ModelError("%s gives input '%s' both per sample and as %s" % (path, spec.name, once),
                                 "keep one of them")
            constants[spec.name] = _cast(path, arrays, once, spec.dtype)
            _check_fits(path, spec, constants[spec.name].shape, "'%s'" % once)
        elif spec.name in arrays:
            batched.append(spec)
        else:
            raise ModelError("%s lacks input '%s'" % (path, spec.name), FORMAT_HINT)
    if not batched:
        raise ModelError("%s gives every input once: no input varies between samples" % path,
                         "stack the samples of at least one input")
    axes = {s.name: _sample_axis(path, arrays, s) for s in batched}
    inputs = {s.name: _batched(path, arrays, s, s.name, axes[s.name]) for s in batched}
    total = _sample_count(path, inputs, "input")
    if total == 0:
        raise ModelError("%s has no samples (its input arrays have 0 rows)" % path, FORMAT_HINT)
    labels = arrays.get("labels")
    if labels is not None and (labels.ndim == 0 or len(labels) != total):
        raise ModelError("%s: 'labels' has %d rows but the inputs have %d samples"
                         % (path, len(labels) if labels.ndim else 0, total), "save one label per sample")
    given = [s.name for s in batched if "calib__" + s.name in arrays]
    if given and len(given) != len(batched):
        raise ModelError("%s has calib__ arrays for %s but not for %s"
                         % (path, ", ".join(given), ", ".join(s.name for s in batched if s.name not in given)),
                         "give calib__<input> for every batched model input, or none to split the samples")
    sample_axes = {n: a for n, a in axes.items() if a}
    if not given:
        dataset = _split_one_set(path, inputs, labels, total)
    else:
        calibration = {s.name: _batched(path, arrays, s, "calib__" + s.name, axes[s.name]) for s in batched}
        if _sample_count(path, calibration, "calib__") == 0:
            raise ModelError("%s: the calib__ arrays have no samples" % path, FORMAT_HINT)
        keys = tuple(inputs)
        split = DataSplit(str(path), SplitMethod.CALIB_ARRAYS,
                          SampleRows(tuple("calib__" + n for n in keys), 0,
                                     _sample_count(path, calibration, "calib__")),
                          SampleRows(keys, 0, total))
        dataset = Dataset(inputs=inputs, calibration=calibration, labels=labels, source=str(path), split=split)
    dataset.axes, dataset.constants = sample_axes, constants
    return dataset


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


def _session(model_path):
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError("onnxruntime cannot load %s: %s" % (model_path, str(exc).splitlines()[0]))


def outputs_on(model_path, feeds):
    """Every output of a model on each feed (an iterable of ``{input: array}``), one run
    at a time with onnxruntime on the CPU, stacked per run: ``{output: (runs, *shape)}``."""
    session = _session(model_path)
    names = [o.name for o in session.get_outputs()]
    # A variant may take other types than the data (fp16 with keep_io_types = false).
    dtypes = {i.name: ORT_TO_NUMPY.get(i.type) for i in session.get_inputs()}
    collected = {name: [] for name in names}
    for i, feed in enumerate(feeds):
        feed = {n: v.astype(dtypes[n]) if dtypes.get(n) and v.dtype != dtypes[n] else v for n, v in feed.items()}
        try:
            results = session.run(None, feed)
        except Exception as exc:   # the graph itself fails at run time: a fact about the model
            raise ModelError("%s fails when run on sample %d: %s" % (
                Path(model_path).name, i, (str(exc).strip().splitlines() or [type(exc).__name__])[0]))
        for name, value in zip(names, results):
            collected[name].append(np.asarray(value))
    return {name: np.stack(values) for name, values in collected.items()}


def model_outputs(model_path, dataset, count=None, io_names=None):
    """``outputs_on`` the first ``count`` evaluation samples (all by default); None when
    the model's inputs are not the dataset's. A .tflite runs in LiteRT, its tensors
    named by ``io_names`` (the original model's names, by position) when given."""
    samples = dataset.samples()
    tflite = tflite_model.is_tflite(model_path)
    wanted = set(tflite_model.input_names(model_path, io_names) if tflite
                 else [i.name for i in _session(model_path).get_inputs()])
    if wanted != set(samples.arrays) | set(samples.constants):
        return None
    count = dataset.count if count is None else count
    feeds = (samples.feeds(i) for i in range(count))
    return tflite_model.outputs_on(model_path, feeds, io_names) if tflite else outputs_on(model_path, feeds)


def evaluation_file(dataset, references, metric_specs, folder):
    """Write the file the agent measures with (shared/evaluation.py); returns its path
    (named by hash). ``references`` are the original model's outputs on every sample."""
    blob = evaluation.write(dataset.inputs, dataset.axes, dataset.constants, references, metric_specs,
                            dataset.labels)
    return cas.store_bytes(folder, blob, ".npz")


# Tensor types edgeshrink can make, read from .npz and feed through onnxruntime's numpy API.
FEEDABLE = {"float32", "float16", "float64", "int64", "int32", "int16", "int8", "uint8", "uint32", "uint64", "bool"}
# Synthetic inputs are generated in memory: a sample past this is a shape mistake.
SYNTHETIC_SAMPLE_LIMIT_BYTES = 256 * 2 ** 20
SYNTHETIC_TOTAL_LIMIT_BYTES = 2 ** 30


def check_feedable(specs):
    """Every input is of a type edgeshrink can feed, or one ModelError naming it."""
    for spec in specs:
        if spec.dtype not in FEEDABLE:
            raise ModelError("input '%s' is of type %s; edgeshrink feeds numeric and bool tensors only"
                             % (spec.name, spec.dtype or "unknown"),
                             "export the model with a float or integer input (wrap the tokenizer or "
                             "decoder outside the graph)")


def load_for(specs, data_path=None, demo=None):
    check_feedable(specs)
    if data_path:
        return from_npz(data_path, specs)
    if demo is not None:
        return from_demo(demo)
    return synthetic(specs)
