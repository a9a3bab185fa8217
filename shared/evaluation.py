"""The evaluation file: the ``.npz`` the host writes and the agent measures with.

Keys, one set per model input and output:

- ``in__<input>``: every evaluation sample, the sample axis first;
- ``axis__<input>``: where the samples sit in the model's tensor (absent: axis 0);
  sample ``i`` is fed as ``expand_dims(in__<input>[i], axis)``, so a recurrent state
  batched on axis 1 is fed with its batch of one on axis 1;
- ``once__<input>``: an input given once and fed unchanged with every sample (a
  sample rate, an initial recurrent state);
- ``probe__<input>``: sample 0's exact feed, for timing and the memory pass;
- ``ref__<output>``: the original model's output on every sample, stacked
  ``(samples, *output_shape)``;
- ``metrics``: the task metric of each output (JSON, shared/task_metrics.MetricSpec);
- ``labels``: optional, for the labelled classification output.

np.load reads a key only when asked, so the memory pass touches only the probe.
numpy is imported when a file is read or written: the agent starts without it.
"""

import io
import json

from .task_metrics import MetricSpec

PROBE_PREFIX = "probe__"
INPUT_PREFIX = "in__"
AXIS_PREFIX = "axis__"
ONCE_PREFIX = "once__"
REFERENCE_PREFIX = "ref__"
METRICS_KEY = "metrics"
LABELS_KEY = "labels"


def feed(np, samples, axis, index):
    """Sample ``index`` of a sample-first array as the model takes it: a batch of one at ``axis``."""
    return np.expand_dims(samples[index], axis)


def write(inputs, axes, constants, references, specs, labels=None):
    """The file's bytes. ``inputs`` are sample-first; ``axes`` gives the non-zero sample axes."""
    import numpy as np

    arrays = {}
    for name, samples in inputs.items():
        arrays[INPUT_PREFIX + name] = samples
        arrays[PROBE_PREFIX + name] = feed(np, samples, axes.get(name, 0), 0)
        if axes.get(name, 0):
            arrays[AXIS_PREFIX + name] = np.asarray(axes[name], dtype=np.int64)
    for name, value in constants.items():
        arrays[ONCE_PREFIX + name] = value
        arrays[PROBE_PREFIX + name] = value
    for name, stacked in references.items():
        arrays[REFERENCE_PREFIX + name] = stacked
    arrays[METRICS_KEY] = np.asarray(json.dumps([s.to_dict() for s in specs]))
    if labels is not None:
        arrays[LABELS_KEY] = np.asarray(labels)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class EvaluationFile:
    """Reads the file; every accessor tolerates a missing file or key (no data was sent)."""

    def __init__(self, path):
        import numpy as np

        self._np = np
        self._npz = np.load(path, allow_pickle=False) if path else None

    def _has(self, key):
        return self._npz is not None and key in self._npz.files

    def _keys(self, prefix):
        return [k[len(prefix):] for k in (self._npz.files if self._npz is not None else []) if k.startswith(prefix)]

    def probe(self, input_specs):
        """Sample 0's feeds, or None when the file lacks any of the model's inputs."""
        if not input_specs or not all(self._has(PROBE_PREFIX + s["name"]) for s in input_specs):
            return None
        return {s["name"]: self._npz[PROBE_PREFIX + s["name"]].astype(s["dtype"]) for s in input_specs}

    def samples(self, input_specs):
        """A Samples reader over every evaluation sample, or None when inputs are missing."""
        names = [s["name"] for s in input_specs]
        batched = [n for n in names if self._has(INPUT_PREFIX + n)]
        given_once = [n for n in names if self._has(ONCE_PREFIX + n)]
        if not names or len(batched) + len(given_once) != len(names) or not batched:
            return None
        dtypes = {s["name"]: s["dtype"] for s in input_specs}
        arrays = {n: self._npz[INPUT_PREFIX + n].astype(dtypes[n]) for n in batched}
        axes = {n: int(self._npz[AXIS_PREFIX + n]) if self._has(AXIS_PREFIX + n) else 0 for n in batched}
        constants = {n: self._npz[ONCE_PREFIX + n].astype(dtypes[n]) for n in given_once}
        return Samples(self._np, arrays, axes, constants)

    def references(self):
        return {name: self._npz[REFERENCE_PREFIX + name] for name in self._keys(REFERENCE_PREFIX)}

    def metric_specs(self):
        if not self._has(METRICS_KEY):
            return []
        return [MetricSpec.from_dict(d) for d in json.loads(str(self._npz[METRICS_KEY]))]

    def labels(self):
        return self._npz[LABELS_KEY] if self._has(LABELS_KEY) else None


class Samples:
    """Feeds for sample ``i``: batched inputs at their sample axis, constants unchanged."""

    def __init__(self, np, arrays, axes, constants):
        self._np, self.arrays, self.axes, self.constants = np, arrays, axes, constants

    @property
    def count(self):
        return len(next(iter(self.arrays.values())))

    def feeds(self, index):
        feeds = {n: feed(self._np, a, self.axes[n], index) for n, a in self.arrays.items()}
        feeds.update(self.constants)
        return feeds
