"""Facts about an ONNX model: inputs, outputs, parameters, multiply-adds.

Loading goes through here so that a missing or corrupt file becomes one ModelError
naming the file, wherever it is first touched.
"""

from dataclasses import dataclass
from pathlib import Path

from ..shared.errors import ModelError
from ..shared.hashing import sha256_file  # noqa: F401  (part of this module's interface)

# ONNX TensorProto element types -> numpy dtype names (the common ones).
_ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64",
               8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
               14: "complex64", 15: "complex128", 16: "bfloat16"}
_CONV_OPS = {"Conv", "ConvInteger", "QLinearConv"}
_MATMUL_OPS = {"MatMul", "MatMulInteger", "QLinearMatMul", "Gemm", "MatMulNBits"}


@dataclass
class TensorSpec:
    name: str
    shape: list   # ints for fixed dimensions, strings for symbolic ones
    dtype: str

    def to_dict(self):
        return {"name": self.name, "shape": self.shape, "dtype": self.dtype}


def load(path):
    """Load and check an ONNX model, or raise one clear ModelError."""
    import onnx

    path = Path(path)
    if path.is_dir():
        raise ModelError("%s is a directory (%s), not an ONNX file" % (path, _describe_folder(path)),
                         "export the model to ONNX and pass the .onnx file")
    if not path.is_file():
        raise ModelError("model file not found: %s" % path, "pass the path of an .onnx file")
    other = other_format(path)
    if other is not None:
        raise ModelError("%s is %s, not an ONNX model" % (path, other[0]), other[1])
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError("%s is not a valid ONNX model: %s" % (path, first[:200]),
                         "re-export it, or check the file was copied completely")
    if not model.graph.input or not model.graph.output:
        raise ModelError("%s has no graph inputs or outputs" % path)
    return model


# Formats users bring that are not ONNX: (what it is, what to do), by their first bytes.
_TFLITE = ("a TensorFlow Lite flatbuffer", "give it as the model of compress, bench or deploy: it is measured on the "
           "tflite runtime (--runtime tflite)")
_TORCH_ARCHIVE = ("a PyTorch archive (TorchScript, torch.export or torch.save)",
                  "give it with --torch FILE --input-shape 1,3,224,224 (TorchScript and .pt2 files), or export "
                  "it to ONNX; a state dict needs its model class: --torch module:function")
_PICKLE = ("a Python pickle (a torch.save of a model or state dict)",
           "edgeshrink never loads pickles; give the model as --torch module:function, or export it to ONNX")
_HDF5 = ("an HDF5 file (a Keras .h5 model)", "convert it to ONNX (tf2onnx or keras2onnx) and pass the .onnx file")


