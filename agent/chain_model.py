"""A chain of do-nothing nodes as ONNX bytes, for measuring what the profiler costs per node.

Written with the standard library: the board has onnxruntime but not necessarily the
``onnx`` package, and this model is three protobuf messages deep. Field numbers are
onnx.proto's (ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto); the host
tests check the bytes with onnx's own loader and checker.

Standard library only: the agent runs on the board's Python 3.8.
"""

# IR version 7 with opset 13: what onnxruntime has loaded since 1.6, so any board's runtime does.
IR_VERSION = 7
OPSET = 13
FLOAT = 1       # TensorProto.FLOAT
# Four numbers, shaped like an image batch: the profiler formats every shape into text,
# and a rank-4 shape costs what a convolution's activations cost to format.
SHAPE = (1, 1, 2, 2)
INPUT = "x"


def _varint(value):
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _number(field, value):
    return _varint(field << 3) + _varint(value)


def _message(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _text(field, value):
    return _message(field, value.encode("ascii"))


def _float_tensor(name):
    dims = b"".join(_message(1, _number(1, size)) for size in SHAPE)       # TensorShapeProto.dim
    tensor_type = _number(1, FLOAT) + _message(2, dims)                      # TypeProto.Tensor
    return _text(1, name) + _message(2, _message(1, tensor_type))           # ValueInfoProto


def relu_chain(nodes):
    """ONNX bytes of ``nodes`` Relu nodes one after another, input ``x`` (float, SHAPE)."""
    if nodes < 1:
        raise ValueError("a chain needs at least one node")
    names = [INPUT] + ["t%d" % i for i in range(nodes)]
    graph = b"".join(_message(1, _text(1, before) + _text(2, after) + _text(3, "relu%d" % i) + _text(4, "Relu"))
                     for i, (before, after) in enumerate(zip(names, names[1:])))
    graph += _text(2, "relu_chain_%d" % nodes) + _message(11, _float_tensor(INPUT)) + _message(
        12, _float_tensor(names[-1]))
    return _number(1, IR_VERSION) + _text(2, "edgeshrink") + _message(7, graph) + _message(8, _number(2, OPSET))
