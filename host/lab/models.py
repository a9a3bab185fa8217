"""Tiny ONNX graphs built by hand: quick models for tests, benchmarks and trying the lab."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_convnet(path, seed=0, channels=8, size=16, classes=10, opset=17, weights_in_constants=False):
    """input (batch,3,S,S) -> Conv 3x3 -> Relu -> GlobalAveragePool -> Flatten -> Gemm.

    Variations other exporters write: ``opset`` 11 or 12 (per-channel quantization
    needs 13); ``weights_in_constants`` puts the weights in Constant nodes instead of
    initializers (where quantizers look for them)."""
    rng = np.random.RandomState(seed)
    weight = (rng.standard_normal((channels, 3, 3, 3)) * 0.3).astype(np.float32)
    bias = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    fc = (rng.standard_normal((classes, channels)) * 0.5).astype(np.float32)
    fc_bias = np.zeros(classes, dtype=np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["y"], transB=1),
    ]
    weights = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
               numpy_helper.from_array(fc, "fc"), numpy_helper.from_array(fc_bias, "fcb")]
    if weights_in_constants:
        nodes = [helper.make_node("Constant", [], [t.name], value=t) for t in weights] + nodes
        weights = []
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", classes])], weights)
    return _save(graph, path, opset)


def _save(graph, path, opset):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset >= 15 else 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def dynamic_size_convnet(path):
    """Conv 5x5 without padding on an input of dynamic batch, height and width: run at
    1x1 (what a spec-made input would be), it fails; it needs a real size."""
    rng = np.random.RandomState(0)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])],
        "dynamic", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        [numpy_helper.from_array(rng.standard_normal((8, 3, 5, 5)).astype(np.float32), "w")])
    return _save(graph, path, 17)


def multi_input_model(path):
    """tokens (int64, dynamic batch and length) -> embedding mean, plus float features."""
    rng = np.random.RandomState(0)
    nodes = [helper.make_node("Gather", ["table", "tokens"], ["embedded"]),
             helper.make_node("ReduceMean", ["embedded", "axes"], ["pooled"], keepdims=0),
             helper.make_node("Add", ["pooled", "features"], ["mixed"]),
             helper.make_node("MatMul", ["mixed", "w"], ["scores"])]
    graph = helper.make_graph(
        nodes, "multi",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 5])],
        [numpy_helper.from_array(rng.randn(8, 16).astype(np.float32), "table"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
         numpy_helper.from_array(rng.randn(16, 5).astype(np.float32), "w")])
    return _save(graph, path, 18)


def tiny_inputs(count=32, size=16, seed=1):
    return np.random.RandomState(seed).standard_normal((count, 3, size, size)).astype(np.float32)
