"""TensorFlow Lite steps: the float model as a .tflite, and ai-edge-quantizer's recipes.

Each takes a float32 .tflite (litert-torch's export of the PyTorch model after any
module-level steps, or the user's own file) and writes a variant file, as ONNX-level
generators do (registry.py). Calibration feeds the quantizer the calibration split,
never the samples fidelity is judged on.
"""

import shutil

from . import options as opts
from .registry import TFLITE, generation_failed, register


@register("tflite", opts.Fp32Options, "the model as TensorFlow Lite, float32 (baseline for the TFLite runtime)",
          level=TFLITE)
def tflite(source, target, options, dataset, workdir):
    shutil.copyfile(source, target)


def _quantize(source, target, recipe=None, configure=None, calibration=None):
    """Run ai-edge-quantizer over ``source`` with a ``recipe`` (or ``configure(worker)``
    adding its own configuration); ``calibration`` is {signature: [{input: array}]} for
    a static recipe."""
    from ai_edge_quantizer import quantizer

    from ..tflite_export import quiet_native_output

    with quiet_native_output():
        worker = quantizer.Quantizer(str(source), recipe)
        if configure is not None:
            configure(worker)
        calibrated = worker.calibrate(calibration) if worker.need_calibration else None
        worker.quantize(calibrated).export_model(str(target), overwrite=True)
    _require_changed(source, target)


def _require_changed(source, target):
    """A quantizer that left every weight in float32 made no variant: say so rather than
    measure the source again under another name (ai-edge-quantizer finds the ops to
    quantize through the model's signatures, and some exporters write none)."""
    from .. import tflite_model
    from ai_edge_litert.interpreter import Interpreter

    before, after = tflite_model.float_weights(source), tflite_model.float_weights(target)
    if before["float32"] and after["float32"] == before["float32"]:
        unsigned = not Interpreter(model_path=str(source)).get_signature_list()
        raise ValueError("ai-edge-quantizer changed no weight (%d of %d weight tensors still float32)%s"
                         % (after["float32"], after["total"], "; the model has no signature, through which it "
                            "finds the ops to quantize: export it with a serving signature" if unsigned else ""))


def _calibration(source, dataset, samples):
    """The calibration split as the model's signature takes it: {signature: (input names,
    [per-sample arrays])}. Signature inputs are matched to the data by tensor, in the
    order of the model's inputs (the data names inputs as the original model did)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(source))
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise ValueError("the model has no signature to calibrate through; export it with a serving signature")
    signature = next(iter(signatures))
    by_index = {detail["index"]: name for name, detail in
                interpreter.get_signature_runner(signature).get_input_details().items()}
    names = [by_index[detail["index"]] for detail in interpreter.get_input_details()]
    data_names = list(dataset.calibration) + list(dataset.constants)
    if len(names) != len(data_names):
        raise ValueError("the model has %d inputs and the calibration data %d" % (len(names), len(data_names)))
    reader = dataset.calibration_samples()
    feeds = []
    for i in range(min(samples, reader.count)):
        feed = reader.feeds(i)
        feeds.append([feed[name].astype("float32") for name in data_names])
    return {signature: [dict(zip(names, feed)) for feed in feeds]}


@register("tflite-fp16", opts.Fp32Options, "TFLite with float16 weights (ai-edge-quantizer float casting)",
          level=TFLITE)
def tflite_fp16(source, target, options, dataset, workdir):
    from ai_edge_quantizer import qtyping, quantizer

    def float16_weights(worker):
        worker.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                      num_bits=16, algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING)

    try:
        _quantize(source, target, configure=float16_weights)
    except Exception as exc:
        raise generation_failed("TFLite float16 conversion", exc)


@register("tflite-int8-dynamic", opts.Fp32Options,
          "TFLite with int8 weights, activations quantized at run time (ai-edge-quantizer dynamic_wi8_afp32)",
          level=TFLITE)
def tflite_int8_dynamic(source, target, options, dataset, workdir):
    from ai_edge_quantizer import recipe

    try:
        _quantize(source, target, recipe.dynamic_wi8_afp32())
    except Exception as exc:
        raise generation_failed("TFLite dynamic int8 quantization", exc)


@register("tflite-int8-weights", opts.Fp32Options,
          "TFLite with int8 weights dequantized to float at load (ai-edge-quantizer weight_only_wi8_afp32)",
          level=TFLITE)
def tflite_int8_weights(source, target, options, dataset, workdir):
    from ai_edge_quantizer import recipe

    try:
        _quantize(source, target, recipe.weight_only_wi8_afp32())
    except Exception as exc:
        raise generation_failed("TFLite weight-only int8 quantization", exc)


@register("tflite-int8-static", opts.TfliteStaticOptions,
          "TFLite with int8 weights and activations, int8 inputs and outputs, calibrated on real samples "
          "(ai-edge-quantizer static_wi8_ai8)", level=TFLITE)
def tflite_int8_static(source, target, options, dataset, workdir):
    from ai_edge_quantizer import recipe

    try:
        calibration = _calibration(source, dataset, options.calibration_samples)
        chosen = recipe.static_wi8_ai16() if options.activation_bits == 16 else recipe.static_wi8_ai8()
        _quantize(source, target, chosen, calibration=calibration)
    except Exception as exc:
        raise generation_failed("TFLite static int8 quantization", exc)
