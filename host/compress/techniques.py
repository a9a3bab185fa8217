"""ONNX-level generators: each turns a source model file into a variant file.

A technique is registered once under its name with its options class and a
function ``(source, target, options, dataset, workdir) -> None``.
"""

import shutil
from dataclasses import dataclass
from typing import Callable

from ...shared.errors import ModelError, UsageError
from . import options as opts

_REGISTRY = {}


@dataclass(frozen=True)
class Technique:
    name: str
    options_class: type
    generate: Callable
    summary: str
    level: str = "onnx"   # "onnx": file -> file; "torch": changes a PyTorch model before export


def register(name, options_class, summary, level="onnx"):
    def wrap(function):
        if name in _REGISTRY:
            raise ValueError("technique %r is already registered" % name)
        _REGISTRY[name] = Technique(name, options_class, function, summary, level)
        return function
    return wrap


def get(name):
    if name not in _REGISTRY:
        _load_torch_steps()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError("unknown technique %r; known: %s" % (name, ", ".join(sorted(_REGISTRY))))


def all_techniques():
    _load_torch_steps()
    return dict(_REGISTRY)


def _load_torch_steps():
    # Registered on first use: importing torch and torch-pruning costs seconds, and
    # ONNX-only work (`compress model.onnx`) should not pay for it.
    from . import torch_steps  # noqa: F401


def _quant_type(name):
    from onnxruntime.quantization import QuantType

    return {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}[name]


def _preprocessed(source, workdir):
    """Shape inference and graph optimisation before quantization, as ORT recommends.

    Kept per source content in the scratch folder: several variants of one run reuse it,
    and a chain's intermediate model gets its own.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..modelinfo import sha256_file

    target = workdir / ("preprocessed-%s.onnx" % sha256_file(source)[:16])
    if not target.exists():
        try:
            quant_pre_process(str(source), str(target))
        except Exception:
            # Some graphs defeat symbolic shape inference; quantizing the original
            # still works, it only misses fusions.
            shutil.copyfile(source, target)
    return target


def _translate(what, exc):
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ModelError("%s failed: %s" % (what, first[:300]))


def _topologically_sorted(graph):
    """Reorder nodes so each comes after its producers (the fp16 converter appends its
    input casts at the end, which the ONNX checker rejects)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:  # a cycle or an input from an outer scope: leave the rest as it was
            ordered.extend(pending)
            break
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if n not in ready]
    del graph.node[:]
    graph.node.extend(ordered)


@register("fp32", opts.Fp32Options, "the original model (baseline)")
def fp32(source, target, options, dataset, workdir):
    shutil.copyfile(source, target)


@register("fp16", opts.Fp16Options, "weights and activations in float16")
def fp16(source, target, options, dataset, workdir):
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=options.keep_io_types)
        _topologically_sorted(model.graph)
        onnx.save(model, str(target))
    except Exception as exc:
        raise _translate("fp16 conversion", exc)


@register("int8-dynamic", opts.Int8DynamicOptions,
          "int8 weights, activations quantized at run time")
def int8_dynamic(source, target, options, dataset, workdir):
    from onnxruntime.quantization import quantize_dynamic

    try:
        quantize_dynamic(str(_preprocessed(source, workdir)), str(target),
                         weight_type=_quant_type(options.weight_type),
                         per_channel=options.per_channel, reduce_range=options.reduce_range)
    except Exception as exc:
        raise _translate("dynamic int8 quantization", exc)


class _CalibrationReader:
    """Feeds calibration samples one at a time, as onnxruntime's calibrators expect."""

    def __init__(self, calibration, limit):
        names = list(calibration)
        count = min(limit, len(calibration[names[0]]))
        self._feeds = iter([{n: calibration[n][i:i + 1] for n in names} for i in range(count)])

    def get_next(self):
        return next(self._feeds, None)


@register("int8-static", opts.Int8StaticOptions,
          "int8 weights and activations (QDQ), calibrated on real samples")
def int8_static(source, target, options, dataset, workdir):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[options.calibration]
    reader = _CalibrationReader(dataset.calibration, options.calibration_samples)
    try:
        quantize_static(str(_preprocessed(source, workdir)), str(target), reader,
                        quant_format=QuantFormat.QDQ, per_channel=options.per_channel,
                        reduce_range=options.reduce_range,
                        activation_type=_quant_type(options.activation_type),
                        weight_type=_quant_type(options.weight_type),
                        calibrate_method=method)
    except Exception as exc:
        raise _translate("static int8 quantization", exc)


from . import onnx_steps  # noqa: E402,F401  (registers the generators defined there)
