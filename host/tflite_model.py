"""A TensorFlow Lite file on the host: what it takes and gives, what it costs, its outputs.

The host reads and runs ``.tflite`` files with LiteRT's interpreter (``ai-edge-litert``,
the ``litert`` extra) through the agent's own TFLite runner, so an int8 input is
quantized and an int8 output dequantized exactly as on the board, and host fidelity
means what the board's does.
"""

import lzma
import os
from pathlib import Path

import numpy as np

from ..agent.backends.tflite_backend import DELEGATE_OP, TfliteBackend
from ..shared.errors import ModelError, UsageError
from . import modelinfo

SUFFIX = ".tflite"
# The flatbuffer's file identifier, at bytes 4-8 of every .tflite.
MAGIC = b"TFL3"
INSTALL_HINT = "pip install 'edgeshrink[litert]' (LiteRT's interpreter reads .tflite files on the host)"

# Multiply-adds per output element: the weight tensor's position among the op's inputs
# and which of its dimensions multiply (TFLite weights: conv OHWI, depthwise 1HWO, FC OI).
# Other ops are cheap by comparison and not counted, as for ONNX (modelinfo.multiply_adds).
_CONV_WEIGHT_DIMS = {"CONV_2D": (1, 2, 3), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1,)}


def is_tflite(path):
    """Whether ``path`` is a TensorFlow Lite flatbuffer (by its identifier, not its name)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(8)[4:8] == MAGIC
    except OSError:
        return False


def _interpreter(path, threads=1):
    """A LiteRT interpreter over ``path`` as a board's loads it: with its default
    delegate (XNNPACK), which also resolves some ops that are custom to the bare
    interpreter (MediaPipe's Convolution2DTransposeBias)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise UsageError("%s is a TensorFlow Lite model, and reading it on the host needs LiteRT" % path,
                         INSTALL_HINT) from None
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except Exception as exc:
        text = str(exc).strip().splitlines()
        missing_op = any(marker in "\n".join(text).lower() for marker in ("custom op", "didn't find op"))
        raise ModelError("%s cannot be read by TensorFlow Lite: %s" % (path, (text or [type(exc).__name__])[0][:300]),
                         "the board's interpreter lacks the same op: export the model with builtin ops only"
                         if missing_op else "re-export it, or check the file was copied completely")
    return interpreter


def check(path):
    """Load a .tflite or raise one clear ModelError (missing file, not TFLite, bad ops)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("model file not found: %s" % path, "pass the path of a .onnx or .tflite file")
    if not is_tflite(path):
        raise ModelError("%s is not a TensorFlow Lite flatbuffer (no TFL3 identifier)" % path)
    return _interpreter(path)


def _spec(detail):
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) else detail["shape"]
    # An integer tensor with a scale is a float quantity to the user: fed and read as float.
    quantized = np.issubdtype(np.dtype(detail["dtype"]), np.integer) and (detail.get("quantization") or (0, 0))[0]
    return modelinfo.TensorSpec(detail["name"], [int(d) if d >= 0 else "?" for d in shape],
                                "float32" if quantized else np.dtype(detail["dtype"]).name)


def inputs(path):
    return [_spec(d) for d in check(path).get_input_details()]


def outputs(path):
    return [_spec(d) for d in check(path).get_output_details()]


def is_float(path):
    """Whether the model is plain float32 (the quantizer's recipes start from one; an
    fp16 or int8 model is measured as given): no (de)quantize ops, float inputs and
    outputs, and no int8 or half-precision weights."""
    interpreter = check(path)
    if any(op["op_name"] in ("QUANTIZE", "DEQUANTIZE") for op in _ops(interpreter)):
        return False
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    stored = [np.dtype(details[i]["dtype"]) for i in _constants(interpreter) if i in details]
    edges = [np.dtype(d["dtype"]) for d in interpreter.get_input_details() + interpreter.get_output_details()]
    return all(t == np.float32 for t in edges) and not any(t in (np.int8, np.uint8, np.float16) for t in stored)


def float_weights(path):
    """As accounting.float_weights: weight tensors (stored, two or more dimensions) and
    how many of them, and how many bytes, are still float32."""
    interpreter = check(path)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    weights = [details[i] for i in _constants(interpreter) if i in details and len(details[i]["shape"]) >= 2]
    floats = [d for d in weights if np.dtype(d["dtype"]) == np.float32]
    return {"total": len(weights), "float32": len(floats),
            "float32_bytes": sum(4 * int(np.prod(d["shape"])) for d in floats)}


# The ops a quantizer adds between float and integer (or half) tensors.
CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")


def conversions(path):
    """The op names of a model's conversion ops (one entry per op)."""
    return [op["op_name"] for op in _ops(check(path)) if op["op_name"] in CONVERSION_OPS]


def host_runner(path, io_names=None):
    """(run(feed), input names) on one thread: what host timing calls, as for ONNX."""
    runner = _runner(path, io_names)
    return runner.run, [spec["name"] for spec in runner.input_specs()]


def _ops(interpreter):
    """The graph's own ops; a delegate's partition node (DELEGATE) stands for some of
    them and is left out, so nothing counts twice."""
    return [op for op in interpreter._get_ops_details() if op["op_name"] != DELEGATE_OP]


def _constants(interpreter):
    """Tensor indices that no op produces and that are not graph inputs: the stored weights."""
    produced, consumed = set(), set()
    for op in _ops(interpreter):
        produced.update(int(i) for i in op["outputs"])
        consumed.update(int(i) for i in op["inputs"] if i >= 0)
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    return consumed - produced - graph_inputs


def describe(path, source_info=None):
    """The same accounting as an ONNX variant's (compress/accounting.describe)."""
    interpreter = check(path)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    params = sum(int(np.prod(details[i]["shape"])) for i in _constants(interpreter) if i in details)
    macs = 0
    for op in _ops(interpreter):
        dims = _CONV_WEIGHT_DIMS.get(op["op_name"])
        if dims is None or len(op["inputs"]) < 2:
            continue
        weight = details[int(op["inputs"][1])]["shape"]
        output = details[int(op["outputs"][0])]["shape"]
        macs += int(np.prod(output)) * int(np.prod([weight[d] for d in dims]))
    with open(path, "rb") as handle:
        data = handle.read()
    return {"size_bytes": os.path.getsize(path), "sha256": modelinfo.sha256_file(path),
            "entropy_coded_bytes": len(lzma.compress(data, preset=1)), "params": params,
            "macs": macs or (source_info or {}).get("macs")}


def outputs_on(path, feeds, io_names=None):
    """Every output on each feed, stacked per run, named by ``io_names`` (the original
    model's names, by position) when given; see dataset.outputs_on."""
    runner = _runner(path, io_names)
    names = runner.output_names()
    collected = {name: [] for name in names}
    for i, feed in enumerate(feeds):
        try:
            results = runner.run(feed)
        except ModelError as exc:
            raise ModelError("%s fails when run on sample %d: %s" % (Path(path).name, i, exc.message))
        for name, value in zip(names, results):
            collected[name].append(np.array(value))   # a copy: the interpreter reuses its buffers
    return {name: np.stack(values) for name, values in collected.items()}


def input_names(path, io_names=None):
    return [spec["name"] for spec in _runner(path, io_names).input_specs()]


def _runner(path, io_names=None):
    check(path)   # a clear error for a missing interpreter or an unreadable file
    return TfliteBackend().load(str(path), 1, io_names)
