"""What onnxruntime's quantizers need from a step, shared by every int8 technique.

Value types and calibration methods named as in the options, calibration samples fed
one at a time, and the model preprocessed the way onnxruntime recommends.
"""

import shutil

import numpy as np

from ...shared.evaluation import Samples
from ...shared.hashing import sha256_file


def quant_type(name):
    """The onnxruntime QuantType for an option value ("int8" or "uint8")."""
    from onnxruntime.quantization import QuantType

    return {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}[name]


def calibration_method(name):
    """The onnxruntime CalibrationMethod for an option value (see options.CALIBRATION_METHODS)."""
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


def calibration_feeds(calibration, limit):
    """At most ``limit`` single-sample feeds ``{input name: array of batch 1}`` from a
    Samples reader (Dataset.calibration_samples: sample axes and inputs given once
    included) or from arrays stacked on axis 0."""
    if isinstance(calibration, dict):
        calibration = Samples(np, calibration, {name: 0 for name in calibration}, {})
    return [calibration.feeds(i) for i in range(min(limit, calibration.count))]


class CalibrationReader:
    """Feeds calibration samples one at a time, as onnxruntime's calibrators expect."""

    def __init__(self, calibration, limit):
        self._feeds = iter(calibration_feeds(calibration, limit))

    def get_next(self):
        return next(self._feeds, None)


def preprocessed(source, workdir):
    """Shape inference and graph optimisation before quantization, as ORT recommends.

    Kept per source content in the scratch folder: several variants of one run reuse it,
    and a chain's intermediate model gets its own.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    target = workdir / ("preprocessed-%s.onnx" % sha256_file(source)[:16])
    if not target.exists():
        try:
            quant_pre_process(str(source), str(target))
        except Exception:
            # Some graphs defeat symbolic shape inference; quantizing the original
            # still works, it only misses fusions.
            shutil.copyfile(source, target)
    return target


def per_channel_for(model_path, wanted):
    """Per-channel QDQ needs opset 13: on an older graph (one preparation could not
    upgrade) quantize per tensor, and say so. Returns (per_channel, note or None)."""
    import onnx

    from .prepare import QDQ_PER_CHANNEL_OPSET, default_opset

    if not wanted:
        return False, None
    opset = default_opset(onnx.load(str(model_path), load_external_data=False))
    if opset >= QDQ_PER_CHANNEL_OPSET:
        return True, None
    return False, ("opset %d: per-channel QDQ needs opset %d, so weights are quantized per tensor"
                   % (opset, QDQ_PER_CHANNEL_OPSET))