def other_format(path):
    """(what the file is, what to do) when its bytes show a format that is not ONNX, else None."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[4:8] == b"TFL3":
        return _TFLITE
    if head.startswith(b"PK\x03\x04"):
        return _TORCH_ARCHIVE
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return _PICKLE
    if head.startswith(b"\x89HDF"):
        return _HDF5
    return None


def _describe_folder(path):
    if (path / "saved_model.pb").exists():
        return "a TensorFlow SavedModel"
    return "%d entries" % len(list(path.iterdir()))


def _spec(value_info):
    tensor = value_info.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
             for d in tensor.shape.dim]
    return TensorSpec(value_info.name, shape, _ELEM_TYPES.get(tensor.elem_type, str(tensor.elem_type)))


def inputs(model):
    initializers = {init.name for init in model.graph.initializer}
    # Older exporters list initializers among graph inputs; those are not real inputs.
    return [_spec(v) for v in model.graph.input if v.name not in initializers]


def outputs(model):
    return [_spec(v) for v in model.graph.output]


def parameter_count(model):
    """Elements stored in initializers (weights), whatever their precision."""
    total = 0
    for init in model.graph.initializer:
        count = 1
        for dim in init.dims:
            count *= dim
        total += count
    return int(total)


def _dims(shape_proto):
    # Symbolic dimensions (a dynamic batch) count as 1: MACs are per single sample.
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in shape_proto.dim]


def _prod(values):
    result = 1
    for v in values:
        result *= v
    return result


def _infer_shapes(model):
    """Shape inference that also sees through MatMulNBits.

    onnx knows nothing of onnxruntime's 4-bit MatMulNBits, so its output (and whatever
    follows it) would stay shapeless. Each round declares the output shape of every
    MatMulNBits whose input became known (input's leading dims, then N) and infers
    again; a chain of n such layers takes n + 1 rounds.
    """
    import onnx

    declared = set()
    current = model
    while True:
        inferred = onnx.shape_inference.infer_shapes(current)
        known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.input)
                 + list(inferred.graph.output) if _has_shape(v)}
        added = []
        for node in inferred.graph.node:
            output = node.output[0] if node.output else None
            if (node.op_type != "MatMulNBits" or output in known or output in declared
                    or node.input[0] not in known):
                continue
            value = onnx.ValueInfoProto()
            value.CopyFrom(known[node.input[0]])
            value.name = output
            value.type.tensor_type.shape.dim[-1].Clear()
            value.type.tensor_type.shape.dim[-1].dim_value = _attribute(node, "N")
            added.append(value)
        if not added:
            return inferred
        declared.update(v.name for v in added)
        inferred.graph.value_info.extend(added)  # a fresh copy of the caller's model: ours to extend
        current = inferred


def _has_shape(value):
    tensor = value.type.tensor_type if value.type.HasField("tensor_type") else None
    return tensor is not None and tensor.HasField("shape") and len(tensor.shape.dim) > 0


def _attribute(node, name):
    return next((attr.i for attr in node.attribute if attr.name == name), None)


def _at_shapes(model, input_shapes):
    """A copy of ``model`` whose inputs have the given concrete shapes (a dynamic height
    and width count at the size the data or --input-shape gives, not at none)."""
    import onnx

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        dims = (input_shapes or {}).get(value.name)
        if dims is None or len(dims) != len(value.type.tensor_type.shape.dim):
            continue
        for dim, size in zip(value.type.tensor_type.shape.dim, dims):
            dim.Clear()
            dim.dim_value = int(size)
    return fixed


def multiply_adds(model, input_shapes=None):
    """Multiply-accumulates of Conv and MatMul-like nodes for one sample, or None.

    ``input_shapes`` ({input: dims}) fixes dynamic dimensions at the shapes measured.
    Other ops (activations, pooling, adds) are cheap by comparison and not counted.
    A 4-bit MatMulNBits layer does the same multiply-adds as the MatMul it replaced.
    """
    try:
        inferred = _infer_shapes(_at_shapes(model, input_shapes) if input_shapes else model)
    except Exception:
        return None
    shapes = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            shapes[value.name] = _dims(value.type.tensor_type.shape)
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for node in inferred.graph.node:
        if node.op_type in _CONV_OPS:
            weight_index = 3 if node.op_type == "QLinearConv" else 1
            weight = shapes.get(node.input[weight_index])
            out = shapes.get(node.output[0])
            if not weight or not out:
                return None
            # Each output element needs (Cin/groups) * kh * kw multiply-adds.
            total += _prod(out) * _prod(weight[1:])
        elif node.op_type in _MATMUL_OPS:
            a, out = shapes.get(node.input[0]), shapes.get(node.output[0])
            if not a or not out:
                return None
            if node.op_type == "MatMulNBits":
                # The weight is packed 4-bit blocks; its logical shape is the attributes (K, N).
                k = _attribute(node, "K") or a[-1]
            elif node.op_type == "Gemm" and _attribute(node, "transA"):
                k = a[-2]
            else:
                k = a[-1]
            total += _prod(out) * k
    return int(total)
