"""Preparing a model as its author exported it, before any variant is made.

Each step runs only when the model needs it, and each is recorded (the manifest's
lineage starts with them):

- weights held in ``Constant`` nodes become initializers, where quantizers and
  pruners look for weights;
- an opset older than ``QDQ_PER_CHANNEL_OPSET`` is upgraded (per-channel QDQ needs
  it); when the upgrade fails the model keeps its opset, and the quantizing steps
  fall back to per-tensor with a note (``quantization.per_channel_for``);
- shapes are inferred, so later steps and the multiply-add count see them;
- a model that is already quantized is detected: quantizing it again (or casting its
  int8 graph to fp16) is refused for each such variant, with the reason;
- an ONNX file with external data is read whole; the prepared copy is one file.

The prepared model computes exactly what the source does; it is kept in the cache
by the source's hash.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from ...shared.errors import ModelError

QDQ_PER_CHANNEL_OPSET = 13
# Ops that only appear in a graph someone already quantized.
QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
                 "ConvInteger", "MatMulInteger", "MatMulNBits", "QLinearAdd", "QLinearMul", "QGemm"}
# Steps that change numeric precision: none of them applies to a quantized graph.
QUANTIZING_STEPS = {"fp16", "int8-dynamic", "int8-static", "mixed-precision", "int4-weight",
                    "tflite-fp16", "tflite-int8-dynamic", "tflite-int8-weights", "tflite-int8-static"}
PREPARED_NAME = "prepared.onnx"


@dataclass
class PreparedModel:
    path: Path
    opset: int
    steps: List[dict] = field(default_factory=list)    # {"step": ..., "details": {...}}, in order
    quantized_ops: List[str] = field(default_factory=list)

    @property
    def quantized(self):
        return bool(self.quantized_ops)

    def refuses(self, techniques):
        """Why a variant with these steps cannot be made from this model, or None."""
        quantizing = sorted(set(techniques) & QUANTIZING_STEPS)
        if self.quantized and quantizing:
            return ("the model is already quantized (it has %s): %s would change its precision a second time"
                    % (", ".join(self.quantized_ops), ", ".join(quantizing)))
        return None


def as_given_tflite(path):
    """A .tflite needs no preparation (it is one runtime's own format, made by one
    converter); a quantized one refuses to be quantized again."""
    from .. import tflite_model

    quantized = [] if tflite_model.is_float(path) else ["int8 or float16 tensors"]
    return PreparedModel(Path(path), 0, [], quantized)


def default_opset(model):
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _constants_to_initializers(model):
    """Move tensor-valued Constant nodes into initializers; returns how many moved."""
    from onnx import numpy_helper

    moved = []
    for node in list(model.graph.node):
        if node.op_type != "Constant" or len(node.attribute) != 1 or node.attribute[0].name != "value":
            continue
        tensor = numpy_helper.to_array(node.attribute[0].t)
        model.graph.initializer.append(numpy_helper.from_array(tensor, node.output[0]))
        model.graph.node.remove(node)
        moved.append(int(tensor.size))
    return len(moved), sum(moved)


def _upgrade_opset(model, steps):
    import onnx

    opset = default_opset(model)
    if opset >= QDQ_PER_CHANNEL_OPSET:
        return model, opset
    try:
        upgraded = onnx.version_converter.convert_version(model, QDQ_PER_CHANNEL_OPSET)
        onnx.checker.check_model(upgraded)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        steps.append({"step": "opset", "details": {
            "kept": opset, "note": "could not upgrade opset %d to %d (%s): quantizing steps quantize per tensor"
                                   % (opset, QDQ_PER_CHANNEL_OPSET, first)}})
        return model, opset
    steps.append({"step": "opset", "details": {"from": opset, "to": QDQ_PER_CHANNEL_OPSET}})
    return upgraded, QDQ_PER_CHANNEL_OPSET


def prepare(source, folder):
    """The prepared copy of ``source`` in ``folder`` (made once), and what was done to it;
    the source itself when it needs nothing."""
    import onnx

    from .. import modelinfo

    model = modelinfo.load(source)   # reads external data beside the file too
    steps = []
    if _had_external_data(source):
        steps.append({"step": "external-data", "details": {"note": "weights read from files beside the model; "
                                                                    "the prepared copy holds them"}})
    count, elements = _constants_to_initializers(model)
    if count:
        steps.append({"step": "constants-to-initializers", "details": {"moved": count, "elements": elements}})
    model, opset = _upgrade_opset(model, steps)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # the graph still runs; only counts that need shapes suffer
        steps.append({"step": "shape-inference", "details": {"note": "failed: %s" % str(exc).splitlines()[0][:200]}})
    quantized = sorted({n.op_type for n in model.graph.node} & QUANTIZED_OPS)
    if quantized:
        steps.append({"step": "detect-quantized", "details": {"ops": quantized}})
    if not steps:
        return PreparedModel(Path(source), opset)
    if quantized and len(steps) == 1:   # detection alone changes nothing in the file
        return PreparedModel(Path(source), opset, steps, quantized)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PREPARED_NAME
    if not target.exists():
        staging = folder / (PREPARED_NAME + ".tmp")
        try:
            onnx.save(model, str(staging))
        except Exception as exc:
            raise ModelError("cannot write the prepared copy of %s: %s" % (source, exc))
        staging.replace(target)
    return PreparedModel(target, opset, steps, quantized)


def _had_external_data(source):
    import onnx

    try:
        bare = onnx.load(str(source), load_external_data=False)
    except Exception:
        return False
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in bare.graph.initializer)
