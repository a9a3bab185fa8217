"""The ONNX-level baseline and precision generators: fp32, fp16, int8 dynamic and static.

Each turns a source model file into a variant file and registers itself in the
registry; the contract of a generator is described there.
"""

import shutil

from . import options as opts
from .quantization import CalibrationReader, calibration_method, per_channel_for, preprocessed, quant_type
from .registry import generation_failed, register


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
        raise generation_failed("fp16 conversion", exc)


@register("int8-dynamic", opts.Int8DynamicOptions,
          "int8 weights, activations quantized at run time")
def int8_dynamic(source, target, options, dataset, workdir):
    from onnxruntime.quantization import quantize_dynamic

    try:
        quantize_dynamic(str(preprocessed(source, workdir)), str(target),
                         weight_type=quant_type(options.weight_type),
                         per_channel=options.per_channel, reduce_range=options.reduce_range)
    except Exception as exc:
        raise generation_failed("dynamic int8 quantization", exc)


@register("int8-static", opts.Int8StaticOptions,
          "int8 weights and activations (QDQ), calibrated on real samples")
def int8_static(source, target, options, dataset, workdir):
    from onnxruntime.quantization import QuantFormat, quantize_static

    reader = CalibrationReader(dataset.calibration_samples(), options.calibration_samples)
    per_channel, note = per_channel_for(source, options.per_channel)
    try:
        quantize_static(str(preprocessed(source, workdir)), str(target), reader,
                        quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        reduce_range=options.reduce_range,
                        activation_type=quant_type(options.activation_type),
                        weight_type=quant_type(options.weight_type),
                        calibrate_method=calibration_method(options.calibration))
    except Exception as exc:
        raise generation_failed("static int8 quantization", exc)
    return {"per_channel": per_channel, "note": note} if note else None
